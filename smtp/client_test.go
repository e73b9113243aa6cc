package smtp_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/emersion/go-sasl"

	"github.com/postyard/postyard/internal/selfsigned"
	"github.com/postyard/postyard/internal/wire"
	"github.com/postyard/postyard/smtp"
)

// tapConn records what the client writes, one entry per Write.
type tapConn struct {
	net.Conn
	mu     sync.Mutex
	writes []string
}

func (c *tapConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.writes = append(c.writes, string(p))
	c.mu.Unlock()
	return c.Conn.Write(p)
}

// sent returns the client's writes.
func (c *tapConn) sent() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.writes...)
}

// sentAll returns everything the client wrote.
func (c *tapConn) sentAll() string { return strings.Join(c.sent(), "") }

// hideConn removes EHLO keywords from what the server writes, to play a
// server without those extensions. The keywords must not be on the reply's
// last line.
type hideConn struct {
	net.Conn
	hide []string
}

func (c *hideConn) Write(p []byte) (int, error) {
	s := string(p)
	for _, h := range c.hide {
		s = strings.ReplaceAll(s, "250-"+h+"\r\n", "")
	}
	if _, err := c.Conn.Write([]byte(s)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// serveClient runs srv on one end of a pipe and returns the other end for
// a client. Extensions in hide are taken out of the server's EHLO reply.
// Call inside a synctest bubble.
func serveClient(t *testing.T, srv *smtp.Server, hide ...string) *tapConn {
	cc, sc := net.Pipe()
	var s net.Conn = sc
	if len(hide) > 0 {
		s = &hideConn{Conn: sc, hide: hide}
	}
	done := make(chan error, 1)
	go func() { done <- srv.ServeConn(context.Background(), s) }()
	t.Cleanup(func() { cc.Close(); <-done })
	return &tapConn{Conn: cc}
}

// newClient starts a client on conn, failing the test if it cannot.
func newClient(t *testing.T, conn net.Conn, opts *smtp.ClientOptions) *smtp.Client {
	t.Helper()
	if opts == nil {
		opts = &smtp.ClientOptions{Hostname: "client.example"}
	}
	c, err := smtp.NewClient(context.Background(), conn, opts)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// fake is a scripted server for what our Server never does.
type fake struct {
	t *testing.T
	c net.Conn
	r *wire.Reader
}

// runFake runs script against the client end it returns. Call inside a
// synctest bubble.
func runFake(t *testing.T, script func(f *fake)) *tapConn {
	cc, sc := net.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer sc.Close()
		script(&fake{t: t, c: sc, r: wire.NewReader(sc)})
	}()
	t.Cleanup(func() { cc.Close(); <-done })
	return &tapConn{Conn: cc}
}

// reply writes raw reply lines, each ending in CRLF.
func (f *fake) reply(lines ...string) {
	for _, l := range lines {
		if _, err := io.WriteString(f.c, l+"\r\n"); err != nil {
			return
		}
	}
}

// expect reads a command line and checks it; false if the client hung up.
func (f *fake) expect(cmd string) bool {
	line, err := f.r.ReadLine(4096)
	if err != nil {
		return false
	}
	if string(line) != cmd {
		f.t.Errorf("fake server got %q, want %q", line, cmd)
		return false
	}
	return true
}

// drain reads until the client hangs up.
func (f *fake) drain() {
	for {
		if _, err := f.r.ReadLine(4096); err != nil && !errors.Is(err, wire.ErrLineTooLong) {
			return
		}
	}
}

// checkError checks that err is an *smtp.Error with the code, enhanced
// code and message given.
func checkError(t *testing.T, what string, err error, code int, enhanced, msg string) {
	t.Helper()
	var e *smtp.Error
	if !errors.As(err, &e) {
		t.Fatalf("%s: error %v (%T), want *smtp.Error %d", what, err, err, code)
	}
	if e.Code != code || e.EnhancedCode != enhanced || e.Message != msg {
		t.Fatalf("%s: got %d %q %q, want %d %q %q", what, e.Code, e.EnhancedCode, e.Message, code, enhanced, msg)
	}
}

func addr(t *testing.T, s string) smtp.Path {
	t.Helper()
	p, _, err := smtp.ParsePath("<"+s+">", smtp.PathOptions{UTF8: true, AllowNull: true})
	if err != nil {
		t.Fatalf("ParsePath(%q): %v", s, err)
	}
	return p
}

func rcpts(t *testing.T, addrs ...string) []smtp.Rcpt {
	var rs []smtp.Rcpt
	for _, a := range addrs {
		rs = append(rs, smtp.Rcpt{To: addr(t, a)})
	}
	return rs
}

func TestClientEHLO(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := newServer(&recorder{})
		srv.TLSConfig = newTLS(t).conf
		conn := serveClient(t, srv)
		c := newClient(t, conn, nil)
		ext := c.Extensions()
		for _, kw := range []string{"PIPELINING", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES", "CHUNKING", "BINARYMIME", "DSN", "STARTTLS"} {
			if v, ok := ext[kw]; !ok || v != "" {
				t.Errorf("extension %s: %q, %v", kw, v, ok)
			}
		}
		if ext["SIZE"] != "26214400" || len(ext) != 9 {
			t.Errorf("extensions %q", ext)
		}
		ext["SIZE"] = "1" // a copy
		if n, ok := c.MaxMessageSize(); n != 26214400 || !ok {
			t.Errorf("MaxMessageSize %d, %v", n, ok)
		}
		if !c.Supports("pipelining") || c.Supports("AUTH") || c.Supports("REQUIRETLS") {
			t.Error("Supports")
		}
		if _, ok := c.TLS(); ok {
			t.Error("TLS on a plaintext connection")
		}
		ctx := context.Background()
		if err := c.Noop(ctx); err != nil {
			t.Fatalf("Noop: %v", err)
		}
		if err := c.Reset(ctx); err != nil {
			t.Fatalf("Reset: %v", err)
		}
		if err := c.Quit(ctx); err != nil {
			t.Fatalf("Quit: %v", err)
		}
		if got := conn.sentAll(); got != "EHLO client.example\r\nNOOP\r\nRSET\r\nQUIT\r\n" {
			t.Errorf("client sent %q", got)
		}
		if err := c.Noop(ctx); !errors.Is(err, net.ErrClosed) {
			t.Errorf("Noop after Quit: %v", err)
		}
	})
}

func TestClientHELOFallback(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		type result struct{ raw, content string }
		got := make(chan result, 1)
		conn := runFake(t, func(f *fake) {
			var raw bytes.Buffer
			var content []byte
			defer func() { got <- result{raw.String(), string(content)} }()
			f.r = wire.NewReader(io.TeeReader(f.c, &raw))
			f.reply("220 old.example")
			_ = f.expect("EHLO client.example") && f.reply502() &&
				f.expect("HELO client.example") && f.ok("250 old.example") &&
				f.expect("MAIL FROM:<a@example.org>") && f.ok("250 ok") &&
				f.expect("RCPT TO:<b@example.com>") && f.ok("250 ok") &&
				f.expect("DATA") && f.ok("354 go ahead")
			dr := f.r.DataReader(wire.DataOptions{}) // strict: bare CR or LF fails
			b, err := io.ReadAll(dr)
			if err != nil {
				t.Errorf("DATA content: %v", err)
			}
			content = b
			f.reply("250 accepted")
			_ = f.expect("QUIT") && f.ok("221 bye")
			f.drain()
		})
		c := newClient(t, conn, nil)
		if c.Extensions() != nil || c.Supports("PIPELINING") {
			t.Fatalf("extensions after HELO: %q", c.Extensions())
		}
		if _, ok := c.MaxMessageSize(); ok {
			t.Error("SIZE after HELO")
		}
		ctx := context.Background()
		// Parameters of extensions the server lacks: SIZE and BODY=7BIT are
		// dropped, 8BITMIME is refused.
		_, err := c.SendMail(ctx, addr(t, "a@example.org"), &smtp.MailOptions{Body: smtp.Body8BitMIME}, rcpts(t, "b@example.com"), strings.NewReader("x"))
		if !errors.Is(err, smtp.ErrNotSupported) {
			t.Fatalf("8BITMIME to a HELO server: %v", err)
		}
		msg := "Subject: x\n\n.dot\n.\nbare\rCR\r\n..\r\nlast"
		res, err := c.SendMail(ctx, addr(t, "a@example.org"), &smtp.MailOptions{Size: 100, Body: smtp.Body7Bit}, rcpts(t, "b@example.com"), strings.NewReader(msg))
		if err != nil {
			t.Fatalf("SendMail: %v", err)
		}
		if len(res.Rcpts) != 1 || res.Rcpts[0] != nil || len(res.Data) != 1 || res.Data[0] != nil || res.Reply != "accepted" {
			t.Fatalf("result %+v", res)
		}
		if err := c.Quit(ctx); err != nil {
			t.Fatalf("Quit: %v", err)
		}
		r := <-got
		if want := "Subject: x\r\n\r\n.dot\r\n.\r\nbare\r\nCR\r\n..\r\nlast\r\n"; r.content != want {
			t.Errorf("content %q, want %q", r.content, want)
		}
		if want := "\r\n\r\n..dot\r\n..\r\nbare\r\nCR\r\n...\r\nlast\r\n.\r\n"; !strings.Contains(r.raw, want) {
			t.Errorf("wire %q, want dot-stuffed %q", r.raw, want)
		}
		if !strings.Contains(r.raw, "MAIL FROM:<a@example.org>\r\n") {
			t.Errorf("wire %q: MAIL with parameters", r.raw)
		}
	})
}

func (f *fake) reply502() bool { f.reply("502 5.5.2 Command not recognized"); return true }

func (f *fake) ok(line string) bool { f.reply(line); return true }

func TestClientSTARTTLSAuthSendMail(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &recorder{ID: "Q7"}
		srv, tp := tlsServer(t, b)
		conn := serveClient(t, srv)
		c := newClient(t, conn, &smtp.ClientOptions{
			Hostname:  "client.example",
			TLSConfig: &tls.Config{RootCAs: tp.pool, ServerName: "mx.example"},
		})
		ctx := context.Background()
		if err := c.Auth(ctx, sasl.NewPlainClient("", "alice", "secret")); !errors.Is(err, smtp.ErrNotSupported) {
			t.Fatalf("AUTH before STARTTLS: %v", err)
		}
		from, to := addr(t, "a@example.org"), rcpts(t, "b@example.com")
		if _, err := c.SendMail(ctx, from, &smtp.MailOptions{RequireTLS: true}, to, strings.NewReader("x")); !errors.Is(err, smtp.ErrNotSupported) {
			t.Fatalf("REQUIRETLS before STARTTLS: %v", err)
		}
		if strings.Contains(conn.sentAll(), "MAIL") || strings.Contains(conn.sentAll(), "AUTH") {
			t.Fatalf("client sent %q", conn.sentAll())
		}
		if err := c.StartTLS(ctx, nil); err != nil {
			t.Fatalf("StartTLS: %v", err)
		}
		if st, ok := c.TLS(); !ok || st.Version != tls.VersionTLS13 {
			t.Fatalf("TLS state %v %v", st.Version, ok)
		}
		if c.Supports("STARTTLS") || !c.Supports("AUTH") || !c.Supports("REQUIRETLS") {
			t.Fatalf("extensions after STARTTLS: %q", c.Extensions())
		}
		if err := c.StartTLS(ctx, nil); err == nil || errors.Is(err, smtp.ErrNotSupported) {
			t.Fatalf("second StartTLS: %v", err)
		}
		err := c.Auth(ctx, sasl.NewPlainClient("", "alice", "wrong"))
		checkError(t, "AUTH with a wrong password", err, 535, "5.7.8", "Authentication credentials invalid")
		if err := c.Auth(ctx, sasl.NewPlainClient("", "alice", "secret")); err != nil {
			t.Fatalf("AUTH: %v", err)
		}
		rs := rcpts(t, "b@example.com", "c@example.com")
		rs[1].Opts = &smtp.RcptOptions{Notify: smtp.NotifySuccess | smtp.NotifyFailure, OriginalRcpt: "c@example.com"}
		opts := &smtp.MailOptions{RequireTLS: true, Size: 20, EnvelopeID: "id 1"}
		res, err := c.SendMail(ctx, from, opts, rs, strings.NewReader("Subject: TLS\n\nhi\n"))
		if err != nil {
			t.Fatalf("SendMail: %v", err)
		}
		if res.Err(0) != nil || res.Err(1) != nil || res.Reply != "Ok: queued as Q7" {
			t.Fatalf("result %+v", res)
		}
		if err := c.Quit(ctx); err != nil {
			t.Fatalf("Quit: %v", err)
		}
		m := b.messages()
		if len(m) != 1 {
			t.Fatalf("%d messages", len(m))
		}
		if !m[0].TLS || m[0].User != "alice" || !m[0].Mail.RequireTLS || m[0].Mail.Size != 20 || m[0].Mail.EnvelopeID != "id 1" {
			t.Errorf("message %+v", m[0])
		}
		if len(m[0].To) != 2 || m[0].Rcpt[1].Notify != smtp.NotifySuccess|smtp.NotifyFailure || m[0].Rcpt[1].OriginalRcpt != "c@example.com" {
			t.Errorf("recipients %q %+v", m[0].To, m[0].Rcpt)
		}
		if got := body(m[0].Data); got != "Subject: TLS\r\n\r\nhi\r\n" {
			t.Errorf("content %q", got)
		}
	})
}

// noIR is a SASL client that sends no initial response.
type noIR struct{ sasl.Client }

func (a noIR) Start() (string, []byte, error) {
	mech, _, err := a.Client.Start()
	return mech, nil, err
}

func TestClientAuthExchanges(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv, _ := tlsServer(t, &recorder{})
		srv.AllowInsecureAuth = true
		srv.MaxAuthFailures = 10
		conn := serveClient(t, srv)
		c := newClient(t, conn, nil)
		ctx := context.Background()
		if err := c.Auth(ctx, sasl.NewAnonymousClient("x")); !errors.Is(err, smtp.ErrNotSupported) {
			t.Fatalf("AUTH ANONYMOUS: %v", err)
		}
		// An initial response too long for the AUTH line goes after an
		// empty challenge (RFC 4954 §4).
		long := strings.Repeat("p", 600)
		err := c.Auth(ctx, sasl.NewPlainClient("", "alice", long))
		checkError(t, "long PLAIN", err, 535, "5.7.8", "Authentication credentials invalid")
		if w := conn.sent(); !strings.Contains(strings.Join(w, ""), "AUTH PLAIN\r\n") {
			t.Errorf("long initial response sent inline: %q", w)
		}
		// LOGIN without initial response asks "Username:" first, which
		// go-sasl's LOGIN client refuses: the client cancels with "*".
		err = c.Auth(ctx, noIR{sasl.NewLoginClient("alice", "secret")})
		if !errors.Is(err, sasl.ErrUnexpectedServerChallenge) {
			t.Fatalf("cancelled LOGIN: %v", err)
		}
		if !strings.HasSuffix(conn.sentAll(), "AUTH LOGIN\r\n*\r\n") {
			t.Errorf("client sent %q", conn.sentAll())
		}
		if err := c.Noop(ctx); err != nil {
			t.Fatalf("Noop after cancelled AUTH: %v", err)
		}
		// LOGIN with the user name as initial response, then a challenge.
		if err := c.Auth(ctx, sasl.NewLoginClient("alice", "secret")); err != nil {
			t.Fatalf("AUTH LOGIN: %v", err)
		}
		if !strings.HasSuffix(conn.sentAll(), "AUTH LOGIN YWxpY2U=\r\nc2VjcmV0\r\n") {
			t.Errorf("client sent %q", conn.sentAll())
		}
	})
}

func TestClientContent(t *testing.T) {
	small := "Subject: x\n\n.dot line\n..two dots\n.\nbare\rcr\r\nx\n.\nMAIL FROM:<admin@example.com>\r\nRCPT TO:<victim@example.com>\r\nDATA\r\nSpoofed\r\n.\r\nend"
	smallWant := "Subject: x\r\n\r\n.dot line\r\n..two dots\r\n.\r\nbare\r\ncr\r\nx\r\n.\r\nMAIL FROM:<admin@example.com>\r\nRCPT TO:<victim@example.com>\r\nDATA\r\nSpoofed\r\n.\r\nend\r\n"
	var lb, cb strings.Builder
	for i := 0; lb.Len() < 600<<10; i++ {
		fmt.Fprintf(&lb, ".%06d Lorem ipsum dolor sit amet, consectetur adipiscing elit\n", i)
		fmt.Fprintf(&cb, ".%06d Lorem ipsum dolor sit amet, consectetur adipiscing elit\r\n", i)
	}
	for _, tc := range []struct {
		name      string
		hide      []string
		bdat      bool
		pipelined bool
	}{
		{"BDAT pipelined", nil, true, true},
		{"BDAT", []string{"PIPELINING"}, true, false},
		{"DATA pipelined", []string{"CHUNKING", "BINARYMIME"}, false, true},
		{"DATA", []string{"CHUNKING", "BINARYMIME", "PIPELINING"}, false, false},
	} {
		for _, m := range []struct{ name, in, want string }{{"small", small, smallWant}, {"large", lb.String(), cb.String()}} {
			t.Run(tc.name+"/"+m.name, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					b := &recorder{ID: "Q1"}
					conn := serveClient(t, newServer(b), tc.hide...)
					c := newClient(t, conn, nil)
					res, err := c.SendMail(context.Background(), addr(t, "a@example.org"), nil, rcpts(t, "b@example.com", "c@example.com"), strings.NewReader(m.in))
					if err != nil {
						t.Fatalf("SendMail: %v", err)
					}
					if res.Err(0) != nil || res.Err(1) != nil || len(res.Data) != 1 || res.Reply != "Ok: queued as Q1" {
						t.Fatalf("result %+v", res)
					}
					msgs := b.messages()
					if len(msgs) != 1 || body(msgs[0].Data) != m.want {
						t.Fatalf("stored %d messages; first %.200q", len(msgs), body(msgs[0].Data))
					}
					var group, bdat, data bool
					for _, w := range conn.sent() {
						group = group || strings.Contains(w, "MAIL FROM:") && strings.Contains(w, "RCPT TO:<c@example.com>") &&
							strings.Contains(w, "DATA\r\n") != tc.bdat
						bdat = bdat || strings.HasPrefix(w, "BDAT ")
						data = data || w == "DATA\r\n" || strings.HasSuffix(w, "\r\nDATA\r\n")
					}
					if group != tc.pipelined || bdat != tc.bdat || data == tc.bdat {
						t.Errorf("pipelined %v, BDAT %v, DATA %v; writes %.300q", group, bdat, data, conn.sent())
					}
					if err := c.Quit(context.Background()); err != nil {
						t.Fatalf("Quit: %v", err)
					}
				})
			})
		}
	}
}

func TestClientBinaryMIME(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &recorder{}
		c := newClient(t, serveClient(t, newServer(b)), nil)
		ctx := context.Background()
		bin := "\x00\r\n\n\r.\r\nbinary"
		opts := &smtp.MailOptions{Body: smtp.BodyBinaryMIME}
		if _, err := c.SendMail(ctx, addr(t, "a@example.org"), opts, rcpts(t, "b@example.com"), strings.NewReader(bin)); err != nil {
			t.Fatalf("SendMail: %v", err)
		}
		if m := b.messages(); len(m) != 1 || body(m[0].Data) != bin || m[0].Mail.Body != smtp.BodyBinaryMIME {
			t.Fatalf("messages %+v", m)
		}
		c2 := newClient(t, serveClient(t, newServer(b), "CHUNKING"), nil)
		if _, err := c2.SendMail(ctx, addr(t, "a@example.org"), opts, rcpts(t, "b@example.com"), strings.NewReader(bin)); !errors.Is(err, smtp.ErrNotSupported) {
			t.Fatalf("BINARYMIME without CHUNKING: %v", err)
		}
	})
}

// failReader fails after its content.
type failReader struct{ r io.Reader }

var errRead = errors.New("disk on fire")

func (f *failReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, errRead
	}
	return n, err
}

func TestClientReaderFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &recorder{}
		ctx := context.Background()
		// BDAT: the transaction is abandoned with RSET, the session goes on.
		conn := serveClient(t, newServer(b))
		c := newClient(t, conn, nil)
		r := &failReader{strings.NewReader(strings.Repeat("x", 300<<10))}
		res, err := c.SendMail(ctx, addr(t, "a@example.org"), nil, rcpts(t, "b@example.com"), r)
		if !errors.Is(err, errRead) || !errors.Is(res.Err(0), errRead) {
			t.Fatalf("SendMail: %v, %+v", err, res)
		}
		if !strings.HasSuffix(conn.sentAll(), "RSET\r\n") {
			t.Errorf("no RSET after the failed read")
		}
		if err := c.Noop(ctx); err != nil {
			t.Fatalf("Noop: %v", err)
		}
		// DATA cannot be aborted: the connection is closed.
		c2 := newClient(t, serveClient(t, newServer(b), "CHUNKING", "BINARYMIME"), nil)
		_, err = c2.SendMail(ctx, addr(t, "a@example.org"), nil, rcpts(t, "b@example.com"), &failReader{strings.NewReader("x\r\n")})
		if !errors.Is(err, errRead) {
			t.Fatalf("SendMail with DATA: %v", err)
		}
		if err := c2.Noop(ctx); !errors.Is(err, errRead) {
			t.Fatalf("Noop after a failed DATA: %v", err)
		}
		synctest.Wait()
		if len(b.messages()) != 0 {
			t.Fatal("partial message stored")
		}
	})
}

func TestClientRefusedRecipients(t *testing.T) {
	for _, tc := range []struct {
		name string
		hide []string
	}{{"pipelined", nil}, {"lock-step", []string{"PIPELINING"}}} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := &recorder{RcptErr: func(to smtp.Path) error {
					if strings.HasPrefix(to.Local, "bad") {
						return smtp.ErrNoSuchUser
					}
					return nil
				}}
				srv := newServer(b)
				srv.MaxMessageBytes = 1000
				conn := serveClient(t, srv, tc.hide...)
				c := newClient(t, conn, nil)
				ctx := context.Background()
				from := addr(t, "a@example.org")

				res, err := c.SendMail(ctx, from, nil, rcpts(t, "good1@example.com", "bad1@example.com", "good2@example.com"), strings.NewReader("some"))
				if err != nil {
					t.Fatalf("SendMail: %v", err)
				}
				checkError(t, "refused recipient", res.Rcpts[1], 550, "5.1.1", "No such user here")
				if res.Rcpts[0] != nil || res.Rcpts[2] != nil || res.Err(0) != nil || res.Err(2) != nil || res.Err(1) != res.Rcpts[1] {
					t.Fatalf("result %+v", res)
				}
				if m := b.messages(); len(m) != 1 || len(m[0].To) != 2 {
					t.Fatalf("messages %+v", m)
				}

				// All refused: no content, RSET.
				before := len(conn.sent())
				res, err = c.SendMail(ctx, from, nil, rcpts(t, "bad1@example.com", "bad2@example.com"), strings.NewReader("never sent"))
				checkError(t, "all refused", err, 550, "5.1.1", "No such user here")
				if res == nil || len(res.Rcpts) != 2 || res.Rcpts[1] == nil || len(res.Data) != 0 || res.Err(0) == nil {
					t.Fatalf("result %+v", res)
				}
				sent := strings.Join(conn.sent()[before:], "")
				if strings.Contains(sent, "never sent") || strings.Contains(sent, "BDAT") || !strings.HasSuffix(sent, "RSET\r\n") {
					t.Fatalf("client sent %q", sent)
				}
				if len(b.messages()) != 1 {
					t.Fatal("message stored without recipients")
				}

				// MAIL refused: SIZE over the limit.
				res, err = c.SendMail(ctx, from, &smtp.MailOptions{Size: 5000}, rcpts(t, "good1@example.com"), strings.NewReader("x"))
				checkError(t, "MAIL", err, 552, "5.3.4", "Message size exceeds fixed maximum message size")
				if res != nil {
					t.Fatalf("result %+v", res)
				}
				if err := c.Noop(ctx); err != nil {
					t.Fatalf("Noop: %v", err)
				}
				// DATA refused: the message is too big for the server.
				res, err = c.SendMail(ctx, from, nil, rcpts(t, "good1@example.com"), strings.NewReader(strings.Repeat("x", 2000)))
				checkError(t, "content", err, 552, "5.3.4", "Message too big")
				if res.Rcpts[0] != nil || res.Err(0) != err {
					t.Fatalf("result %+v", res)
				}
				if err := c.Quit(ctx); err != nil {
					t.Fatalf("Quit: %v", err)
				}
			})
		})
	}
}

func TestClientLMTP(t *testing.T) {
	for _, tc := range []struct {
		name string
		hide []string
	}{{"BDAT", nil}, {"DATA", []string{"CHUNKING", "BINARYMIME"}}} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := &lmtpRecorder{}
				b.RcptErr = func(to smtp.Path) error {
					if to.Local == "bad" {
						return smtp.ErrNoSuchUser
					}
					return nil
				}
				srv := newServer(b)
				srv.LMTP = true
				conn := serveClient(t, srv, tc.hide...)
				c := newClient(t, conn, &smtp.ClientOptions{Hostname: "client.example", LMTP: true})
				res, err := c.SendMail(context.Background(), addr(t, "a@example.org"), nil,
					rcpts(t, "b@example.com", "full@example.com", "bad@example.com", "c@example.com"), strings.NewReader("hi\n"))
				if err != nil {
					t.Fatalf("SendMail: %v", err)
				}
				if len(res.Data) != 3 || res.Data[0] != nil || res.Data[2] != nil || res.Reply != "Ok" {
					t.Fatalf("result %+v", res)
				}
				checkError(t, "full mailbox", res.Err(1), 452, "4.2.2", "Mailbox full")
				checkError(t, "refused recipient", res.Err(2), 550, "5.1.1", "No such user here")
				if res.Err(0) != nil || res.Err(3) != nil {
					t.Fatalf("result %+v", res)
				}
				if !strings.HasPrefix(conn.sentAll(), "LHLO client.example\r\n") {
					t.Errorf("client sent %q", conn.sentAll())
				}
				if m := b.messages(); len(m) != 1 || body(m[0].Data) != "hi\r\n" {
					t.Fatalf("messages %+v", m)
				}
			})
		})
	}
	t.Run("SMTP server", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			_, err := smtp.NewClient(context.Background(), serveClient(t, newServer(&recorder{})), &smtp.ClientOptions{LMTP: true})
			checkError(t, "LHLO to an SMTP server", err, 500, "", "5.5.1 Command unrecognized")
		})
	})
}

func TestClientNotOffered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &recorder{}
		ctx := context.Background()
		utf8From, utf8To := addr(t, "δοκιμή@example.org"), rcpts(t, "χρήστης@παράδειγμα.example")

		conn := serveClient(t, newServer(b), "SMTPUTF8", "DSN", "8BITMIME")
		c := newClient(t, conn, nil)
		for _, tc := range []struct {
			name  string
			from  smtp.Path
			opts  *smtp.MailOptions
			rcpts []smtp.Rcpt
			want  []error
		}{
			{"REQUIRETLS", addr(t, "a@example.org"), &smtp.MailOptions{RequireTLS: true}, rcpts(t, "b@example.com"), []error{smtp.ErrNotSupported}},
			{"SMTPUTF8 sender", utf8From, nil, rcpts(t, "b@example.com"), []error{smtp.ErrNotSupported, smtp.ErrPathNonASCII}},
			{"SMTPUTF8 recipient", addr(t, "a@example.org"), nil, utf8To, []error{smtp.ErrNotSupported, smtp.ErrPathNonASCII}},
			{"SMTPUTF8 asked", addr(t, "a@example.org"), &smtp.MailOptions{UTF8: true}, rcpts(t, "b@example.com"), []error{smtp.ErrNotSupported}},
			{"8BITMIME", addr(t, "a@example.org"), &smtp.MailOptions{Body: smtp.Body8BitMIME}, rcpts(t, "b@example.com"), []error{smtp.ErrNotSupported}},
			{"DSN RET", addr(t, "a@example.org"), &smtp.MailOptions{Return: smtp.DSNReturnHeaders}, rcpts(t, "b@example.com"), []error{smtp.ErrNotSupported}},
			{"DSN NOTIFY", addr(t, "a@example.org"), nil, []smtp.Rcpt{{To: addr(t, "b@example.com"), Opts: &smtp.RcptOptions{Notify: smtp.NotifyNever}}}, []error{smtp.ErrNotSupported}},
			{"no recipients", addr(t, "a@example.org"), nil, nil, nil},
			{"CRLF in local part", smtp.Path{Local: "a\r\nRSET", Domain: "example.org"}, nil, rcpts(t, "b@example.com"), []error{smtp.ErrPathSyntax}},
			{"injection in domain", smtp.Path{Local: "a", Domain: "example.org> SIZE=1"}, nil, rcpts(t, "b@example.com"), []error{smtp.ErrPathSyntax}},
			{"null recipient", addr(t, "a@example.org"), nil, []smtp.Rcpt{{}}, []error{smtp.ErrPathSyntax}},
			{"bad BODY", addr(t, "a@example.org"), &smtp.MailOptions{Body: "7BIT\r\nRSET"}, rcpts(t, "b@example.com"), []error{smtp.ErrParamSyntax}},
			{"bad ENVID", addr(t, "a@example.org"), &smtp.MailOptions{EnvelopeID: "a\x00b"}, rcpts(t, "b@example.com"), []error{smtp.ErrNotSupported}},
		} {
			_, err := c.SendMail(ctx, tc.from, tc.opts, tc.rcpts, strings.NewReader("x"))
			if err == nil {
				t.Errorf("%s: no error", tc.name)
			}
			for _, w := range tc.want {
				if !errors.Is(err, w) {
					t.Errorf("%s: %v, want %v", tc.name, err, w)
				}
			}
		}
		if got := conn.sentAll(); got != "EHLO client.example\r\n" {
			t.Errorf("client sent %q", got)
		}
		if err := c.Noop(ctx); err != nil {
			t.Fatalf("Noop: %v", err)
		}

		// With SMTPUTF8 and DSN offered, the parameters go.
		c = newClient(t, serveClient(t, newServer(b)), nil)
		if _, err := c.SendMail(ctx, addr(t, "a@example.org"), &smtp.MailOptions{EnvelopeID: "a\x00b"}, rcpts(t, "b@example.com"), strings.NewReader("x")); !errors.Is(err, smtp.ErrParamSyntax) {
			t.Errorf("bad ENVID: %v", err)
		}
		to := utf8To
		to[0].Opts = &smtp.RcptOptions{Notify: smtp.NotifyNever}
		if _, err := c.SendMail(ctx, utf8From, &smtp.MailOptions{Return: smtp.DSNReturnHeaders}, to, strings.NewReader("x")); err != nil {
			t.Fatalf("SendMail with UTF-8 addresses: %v", err)
		}
		m := b.messages()
		if len(m) != 1 || !m[0].Mail.UTF8 || m[0].From != "δοκιμή@example.org" || m[0].To[0] != "χρήστης@παράδειγμα.example" ||
			m[0].Mail.Return != smtp.DSNReturnHeaders || m[0].Rcpt[0].Notify != smtp.NotifyNever {
			t.Fatalf("messages %+v", m)
		}
	})
}

func TestClientGreetingRefused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &recorder{ConnectErr: &smtp.Error{Code: 554, EnhancedCode: "5.7.1", Message: "Blocked"}}
		_, err := smtp.NewClient(context.Background(), serveClient(t, newServer(b)), nil)
		// No ENHANCEDSTATUSCODES yet: the code stays in the text.
		checkError(t, "greeting", err, 554, "", "5.7.1 Blocked")
	})
}

func TestClientReplies(t *testing.T) {
	for _, tc := range []struct {
		name    string
		reply   []string
		code    int    // 0: nil error
		enh     string // expected *Error fields
		msg     string
		protoOK bool // false: a protocol error that ends the client
	}{
		{"multi-line ok", []string{"250-first", "250-second", "250 third"}, 0, "", "", true},
		{"code only", []string{"250"}, 0, "", "", true},
		{"enhanced on every line", []string{"550-5.1.1 first", "550-5.1.1 second", "550 5.1.1 third"}, 550, "5.1.1", "first\nsecond\nthird", true},
		{"enhanced alone", []string{"451 4.3.0"}, 451, "4.3.0", "", true},
		{"no enhanced", []string{"554 no enhanced code"}, 554, "", "no enhanced code", true},
		{"class mismatch", []string{"550 4.1.1 mismatch"}, 550, "", "4.1.1 mismatch", true},
		{"long subject", []string{"550 5.1234.1 x"}, 550, "", "5.1234.1 x", true},
		{"different code later", []string{"550-5.1.1 a", "550 5.7.1 b"}, 550, "5.1.1", "a\n5.7.1 b", true},
		{"control characters", []string{"550 bad\x01ctl\tx"}, 550, "", "bad ctl x", true},
		{"bare code, no space", []string{"550"}, 550, "", "", true},
		{"421 ends the session", []string{"421 4.3.2 bye"}, 421, "4.3.2", "bye", false},
		{"code changes", []string{"550-a", "551 b"}, -1, "", "", false},
		{"too many lines", append(slicesRepeat("250-x", 100), "250 x"), -1, "", "", false},
		{"line too long", []string{"250 " + strings.Repeat("x", 3000)}, -1, "", "", false},
		{"four digits", []string{"2500 x"}, -1, "", "", false},
		{"not a reply", []string{"hello"}, -1, "", "", false},
		{"1yz", []string{"150 x"}, -1, "", "", false},
		{"unexpected 354", []string{"354 go"}, -1, "", "", false},
		{"tab separator", []string{"250\tok"}, -1, "", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				conn := runFake(t, func(f *fake) {
					f.reply("220 fake")
					f.expect("EHLO localhost")
					f.reply("250-fake", "250 ENHANCEDSTATUSCODES")
					f.expect("NOOP")
					f.reply(tc.reply...)
					if f.expect("NOOP") {
						f.reply("250 2.0.0 ok")
					}
					f.drain()
				})
				c, err := smtp.NewClient(context.Background(), conn, nil)
				if err != nil {
					t.Fatalf("NewClient: %v", err)
				}
				defer c.Close()
				err = c.Noop(context.Background())
				switch {
				case tc.code == 0:
					if err != nil {
						t.Fatalf("Noop: %v", err)
					}
				case tc.code > 0:
					checkError(t, "Noop", err, tc.code, tc.enh, tc.msg)
				default:
					var e *smtp.Error
					if err == nil || errors.As(err, &e) {
						t.Fatalf("Noop: %v, want a protocol error", err)
					}
				}
				err2 := c.Noop(context.Background())
				if tc.protoOK && err2 != nil {
					t.Fatalf("second Noop: %v", err2)
				}
				if !tc.protoOK && (err2 == nil || !errors.Is(err2, err)) {
					t.Fatalf("second Noop after %v: %v", err, err2)
				}
			})
		})
	}
}

func slicesRepeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

func TestClientContext(t *testing.T) {
	t.Run("greeting deadline", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			conn := runFake(t, func(f *fake) { f.drain() }) // says nothing
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			start := time.Now()
			_, err := smtp.NewClient(ctx, conn, nil)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("NewClient: %v", err)
			}
			if d := time.Since(start); d != time.Minute {
				t.Errorf("gave up after %v", d)
			}
		})
	})
	t.Run("command deadline", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			conn := runFake(t, func(f *fake) {
				f.reply("220 fake")
				f.expect("EHLO client.example")
				f.reply("250 fake")
				f.drain() // never answers
			})
			c := newClient(t, conn, nil)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			err := c.Noop(ctx)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Noop: %v", err)
			}
			if err := c.Noop(context.Background()); err == nil {
				t.Fatal("client usable after a timeout")
			}
		})
	})
	t.Run("cancel", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			b := &recorder{}
			conn := serveClient(t, newServer(b), "CHUNKING")
			c := newClient(t, conn, nil)
			ctx, cancel := context.WithCancel(context.Background())
			pr, pw := io.Pipe() // content that never ends
			done := make(chan error)
			go func() {
				_, err := c.SendMail(ctx, addr(t, "a@example.org"), nil, rcpts(t, "b@example.com"), pr)
				done <- err
			}()
			pw.Write([]byte("partial\n"))
			synctest.Wait()
			cancel()
			pw.Close()
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Fatalf("SendMail: %v", err)
			}
			if len(b.messages()) != 0 {
				t.Fatal("partial message stored")
			}
		})
	})
	t.Run("done before", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			c := newClient(t, serveClient(t, newServer(&recorder{})), nil)
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			if err := c.Noop(ctx); !errors.Is(err, context.Canceled) {
				t.Fatalf("Noop: %v", err)
			}
			// Nothing was sent: the client still works.
			if err := c.Noop(context.Background()); err != nil {
				t.Fatalf("Noop: %v", err)
			}
		})
	})
}

// TestClientLoopback uses real TCP: Dial with STARTTLS verified against
// the host in the address, and implicit TLS through NewClient.
func TestClientLoopback(t *testing.T) {
	conf, pool, err := selfsigned.Config("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	b := &recorder{}
	srv := newServer(b)
	srv.TLSConfig = conf
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lnTLS, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	go srv.ServeTLS(lnTLS)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	c, err := smtp.Dial(ctx, "tcp", ln.Addr().String(), &smtp.ClientOptions{TLSConfig: &tls.Config{RootCAs: pool}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.StartTLS(ctx, nil); err != nil {
		t.Fatalf("StartTLS: %v", err)
	}
	if _, err := c.SendMail(ctx, addr(t, "a@example.org"), nil, rcpts(t, "b@example.com"), strings.NewReader("one\n")); err != nil {
		t.Fatalf("SendMail: %v", err)
	}
	if err := c.Quit(ctx); err != nil {
		t.Fatalf("Quit: %v", err)
	}

	raw, err := net.Dial("tcp", lnTLS.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c, err = smtp.NewClient(ctx, tls.Client(raw, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, ok := c.TLS(); !ok || c.Supports("STARTTLS") {
		t.Fatalf("implicit TLS: %v, %q", ok, c.Extensions())
	}
	if err := c.StartTLS(ctx, nil); err == nil {
		t.Fatal("StartTLS on a TLS connection")
	}
	if _, err := c.SendMail(ctx, addr(t, "a@example.org"), nil, rcpts(t, "b@example.com"), strings.NewReader("two\n")); err != nil {
		t.Fatalf("SendMail: %v", err)
	}
	if err := c.Quit(ctx); err != nil {
		t.Fatalf("Quit: %v", err)
	}
	m := b.messages()
	if len(m) != 2 || !m[0].TLS || !m[1].TLS || body(m[0].Data) != "one\r\n" || body(m[1].Data) != "two\r\n" || m[0].Hello != "localhost" {
		t.Fatalf("messages %+v", m)
	}
}

// TestClientServerQuirks plays servers that refuse in places our Server
// does not.
func TestClientServerQuirks(t *testing.T) {
	ctx := context.Background()
	t.Run("pipelined DATA refused", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			conn := runFake(t, func(f *fake) {
				f.reply("220 fake")
				_ = f.expect("EHLO client.example") && f.ok("250-fake\r\n250-ENHANCEDSTATUSCODES\r\n250 PIPELINING") &&
					f.expect("MAIL FROM:<a@example.org>") && f.expect("RCPT TO:<b@example.com>") && f.expect("DATA") &&
					f.ok("250 2.1.0 ok\r\n250 2.1.5 ok\r\n451 4.3.0 try later") &&
					f.expect("RSET") && f.ok("250 2.0.0 ok") &&
					f.expect("NOOP") && f.ok("250 2.0.0 ok")
				f.drain()
			})
			c := newClient(t, conn, nil)
			res, err := c.SendMail(ctx, addr(t, "a@example.org"), nil, rcpts(t, "b@example.com"), strings.NewReader("x"))
			checkError(t, "DATA", err, 451, "4.3.0", "try later")
			if res == nil || res.Rcpts[0] != nil || res.Err(0) != err {
				t.Fatalf("result %+v", res)
			}
			if err := c.Noop(ctx); err != nil {
				t.Fatalf("Noop after RSET: %v", err)
			}
		})
	})
	t.Run("354 without recipients", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			conn := runFake(t, func(f *fake) {
				f.reply("220 fake")
				_ = f.expect("EHLO client.example") && f.ok("250-fake\r\n250 PIPELINING") &&
					f.expect("MAIL FROM:<a@example.org>") && f.expect("RCPT TO:<b@example.com>") && f.expect("DATA") &&
					f.ok("250 ok\r\n550 no\r\n354 go")
				f.drain()
			})
			c := newClient(t, conn, nil)
			_, err := c.SendMail(ctx, addr(t, "a@example.org"), nil, rcpts(t, "b@example.com"), strings.NewReader("secret"))
			var e *smtp.Error
			if err == nil || errors.As(err, &e) {
				t.Fatalf("SendMail: %v", err)
			}
			if strings.Contains(conn.sentAll(), "secret") {
				t.Fatal("content sent without recipients")
			}
		})
	})
	t.Run("replies without reading", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			conn := runFake(t, func(f *fake) {
				f.reply("220 fake")
				_ = f.expect("EHLO client.example") && f.ok("250-fake\r\n250 PIPELINING") &&
					f.ok("250 ok\r\n250 ok\r\n354 go") // and hangs up, the commands unread
			})
			c := newClient(t, conn, nil)
			_, err := c.SendMail(ctx, addr(t, "a@example.org"), nil, rcpts(t, "b@example.com"), strings.NewReader("x"))
			var e *smtp.Error
			if err == nil || errors.As(err, &e) {
				t.Fatalf("SendMail: %v", err)
			}
		})
	})
	t.Run("BDAT chunk refused", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			conn := runFake(t, func(f *fake) {
				f.reply("220 fake")
				_ = f.expect("EHLO client.example") && f.ok("250-fake\r\n250 CHUNKING") &&
					f.expect("MAIL FROM:<a@example.org>") && f.ok("250 ok") &&
					f.expect("RCPT TO:<b@example.com>") && f.ok("250 ok") &&
					f.expect(fmt.Sprintf("BDAT %d", 256<<10)) && f.r.Discard(256<<10) == nil && f.ok("552 too much") &&
					f.expect("RSET") && f.ok("250 ok") &&
					f.expect("QUIT") && f.ok("221 bye")
				f.drain()
			})
			c := newClient(t, conn, nil)
			res, err := c.SendMail(ctx, addr(t, "a@example.org"), nil, rcpts(t, "b@example.com"), strings.NewReader(strings.Repeat("x", 300<<10)))
			checkError(t, "BDAT", err, 552, "", "too much")
			if res.Err(0) != err {
				t.Fatalf("result %+v", res)
			}
			if err := c.Quit(ctx); err != nil {
				t.Fatalf("Quit: %v", err)
			}
		})
	})
}
