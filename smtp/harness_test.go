package smtp_test

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

	"github.com/postyard/postyard/smtp"
)

// message is what the recording backend stored for one transaction.
type message struct {
	From  string
	Mail  smtp.MailOptions
	To    []string
	Rcpt  []smtp.RcptOptions
	Data  string
	User  string
	TLS   bool
	Hello string
}

// recorder is a Backend that keeps every message and can be told to refuse.
type recorder struct {
	mu       sync.Mutex
	msgs     []message
	sessions int
	closed   int
	resets   int
	// RcptErr, if set, decides RCPT replies.
	RcptErr func(to smtp.Path) error
	// DataErr, if set, is returned by Data after reading the content.
	DataErr error
	// Panic makes Mail panic, to test recovery.
	Panic bool
	// ConnectErr refuses connections.
	ConnectErr error
	// IDs makes Data return an ID.
	ID string
}

func (b *recorder) NewSession(ctx context.Context, c *smtp.ConnInfo) (smtp.Session, error) {
	if b.ConnectErr != nil {
		return nil, b.ConnectErr
	}
	b.mu.Lock()
	b.sessions++
	b.mu.Unlock()
	return &recSession{b: b, info: c}, nil
}

func (b *recorder) messages() []message {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]message(nil), b.msgs...)
}

type recSession struct {
	b    *recorder
	info *smtp.ConnInfo
	cur  message
}

func (s *recSession) Mail(ctx context.Context, from smtp.Path, opts *smtp.MailOptions) error {
	if s.b.Panic {
		panic("backend bug")
	}
	s.cur = message{From: from.String(), Mail: *opts}
	return nil
}

func (s *recSession) Rcpt(ctx context.Context, to smtp.Path, opts *smtp.RcptOptions) error {
	if s.b.RcptErr != nil {
		if err := s.b.RcptErr(to); err != nil {
			return err
		}
	}
	s.cur.To = append(s.cur.To, to.String())
	s.cur.Rcpt = append(s.cur.Rcpt, *opts)
	return nil
}

func (s *recSession) Data(ctx context.Context, r io.Reader) (string, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return "", err
	}
	if s.b.DataErr != nil {
		return "", s.b.DataErr
	}
	m := s.cur
	m.Data = string(b)
	m.User = s.info.User
	m.TLS = s.info.TLS != nil
	m.Hello = s.info.Hello
	s.b.mu.Lock()
	s.b.msgs = append(s.b.msgs, m)
	s.b.mu.Unlock()
	return s.b.ID, nil
}

func (s *recSession) Reset(ctx context.Context) {
	s.b.mu.Lock()
	s.b.resets++
	s.b.mu.Unlock()
	s.cur = message{}
}

func (s *recSession) Close() error {
	s.b.mu.Lock()
	s.b.closed++
	s.b.mu.Unlock()
	return nil
}

// body strips the Received header the server prepends.
func body(data string) string {
	if !strings.HasPrefix(data, "Received: ") {
		return data
	}
	i := 0
	for {
		j := strings.Index(data[i:], "\r\n")
		if j < 0 {
			return data
		}
		i += j + 2
		if i >= len(data) || (data[i] != ' ' && data[i] != '\t') {
			return data[i:]
		}
	}
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
func dial(t *testing.T, srv *smtp.Server) *pipeConn {
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
// replies expected after them, in order. A line "S: 250 ..." with a
// trailing "..." matches any reply starting with the text before it.
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
			p.t.Fatalf("after %q: got replies\n%s\nwant\n%s", cmds, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		for j := range want {
			w := want[j]
			if strings.HasSuffix(w, "...") {
				if !strings.HasPrefix(got[j], strings.TrimSuffix(w, "...")) {
					p.t.Fatalf("after %q: reply %d is %q, want prefix %q", cmds, j, got[j], w)
				}
			} else if got[j] != w {
				p.t.Fatalf("after %q: reply %d is %q, want %q\nall:\n%s", cmds, j, got[j], w, strings.Join(got, "\n"))
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

// newServer returns a server for transcript tests.
func newServer(b smtp.Backend) *smtp.Server {
	return &smtp.Server{Backend: b, Hostname: "mx.example", Logger: slog.New(slog.DiscardHandler)}
}

func inBubble(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	synctest.Test(t, f)
}
