package smtp_test

import (
	"bufio"
	"context"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/postyard/postyard/smtp"
)

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// greet connects and returns the first reply line.
func greet(t *testing.T, addr string) (net.Conn, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("reading greeting: %v", err)
	}
	return c, line
}

// TestCloseLeaksNothing serves real connections and checks that every
// goroutine the server started is gone after Close.
func TestCloseLeaksNothing(t *testing.T) {
	before := runtime.NumGoroutine()
	srv := newServer(&recorder{})
	ln := listen(t)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	var conns []net.Conn
	for range 5 {
		c, line := greet(t, ln.Addr().String())
		if !strings.HasPrefix(line, "220 ") {
			t.Fatalf("greeting %q", line)
		}
		conns = append(conns, c)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-served; err != smtp.ErrServerClosed {
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
}

func TestConnLimitPerIP(t *testing.T) {
	srv := newServer(&recorder{})
	srv.MaxConnsPerIP = 2
	ln := listen(t)
	go srv.Serve(ln)
	defer srv.Close()
	c1, _ := greet(t, ln.Addr().String())
	defer c1.Close()
	c2, _ := greet(t, ln.Addr().String())
	_, line := greet(t, ln.Addr().String())
	if line != "421 4.7.0 Too many connections, try again later\r\n" {
		t.Fatalf("third connection: %q", line)
	}
	// Once one session ends, the next is served.
	c2.Close()
	for i := 0; ; i++ {
		c, line := greet(t, ln.Addr().String())
		c.Close()
		if strings.HasPrefix(line, "220 ") {
			break
		}
		if i > 1000 {
			t.Fatal("no connection served after one closed")
		}
		time.Sleep(time.Millisecond)
	}
}

type addrRecorder struct {
	recorder
	remote chan net.Addr
}

func (b *addrRecorder) NewSession(ctx context.Context, c *smtp.ConnInfo) (smtp.Session, error) {
	b.remote <- c.RemoteAddr
	return b.recorder.NewSession(ctx, c)
}

func TestProxyProtocol(t *testing.T) {
	b := &addrRecorder{remote: make(chan net.Addr, 1)}
	srv := newServer(b)
	ln := listen(t)
	go srv.ServeListener(ln, smtp.ListenerOptions{ProxyProtocol: true})
	defer srv.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("PROXY TCP4 192.0.2.7 192.0.2.1 40000 25\r\nQUIT\r\n"))
	if got := (<-b.remote).String(); got != "192.0.2.7:40000" {
		t.Fatalf("remote address %q", got)
	}
}
