package smtp_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/postyard/postyard/auth"
	"github.com/postyard/postyard/internal/selfsigned"
	"github.com/postyard/postyard/smtp"
)

// lineClient is a synchronous client: it writes, then reads whole replies.
type lineClient struct {
	t    *testing.T
	c    net.Conn
	r    *bufio.Reader
	done chan error
}

func dialLines(t *testing.T, srv *smtp.Server) *lineClient {
	cc, sc := net.Pipe()
	l := &lineClient{t: t, c: cc, r: bufio.NewReader(cc), done: make(chan error, 1)}
	go func() { l.done <- srv.ServeConn(context.Background(), sc) }()
	t.Cleanup(func() { l.c.Close(); <-l.done })
	return l
}

func (l *lineClient) send(s string) {
	l.t.Helper()
	if _, err := l.c.Write([]byte(s)); err != nil {
		l.t.Fatalf("write %q: %v", s, err)
	}
}

// reply reads one reply, multi-line replies joined with "\n".
func (l *lineClient) reply() string {
	l.t.Helper()
	var lines []string
	for {
		line, err := l.r.ReadString('\n')
		if err != nil {
			l.t.Fatalf("reading reply after %q: %v", lines, err)
		}
		line = strings.TrimSuffix(line, "\r\n")
		lines = append(lines, line)
		if len(line) < 4 || line[3] != '-' {
			return strings.Join(lines, "\n")
		}
	}
}

// cmd sends a command and checks the reply's first line starts with want.
func (l *lineClient) cmd(line, want string) string {
	l.t.Helper()
	l.send(line + "\r\n")
	got := l.reply()
	if !strings.HasPrefix(got, want) {
		l.t.Fatalf("%s: got %q, want %q...", line, got, want)
	}
	return got
}

func (l *lineClient) startTLS(pool *tlsPool) {
	l.t.Helper()
	tc := tls.Client(l.c, &tls.Config{RootCAs: pool.pool, ServerName: "mx.example"})
	if err := tc.Handshake(); err != nil {
		l.t.Fatalf("TLS handshake: %v", err)
	}
	l.c, l.r = tc, bufio.NewReader(tc)
}

type tlsPool struct {
	conf *tls.Config
	pool *certPool
}

type certPool = x509.CertPool

func newTLS(t *testing.T) *tlsPool {
	conf, pool, err := selfsigned.Config("mx.example")
	if err != nil {
		t.Fatal(err)
	}
	return &tlsPool{conf: conf, pool: pool}
}

func tlsServer(t *testing.T, b smtp.Backend) (*smtp.Server, *tlsPool) {
	tp := newTLS(t)
	srv := newServer(b)
	srv.TLSConfig = tp.conf
	users := &auth.Users{}
	if err := users.Add("alice", "secret"); err != nil {
		t.Fatal(err)
	}
	srv.Authenticator = users
	return srv, tp
}

func TestSTARTTLS(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &recorder{}
		srv, tp := tlsServer(t, b)
		l := dialLines(t, srv)
		l.reply()
		ehlo := l.cmd("EHLO client.example", "250-")
		if !strings.Contains(ehlo, "STARTTLS") || strings.Contains(ehlo, "AUTH") || strings.Contains(ehlo, "REQUIRETLS") {
			t.Fatalf("plaintext EHLO: %q", ehlo)
		}
		l.cmd("AUTH PLAIN AGFsaWNlAHNlY3JldA==", "538 5.7.11")
		l.cmd("MAIL FROM:<a@example.org> REQUIRETLS", "555")
		// STARTTLS injection: commands pipelined in the same packet as
		// STARTTLS must be discarded, not run after the handshake.
		l.send("STARTTLS\r\nMAIL FROM:<evil@example.org>\r\nRCPT TO:<victim@example.com>\r\n")
		if got := l.reply(); got != "220 2.0.0 Ready to start TLS" {
			t.Fatalf("STARTTLS: %q", got)
		}
		l.startTLS(tp)
		l.cmd("MAIL FROM:<a@example.org>", "503 5.5.1 Send HELO/EHLO first")
		ehlo = l.cmd("EHLO client.example", "250-")
		if strings.Contains(ehlo, "STARTTLS") || !strings.Contains(ehlo, "AUTH PLAIN LOGIN SCRAM-SHA-256") || !strings.Contains(ehlo, "REQUIRETLS") {
			t.Fatalf("EHLO over TLS: %q", ehlo)
		}
		l.cmd("STARTTLS", "503 5.5.1 TLS already active")
		l.cmd("RCPT TO:<victim@example.com>", "503 5.5.1 Send MAIL first")
		l.cmd("AUTH PLAIN AGFsaWNlAHNlY3JldA==", "235 2.7.0")
		l.cmd("AUTH PLAIN AGFsaWNlAHNlY3JldA==", "503 5.5.1 Already authenticated")
		l.cmd("MAIL FROM:<a@example.org> REQUIRETLS", "250")
		l.cmd("RCPT TO:<b@example.com>", "250")
		l.cmd("DATA", "354")
		l.cmd("hello\r\n.", "250")
		l.cmd("QUIT", "221")
		m := b.messages()[0]
		if !m.TLS || m.User != "alice" || !m.Mail.RequireTLS || m.From != "a@example.org" {
			t.Fatalf("message %+v", m)
		}
		if !strings.Contains(m.Data, "with ESMTPSA") || !strings.Contains(m.Data, "(using TLS 1.3 with cipher TLS_") {
			t.Errorf("Received: %q", m.Data)
		}
	})
}

func TestImplicitTLSLoopback(t *testing.T) {
	b := &recorder{}
	srv, tp := tlsServer(t, b)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.ServeTLS(ln)
	defer srv.Close()
	c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: tp.pool, ServerName: "mx.example"})
	if err != nil {
		t.Fatal(err)
	}
	l := &lineClient{t: t, c: c, r: bufio.NewReader(c)}
	l.reply()
	ehlo := l.cmd("EHLO client.example", "250-")
	if strings.Contains(ehlo, "STARTTLS") || !strings.Contains(ehlo, "AUTH ") {
		t.Fatalf("EHLO on implicit TLS: %q", ehlo)
	}
	l.cmd("QUIT", "221")
}

func TestAuth(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv, _ := tlsServer(t, &recorder{})
		srv.AllowInsecureAuth = true
		srv.RequireAuth = true
		l := dialLines(t, srv)
		l.reply()
		l.cmd("AUTH PLAIN AGFsaWNlAHNlY3JldA==", "503 5.5.1 Send EHLO first")
		l.cmd("EHLO client.example", "250-")
		l.cmd("MAIL FROM:<a@example.org>", "530 5.7.0 Authentication required")
		l.cmd("AUTH CRAM-MD5", "504 5.5.4")
		l.cmd("AUTH PLAIN !!!", "501 5.5.2")
		// Cancelled exchange.
		l.cmd("AUTH LOGIN", "334 VXNlcm5hbWU6")
		l.cmd("*", "501 5.0.0 Authentication cancelled")
		// Wrong password: 535 after a delay.
		l.cmd("AUTH PLAIN AGFsaWNlAHdyb25n", "535 5.7.8")
		// LOGIN with an empty challenge round trip.
		l.cmd("AUTH LOGIN", "334 VXNlcm5hbWU6")
		l.cmd("YWxpY2U=", "334 UGFzc3dvcmQ6")
		l.cmd("c2VjcmV0", "235 2.7.0 Authentication successful")
		l.cmd("MAIL FROM:<a@example.org>", "250")
		l.cmd("AUTH PLAIN AGFsaWNlAHNlY3JldA==", "503 5.5.1")
	})
}

func TestAuthFailuresLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv, _ := tlsServer(t, &recorder{})
		srv.AllowInsecureAuth = true
		l := dialLines(t, srv)
		l.reply()
		l.cmd("EHLO client.example", "250-")
		l.cmd("AUTH PLAIN AGFsaWNlAHdyb25n", "535 5.7.8")
		l.cmd("AUTH PLAIN AGFsaWNlAHdyb25n", "535 5.7.8")
		l.cmd("AUTH PLAIN AGFsaWNlAHdyb25n", "421 4.7.0")
		// The next session is served.
		l2 := dialLines(t, srv)
		if got := l2.reply(); !strings.HasPrefix(got, "220 ") {
			t.Fatalf("greeting %q", got)
		}
	})
}
