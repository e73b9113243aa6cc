package managesieve_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/postyard/postyard/managesieve"
)

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// greet connects and reads the greeting, returning its last line.
func greet(t *testing.T, addr string) (net.Conn, *bufio.Reader, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("reading greeting: %v", err)
		}
		if !strings.HasPrefix(line, `"`) {
			return c, r, line
		}
	}
}

// TestCloseLeaksNothing serves real connections, one logged in and one in
// the middle of a literal, and checks that every goroutine the server
// started is gone after Close.
func TestCloseLeaksNothing(t *testing.T) {
	before := runtime.NumGoroutine()
	st := &managesieve.MemStore{}
	srv := newServer(st)
	ln := listen(t)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	var conns []net.Conn
	for i := range 5 {
		c, r, line := greet(t, ln.Addr().String())
		if !strings.HasPrefix(line, "OK ") {
			t.Fatalf("greeting %q", line)
		}
		switch i {
		case 0:
			c.Write([]byte(`AUTHENTICATE "PLAIN" "` + plain("alice", "secret") + "\"\r\nPUTSCRIPT \"a\" \"keep;\"\r\n"))
			for range 2 {
				if line, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "OK") {
					t.Fatalf("login: %q, %v", line, err)
				}
			}
		case 1:
			c.Write([]byte(`AUTHENTICATE "PLAIN" "` + plain("bob", "secret") + "\"\r\n"))
			if line, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "OK") {
				t.Fatalf("login: %q, %v", line, err)
			}
			c.Write([]byte("PUTSCRIPT \"a\" {100+}\r\nkeep;"))
		case 2:
			c.Write([]byte("AUTHENTICATE \"PLAIN\"\r\n")) // in the SASL exchange
			r.ReadString('\n')
		}
		conns = append(conns, c)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-served; err != managesieve.ErrServerClosed {
		t.Fatalf("Serve returned %v", err)
	}
	for _, c := range conns {
		c.Close()
	}
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines before, %d after Close:\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
	if got := scripts(t, st, "alice"); len(got) != 1 {
		t.Fatalf("alice's scripts after Close: %q", got)
	}
	if got := scripts(t, st, "bob"); len(got) != 0 {
		t.Fatalf("bob's scripts after Close: %q", got)
	}
}

func TestConnLimitPerIP(t *testing.T) {
	srv := newServer(nil)
	srv.MaxConnsPerIP = 2
	ln := listen(t)
	go srv.Serve(ln)
	defer srv.Close()
	c1, _, _ := greet(t, ln.Addr().String())
	defer c1.Close()
	c2, _, _ := greet(t, ln.Addr().String())
	_, _, line := greet(t, ln.Addr().String())
	if line != "BYE (TRYLATER) \"Too many connections, try again later\"\r\n" {
		t.Fatalf("third connection: %q", line)
	}
	// Once one session ends, the next is served.
	c2.Close()
	for i := 0; ; i++ {
		c, _, line := greet(t, ln.Addr().String())
		c.Close()
		if strings.HasPrefix(line, "OK ") {
			break
		}
		if i > 1000 {
			t.Fatal("no connection served after one closed")
		}
		time.Sleep(time.Millisecond)
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent use, for logs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func TestProxyProtocol(t *testing.T) {
	var logs syncBuffer
	srv := newServer(nil)
	srv.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ln := listen(t)
	go srv.ServeListener(ln, managesieve.ListenerOptions{ProxyProtocol: true})
	defer srv.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	c.Write([]byte("PROXY TCP4 192.0.2.7 192.0.2.1 40000 4190\r\nNOOP\r\n"))
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if line == "OK \"NOOP completed\"\r\n" {
			break
		}
	}
	if !strings.Contains(logs.String(), "remote=192.0.2.7:40000") {
		t.Fatalf("log does not name the proxied client:\n%s", logs.String())
	}
}

// TestShutdown: an idle session is told and closed; a session in the
// middle of a command finishes it first.
func TestShutdown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := &managesieve.MemStore{}
		srv := newServer(st)
		idle, busy := dial(t, srv), dial(t, srv)
		idle.login("alice")
		busy.login("bob")
		busy.raw("PUTSCRIPT \"a\" {7+}\r\nkee")
		done := make(chan error, 1)
		go func() { done <- srv.Shutdown(context.Background()) }()
		idle.run(`S: BYE (TRYLATER) "Server shutting down, closing connection"`)
		if !idle.closed() {
			t.Fatal("idle session open after Shutdown")
		}
		if err := <-idle.done; !errors.Is(err, managesieve.ErrServerClosed) {
			t.Fatalf("ServeConn returned %v", err)
		}
		idle.done <- nil
		busy.run(`
			C: p;` + "\r\n" + `
			S: OK "Putscript completed"
			S: BYE (TRYLATER) "Server shutting down, closing connection"`)
		if err := <-done; err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
		if got := scripts(t, st, "bob"); len(got) != 1 || got[0] != "a=keep;\r\n" {
			t.Fatalf("bob's scripts: %q", got)
		}
	})
}

func TestIdleTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := dial(t, newServer(nil))
		p.login("alice")
		time.Sleep(managesieve.DefaultIdleTimeout - time.Second)
		p.run(`
			C: NOOP
			S: OK "NOOP completed"`)
		time.Sleep(managesieve.DefaultIdleTimeout)
		p.run(`S: BYE "Idle timeout, closing connection"`)
		if !p.closed() {
			t.Fatal("open after the idle timeout")
		}
	})
}
