package managesieve_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/postyard/postyard/auth"
	"github.com/postyard/postyard/managesieve"
	"github.com/postyard/postyard/sieve"
)

// passwords is a cheap Authenticator for transcript tests: alice, bob and
// carol, each with password "secret"; "root" may act as anyone.
var passwords = auth.AuthenticatorFunc(func(ctx context.Context, identity, username, password string) (string, error) {
	switch {
	case username == "root" && password == "toor":
		if identity == "" {
			return "root", nil
		}
		return identity, nil
	case password != "secret" || !slices.Contains([]string{"alice", "bob", "carol"}, username):
		return "", auth.ErrInvalidCredentials
	case identity != "" && identity != username:
		return "", auth.ErrAuthzDenied
	}
	return username, nil
})

// testExtensions are the extensions the test servers announce, so that
// transcripts do not depend on package sieve's list.
var testExtensions = []string{"fileinto", "vacation", "include"}

// newServer returns a server for transcript tests over st (a new MemStore
// if nil), allowing logins without TLS, without delays after failed
// logins, and changed by each of opts.
func newServer(st managesieve.Store, opts ...func(*managesieve.Server)) *managesieve.Server {
	if st == nil {
		st = &managesieve.MemStore{}
	}
	srv := &managesieve.Server{
		Store:             st,
		Authenticator:     passwords,
		AllowInsecureAuth: true,
		AuthThrottle:      &auth.Throttle{BaseDelay: -1},
		Sieve:             &sieve.Options{Extensions: testExtensions},
		Logger:            slog.New(slog.DiscardHandler),
	}
	for _, o := range opts {
		o(srv)
	}
	return srv
}

// greeting is the server's greeting as transcript lines, for a server made
// by newServer without TLS.
const greeting = `S: "IMPLEMENTATION" "postyard"
		S: "SASL" "PLAIN LOGIN"
		S: "SIEVE" "fileinto vacation include"
		S: "MAXREDIRECTS" "4"
		S: "UNAUTHENTICATE"
		S: "VERSION" "1.0"
		S: OK "postyard ManageSieve ready"`

// plain is the initial response of AUTHENTICATE "PLAIN" for user and
// password.
func plain(user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pass))
}

// pipeConn is one client connection to a server under test, inside a
// synctest bubble. Everything the server writes is collected.
type pipeConn struct {
	t    *testing.T
	c    net.Conn
	mu   sync.Mutex
	out  bytes.Buffer
	seen int
	done chan error
}

// dial connects a client to srv over net.Pipe. Call inside synctest.Test.
func dial(t *testing.T, srv *managesieve.Server) *pipeConn {
	cc, sc := net.Pipe()
	p := &pipeConn{t: t, c: cc, done: make(chan error, 1)}
	go func() { p.done <- srv.ServeConn(context.Background(), &tcpConn{sc}) }()
	go p.collect(cc)
	t.Cleanup(p.close)
	return p
}

// tcpConn gives the server's end of a pipe a TCP remote address, as the
// throttle and the per-IP limit key on it.
type tcpConn struct{ net.Conn }

func (tcpConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 4321}
}

func (p *pipeConn) collect(r io.Reader) {
	buf := make([]byte, 4096)
	for {
		n, err := r.Read(buf)
		p.mu.Lock()
		p.out.Write(buf[:n])
		p.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// send writes raw client bytes (in their own goroutine, so a server that
// reads slowly cannot deadlock the test) and waits until the server is
// blocked again.
func (p *pipeConn) send(s string) {
	go p.c.Write([]byte(s))
	synctest.Wait()
}

// replies returns what the server wrote since the last call.
func (p *pipeConn) replies() string {
	synctest.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.out.String()[p.seen:]
	p.seen = p.out.Len()
	return s
}

// run plays an RFC-style transcript: "C: " lines are sent (consecutive ones
// together, as a pipelining client would), each ending in CRLF; "S: " lines
// are the server's response lines expected after them, in order, literals'
// lines included. A line "S: ..." ending in "..." matches any line starting
// with the text before it.
func (p *pipeConn) run(transcript string) {
	p.t.Helper()
	// A CRLF inside a line (in a literal made by lit) is part of it.
	const crlf = "\x00CRLF\x00"
	lines := strings.Split(strings.TrimSpace(strings.ReplaceAll(transcript, "\r\n", crlf)), "\n")
	for i := range lines {
		lines[i] = strings.ReplaceAll(strings.TrimSpace(lines[i]), crlf, "\r\n")
	}
	for i := 0; i < len(lines); {
		var cmds, want []string
		for ; i < len(lines) && strings.HasPrefix(lines[i], "C:"); i++ {
			cmds = append(cmds, strings.TrimPrefix(strings.TrimPrefix(lines[i], "C:"), " "))
		}
		for ; i < len(lines) && strings.HasPrefix(lines[i], "S:"); i++ {
			want = append(want, strings.TrimPrefix(strings.TrimPrefix(lines[i], "S:"), " "))
		}
		if len(cmds) == 0 && len(want) == 0 {
			p.t.Fatalf("transcript line %q is neither C: nor S:", lines[i])
		}
		if len(cmds) > 0 {
			p.send(strings.Join(cmds, "\r\n") + "\r\n")
		}
		p.expect(cmds, want)
	}
}

// expect checks the server's responses since the last check against want.
func (p *pipeConn) expect(cmds, want []string) {
	p.t.Helper()
	out := p.replies()
	if len(want) == 0 && out == "" {
		return
	}
	got := strings.Split(strings.TrimSuffix(out, "\r\n"), "\r\n")
	for j, c := range cmds {
		if len(c) > 60 {
			cmds[j] = c[:60] + "..."
		}
	}
	if len(got) != len(want) {
		p.t.Fatalf("after %q: got\n%s\nwant\n%s", cmds, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for j := range want {
		w := want[j]
		if strings.HasSuffix(w, "...") {
			if !strings.HasPrefix(got[j], strings.TrimSuffix(w, "...")) {
				p.t.Fatalf("after %q: line %d is %q, want prefix %q\nall:\n%s", cmds, j, got[j], w, strings.Join(got, "\n"))
			}
		} else if got[j] != w {
			p.t.Fatalf("after %q: line %d is %q, want %q\nall:\n%s", cmds, j, got[j], w, strings.Join(got, "\n"))
		}
	}
}

// raw sends s as it is and checks the response lines.
func (p *pipeConn) raw(s string, want ...string) {
	p.t.Helper()
	p.send(s)
	p.expect([]string{s}, want)
}

// closed reports whether the server has ended the session.
func (p *pipeConn) closed() bool {
	synctest.Wait()
	select {
	case err := <-p.done:
		p.done <- err
		return true
	default:
		return false
	}
}

// close ends the client side and waits for the server.
func (p *pipeConn) close() {
	p.c.Close()
	err := <-p.done
	p.done <- err
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !errors.Is(err, managesieve.ErrServerClosed) {
		p.t.Logf("ServeConn: %v", err)
	}
}

// login reads the greeting and logs in as user with PLAIN.
func (p *pipeConn) login(user string) {
	p.t.Helper()
	p.run(greeting + `
		C: AUTHENTICATE "PLAIN" "` + plain(user, "secret") + `"
		S: OK "Authenticated"`)
}

// scripts returns user's scripts in st as "name" or "name*" for the
// active one, with the content after "=".
func scripts(t *testing.T, st managesieve.Store, user string) []string {
	t.Helper()
	ctx := context.Background()
	list, err := st.List(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range list {
		b, err := st.Get(ctx, user, s.Name)
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(b)) != s.Size {
			t.Errorf("%s: size %d, content %d octets", s.Name, s.Size, len(b))
		}
		n := s.Name
		if s.Active {
			n += "*"
		}
		out = append(out, n+"="+string(b))
	}
	return out
}

// lit returns s as a literal for a transcript's "C:" line: "{n+}", then
// the content on the lines that follow, which the caller writes.
func lit(s string) string { return "{" + strconv.Itoa(len(s)) + "+}\r\n" + s }

func itoa(n int) string { return strconv.Itoa(n) }

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
