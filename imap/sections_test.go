package imap_test

import "testing"

// A multipart message with a nested multipart, an attachment and a
// folded header field: the cases the differential test against Dovecot
// found broken.
const nestedMsg = `From: a@example.com
To: b@example.org
Subject: nested
X-Long: a value that is folded
  over two lines
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary=outer

--outer
Content-Type: multipart/alternative; boundary=inner

--inner
Content-Type: text/plain

one
--inner
Content-Type: text/html

<p>two</p>
--inner--
--outer
Content-Type: application/pdf; name="report.pdf"
Content-Disposition: attachment; filename="report.pdf"
Content-Transfer-Encoding: base64

JVBERi0=
--outer--
`

// Parts after the first at any level were not found: BODY[2] and
// BODY[1.2] were NIL, because the search for a part stopped at the first
// part as deep as the one asked for.
func TestFetchLaterParts(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		srv, st := newServer(t)
		deliver(t, st, "alice", "", nestedMsg, nil)
		p := login(t, srv, "alice")
		p.send("s SELECT INBOX\r\n")
		p.replies()
		p.run(`
C: a1 FETCH 1 (BODY.PEEK[1.1] BODY.PEEK[1.2])
S: * 1 FETCH (BODY[1.1] {3}
S: one BODY[1.2] {10}
S: <p>two</p>)
S: a1 OK FETCH completed
C: a2 FETCH 1 (BODY.PEEK[2] BINARY.SIZE[2])
S: * 1 FETCH (BODY[2] {8}
S: JVBERi0= BINARY.SIZE[2] 5)
S: a2 OK FETCH completed
C: a3 FETCH 1 BODY.PEEK[2.MIME]
S: * 1 FETCH (BODY[2.MIME] {143}
S: Content-Type: application/pdf; name="report.pdf"
S: Content-Disposition: attachment; filename="report.pdf"
S: Content-Transfer-Encoding: base64
S: 
S: )
S: a3 OK FETCH completed
C: a4 FETCH 1 BODY.PEEK[3]
S: * 1 FETCH (BODY[3] NIL)
S: a4 OK FETCH completed
`)
	})
}

// BINARY of a multipart part failed the whole FETCH with NO; a
// multipart has no transfer encoding to undo, so its content is sent.
func TestFetchBinaryOfMultipart(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		srv, st := newServer(t)
		deliver(t, st, "alice", "", nestedMsg, nil)
		deliver(t, st, "alice", "", msgN("plain", "text"), nil)
		p := login(t, srv, "alice")
		p.send("s SELECT INBOX\r\n")
		p.replies()
		p.run(`
C: a1 FETCH 1:2 BINARY.SIZE[1]
S: * 1 FETCH (BINARY.SIZE[1] 99)
S: * 2 FETCH (BINARY.SIZE[1] 6)
S: a1 OK FETCH completed
`)
	})
}

// SEARCH HEADER did not match a value continued on a folded line, and
// SEARCH TEXT did not look at the MIME header fields of the parts
// (RFC 9051 §6.4.4), so an attachment's file name was not found.
func TestSearchFoldedHeaderAndMIMEFields(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		srv, st := newServer(t)
		deliver(t, st, "alice", "", nestedMsg, nil)
		deliver(t, st, "alice", "", msgN("plain", "text"), nil)
		p := login(t, srv, "alice")
		p.send("s SELECT INBOX\r\n")
		p.replies()
		p.run(`
C: a1 SEARCH HEADER X-Long "two lines"
S: * SEARCH 1
S: a1 OK SEARCH completed
C: a2 SEARCH TEXT report.pdf
S: * SEARCH 1
S: a2 OK SEARCH completed
C: a3 SEARCH BODY report.pdf
S: * SEARCH
S: a3 OK SEARCH completed
C: a4 SEARCH TEXT "<p>two"
S: * SEARCH 1
S: a4 OK SEARCH completed
`)
	})
}
