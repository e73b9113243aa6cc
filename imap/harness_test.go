package imap_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/postyard/postyard/auth"
	"github.com/postyard/postyard/imap"
	"github.com/postyard/postyard/mailbox"
	"github.com/postyard/postyard/mailbox/memstore"
)

// testAuth accepts user "alice" or "bob" with password "pass".
var testAuth = auth.AuthenticatorFunc(func(ctx context.Context, identity, user, pass string) (string, error) {
	if (user == "alice" || user == "bob") && pass == "pass" && (identity == "" || identity == user) {
		return user, nil
	}
	return "", auth.ErrInvalidCredentials
})

// newServer returns a server over a fresh memstore, for transcript tests.
func newServer(t *testing.T) (*imap.Server, *memstore.Store) {
	st := memstore.New(nil)
	t.Cleanup(func() { st.Close() })
	return &imap.Server{
		Store:             st,
		Authenticator:     testAuth,
		Hostname:          "imap.example",
		AllowInsecureAuth: true,
		AuthThrottle:      &auth.Throttle{BaseDelay: -1},
		Logger:            slog.New(slog.DiscardHandler),
	}, st
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
func dial(t *testing.T, srv *imap.Server) *pipeConn {
	cc, sc := net.Pipe()
	p := &pipeConn{t: t, c: cc, done: make(chan error, 1)}
	go func() { p.done <- srv.ServeConn(context.Background(), sc) }()
	go p.collect(cc)
	t.Cleanup(p.close)
	return p
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

// send writes raw client bytes and waits until the server is blocked.
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

// run plays an RFC-style transcript: "C: " lines are sent (consecutive
// ones together), "S: " lines are the responses expected after them, in
// order. A trailing "..." matches any line starting with the text before
// it. "S: *" alone is not special. Lines are separated by CRLF on the
// wire; a literal's content shows as the lines it contains.
func (p *pipeConn) run(transcript string) {
	p.t.Helper()
	lines := strings.Split(strings.TrimSpace(transcript), "\n")
	for i := 0; i < len(lines); {
		var cmds, want []string
		for ; i < len(lines) && strings.HasPrefix(strings.TrimSpace(lines[i]), "C:"); i++ {
			cmds = append(cmds, strings.TrimPrefix(strings.TrimPrefix(strings.TrimSpace(lines[i]), "C:"), " "))
		}
		for ; i < len(lines) && strings.HasPrefix(strings.TrimSpace(lines[i]), "S:"); i++ {
			want = append(want, strings.TrimPrefix(strings.TrimPrefix(strings.TrimSpace(lines[i]), "S:"), " "))
		}
		if len(cmds) > 0 {
			p.send(strings.Join(cmds, "\r\n") + "\r\n")
		}
		got := strings.Split(strings.TrimSuffix(p.replies(), "\r\n"), "\r\n")
		if len(want) == 0 {
			continue
		}
		if len(got) != len(want) {
			p.t.Fatalf("after %q: got\n%s\nwant\n%s", cmds, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		for j, w := range want {
			if strings.Contains(w, "...") {
				if !globLine(w, got[j]) {
					p.t.Fatalf("after %q: line %d is %q, want %q\nall:\n%s", cmds, j, got[j], w, strings.Join(got, "\n"))
				}
			} else if got[j] != w {
				p.t.Fatalf("after %q: line %d is %q, want %q\nall:\n%s", cmds, j, got[j], w, strings.Join(got, "\n"))
			}
		}
	}
}

// globLine matches a line against a pattern in which "..." stands for
// any text.
func globLine(pattern, line string) bool {
	parts := strings.Split(pattern, "...")
	if !strings.HasPrefix(line, parts[0]) {
		return false
	}
	line = line[len(parts[0]):]
	for i, part := range parts[1:] {
		if i == len(parts)-2 {
			return strings.HasSuffix(line, part)
		}
		k := strings.Index(line, part)
		if k < 0 {
			return false
		}
		line = line[k+len(part):]
	}
	return true
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

func (p *pipeConn) close() {
	p.c.Close()
	err := <-p.done
	p.done <- err
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
		p.t.Logf("ServeConn: %v", err)
	}
}

// login connects and logs in as user, discarding the responses.
func login(t *testing.T, srv *imap.Server, user string) *pipeConn {
	p := dial(t, srv)
	p.replies()
	p.send("L0 LOGIN " + user + " pass\r\n")
	if r := p.replies(); !strings.Contains(r, "L0 OK") {
		t.Fatalf("login: %q", r)
	}
	return p
}

// deliver puts a message in a user's mailbox, as local delivery does.
func deliver(t *testing.T, st mailbox.Store, user, box, msg string, opts *mailbox.AppendOptions) {
	t.Helper()
	errs, err := st.Deliver(context.Background(), strings.NewReader(strings.ReplaceAll(msg, "\n", "\r\n")),
		[]mailbox.Recipient{{User: user, Mailbox: box, Options: opts}})
	if err != nil || errs[0] != nil {
		t.Fatalf("deliver: %v %v", err, errs)
	}
}

func inBubble(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	synctest.Test(t, f)
}
