package imap_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/postyard/postyard/imap"
	"github.com/postyard/postyard/mailbox/maildir"
	"github.com/postyard/postyard/mailbox/memstore"
)

func msgN(subject, body string) string {
	return "From: a@example.com\nTo: b@example.org\nSubject: " + subject + "\nDate: Tue, 1 Apr 2025 10:00:00 +0000\n\n" + body + "\n"
}

func TestStoreSearchCopyExpunge(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		srv, st := newServer(t)
		deliver(t, st, "alice", "", msgN("one", "apples"), nil)
		deliver(t, st, "alice", "", msgN("two", "bananas"), nil)
		deliver(t, st, "alice", "", msgN("three", "Cherries"), nil)
		p := login(t, srv, "alice")
		p.send("s SELECT INBOX\r\n")
		p.replies()
		p.run(`
C: a1 STORE 1:2 +FLAGS (\Flagged $Important)
S: * 1 FETCH (FLAGS (\Flagged $Important))
S: * 2 FETCH (FLAGS (\Flagged $Important))
S: a1 OK STORE completed
C: a2 UID STORE 3 FLAGS.SILENT (\Deleted)
S: a2 OK UID STORE completed
C: a3 SEARCH FLAGGED
S: * SEARCH 1 2
S: a3 OK SEARCH completed
C: a4 SEARCH OR SUBJECT two BODY cherries
S: * SEARCH 2 3
S: a4 OK SEARCH completed
C: a5 UID SEARCH RETURN (MIN MAX COUNT) NOT DELETED
S: * ESEARCH (TAG "a5") UID MIN 1 MAX 2 COUNT 2
S: a5 OK UID SEARCH completed
C: a6 SEARCH KEYWORD $Important SINCE 1-Jan-2000 2
S: * SEARCH 2
S: a6 OK SEARCH completed
C: a7 CREATE Archive
S: a7 OK CREATE completed
C: a8 COPY 1:2 Archive
S: a8 OK [COPYUID ... 1:2 1:2] COPY completed
C: a9 COPY 1 Nowhere
S: a9 NO [TRYCREATE] No such mailbox
C: b1 EXPUNGE
S: * 3 EXPUNGE
S: b1 OK EXPUNGE completed
C: b2 UID MOVE 1 Archive
S: * OK [COPYUID ... 1 3] Moved
S: * 1 EXPUNGE
S: b2 OK UID MOVE completed
C: b3 FETCH 1 (UID FLAGS)
S: * 1 FETCH (UID 2 FLAGS (\Flagged $Important))
S: b3 OK FETCH completed
C: b4 APPEND INBOX (\Seen) {12}
S: + Ready for literal data
C: Subject: x
C:
S: * 2 EXISTS
S: b4 OK [APPENDUID ... 4] APPEND completed
C: b5 APPEND Archive {3+}
C: abc
S: b5 OK [APPENDUID ... 4] APPEND completed
C: b6 FETCH 5 FLAGS
S: b6 BAD Invalid sequence number
C: b7 STORE 1 (UNCHANGEDSINCE 1) +FLAGS (\Answered)
S: b7 NO [MODIFIED 1] Conditional STORE failed
C: b8 CLOSE
S: b8 OK CLOSE completed
C: b9 STATUS Archive (MESSAGES)
S: * STATUS "Archive" (MESSAGES 4)
S: b9 OK STATUS completed
`)
	})
}

func TestTwoSessions(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		srv, st := newServer(t)
		for i := range 3 {
			deliver(t, st, "alice", "", msgN("m"+string(rune('1'+i)), "x"), nil)
		}
		a := login(t, srv, "alice")
		b := login(t, srv, "alice")
		a.send("s SELECT INBOX\r\n")
		a.replies()
		b.send("s SELECT INBOX\r\n")
		b.replies()
		// Flags set by b show in a at its next command.
		b.run(`
C: b1 STORE 2 +FLAGS.SILENT (\Seen)
S: b1 OK STORE completed
`)
		a.run(`
C: a1 NOOP
S: * 2 FETCH (FLAGS (\Seen))
S: a1 OK NOOP completed
`)
		// Expunges are held back during FETCH, STORE and SEARCH.
		b.run(`
C: b2 STORE 1 +FLAGS.SILENT (\Deleted)
S: b2 OK STORE completed
C: b3 EXPUNGE
S: * 1 EXPUNGE
S: b3 OK EXPUNGE completed
`)
		a.run(`
C: a2 FETCH 3 UID
S: * 3 FETCH (UID 3)
S: a2 OK FETCH completed
C: a3 NOOP
S: * 1 EXPUNGE
S: a3 OK NOOP completed
`)
		// New mail arrives as EXISTS.
		deliver(t, st, "alice", "", msgN("new", "y"), nil)
		a.run(`
C: a4 NOOP
S: * 3 EXISTS
S: a4 OK NOOP completed
`)
		// IDLE wakes up at once.
		a.run(`
C: a5 IDLE
S: + idling
`)
		deliver(t, st, "alice", "", msgN("newer", "z"), nil)
		a.run(`
S: * 4 EXISTS
`)
		b.run(`
C: b4 UID MOVE 2 INBOX
S: * 4 EXISTS
S: * OK [COPYUID ... 2 6] Moved
S: * 5 EXISTS
S: * 1 EXPUNGE
S: b4 OK UID MOVE completed
`)
		a.run(`
S: * 5 EXISTS
S: * 1 EXPUNGE
C: DONE
S: a5 OK IDLE completed
`)
	})
}

// overflowSessions returns a store whose subscriptions hold 2 events and
// two sessions of alice with INBOX selected, 4 messages in it.
func overflowSessions(t *testing.T) (st *memstore.Store, a, b *pipeConn) {
	srv, _ := newServer(t)
	st = memstore.New(&memstore.Options{MaxPending: 2})
	t.Cleanup(func() { st.Close() })
	srv.Store = st
	for i := range 4 {
		deliver(t, st, "alice", "", msgN("m"+string(rune('1'+i)), "x"), nil)
	}
	a = login(t, srv, "alice")
	b = login(t, srv, "alice")
	a.send("s SELECT INBOX\r\n")
	a.replies()
	b.send("s SELECT INBOX\r\n")
	b.replies()
	return st, a, b
}

// TestStoreOverflow: a STORE that changes more messages than the
// session's subscription holds (it overflows, and the session lists the
// mailbox again) reports each change once, in its FETCH responses, and
// another session still learns of all of them.
func TestStoreOverflow(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		_, a, b := overflowSessions(t)
		a.run(`
C: a1 STORE 1:4 +FLAGS (\Seen)
S: * 1 FETCH (FLAGS (\Seen))
S: * 2 FETCH (FLAGS (\Seen))
S: * 3 FETCH (FLAGS (\Seen))
S: * 4 FETCH (FLAGS (\Seen))
S: a1 OK STORE completed
C: a2 NOOP
S: a2 OK NOOP completed
`)
		b.run(`
C: b1 NOOP
S: * 1 FETCH (FLAGS (\Seen))
S: * 2 FETCH (FLAGS (\Seen))
S: * 3 FETCH (FLAGS (\Seen))
S: * 4 FETCH (FLAGS (\Seen))
S: b1 OK NOOP completed
`)
	})
}

// TestResyncAfterOverflow: a session whose subscription overflowed
// lists what changed since the MODSEQ it knows, and reports flag changes
// other sessions made (b1, before its STORE), not its own (a1, which its
// STORE reported), and expunges and new messages (b2).
func TestResyncAfterOverflow(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		st, a, b := overflowSessions(t)
		a.run(`
C: a1 STORE 1:3 +FLAGS (\Seen)
S: * 1 FETCH (FLAGS (\Seen))
S: * 2 FETCH (FLAGS (\Seen))
S: * 3 FETCH (FLAGS (\Seen))
S: a1 OK STORE completed
`)
		b.run(`
C: b1 STORE 3:4 +FLAGS (\Flagged)
S: * 1 FETCH (FLAGS (\Seen))
S: * 2 FETCH (FLAGS (\Seen))
S: * 3 FETCH (FLAGS (\Seen))
S: * 3 FETCH (FLAGS (\Seen \Flagged))
S: * 4 FETCH (FLAGS (\Flagged))
S: b1 OK STORE completed
`)
		a.run(`
C: a2 STORE 2 +FLAGS.SILENT (\Deleted)
S: * 3 FETCH (FLAGS (\Seen \Flagged))
S: * 4 FETCH (FLAGS (\Flagged))
S: a2 OK STORE completed
C: a3 EXPUNGE
S: * 2 EXPUNGE
S: a3 OK EXPUNGE completed
`)
		deliver(t, st, "alice", "", msgN("m5", "x"), nil)
		b.run(`
C: b2 NOOP
S: * 5 EXISTS
S: * 2 EXPUNGE
S: b2 OK NOOP completed
C: b3 UID FETCH 1:* (FLAGS)
S: * 1 FETCH (FLAGS (\Seen) UID 1)
S: * 2 FETCH (FLAGS (\Seen \Flagged) UID 3)
S: * 3 FETCH (FLAGS (\Flagged) UID 4)
S: * 4 FETCH (FLAGS () UID 5)
S: b3 OK UID FETCH completed
`)
	})
}

func TestCondstoreQresync(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		srv, st := newServer(t)
		for range 3 {
			deliver(t, st, "alice", "", msgN("s", "x"), nil)
		}
		u, _ := st.User(context.Background(), "alice")
		stat, _ := u.Status(context.Background(), "INBOX")
		a := login(t, srv, "alice")
		a.run(strings.ReplaceAll(`
C: a1 ENABLE QRESYNC
S: * ENABLED QRESYNC
S: a1 OK ENABLE completed
C: a2 SELECT INBOX (CONDSTORE)
S: * 3 EXISTS
S: * 0 RECENT
S: * OK [UIDVALIDITY ...
S: * OK [UIDNEXT 4] Predicted next UID
S: * FLAGS ...
S: * OK [PERMANENTFLAGS ...
S: * OK [UNSEEN 1] First unseen
S: * OK [HIGHESTMODSEQ 4] Highest
S: a2 OK [READ-WRITE] SELECT completed
C: a3 STORE 1 +FLAGS (\Seen)
S: * 1 FETCH (FLAGS (\Seen) UID 1 MODSEQ (5))
S: a3 OK STORE completed
C: a4 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 4)
S: * 1 FETCH (FLAGS (\Seen) UID 1 MODSEQ (5))
S: a4 OK UID FETCH completed
C: a5 STORE 2 +FLAGS.SILENT (\Deleted)
S: a5 OK STORE completed
C: a6 EXPUNGE
S: * VANISHED 2
S: a6 OK [HIGHESTMODSEQ 7] EXPUNGE completed
C: a7 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 4 VANISHED)
S: * VANISHED (EARLIER) 2
S: * 1 FETCH (FLAGS (\Seen) UID 1 MODSEQ (5))
S: a7 OK UID FETCH completed
C: a8 UNSELECT
S: a8 OK UNSELECT completed
C: a9 SELECT INBOX (QRESYNC (UV 5 1:3))
S: * 2 EXISTS
S: * 0 RECENT
S: * OK [UIDVALIDITY ...
S: * OK [UIDNEXT 4] Predicted next UID
S: * FLAGS ...
S: * OK [PERMANENTFLAGS ...
S: * OK [UNSEEN 2] First unseen
S: * OK [HIGHESTMODSEQ 7] Highest
S: * VANISHED (EARLIER) 2
S: a9 OK [READ-WRITE] SELECT completed
C: b1 SEARCH MODSEQ 5
S: * SEARCH 1 (MODSEQ 5)
S: b1 OK SEARCH completed
`, "UV", strconv.Itoa(int(stat.UIDValidity))))
	})
}

// maildirSession returns the directory of a maildir store holding one
// message for alice, and a session of hers with INBOX selected.
func maildirSession(t *testing.T) (string, *pipeConn) {
	srv, _ := newServer(t)
	dir := t.TempDir()
	st, err := maildir.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	srv.Store = st
	deliver(t, st, "alice", "", msgN("m1", "x"), nil)
	a := login(t, srv, "alice")
	a.send("s SELECT INBOX\r\n")
	a.replies()
	return dir, a
}

// TestNoopSeesDroppedMail: NOOP reports a message another program
// dropped into the Maildir's new/, which the store picks up only when
// asked.
func TestNoopSeesDroppedMail(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		dir, a := maildirSession(t)
		msg := "Subject: dropped\r\n\r\nby another program\r\n"
		if err := os.WriteFile(filepath.Join(dir, "alice", "new", "1700000000.P1Q1.other"), []byte(msg), 0o600); err != nil {
			t.Fatal(err)
		}
		a.run(`
C: n1 NOOP
S: * 2 EXISTS
S: n1 OK NOOP completed
C: n2 FETCH 2 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])
S: * 2 FETCH (BODY[HEADER.FIELDS (SUBJECT)] {20}
S: Subject: dropped
S: 
S: )
S: n2 OK FETCH completed
`)
	})
}

// TestIdleSeesDroppedMail: a session in IDLE reports a message another
// program dropped into the Maildir's new/ within IDLECheck.
func TestIdleSeesDroppedMail(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		dir, a := maildirSession(t)
		a.run(`
C: i1 IDLE
S: + idling
`)
		if err := os.WriteFile(filepath.Join(dir, "alice", "new", "1700000000.P1Q1.other"), []byte("Subject: dropped\r\n\r\nx\r\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		time.Sleep(imap.DefaultIDLECheck - time.Second)
		if r := a.replies(); r != "" {
			t.Fatalf("before IDLECheck: %q", r)
		}
		time.Sleep(time.Second)
		a.run(`
S: * 2 EXISTS
C: DONE
S: i1 OK IDLE completed
`)
	})
}
