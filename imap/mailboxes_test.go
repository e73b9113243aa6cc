package imap_test

import (
	"testing"
)

func TestMailboxCommands(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		srv, _ := newServer(t)
		p := login(t, srv, "alice")
		p.run(`
C: a1 CREATE Work/Projects
S: a1 OK CREATE completed
C: a2 CREATE Sent (USE (\Sent))
S: a2 OK CREATE completed
C: a3 CREATE Work
S: a3 NO [ALREADYEXISTS] Mailbox already exists
C: a4 LIST "" *
S: * LIST (\HasNoChildren) "/" "INBOX"
S: * LIST (\HasNoChildren \Sent) "/" "Sent"
S: * LIST (\HasChildren) "/" "Work"
S: * LIST (\HasNoChildren) "/" "Work/Projects"
S: a4 OK LIST completed
C: a5 LIST "" %
S: * LIST (\HasNoChildren) "/" "INBOX"
S: * LIST (\HasNoChildren \Sent) "/" "Sent"
S: * LIST (\HasChildren) "/" "Work"
S: a5 OK LIST completed
C: a6 LIST "" ""
S: * LIST (\Noselect) "/" ""
S: a6 OK LIST completed
C: a7 RENAME Work Job
S: a7 OK RENAME completed
C: a8 SUBSCRIBE Job
S: a8 OK SUBSCRIBE completed
C: a9 LSUB "" *
S: * LSUB () "/" "Job"
S: a9 OK LSUB completed
C: b1 LIST (SUBSCRIBED) "" * RETURN (STATUS (MESSAGES UIDNEXT))
S: * LIST (\HasChildren \Subscribed) "/" "Job"
S: * STATUS "Job" (MESSAGES 0 UIDNEXT 1)
S: b1 OK LIST completed
C: b2 DELETE Job/Projects
S: b2 OK DELETE completed
C: b3 DELETE INBOX
S: b3 NO [CANNOT] Operation not allowed
C: b4 STATUS INBOX (MESSAGES UNSEEN SIZE HIGHESTMODSEQ)
S: * STATUS "INBOX" (MESSAGES 0 UNSEEN 0 SIZE 0 HIGHESTMODSEQ 1)
S: b4 OK STATUS completed
C: b5 NAMESPACE
S: * NAMESPACE (("" "/")) NIL NIL
S: b5 OK NAMESPACE completed
C: b6 CREATE "Entw&APw-rfe"
S: b6 OK CREATE completed
C: b7 LIST "" Entw*
S: * LIST (\HasNoChildren) "/" "Entw&APw-rfe"
S: b7 OK LIST completed
C: b8 ENABLE IMAP4rev2
S: * ENABLED IMAP4rev2
S: b8 OK ENABLE completed
C: b9 LIST "" Entw*
S: * LIST (\HasNoChildren) "/" "Entwürfe"
S: b9 OK LIST completed
C: c1 CREATE "a/../b"
S: c1 NO [CANNOT] Invalid mailbox name
`)
	})
}
