package serve_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postyard/postyard/internal/serve"
)

var discard = slog.New(slog.DiscardHandler)

// addrConn gives one end of a net.Pipe a TCP remote address.
type addrConn struct {
	net.Conn
	remote net.Addr
}

func (c *addrConn) RemoteAddr() net.Addr { return c.remote }

type acceptResult struct {
	c   net.Conn
	err error
}

// fakeListener hands out the connections and errors pushed by the test.
type fakeListener struct {
	ch     chan acceptResult
	closed chan struct{}
	once   sync.Once
}

func newFakeListener() *fakeListener {
	return &fakeListener{ch: make(chan acceptResult), closed: make(chan struct{})}
}

func (l *fakeListener) Accept() (net.Conn, error) {
	select {
	case r := <-l.ch:
		return r.c, r.err
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *fakeListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *fakeListener) Addr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(192, 0, 2, 25), Port: 25}
}

func (l *fakeListener) isClosed() bool {
	select {
	case <-l.closed:
		return true
	default:
		return false
	}
}

// dial connects a client whose address is remote ("192.0.2.1:1234") and
// returns the client's end once the server has accepted.
func (l *fakeListener) dial(t *testing.T, remote string) *client {
	t.Helper()
	cli, srv := net.Pipe()
	addr := net.TCPAddrFromAddrPort(netip.MustParseAddrPort(remote))
	l.ch <- acceptResult{c: &addrConn{Conn: srv, remote: addr}}
	return newClient(t, cli)
}

// pipe returns a client and the server end of a pipe whose remote address
// is remote.
func pipe(t *testing.T, remote string) (*client, net.Conn) {
	cli, srv := net.Pipe()
	addr := net.TCPAddrFromAddrPort(netip.MustParseAddrPort(remote))
	return newClient(t, cli), &addrConn{Conn: srv, remote: addr}
}

// client is the test's end of a connection.
type client struct {
	t *testing.T
	net.Conn
	r *bufio.Reader
}

func newClient(t *testing.T, c net.Conn) *client {
	t.Cleanup(func() { c.Close() })
	return &client{t: t, Conn: c, r: bufio.NewReader(c)}
}

// send writes one line; on a net.Pipe it returns once the server read it.
func (c *client) send(line string) {
	c.t.Helper()
	if _, err := io.WriteString(c, line+"\r\n"); err != nil {
		c.t.Fatalf("C: %s: %v", line, err)
	}
}

// expect reads one line and compares it with want.
func (c *client) expect(want string) {
	c.t.Helper()
	line, err := c.r.ReadString('\n')
	if err != nil {
		c.t.Fatalf("S: want %q, got error %v (partial %q)", want, err, line)
	}
	if got := strings.TrimSuffix(line, "\r\n"); got != want {
		c.t.Fatalf("S: got %q, want %q", got, want)
	}
}

// expectEOF checks that the server closed the connection.
func (c *client) expectEOF() {
	c.t.Helper()
	line, err := c.r.ReadString('\n')
	if err == nil || line != "" {
		c.t.Fatalf("want EOF, got %q, %v", line, err)
	}
}

// lineSession is a tiny line protocol in the shape of SMTP's session loop:
//
//	S: 220 ready
//	C: NOOP          S: 250 NOOP
//	C: SLOW          (blocks until release is closed) S: 250 slow done
//	C: DATA          (reads one more line) S: 250 data <line>
//	C: QUIT          S: 221 bye
//
// On shutdown an idle session says "421 shutting down".
type lineSession struct {
	release chan struct{} // closed to let SLOW finish
	slowing chan struct{} // if non-nil, receives a value when SLOW starts
	ctxErr  chan error    // receives ctx.Err() when Handle returns, if non-nil
}

func (ls *lineSession) handle(ctx context.Context, c *serve.Conn) {
	if ls.ctxErr != nil {
		defer func() { ls.ctxErr <- ctx.Err() }()
	}
	io.WriteString(c, "220 ready\r\n")
	r := bufio.NewReader(c)
	for {
		c.SetReadDeadline(time.Now().Add(5 * time.Minute))
		if !c.Idle() {
			io.WriteString(c, "421 shutting down\r\n")
			return
		}
		line, err := r.ReadString('\n')
		if err != nil {
			if c.ShuttingDown() {
				io.WriteString(c, "421 shutting down\r\n")
			} else if errors.Is(err, os.ErrDeadlineExceeded) {
				io.WriteString(c, "421 timeout\r\n")
			}
			return
		}
		c.Busy()
		switch cmd := strings.TrimSuffix(line, "\r\n"); cmd {
		case "QUIT":
			io.WriteString(c, "221 bye\r\n")
			return
		case "SLOW":
			if ls.slowing != nil {
				ls.slowing <- struct{}{}
			}
			<-ls.release
			io.WriteString(c, "250 slow done\r\n")
		case "DATA":
			data, err := r.ReadString('\n')
			if err != nil {
				return
			}
			io.WriteString(c, "250 data "+strings.TrimSuffix(data, "\r\n")+"\r\n")
		default:
			io.WriteString(c, "250 "+cmd+"\r\n")
		}
	}
}

// refuser records refusals and answers like SMTP.
type refuser struct {
	errs chan error
}

func newRefuser() *refuser { return &refuser{errs: make(chan error, 16)} }

func (r *refuser) refuse(c net.Conn, err error) {
	r.errs <- err
	io.WriteString(c, "421 4.7.0 "+err.Error()+"\r\n")
}

func (r *refuser) expect(t *testing.T, want error) {
	t.Helper()
	select {
	case err := <-r.errs:
		if !errors.Is(err, want) {
			t.Fatalf("Refuse got %v, want %v", err, want)
		}
	default:
		t.Fatalf("Refuse not called, want %v", want)
	}
}

// startServe runs s.Serve(l) and returns a channel with its result.
func startServe(s *serve.Server, l net.Listener) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- s.Serve(l) }()
	return ch
}

// startShutdown runs s.Shutdown(ctx) and returns a channel with its result.
func startShutdown(ctx context.Context, s *serve.Server) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- s.Shutdown(ctx) }()
	return ch
}

func expectErr(t *testing.T, ch <-chan error, want error) {
	t.Helper()
	select {
	case err := <-ch:
		if !errors.Is(err, want) {
			t.Fatalf("got error %v, want %v", err, want)
		}
	default:
		t.Fatalf("call has not returned, want it to return %v", want)
	}
}

func expectPending(t *testing.T, ch <-chan error) {
	t.Helper()
	select {
	case err := <-ch:
		t.Fatalf("call returned %v, want it still running", err)
	default:
	}
}
