package pop3_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/postyard/postyard/auth"
	"github.com/postyard/postyard/mailbox"
	"github.com/postyard/postyard/mailbox/memstore"
	"github.com/postyard/postyard/pop3"
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

// The messages of RFC 1939's example session, as a test delivers them.
const (
	msg1 = "From: a@example.org\r\nSubject: one\r\n\r\nFirst message.\r\n"
	msg2 = "From: b@example.org\r\nSubject: two\r\n\r\nSecond message,\r\nwith two lines.\r\n"
)

// newStore returns a memstore in which each of users has the given
// messages in INBOX, in order.
func newStore(t *testing.T, msgs map[string][]string) *memstore.Store {
	t.Helper()
	st := memstore.New(nil)
	t.Cleanup(func() { st.Close() })
	for user, list := range msgs {
		for _, m := range list {
			deliver(t, st, user, m)
		}
	}
	return st
}

func deliver(t *testing.T, st mailbox.Store, user, msg string) {
	t.Helper()
	errs, err := st.Deliver(context.Background(), strings.NewReader(msg), []mailbox.Recipient{{User: user}})
	if err == nil {
		err = errors.Join(errs...)
	}
	if err != nil {
		t.Fatalf("delivering to %s: %v", user, err)
	}
}

// inbox returns the contents of user's INBOX, in UID order.
func inbox(t *testing.T, st mailbox.Store, user string) []string {
	t.Helper()
	var out []string
	for _, m := range inboxMessages(t, st, user) {
		out = append(out, m.content)
	}
	return out
}

type storedMessage struct {
	uid     mailbox.UID
	flags   mailbox.Flags
	content string
}

func inboxMessages(t *testing.T, st mailbox.Store, user string) []storedMessage {
	t.Helper()
	ctx := context.Background()
	u, err := st.User(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	mb, err := u.Open(ctx, mailbox.Inbox, &mailbox.OpenOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer mb.Close()
	var out []storedMessage
	for m, err := range mb.Messages(ctx, mailbox.AllUIDs(), nil) {
		if err != nil {
			t.Fatal(err)
		}
		r, err := mb.Open(ctx, m.UID)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(r)
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, storedMessage{m.UID, m.Flags, string(b)})
	}
	return out
}

// newServer returns a server for transcript tests over st, allowing logins
// without TLS, without delays after failed logins, and changed by each of
// opts.
func newServer(st mailbox.Store, opts ...func(*pop3.Server)) *pop3.Server {
	srv := &pop3.Server{
		Store:             st,
		Authenticator:     passwords,
		Hostname:          "pop.example",
		AllowInsecureAuth: true,
		AuthThrottle:      &auth.Throttle{BaseDelay: -1},
		Logger:            slog.New(slog.DiscardHandler),
	}
	for _, o := range opts {
		o(srv)
	}
	return srv
}

// noBadLimit is an option of newServer for tests that send many bad
// commands.
func noBadLimit(s *pop3.Server) { s.MaxBadCommands = -1 }

// retr1 and retr2 are the responses to RETR of msg1 and msg2, as
// transcript lines.
const (
	retr1 = `S: +OK 53 octets
			S: From: a@example.org
			S: Subject: one
			S:
			S: First message.
			S: .`
	retr2 = `S: +OK 71 octets
			S: From: b@example.org
			S: Subject: two
			S:
			S: Second message,
			S: with two lines.
			S: .`
)

// capaHead is the start of every CAPA response, as transcript lines.
const capaHead = `S: +OK Capability list follows
			S: TOP
			S: UIDL
			S: RESP-CODES
			S: AUTH-RESP-CODE
			S: PIPELINING`

// pipeConn is one client connection to a server under test, inside a
// synctest bubble. Everything the server writes is collected.
type pipeConn struct {
	t    *testing.T
	c    net.Conn
	mu   sync.Mutex
	out  bytes.Buffer
	seen int
	done chan error
	// vars replaces placeholders such as {V} in expected lines; nil for
	// none.
	vars *strings.Replacer
}

// dial connects a client to srv over net.Pipe. Call inside synctest.Test.
func dial(t *testing.T, srv *pop3.Server) *pipeConn {
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
// together, as a pipelining client would), "S: " lines are the server's
// response lines expected after them, in order, multi-line responses
// included. A line "S: +OK ..." with a trailing "..." matches any line
// starting with the text before it.
func (p *pipeConn) run(transcript string) {
	p.t.Helper()
	lines := strings.Split(strings.TrimSpace(transcript), "\n")
	for i := 0; i < len(lines); {
		var cmds, want []string
		for ; i < len(lines) && strings.HasPrefix(strings.TrimSpace(lines[i]), "C:"); i++ {
			cmds = append(cmds, strings.TrimPrefix(strings.TrimPrefix(strings.TrimSpace(lines[i]), "C:"), " "))
		}
		for ; i < len(lines) && strings.HasPrefix(strings.TrimSpace(lines[i]), "S:"); i++ {
			w := strings.TrimPrefix(strings.TrimPrefix(strings.TrimSpace(lines[i]), "S:"), " ")
			if p.vars != nil {
				w = p.vars.Replace(w)
			}
			want = append(want, w)
		}
		if len(cmds) > 0 {
			p.send(strings.Join(cmds, "\r\n") + "\r\n")
		}
		for j, c := range cmds {
			if len(c) > 60 {
				cmds[j] = c[:60] + "..."
			}
		}
		got := strings.Split(strings.TrimSuffix(p.replies(), "\r\n"), "\r\n")
		if len(want) == 0 {
			continue
		}
		if len(got) != len(want) {
			p.t.Fatalf("after %q: got\n%s\nwant\n%s", cmds, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		for j := range want {
			w := want[j]
			if strings.HasSuffix(w, "...") {
				if !strings.HasPrefix(got[j], strings.TrimSuffix(w, "...")) {
					p.t.Fatalf("after %q: line %d is %q, want prefix %q", cmds, j, got[j], w)
				}
			} else if got[j] != w {
				p.t.Fatalf("after %q: line %d is %q, want %q\nall:\n%s", cmds, j, got[j], w, strings.Join(got, "\n"))
			}
		}
	}
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
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
		p.t.Logf("ServeConn: %v", err)
	}
}

// login reads the greeting and logs in as user with USER/PASS.
func (p *pipeConn) login(user string) {
	p.t.Helper()
	p.run(`
		S: +OK pop.example POP3 server ready
		C: USER ` + user + `
		C: PASS secret
		S: +OK Send PASS
		S: +OK Maildrop locked and ready, ...`)
}

// authFunc is an Authenticator from a password check.
func authFunc(ok func(user, pass string) bool) auth.Authenticator {
	return auth.AuthenticatorFunc(func(ctx context.Context, identity, username, password string) (string, error) {
		if !ok(username, password) {
			return "", auth.ErrInvalidCredentials
		}
		return username, nil
	})
}

// withValidity makes {V} in expected lines stand for the UIDVALIDITY of
// user's INBOX as UIDL shows it.
func (p *pipeConn) withValidity(st mailbox.Store, user string) *pipeConn {
	p.t.Helper()
	u, err := st.User(context.Background(), user)
	if err != nil {
		p.t.Fatal(err)
	}
	s, err := u.Status(context.Background(), mailbox.Inbox)
	if err != nil {
		p.t.Fatal(err)
	}
	p.vars = strings.NewReplacer("{V}", fmt.Sprintf("%08X", s.UIDValidity))
	return p
}
