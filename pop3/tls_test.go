package pop3_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/postyard/postyard/internal/selfsigned"
	"github.com/postyard/postyard/pop3"
)

func newTLS(t *testing.T) (*tls.Config, *x509.CertPool) {
	t.Helper()
	conf, pool, err := selfsigned.Config("pop.example")
	if err != nil {
		t.Fatal(err)
	}
	return conf, pool
}

// lineClient is a synchronous client: it writes, then reads whole
// responses. It can switch to TLS, which the transcript harness cannot.
type lineClient struct {
	t    *testing.T
	c    net.Conn
	r    *bufio.Reader
	done chan error
}

func dialLines(t *testing.T, srv *pop3.Server) *lineClient {
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

// line reads one response line.
func (l *lineClient) line() string {
	l.t.Helper()
	line, err := l.r.ReadString('\n')
	if err != nil {
		l.t.Fatalf("reading response: %v (partial %q)", err, line)
	}
	return strings.TrimSuffix(line, "\r\n")
}

// cmd sends a command and checks that the response starts with want. With
// multi, it reads a multi-line response and returns its lines after the
// first, joined with "\n".
func (l *lineClient) cmd(line, want string, multi bool) string {
	l.t.Helper()
	l.send(line + "\r\n")
	if got := l.line(); !strings.HasPrefix(got, want) {
		l.t.Fatalf("%s: got %q, want %q...", line, got, want)
	}
	var lines []string
	for multi {
		s := l.line()
		if s == "." {
			break
		}
		lines = append(lines, s)
	}
	return strings.Join(lines, "\n")
}

func (l *lineClient) startTLS(pool *x509.CertPool) {
	l.t.Helper()
	tc := tls.Client(l.c, &tls.Config{RootCAs: pool, ServerName: "pop.example"})
	if err := tc.Handshake(); err != nil {
		l.t.Fatalf("TLS handshake: %v", err)
	}
	l.c, l.r = tc, bufio.NewReader(tc)
}

func tlsServer(t *testing.T) (*pop3.Server, *x509.CertPool) {
	srv := newServer(newStore(t, map[string][]string{"alice": {msg1}}))
	srv.AllowInsecureAuth = false
	conf, pool := newTLS(t)
	srv.TLSConfig = conf
	return srv, pool
}

// TestSTLS: RFC 2595 §4. Commands pipelined after STLS, in the clear, are
// discarded rather than run inside the TLS session, and a USER given
// before STLS is forgotten.
func TestSTLS(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv, pool := tlsServer(t)
		l := dialLines(t, srv)
		l.line()
		capa := l.cmd("CAPA", "+OK", true)
		if !strings.Contains(capa, "STLS") || strings.Contains(capa, "USER") || strings.Contains(capa, "SASL") {
			t.Fatalf("plaintext CAPA: %q", capa)
		}
		l.send("STLS\r\nUSER mallory\r\nPASS secret\r\nDELE 1\r\nQUIT\r\n")
		if got := l.line(); got != "+OK Begin TLS negotiation" {
			t.Fatalf("STLS: %q", got)
		}
		l.startTLS(pool)
		l.cmd("PASS secret", "-ERR Send USER first", false)
		capa = l.cmd("CAPA", "+OK", true)
		if strings.Contains(capa, "STLS") || !strings.Contains(capa, "\nUSER\n") || !strings.Contains(capa, "SASL PLAIN LOGIN") {
			t.Fatalf("CAPA over TLS: %q", capa)
		}
		l.cmd("STLS", "-ERR TLS already active", false)
		l.cmd("USER alice", "+OK", false)
		l.cmd("PASS secret", "+OK Maildrop locked and ready, 1 messages", false)
		l.cmd("STAT", "+OK 1 53", false)
		l.cmd("QUIT", "+OK", false)
	})
}

// TestSTLSUnavailable: without TLSConfig there is no STLS.
func TestSTLSUnavailable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := dial(t, newServer(newStore(t, nil)))
		p.replies()
		p.run(`
			C: STLS
			S: -ERR STLS not available`)
	})
}

// TestSTLSHandshakeFailure: garbage instead of a ClientHello ends the
// session.
func TestSTLSHandshakeFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv, _ := tlsServer(t)
		l := dialLines(t, srv)
		l.line()
		l.cmd("STLS", "+OK Begin TLS negotiation", false)
		l.send("USER alice\r\n")
		if err := <-l.done; err != nil {
			t.Logf("ServeConn: %v", err)
		}
		l.done <- nil
	})
}

func TestImplicitTLS(t *testing.T) {
	srv, pool := tlsServer(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.ServeTLS(ln)
	defer srv.Close()
	c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "pop.example"})
	if err != nil {
		t.Fatal(err)
	}
	l := &lineClient{t: t, c: c, r: bufio.NewReader(c)}
	if g := l.line(); g != "+OK pop.example POP3 server ready" {
		t.Fatalf("greeting %q", g)
	}
	capa := l.cmd("CAPA", "+OK", true)
	if strings.Contains(capa, "STLS") || !strings.Contains(capa, "\nUSER\n") {
		t.Fatalf("CAPA on implicit TLS: %q", capa)
	}
	l.cmd("USER alice", "+OK", false)
	l.cmd("PASS secret", "+OK Maildrop locked and ready", false)
	if got := l.cmd("RETR 1", "+OK 53 octets", true); got != strings.ReplaceAll(strings.TrimSuffix(msg1, "\r\n"), "\r\n", "\n") {
		t.Fatalf("RETR: %q", got)
	}
	l.cmd("QUIT", "+OK", false)
}
