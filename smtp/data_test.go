package smtp_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/postyard/postyard/smtp"
)

// smuggling holds end-of-data variants that some servers wrongly accept as
// the end of a message (SMTP smuggling). Each is followed by a smuggled
// transaction and then the real end.
var smuggling = []string{
	"\n.\n",
	"\n.\r\n",
	"\r.\r",
	"\r.\r\n",
	"\r\n.\n",
	"\r\n.\r",
	"\n.\r",
	"\r.\n",
	"\n..\n",
	"\r\n.\rX",
	"\r\r\n.\r\r\n",
	"\n\r.\r\n",
	"\r\n\n.\r\n",
	"\r\n.\r\x00\n",
	"\r\n \r\n.\n",
	"\x00\n.\n",
	"\r\n.\r\r\n",
	"\n\n.\n\n",
	"\r\r.\r\r",
	"\r\n.\n\r\n",
}

const smuggled = "MAIL FROM:<admin@example.com>\r\nRCPT TO:<victim@example.com>\r\nDATA\r\nSpoofed\r\n"

func TestSmugglingData(t *testing.T) {
	for i, end := range smuggling {
		for _, normalize := range []bool{false, true} {
			t.Run(fmt.Sprintf("%d-%q-normalize=%v", i, end, normalize), func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					b := &recorder{}
					srv := newServer(b)
					srv.NormalizeLineEndings = normalize
					c := dial(t, srv)
					c.run(`
S: 220 mx.example ESMTP postyard
C: HELO client.example
C: MAIL FROM:<a@example.org>
C: RCPT TO:<b@example.com>
C: DATA
S: 250 mx.example
S: 250 2.1.0 Ok
S: 250 2.1.5 Ok
S: 354 Start mail input; end with <CRLF>.<CRLF>`)
					c.send("Subject: x\r\n\r\nbody" + end + smuggled + "\r\n.\r\nNOOP\r\n")
					got := c.replies()
					msgs := b.messages()
					if strings.Count(got, "\r\n") != 2 || !strings.HasSuffix(got, "250 2.0.0 Ok\r\n") {
						t.Fatalf("replies %q: want one DATA reply then NOOP's", got)
					}
					if !normalize {
						if !strings.HasPrefix(got, "550 5.6.0") || len(msgs) != 0 {
							t.Fatalf("strict mode: replies %q, %d messages", got, len(msgs))
						}
						return
					}
					if !strings.HasPrefix(got, "250 2.0.0 Ok\r\n") || len(msgs) != 1 {
						t.Fatalf("normalise mode: replies %q, %d messages", got, len(msgs))
					}
					data := body(msgs[0].Data)
					if !strings.Contains(data, "Spoofed") || msgs[0].From != "a@example.org" {
						t.Fatalf("message split: %q", data)
					}
					if strings.Count(data, "\r") != strings.Count(data, "\n") || strings.Contains(data, "\r\r") {
						t.Fatalf("bare line ending stored: %q", data)
					}
				})
			})
		}
	}
}

func TestSmugglingBDAT(t *testing.T) {
	for i, end := range smuggling {
		t.Run(fmt.Sprintf("%d-%q", i, end), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := &recorder{}
				c := dial(t, newServer(b))
				msg := "Subject: x\r\n\r\nbody" + end + smuggled + "\r\n"
				c.run(`
S: 220 mx.example ESMTP postyard
C: EHLO client.example` + ehloReply + `
C: MAIL FROM:<a@example.org>
C: RCPT TO:<b@example.com>
S: 250 2.1.0 Ok
S: 250 2.1.5 Ok`)
				c.send(fmt.Sprintf("BDAT %d LAST\r\n%sNOOP\r\n", len(msg), msg))
				got := c.replies()
				if !strings.HasPrefix(got, "550 5.6.0") || !strings.HasSuffix(got, "\r\n250 2.0.0 Ok\r\n") || len(b.messages()) != 0 {
					t.Fatalf("replies %q, %d messages", got, len(b.messages()))
				}
			})
		})
	}
}

func TestBDAT(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &recorder{ID: "Q9"}
		c := dial(t, newServer(b))
		c.run(`
S: 220 mx.example ESMTP postyard
C: EHLO client.example` + ehloReply + `
C: MAIL FROM:<a@example.org>
C: RCPT TO:<b@example.com>
S: 250 2.1.0 Ok
S: 250 2.1.5 Ok`)
		c.send("BDAT 12\r\nSubject: x\r\nBDAT 0\r\nBDAT 9 LAST\r\n\r\n.body\r\nNOOP\r\n")
		if got := c.replies(); got != "250 2.0.0 Chunk received\r\n250 2.0.0 Chunk received\r\n250 2.0.0 Ok: queued as Q9\r\n250 2.0.0 Ok\r\n" {
			t.Fatalf("replies %q", got)
		}
		if m := b.messages(); len(m) != 1 || body(m[0].Data) != "Subject: x\r\n\r\n.body\r\n" {
			t.Fatalf("messages %+v", m)
		}
		// BINARYMIME content may hold any octets and needs BDAT.
		c.run(`
C: MAIL FROM:<a@example.org> BODY=BINARYMIME
C: RCPT TO:<b@example.com>
C: DATA
S: 250 2.1.0 Ok
S: 250 2.1.5 Ok
S: 503 5.5.1 BODY=BINARYMIME requires BDAT`)
		c.send("BDAT 5 LAST\r\n\x00\r\n\n\r")
		if got := c.replies(); got != "250 2.0.0 Ok: queued as Q9\r\n" {
			t.Fatalf("binary: %q", got)
		}
		if m := b.messages(); len(m) != 2 || body(m[1].Data) != "\x00\r\n\n\r" {
			t.Fatalf("binary message %q", m[1].Data)
		}
		// Sequence errors still consume the chunk.
		c.send("BDAT 12 LAST\r\nRSET\r\nRSET\r\nNOOP\r\n")
		if got := c.replies(); got != "503 5.5.1 Send MAIL first\r\n250 2.0.0 Ok\r\n" {
			t.Fatalf("BDAT without MAIL: %q", got)
		}
		// A command in the middle of a BDAT sequence aborts the message.
		c.send("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.com>\r\nBDAT 3\r\nabcRSET\r\n")
		if got := c.replies(); got != "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.0.0 Chunk received\r\n250 2.0.0 Ok\r\n" {
			t.Fatalf("aborted BDAT: %q", got)
		}
		if len(b.messages()) != 2 {
			t.Fatal("aborted message stored")
		}
		// An unparseable size cannot be skipped: the session ends.
		c.send("BDAT x LAST\r\n")
		if got := c.replies(); !strings.HasPrefix(got, "501 5.5.4") || !c.closed() {
			t.Fatalf("bad BDAT: %q", got)
		}
	})
}

func TestBDATTooLarge(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &recorder{}
		srv := newServer(b)
		srv.MaxMessageBytes = 100
		c := dial(t, srv)
		c.run(`
S: 220 mx.example ESMTP postyard
C: EHLO client.example
C: MAIL FROM:<a@example.org>
C: RCPT TO:<b@example.com>`)
		chunk := strings.Repeat("x", 78) + "\r\n"
		c.send("BDAT 80\r\n" + chunk + "BDAT 80 LAST\r\n" + chunk + "NOOP\r\n")
		got := c.replies()
		if !strings.HasSuffix(got, "250 2.0.0 Chunk received\r\n552 5.3.4 Message too big\r\n250 2.0.0 Ok\r\n") || len(b.messages()) != 0 {
			t.Fatalf("replies %q", got)
		}
	})
}

// lmtpRecorder gives per-recipient results.
type lmtpRecorder struct{ recorder }

func (b *lmtpRecorder) NewSession(ctx context.Context, c *smtp.ConnInfo) (smtp.Session, error) {
	s, _ := b.recorder.NewSession(ctx, c)
	return &lmtpSession{s.(*recSession)}, nil
}

type lmtpSession struct{ *recSession }

func (s *lmtpSession) LMTPData(ctx context.Context, r io.Reader) ([]error, error) {
	if _, err := s.Data(ctx, r); err != nil {
		return nil, err
	}
	errs := make([]error, len(s.cur.To))
	for i, to := range s.cur.To {
		if strings.HasPrefix(to, "full@") {
			errs[i] = &smtp.Error{Code: 452, EnhancedCode: "4.2.2", Message: "Mailbox full"}
		}
	}
	return errs, nil
}

func TestLMTP(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &lmtpRecorder{}
		srv := newServer(b)
		srv.LMTP = true
		c := dial(t, srv)
		c.run(`
S: 220 mx.example ESMTP postyard
C: EHLO client.example
S: 500 5.5.1 This is an LMTP server, use LHLO
C: LHLO client.example
S: 250-mx.example greets client.example
S: 250-PIPELINING
S: 250-8BITMIME
S: 250-SMTPUTF8
S: 250-ENHANCEDSTATUSCODES
S: 250-CHUNKING
S: 250-BINARYMIME
S: 250-DSN
S: 250 SIZE 26214400
C: MAIL FROM:<a@example.org>
C: RCPT TO:<b@example.com>
C: RCPT TO:<full@example.com>
C: RCPT TO:<c@example.com>
C: DATA
S: 250 2.1.0 Ok
S: 250 2.1.5 Ok
S: 250 2.1.5 Ok
S: 250 2.1.5 Ok
S: 354 Start mail input; end with <CRLF>.<CRLF>
C: hi
C: .
S: 250 2.0.0 Ok
S: 452 4.2.2 Mailbox full
S: 250 2.0.0 Ok`)
		if m := b.messages(); len(m) != 1 || !strings.Contains(m[0].Data, "with LMTP") {
			t.Fatalf("messages %+v", m)
		}
	})
}

func TestShutdown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &recorder{}
		srv := newServer(b)
		idle := dial(t, srv)
		idle.run(`S: 220 mx.example ESMTP postyard`)
		busy := dial(t, srv)
		busy.run(`
S: 220 mx.example ESMTP postyard
C: HELO client.example
C: MAIL FROM:<a@example.org>
C: RCPT TO:<b@example.com>
C: DATA
S: 250 mx.example
S: 250 2.1.0 Ok
S: 250 2.1.5 Ok
S: 354 Start mail input; end with <CRLF>.<CRLF>`)
		done := make(chan error)
		go func() { done <- srv.Shutdown(context.Background()) }()
		idle.run(`S: 421 4.3.2 Service shutting down, closing connection`)
		if !idle.closed() {
			t.Fatal("idle session open after Shutdown")
		}
		// The session in DATA finishes its message, then is told to go.
		busy.run(`
C: part of the message
C: .
S: 250 2.0.0 Ok
S: 421 4.3.2 Service shutting down, closing connection`)
		if err := <-done; err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
		if len(b.messages()) != 1 || b.closed != 2 {
			t.Fatalf("%d messages, %d sessions closed", len(b.messages()), b.closed)
		}
		cc, sc := net.Pipe()
		defer cc.Close()
		if err := srv.ServeConn(context.Background(), sc); err != smtp.ErrServerClosed {
			t.Fatalf("ServeConn after Shutdown: %v", err)
		}
	})
}
