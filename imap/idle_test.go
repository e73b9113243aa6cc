package imap_test

import (
	"testing"
)

// TestIdlePipelined checks IDLE with the client's next command sent in
// the same write as DONE (nothing after DONE may be lost), IDLE and DONE
// in one write, and expunges in the middle of the view reported while
// idling, highest sequence number first (RFC 9051 §7.5.1).
func TestIdlePipelined(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		srv, st := newServer(t)
		for range 5 {
			deliver(t, st, "alice", "", msgN("s", "x"), nil)
		}
		a := login(t, srv, "alice")
		b := login(t, srv, "alice")
		a.run(`
C: a1 SELECT INBOX
S: * 5 EXISTS
S: * 0 RECENT
S: * OK [UIDVALIDITY ...
S: * OK [UIDNEXT 6] Predicted next UID
S: * FLAGS ...
S: * OK [PERMANENTFLAGS ...
S: * OK [UNSEEN 1] First unseen
S: a1 OK [READ-WRITE] SELECT completed
C: a2 IDLE
S: + idling
`)
		b.run(`
C: b1 SELECT INBOX
S: * 5 EXISTS
S: * 0 RECENT
S: * OK [UIDVALIDITY ...
S: * OK [UIDNEXT 6] Predicted next UID
S: * FLAGS ...
S: * OK [PERMANENTFLAGS ...
S: * OK [UNSEEN 1] First unseen
S: b1 OK [READ-WRITE] SELECT completed
C: b2 UID STORE 2,4 +FLAGS.SILENT (\Deleted)
S: b2 OK UID STORE completed
`)
		a.run(`
S: * 2 FETCH (FLAGS (\Deleted))
S: * 4 FETCH (FLAGS (\Deleted))
`)
		b.run(`
C: b3 EXPUNGE
S: * 4 EXPUNGE
S: * 2 EXPUNGE
S: b3 OK EXPUNGE completed
`)
		a.run(`
S: * 4 EXPUNGE
S: * 2 EXPUNGE
C: DONE
C: a3 FETCH 1:* (UID)
S: a2 OK IDLE completed
S: * 1 FETCH (UID 1)
S: * 2 FETCH (UID 3)
S: * 3 FETCH (UID 5)
S: a3 OK FETCH completed
C: a4 IDLE
C: DONE
S: + idling
S: a4 OK IDLE completed
`)
		a.run(`
C: a5 IDLE
S: + idling
`)
		deliver(t, st, "alice", "", msgN("s", "x"), nil)
		a.run(`
S: * 4 EXISTS
C: done
S: a5 OK IDLE completed
C: a6 UID FETCH 6 (UID)
S: * 4 FETCH (UID 6)
S: a6 OK UID FETCH completed
`)
	})
}
