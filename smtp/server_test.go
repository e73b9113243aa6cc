package smtp_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/postyard/postyard/smtp"
)

const ehloReply = `
S: 250-mx.example greets client.example
S: 250-PIPELINING
S: 250-8BITMIME
S: 250-SMTPUTF8
S: 250-ENHANCEDSTATUSCODES
S: 250-CHUNKING
S: 250-BINARYMIME
S: 250-DSN
S: 250 SIZE 26214400`

func TestBasicTransaction(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &recorder{ID: "Q1"}
		c := dial(t, newServer(b))
		c.run(`
S: 220 mx.example ESMTP postyard
C: EHLO client.example` + ehloReply + `
C: MAIL FROM:<alice@example.org>
S: 250 2.1.0 Ok
C: RCPT TO:<bob@example.com>
S: 250 2.1.5 Ok
C: DATA
S: 354 Start mail input; end with <CRLF>.<CRLF>
C: Subject: hi
C:
C: ..dot
C: .
S: 250 2.0.0 Ok: queued as Q1
C: QUIT
S: 221 2.0.0 Bye`)
		if !c.closed() {
			t.Fatal("session still open after QUIT")
		}
		msgs := b.messages()
		if len(msgs) != 1 {
			t.Fatalf("%d messages stored", len(msgs))
		}
		m := msgs[0]
		if m.From != "alice@example.org" || len(m.To) != 1 || m.To[0] != "bob@example.com" {
			t.Errorf("envelope %q -> %q", m.From, m.To)
		}
		if got := body(m.Data); got != "Subject: hi\r\n\r\n.dot\r\n" {
			t.Errorf("content %q", got)
		}
		if !strings.HasPrefix(m.Data, "Received: from client.example ([") || !strings.Contains(m.Data, "by mx.example (postyard) with ESMTP") {
			t.Errorf("Received header: %q", m.Data)
		}
		if b.closed != 1 {
			t.Errorf("Session.Close called %d times", b.closed)
		}
	})
}

func TestPipelining(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &recorder{}
		c := dial(t, newServer(b))
		c.run(`
S: 220 mx.example ESMTP postyard
C: EHLO client.example` + ehloReply + `
C: MAIL FROM:<a@example.org>
C: RCPT TO:<b@example.com>
C: RCPT TO:<c@example.com>
C: DATA
S: 250 2.1.0 Ok
S: 250 2.1.5 Ok
S: 250 2.1.5 Ok
S: 354 Start mail input; end with <CRLF>.<CRLF>
C: one
C: .
C: MAIL FROM:<>
C: RCPT TO:<d@example.com>
C: DATA
S: 250 2.0.0 Ok
S: 250 2.1.0 Ok
S: 250 2.1.5 Ok
S: 354 Start mail input; end with <CRLF>.<CRLF>
C: two
C: .
C: QUIT
S: 250 2.0.0 Ok
S: 221 2.0.0 Bye`)
		msgs := b.messages()
		if len(msgs) != 2 || body(msgs[0].Data) != "one\r\n" || body(msgs[1].Data) != "two\r\n" || msgs[1].From != "" {
			t.Fatalf("messages %+v", msgs)
		}
		if len(msgs[0].To) != 2 {
			t.Errorf("recipients %q", msgs[0].To)
		}
	})
}

func TestSequenceErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := newServer(&recorder{})
		srv.MaxBadCommands = -1
		c := dial(t, srv)
		c.run(`
S: 220 mx.example ESMTP postyard
C: MAIL FROM:<a@example.org>
S: 503 5.5.1 Send HELO/EHLO first
C: HELO client.example
S: 250 mx.example
C: RCPT TO:<b@example.com>
S: 503 5.5.1 Send MAIL first
C: DATA
S: 503 5.5.1 Send MAIL first
C: MAIL FROM:<a@example.org>
S: 250 2.1.0 Ok
C: MAIL FROM:<a@example.org>
S: 503 5.5.1 Nested MAIL command
C: DATA
S: 554 5.5.1 No valid recipients
C: RSET
S: 250 2.0.0 Ok
C: RSET now
S: 501 5.5.4 Syntax: RSET
C: NOOP
S: 250 2.0.0 Ok
C: VRFY bob
S: 252 2.5.2 Cannot verify the user, but will accept the message and attempt delivery
C: EXPN list
S: 252 2.5.2 Cannot verify the user, but will accept the message and attempt delivery
C: HELP
S: 214 2.0.0 See RFC 5321
C: FOO
S: 500 5.5.2 Command unrecognized
C: EHLO
S: 501 5.5.4 Syntax: EHLO hostname
C: STARTTLS
S: 502 5.5.1 STARTTLS not available
C: AUTH PLAIN
S: 502 5.5.1 AUTH not available
C: LHLO x
S: 500 5.5.1 Command unrecognized
C: MAIL FROM:<a@example.org> SIZE=10
S: 555 5.5.4 Unsupported parameter
C: QUIT
S: 221 2.0.0 Bye`)
	})
}

func TestBadAddressesAndParams(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &recorder{}
		srv := newServer(b)
		srv.MaxBadCommands = -1
		c := dial(t, srv)
		c.run(`
S: 220 mx.example ESMTP postyard
C: EHLO client.example` + ehloReply + `
C: MAIL FROM:<a@@example.org>
S: 501 5.1.7 Bad sender address syntax
C: MAIL TO:<a@example.org>
S: 501 5.5.4 Syntax: MAIL FROM:<address>
C: MAIL FROM:<a@example.org> FOO=BAR
S: 555 5.5.4 Unsupported parameter
C: MAIL FROM:<a@example.org> SIZE=abc
S: 501 5.5.4 Bad parameter syntax
C: MAIL FROM:<a@example.org> SIZE=26214401
S: 552 5.3.4 Message size exceeds fixed maximum message size
C: MAIL FROM:<a@example.org> REQUIRETLS
S: 555 5.5.4 Unsupported parameter
C: MAIL FROM:<ü@example.org>
S: 553 5.6.7 Non-ASCII address requires SMTPUTF8
C: MAIL FROM:<ü@example.org> SMTPUTF8 BODY=8BITMIME SIZE=100 RET=HDRS ENVID=QQ+2Bx
S: 250 2.1.0 Ok
C: RCPT TO:<"a b"@example.com>
S: 250 2.1.5 Ok
C: RCPT TO:<x@[192.0.2.1]> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;x+40example.com
S: 250 2.1.5 Ok
C: RCPT TO:<Postmaster>
S: 250 2.1.5 Ok
C: RCPT TO:<@a.example,@b.example:u@c.example>
S: 250 2.1.5 Ok
C: RCPT TO:<bad>
S: 501 5.1.3 Bad recipient address syntax
C: RCPT TO:<c@example.com> NOTIFY=NEVER,SUCCESS
S: 501 5.5.4 Bad parameter syntax
C: DATA
S: 354 Start mail input; end with <CRLF>.<CRLF>
C: x
C: .
S: 250 2.0.0 Ok`)
		m := b.messages()[0]
		if m.From != "ü@example.org" || !m.Mail.UTF8 || m.Mail.Size != 100 || m.Mail.Return != smtp.DSNReturn("HDRS") || m.Mail.EnvelopeID != "QQ+x" {
			t.Errorf("MAIL %q %+v", m.From, m.Mail)
		}
		if len(m.To) != 4 || m.To[0] != `"a b"@example.com` || m.To[1] != "x@[192.0.2.1]" {
			t.Errorf("RCPT %q", m.To)
		}
		if m.Rcpt[1].Notify != smtp.NotifySuccess|smtp.NotifyFailure || m.Rcpt[1].OriginalRcpt != "x@example.com" {
			t.Errorf("RCPT params %+v", m.Rcpt[1])
		}
		if !strings.Contains(m.Data, "with UTF8SMTP") {
			t.Errorf("Received: %q", m.Data)
		}
	})
}

func TestBackendErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &recorder{RcptErr: func(to smtp.Path) error {
			switch to.Local {
			case "nobody":
				return smtp.ErrNoSuchUser
			case "broken":
				return context.DeadlineExceeded // internal text must not leak
			}
			return nil
		}}
		c := dial(t, newServer(b))
		c.run(`
S: 220 mx.example ESMTP postyard
C: HELO client.example
S: 250 mx.example
C: MAIL FROM:<a@example.org>
S: 250 2.1.0 Ok
C: RCPT TO:<nobody@example.com>
S: 550 5.1.1 No such user here
C: RCPT TO:<broken@example.com>
S: 451 4.3.0 Temporary local problem, try again later
C: DATA
S: 554 5.5.1 No valid recipients
C: RCPT TO:<ok@example.com>
S: 250 2.1.5 Ok`)
		b.DataErr = &smtp.Error{Code: 554, EnhancedCode: "5.7.1", Message: "Spam"}
		c.run(`
C: DATA
S: 354 Start mail input; end with <CRLF>.<CRLF>
C: x
C: .
S: 554 5.7.1 Spam
C: RCPT TO:<ok@example.com>
S: 503 5.5.1 Send MAIL first`)
	})
}

func TestPanicRecovered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &recorder{Panic: true}
		srv := newServer(b)
		c := dial(t, srv)
		c.run(`
S: 220 mx.example ESMTP postyard
C: HELO client.example
S: 250 mx.example
C: MAIL FROM:<a@example.org>
S: 421 4.3.0 Internal error, closing connection`)
		// The panic is answered; the next session is served.
		b.Panic = false
		c2 := dial(t, srv)
		c2.run(`
S: 220 mx.example ESMTP postyard
C: QUIT
S: 221 2.0.0 Bye`)
		c.close()
	})
}

func TestConnectRefused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &recorder{ConnectErr: &smtp.Error{Code: 554, EnhancedCode: "5.7.1", Message: "Blocked by DNSBL"}}
		c := dial(t, newServer(b))
		c.run(`S: 554 5.7.1 Blocked by DNSBL
C: EHLO client.example
S: 503 5.5.1 No service here, send QUIT
C: QUIT
S: 221 2.0.0 Bye`)
		if !c.closed() {
			t.Fatal("refused session still open")
		}
	})
}

func TestLimits(t *testing.T) {
	t.Run("recipients", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			srv := newServer(&recorder{})
			srv.MaxRecipients = 2
			c := dial(t, srv)
			c.run(`
S: 220 mx.example ESMTP postyard
C: HELO client.example
C: MAIL FROM:<a@example.org>
C: RCPT TO:<b@example.com>
C: RCPT TO:<c@example.com>
C: RCPT TO:<d@example.com>
S: 250 mx.example
S: 250 2.1.0 Ok
S: 250 2.1.5 Ok
S: 250 2.1.5 Ok
S: 452 4.5.3 Too many recipients`)
		})
	})
	t.Run("line", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			c := dial(t, newServer(&recorder{}))
			c.run(`
S: 220 mx.example ESMTP postyard
C: NOOP ` + strings.Repeat("x", 506) + `
S: 500 5.5.2 Line too long
C: NOOP ` + strings.Repeat("x", 20000) + `
S: 500 5.5.2 Line too long
C: NOOP ` + strings.Repeat("x", 505) + `
S: 250 2.0.0 Ok`)
		})
	})
	t.Run("bad commands", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			srv := newServer(&recorder{})
			srv.MaxBadCommands = 3
			c := dial(t, srv)
			c.run(`
S: 220 mx.example ESMTP postyard
C: FOO
C: BAR
C: BAZ
S: 500 5.5.2 Command unrecognized
S: 500 5.5.2 Command unrecognized
S: 500 5.5.2 Command unrecognized
S: 421 4.7.0 Too many errors, closing connection`)
			if !c.closed() {
				t.Fatal("session open after too many errors")
			}
			c2 := dial(t, srv)
			c2.run(`S: 220 mx.example ESMTP postyard`)
			c2.close()
		})
	})
	t.Run("message size", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			b := &recorder{}
			srv := newServer(b)
			srv.MaxMessageBytes = 1000
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
S: 354 Start mail input; end with <CRLF>.<CRLF>
C: ` + strings.Repeat("y", 900) + `
C: ` + strings.Repeat("y", 900) + `
C: .
C: NOOP
S: 552 5.3.4 Message too big
S: 250 2.0.0 Ok`)
			if len(b.messages()) != 0 {
				t.Fatal("oversized message stored")
			}
		})
	})
	t.Run("command timeout", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			c := dial(t, newServer(&recorder{}))
			c.run(`S: 220 mx.example ESMTP postyard`)
			time.Sleep(smtp.DefaultCommandTimeout + time.Second)
			c.run(`S: 421 4.4.2 Timeout waiting for command, closing connection`)
			if !c.closed() {
				t.Fatal("session open after timeout")
			}
		})
	})
	t.Run("data timeout", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			b := &recorder{}
			c := dial(t, newServer(b))
			c.run(`
S: 220 mx.example ESMTP postyard
C: HELO client.example
C: MAIL FROM:<a@example.org>
C: RCPT TO:<b@example.com>
C: DATA
C: partial
S: 250 mx.example
S: 250 2.1.0 Ok
S: 250 2.1.5 Ok
S: 354 Start mail input; end with <CRLF>.<CRLF>`)
			time.Sleep(smtp.DefaultCommandTimeout + time.Second)
			if c.closed() {
				t.Fatal("DATA timed out after the command timeout")
			}
			time.Sleep(smtp.DefaultDataTimeout)
			if !c.closed() || len(b.messages()) != 0 {
				t.Fatal("DATA did not time out, or stored a partial message")
			}
		})
	})
}

func TestHTTPRequestClosed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := dial(t, newServer(&recorder{}))
		c.run(`
S: 220 mx.example ESMTP postyard
C: GET / HTTP/1.1`)
		if !c.closed() {
			t.Fatal("HTTP request not cut off")
		}
	})
}

func TestNULInCommand(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := dial(t, newServer(&recorder{}))
		c.run("S: 220 mx.example ESMTP postyard\nC: NOOP \x00\nS: 500 5.5.2 NUL octet in command")
	})
}

// TestPipelinedSequenceErrorsNotCounted: after a refused MAIL, a pipelining
// client gets 503 for each RCPT and DATA; that is not misbehaviour.
func TestPipelinedSequenceErrorsNotCounted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := dial(t, newServer(&recorder{}))
		c.run(`S: 220 mx.example ESMTP postyard
C: EHLO client.example` + ehloReply)
		c.send("MAIL FROM:<bad@@x>\r\n" + strings.Repeat("RCPT TO:<b@example.com>\r\n", 12) + "DATA\r\nNOOP\r\n")
		got := c.replies()
		if strings.Count(got, "503 5.5.1") != 13 || !strings.HasSuffix(got, "250 2.0.0 Ok\r\n") {
			t.Fatalf("replies %q", got)
		}
	})
}

type helloRecorder struct{ recorder }

func (b *helloRecorder) NewSession(ctx context.Context, c *smtp.ConnInfo) (smtp.Session, error) {
	s, _ := b.recorder.NewSession(ctx, c)
	return helloSession{s.(*recSession)}, nil
}

type helloSession struct{ *recSession }

func (helloSession) Hello(ctx context.Context, name string) error {
	if name == "localhost" {
		return &smtp.Error{Code: 550, EnhancedCode: "5.7.1", Message: "You are not localhost"}
	}
	return nil
}

func TestHelloHookAndRoutingSyntax(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := newServer(&helloRecorder{})
		srv.RejectRoutingSyntax = true
		c := dial(t, srv)
		c.run(`
S: 220 mx.example ESMTP postyard
C: EHLO localhost
S: 550 5.7.1 You are not localhost
C: HELO client.example
S: 250 mx.example
C: MAIL FROM:<a%b@example.org>
S: 250 2.1.0 Ok
C: RCPT TO:<user%remote.example@example.com>
S: 553 5.1.3 Source routes, %-hacks and bang paths are not accepted
C: RCPT TO:<remote.example!user@example.com>
S: 553 5.1.3 Source routes, %-hacks and bang paths are not accepted
C: RCPT TO:<@relay.example:user@example.com>
S: 553 5.1.3 Source routes, %-hacks and bang paths are not accepted
C: RCPT TO:<user@example.com>
S: 250 2.1.5 Ok`)
	})
}

// TestReceivedIPv6 checks the TCP-info of the Received field is an
// address literal with the IPv6 tag (RFC 5321 §4.4, §4.1.3).
func TestReceivedIPv6(t *testing.T) {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skip("no IPv6 loopback:", err)
	}
	b := &recorder{}
	s := newServer(b)
	go s.Serve(ln)
	defer s.Close()
	c, err := smtp.Dial(context.Background(), "tcp", ln.Addr().String(), &smtp.ClientOptions{Hostname: "client.example"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	from, _, _ := smtp.ParsePath("<a@example.org>", smtp.PathOptions{})
	to, _, _ := smtp.ParsePath("<b@example.com>", smtp.PathOptions{})
	if _, err := c.SendMail(context.Background(), from, nil, []smtp.Rcpt{{To: to}}, strings.NewReader("Subject: x\r\n\r\nx\r\n")); err != nil {
		t.Fatal(err)
	}
	msgs := b.messages()
	if len(msgs) != 1 || !strings.HasPrefix(msgs[0].Data, "Received: from client.example ([IPv6:::1])\r\n") {
		t.Fatalf("messages %+v", msgs)
	}
}
