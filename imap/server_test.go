package imap_test

import (
	"testing"
)

const msg1 = `From: Alice <alice@example.com>
To: Bob <bob@example.org>
Subject: Hello
Date: Mon, 7 Feb 1994 21:52:25 -0800
Message-ID: <1@example.com>

Hi Bob,
how are you?
`

func TestGreetingCapabilityLogout(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		srv, _ := newServer(t)
		p := dial(t, srv)
		p.run(`
S: * OK [CAPABILITY IMAP4rev1 IMAP4rev2 AUTH=PLAIN AUTH=LOGIN SASL-IR LITERAL- ID ENABLE IDLE] imap.example postyard IMAP ready
C: a1 CAPABILITY
S: * CAPABILITY IMAP4rev1 IMAP4rev2 AUTH=PLAIN AUTH=LOGIN SASL-IR LITERAL- ID ENABLE IDLE
S: a1 OK CAPABILITY completed
C: a2 NOOP
S: a2 OK NOOP completed
C: a3 SELECT INBOX
S: a3 BAD Command not allowed in this state
C: a4 LOGOUT
S: * BYE Logging out
S: a4 OK LOGOUT completed
`)
		if !p.closed() {
			t.Fatal("connection not closed after LOGOUT")
		}
	})
}

func TestLoginSelectFetch(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		srv, st := newServer(t)
		deliver(t, st, "alice", "", msg1, nil)
		p := dial(t, srv)
		p.run(`
S: * OK ...
C: a1 LOGIN alice wrong
S: a1 NO [AUTHENTICATIONFAILED] Authentication failed
C: a2 LOGIN alice pass
S: a2 OK [CAPABILITY ...
C: a3 SELECT INBOX
S: * 1 EXISTS
S: * 0 RECENT
S: * OK [UIDVALIDITY ...
S: * OK [UIDNEXT 2] Predicted next UID
S: * FLAGS (\Answered \Flagged \Deleted \Seen \Draft)
S: * OK [PERMANENTFLAGS (\Answered \Flagged \Deleted \Seen \Draft \*)] Flags permitted
S: * OK [UNSEEN 1] First unseen
S: a3 OK [READ-WRITE] SELECT completed
C: a4 FETCH 1 (FLAGS RFC822.SIZE UID)
S: * 1 FETCH (FLAGS () RFC822.SIZE 168 UID 1)
S: a4 OK FETCH completed
C: a5 FETCH 1 ENVELOPE
S: * 1 FETCH (ENVELOPE ("Mon, 7 Feb 1994 21:52:25 -0800" "Hello" (("Alice" NIL "alice" "example.com")) (("Alice" NIL "alice" "example.com")) (("Alice" NIL "alice" "example.com")) (("Bob" NIL "bob" "example.org")) NIL NIL NIL "<1@example.com>"))
S: a5 OK FETCH completed
C: a6 FETCH 1 BODY.PEEK[HEADER.FIELDS (Subject)]
S: * 1 FETCH (BODY[HEADER.FIELDS (Subject)] {18}
S: Subject: Hello
S: 
S: )
S: a6 OK FETCH completed
C: a7 FETCH 1 BODY[TEXT]
S: * 1 FETCH (BODY[TEXT] {23}
S: Hi Bob,
S: how are you?
S:  FLAGS (\Seen))
S: a7 OK FETCH completed
C: a8 FETCH 1 BODYSTRUCTURE
S: * 1 FETCH (BODYSTRUCTURE ("text" "plain" ("charset" "us-ascii") NIL NIL "7BIT" 23 2 NIL NIL NIL NIL))
S: a8 OK FETCH completed
C: a9 FETCH 1 BODY[TEXT]<4.5>
S: * 1 FETCH (BODY[TEXT]<4> {5}
S: ob,
S:  FLAGS (\Seen))
S: a9 OK FETCH completed
`)
	})
}
