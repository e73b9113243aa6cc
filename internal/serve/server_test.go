package serve_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/postyard/postyard/internal/serve"
)

func TestMaxConns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ls := &lineSession{}
		ref := newRefuser()
		s := &serve.Server{MaxConns: 2, MaxConnsPerIP: -1, Logger: discard, Handle: ls.handle, Refuse: ref.refuse}
		l := newFakeListener()
		served := startServe(s, l)

		c1 := l.dial(t, "192.0.2.1:1001")
		c1.expect("220 ready")
		c2 := l.dial(t, "192.0.2.1:1002")
		c2.expect("220 ready")

		c3 := l.dial(t, "192.0.2.1:1003")
		c3.expect("421 4.7.0 too many connections")
		c3.expectEOF()
		ref.expect(t, serve.ErrTooManyConns)

		// When one connection ends, the next one is served.
		c1.send("QUIT")
		c1.expect("221 bye")
		c1.expectEOF()
		synctest.Wait()
		c4 := l.dial(t, "192.0.2.1:1004")
		c4.expect("220 ready")
		c4.send("NOOP")
		c4.expect("250 NOOP")

		done := startShutdown(context.Background(), s)
		c2.expect("421 shutting down")
		c2.expectEOF()
		c4.expect("421 shutting down")
		c4.expectEOF()
		synctest.Wait()
		expectErr(t, done, nil)
		expectErr(t, served, serve.ErrServerClosed)
	})
}

func TestMaxConnsPerIP(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ls := &lineSession{}
		ref := newRefuser()
		s := &serve.Server{MaxConnsPerIP: 1, Logger: discard, Handle: ls.handle, Refuse: ref.refuse}
		l := newFakeListener()
		served := startServe(s, l)

		a1 := l.dial(t, "192.0.2.1:1001")
		a1.expect("220 ready")

		a2 := l.dial(t, "192.0.2.1:1002")
		a2.expect("421 4.7.0 too many connections from this IP address")
		a2.expectEOF()
		ref.expect(t, serve.ErrTooManyConnsFromIP)

		// An IPv4-mapped IPv6 address is the IPv4 address.
		a3 := l.dial(t, "[::ffff:192.0.2.1]:1003")
		a3.expect("421 4.7.0 too many connections from this IP address")
		ref.expect(t, serve.ErrTooManyConnsFromIP)

		// Other addresses have their own buckets; IPv6 per /128.
		b := l.dial(t, "192.0.2.2:1001")
		b.expect("220 ready")
		v6a := l.dial(t, "[2001:db8::1]:1001")
		v6a.expect("220 ready")
		v6b := l.dial(t, "[2001:db8::2]:1001")
		v6b.expect("220 ready")

		a1.send("QUIT")
		a1.expect("221 bye")
		synctest.Wait()
		a4 := l.dial(t, "192.0.2.1:1004")
		a4.expect("220 ready")

		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		for _, c := range []*client{a4, b, v6a, v6b} {
			c.expectEOF()
		}
		synctest.Wait()
		expectErr(t, served, serve.ErrServerClosed)
	})
}

func TestDefaultLimits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ls := &lineSession{}
		ref := newRefuser()
		s := &serve.Server{Logger: discard, Handle: ls.handle, Refuse: ref.refuse}
		l := newFakeListener()
		served := startServe(s, l)
		var clients []*client
		for i := range serve.DefaultMaxConnsPerIP {
			c := l.dial(t, fmt.Sprintf("192.0.2.1:%d", 1000+i))
			c.expect("220 ready")
			clients = append(clients, c)
		}
		c := l.dial(t, "192.0.2.1:999")
		c.expect("421 4.7.0 too many connections from this IP address")
		s.Close()
		for _, c := range clients {
			c.expectEOF()
		}
		synctest.Wait()
		expectErr(t, served, serve.ErrServerClosed)
	})
}

func TestRefuseNilCloses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ls := &lineSession{}
		s := &serve.Server{MaxConns: 1, Logger: discard, Handle: ls.handle}
		l := newFakeListener()
		served := startServe(s, l)
		c1 := l.dial(t, "192.0.2.1:1")
		c1.expect("220 ready")
		c2 := l.dial(t, "192.0.2.2:1")
		c2.expectEOF()
		s.Close()
		c1.expectEOF()
		synctest.Wait()
		expectErr(t, served, serve.ErrServerClosed)
	})
}

func TestShutdownWakesIdleConn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ls := &lineSession{ctxErr: make(chan error, 1)}
		s := &serve.Server{Logger: discard, Handle: ls.handle}
		l := newFakeListener()
		served := startServe(s, l)

		c := l.dial(t, "192.0.2.1:1")
		c.expect("220 ready")
		c.send("NOOP")
		c.expect("250 NOOP")
		synctest.Wait() // the session is blocked reading, idle

		start := time.Now()
		done := startShutdown(context.Background(), s)
		c.expect("421 shutting down")
		c.expectEOF()
		synctest.Wait()
		expectErr(t, done, nil)
		expectErr(t, served, serve.ErrServerClosed)
		// Graceful: Handle returned on its own, its context was live.
		expectErr(t, ls.ctxErr, nil)
		if d := time.Since(start); d != 0 {
			t.Errorf("Shutdown took %v of fake time; the idle read was not interrupted", d)
		}
		if !s.ShuttingDown() {
			t.Error("ShuttingDown() = false after Shutdown")
		}
		if !l.isClosed() {
			t.Error("listener not closed")
		}
	})
}

func TestShutdownWaitsForBusyConn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ls := &lineSession{release: make(chan struct{})}
		s := &serve.Server{Logger: discard, Handle: ls.handle}
		l := newFakeListener()
		served := startServe(s, l)

		c := l.dial(t, "192.0.2.1:1")
		c.expect("220 ready")
		c.send("SLOW")
		synctest.Wait() // the session is busy

		done := startShutdown(context.Background(), s)
		synctest.Wait()
		expectPending(t, done)
		expectErr(t, served, serve.ErrServerClosed)

		// A connection arriving now is not served.
		cli, srv := pipe(t, "192.0.2.3:1")
		err := s.ServeConn(context.Background(), srv)
		if !errors.Is(err, serve.ErrServerClosed) {
			t.Errorf("ServeConn during shutdown: %v, want ErrServerClosed", err)
		}
		cli.expectEOF()

		close(ls.release)
		c.expect("250 slow done")
		c.expect("421 shutting down") // from Idle() == false
		c.expectEOF()
		synctest.Wait()
		expectErr(t, done, nil)
	})
}

// A command that arrives just as Shutdown begins is executed in full: Busy
// undoes the interruption, so the command can read its data.
func TestShutdownCommandArrivingWhileIdle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		step := make(chan struct{})
		s := &serve.Server{Logger: discard}
		s.Handle = func(ctx context.Context, c *serve.Conn) {
			r := bufio.NewReader(c)
			c.SetReadDeadline(time.Now().Add(time.Minute))
			if !c.Idle() {
				t.Error("Idle() = false before Shutdown")
				return
			}
			line, err := r.ReadString('\n')
			if err != nil {
				t.Errorf("reading command: %v", err)
				return
			}
			<-step // Shutdown interrupts here, before Busy
			c.Busy()
			data, err := r.ReadString('\n')
			if err != nil {
				t.Errorf("reading data after Busy: %v", err)
				return
			}
			fmt.Fprintf(c, "250 %s %s\r\n", strings.TrimSpace(line), strings.TrimSpace(data))
			if c.Idle() {
				t.Error("Idle() = true during Shutdown")
			}
			io.WriteString(c, "421 shutting down\r\n")
		}
		cli, srv := pipe(t, "192.0.2.1:1")
		served := make(chan error, 1)
		go func() { served <- s.ServeConn(context.Background(), srv) }()

		cli.send("DATA")
		synctest.Wait()
		done := startShutdown(context.Background(), s)
		synctest.Wait()
		close(step)
		cli.send("hello")
		cli.expect("250 DATA hello")
		cli.expect("421 shutting down")
		cli.expectEOF()
		synctest.Wait()
		expectErr(t, done, nil)
		expectErr(t, served, serve.ErrServerClosed)
	})
}

// A session that sets a new read deadline after Shutdown interrupted it (but
// before reading) still gets its read interrupted.
func TestShutdownInterruptSurvivesSetReadDeadline(t *testing.T) {
	for _, name := range []string{"SetReadDeadline", "SetDeadline"} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				step := make(chan struct{})
				s := &serve.Server{Logger: discard}
				s.Handle = func(ctx context.Context, c *serve.Conn) {
					c.SetReadDeadline(time.Now().Add(time.Minute))
					if !c.Idle() {
						t.Error("Idle() = false before Shutdown")
						return
					}
					<-step
					if name == "SetDeadline" {
						c.SetDeadline(time.Now().Add(time.Hour))
					} else {
						c.SetReadDeadline(time.Now().Add(time.Hour))
					}
					start := time.Now()
					_, err := c.Read(make([]byte, 10))
					if !errors.Is(err, os.ErrDeadlineExceeded) || !c.ShuttingDown() {
						t.Errorf("Read: %v, ShuttingDown %v; want deadline exceeded during shutdown", err, c.ShuttingDown())
					}
					if d := time.Since(start); d != 0 {
						t.Errorf("read took %v", d)
					}
					// Writes still work.
					io.WriteString(c, "421 shutting down\r\n")
				}
				cli, srv := pipe(t, "192.0.2.1:1")
				go s.ServeConn(context.Background(), srv)
				synctest.Wait()
				done := startShutdown(context.Background(), s)
				synctest.Wait()
				close(step)
				cli.expect("421 shutting down")
				cli.expectEOF()
				synctest.Wait()
				expectErr(t, done, nil)
			})
		})
	}
}

func TestShutdownContextExpires(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctxErr := make(chan error, 1)
		s := &serve.Server{Logger: discard}
		s.Handle = func(ctx context.Context, c *serve.Conn) {
			// Never idle: a long command that ignores Shutdown.
			io.Copy(io.Discard, c)
			ctxErr <- ctx.Err()
		}
		l := newFakeListener()
		served := startServe(s, l)
		c := l.dial(t, "192.0.2.1:1")
		synctest.Wait() // Handle is reading

		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		err := s.Shutdown(ctx)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Shutdown: %v, want DeadlineExceeded", err)
		}
		if d := time.Since(start); d != time.Minute {
			t.Errorf("Shutdown returned after %v, want 1m", d)
		}
		c.expectEOF()
		synctest.Wait()
		expectErr(t, ctxErr, context.Canceled)
		expectErr(t, served, serve.ErrServerClosed)
		// A second Shutdown waits for nothing.
		if err := s.Shutdown(context.Background()); err != nil {
			t.Errorf("second Shutdown: %v", err)
		}
	})
}

func TestClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ls := &lineSession{release: make(chan struct{}), ctxErr: make(chan error, 2)}
		s := &serve.Server{Logger: discard, Handle: ls.handle}
		l1, l2 := newFakeListener(), newFakeListener()
		served1 := startServe(s, l1)
		served2 := startServe(s, l2)

		idle := l1.dial(t, "192.0.2.1:1")
		idle.expect("220 ready")
		busy := l2.dial(t, "192.0.2.2:1")
		busy.expect("220 ready")
		busy.send("DATA") // the session now reads its data line
		synctest.Wait()

		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		idle.expectEOF()
		busy.expectEOF()
		synctest.Wait()
		expectErr(t, served1, serve.ErrServerClosed)
		expectErr(t, served2, serve.ErrServerClosed)
		expectErr(t, ls.ctxErr, context.Canceled)
		expectErr(t, ls.ctxErr, context.Canceled)
		if !l1.isClosed() || !l2.isClosed() {
			t.Error("listeners not closed")
		}

		// Serve after Close returns at once and closes its listener.
		l3 := newFakeListener()
		if err := s.Serve(l3); !errors.Is(err, serve.ErrServerClosed) {
			t.Errorf("Serve after Close: %v", err)
		}
		if !l3.isClosed() {
			t.Error("Serve after Close did not close its listener")
		}
		if err := s.Shutdown(context.Background()); err != nil {
			t.Errorf("Shutdown after Close: %v", err)
		}
	})
}

func TestServeConn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ls := &lineSession{ctxErr: make(chan error, 3)}
		ref := newRefuser()
		s := &serve.Server{MaxConns: 1, Logger: discard, Handle: ls.handle, Refuse: ref.refuse}

		// Served in the calling goroutine; returns when the session ends.
		c1, srv1 := pipe(t, "192.0.2.1:1")
		res1 := make(chan error, 1)
		go func() { res1 <- s.ServeConn(context.Background(), srv1) }()
		c1.expect("220 ready")

		// Limits apply.
		c2, srv2 := pipe(t, "192.0.2.2:1")
		res2 := make(chan error, 1)
		go func() { res2 <- s.ServeConn(context.Background(), srv2) }()
		c2.expect("421 4.7.0 too many connections")
		c2.expectEOF()
		synctest.Wait()
		expectErr(t, res2, serve.ErrTooManyConns)
		ref.expect(t, serve.ErrTooManyConns)

		c1.send("QUIT")
		c1.expect("221 bye")
		c1.expectEOF()
		synctest.Wait()
		expectErr(t, res1, nil)
		expectErr(t, ls.ctxErr, nil)

		// Cancelling ServeConn's context force-closes the connection.
		ctx, cancel := context.WithCancel(context.Background())
		c3, srv3 := pipe(t, "192.0.2.3:1")
		res3 := make(chan error, 1)
		go func() { res3 <- s.ServeConn(ctx, srv3) }()
		c3.expect("220 ready")
		synctest.Wait()
		cancel()
		c3.expectEOF()
		synctest.Wait()
		expectErr(t, res3, nil)
		expectErr(t, ls.ctxErr, context.Canceled)

		if err := s.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		c4, srv4 := pipe(t, "192.0.2.4:1")
		if err := s.ServeConn(context.Background(), srv4); !errors.Is(err, serve.ErrServerClosed) {
			t.Errorf("ServeConn after Shutdown: %v", err)
		}
		c4.expectEOF()
	})
}

func TestHandleNil(t *testing.T) {
	var s serve.Server
	l := newFakeListener()
	if err := s.Serve(l); err == nil {
		t.Error("Serve with nil Handle succeeded")
	}
	_, srv := net.Pipe()
	if err := s.ServeConn(context.Background(), srv); err == nil {
		t.Error("ServeConn with nil Handle succeeded")
	}
}

func TestHandlePanic(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logBuf syncBuffer
		s := &serve.Server{Logger: slog.New(slog.NewTextHandler(&logBuf, nil))}
		s.Handle = func(ctx context.Context, c *serve.Conn) {
			io.WriteString(c, "220 ready\r\n")
			panic("boom")
		}
		l := newFakeListener()
		served := startServe(s, l)
		c := l.dial(t, "192.0.2.1:1")
		c.expect("220 ready")
		c.expectEOF()
		// The server keeps serving.
		c2 := l.dial(t, "192.0.2.1:2")
		c2.expect("220 ready")
		c2.expectEOF()
		s.Close()
		synctest.Wait()
		expectErr(t, served, serve.ErrServerClosed)
		if log := logBuf.String(); !strings.Contains(log, "panic") || !strings.Contains(log, "boom") {
			t.Errorf("panic not logged: %s", log)
		}

		cli, srv := pipe(t, "192.0.2.1:3")
		s2 := &serve.Server{Logger: discard, Handle: s.Handle}
		res := make(chan error, 1)
		go func() { res <- s2.ServeConn(context.Background(), srv) }()
		cli.expect("220 ready")
		cli.expectEOF()
		synctest.Wait()
		select {
		case err := <-res:
			if err == nil || !strings.Contains(err.Error(), "boom") {
				t.Errorf("ServeConn after panic: %v", err)
			}
		default:
			t.Error("ServeConn did not return")
		}
	})
}

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

// timeoutError is a net.Error that times out, like a listener deadline.
type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

// scriptListener returns results in order, recording when Accept was
// called, then blocks until closed.
type scriptListener struct {
	*fakeListener
	script []acceptResult
	calls  []time.Time
}

func (l *scriptListener) Accept() (net.Conn, error) {
	l.calls = append(l.calls, time.Now())
	if len(l.script) > 0 {
		r := l.script[0]
		l.script = l.script[1:]
		return r.c, r.err
	}
	return l.fakeListener.Accept()
}

func TestAcceptBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		emfile := &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
		aborted := &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.ECONNABORTED)}
		cli, srv := net.Pipe()
		defer cli.Close()
		permanent := errors.New("listener broken")

		var script []acceptResult
		for i := range 11 {
			err := error(timeoutError{})
			switch i % 3 {
			case 1:
				err = emfile
			case 2:
				err = aborted
			}
			script = append(script, acceptResult{err: err})
		}
		script = append(script,
			acceptResult{c: srv},
			acceptResult{err: emfile},
			acceptResult{err: emfile},
			acceptResult{err: permanent},
		)
		l := &scriptListener{fakeListener: newFakeListener(), script: script}
		s := &serve.Server{Logger: discard, Handle: func(ctx context.Context, c *serve.Conn) {}}
		err := s.Serve(l)
		if !errors.Is(err, permanent) {
			t.Fatalf("Serve: %v, want %v", err, permanent)
		}
		if !l.isClosed() {
			t.Error("Serve did not close the listener")
		}
		ms := time.Millisecond
		want := []time.Duration{
			5 * ms, 10 * ms, 20 * ms, 40 * ms, 80 * ms, 160 * ms, 320 * ms, 640 * ms, 1000 * ms, 1000 * ms, 1000 * ms,
			0,               // after the connection
			5 * ms, 10 * ms, // reset by the successful Accept
		}
		var got []time.Duration
		for i := 1; i < len(l.calls); i++ {
			got = append(got, l.calls[i].Sub(l.calls[i-1]))
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("delays between Accept calls:\n got %v\nwant %v", got, want)
		}
		synctest.Wait()
	})
}

func TestCloseDuringBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var script []acceptResult
		for range 20 {
			script = append(script, acceptResult{err: timeoutError{}})
		}
		l := &scriptListener{fakeListener: newFakeListener(), script: script}
		s := &serve.Server{Logger: discard, Handle: func(ctx context.Context, c *serve.Conn) {}}
		served := startServe(s, l)
		synctest.Wait() // Serve is waiting to retry
		start := time.Now()
		s.Close()
		synctest.Wait()
		expectErr(t, served, serve.ErrServerClosed)
		if d := time.Since(start); d != 0 {
			t.Errorf("Serve returned %v after Close", d)
		}
	})
}

func TestPrepareProxyHeader(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ref := newRefuser()
		s := &serve.Server{MaxConns: 3, MaxConnsPerIP: 1, Logger: discard, Refuse: ref.refuse}
		s.Handle = func(ctx context.Context, c *serve.Conn) {
			fmt.Fprintf(c, "220 %s %s\r\n", c.RemoteAddr(), c.LocalAddr())
			r := bufio.NewReader(c)
			for {
				if !c.Idle() {
					io.WriteString(c, "421 shutting down\r\n")
					return
				}
				line, err := r.ReadString('\n')
				if err != nil {
					io.WriteString(c, "421 shutting down\r\n")
					return
				}
				c.Busy()
				io.WriteString(c, "250 "+line)
			}
		}
		l := newFakeListener()
		served := make(chan error, 1)
		go func() {
			served <- s.ServeListener(l, &serve.ListenerOptions{
				Prepare: func(c net.Conn) (net.Conn, error) { return serve.ReadProxyHeader(c, 0) },
			})
		}()

		// Both come from the proxy 10.0.0.1; the per-IP limit applies to
		// the clients' addresses.
		c1 := l.dial(t, "10.0.0.1:40001")
		c1.send("PROXY TCP4 192.0.2.1 198.51.100.25 50001 25")
		c1.expect("220 192.0.2.1:50001 198.51.100.25:25")
		c2 := l.dial(t, "10.0.0.1:40002")
		// The header and the first command arrive together.
		io.WriteString(c2, "PROXY TCP6 2001:db8::1 2001:db8::25 50002 25\r\nNOOP\r\n")
		c2.expect("220 [2001:db8::1]:50002 [2001:db8::25]:25")
		c2.expect("250 NOOP")

		c3 := l.dial(t, "10.0.0.1:40003")
		c3.send("PROXY TCP4 192.0.2.1 198.51.100.25 50003 25")
		c3.expect("421 4.7.0 too many connections from this IP address")
		c3.expectEOF()
		synctest.Wait()
		ref.expect(t, serve.ErrTooManyConnsFromIP)

		// A bad header closes the connection without Handle or Refuse.
		bad := l.dial(t, "10.0.0.1:40004")
		bad.send("EHLO client.example")
		bad.expectEOF()
		synctest.Wait()

		// A silent client is dropped after the header timeout.
		start := time.Now()
		silent := l.dial(t, "10.0.0.1:40005")
		silent.expectEOF()
		synctest.Wait()
		if d := time.Since(start); d != serve.DefaultProxyHeaderTimeout {
			t.Errorf("silent client dropped after %v", d)
		}

		// Connections in Prepare count toward MaxConns, and Shutdown
		// closes them at once.
		pending := l.dial(t, "10.0.0.1:40006")
		over := l.dial(t, "10.0.0.1:40007")
		over.expect("421 4.7.0 too many connections")
		ref.expect(t, serve.ErrTooManyConns)
		synctest.Wait()
		start = time.Now()
		done := startShutdown(context.Background(), s)
		pending.expectEOF()
		c1.expect("421 shutting down")
		c2.expect("421 shutting down")
		synctest.Wait()
		expectErr(t, done, nil)
		expectErr(t, served, serve.ErrServerClosed)
		if d := time.Since(start); d != 0 {
			t.Errorf("Shutdown took %v", d)
		}
	})
}

func TestSetNetConn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ref := newRefuser()
		s := &serve.Server{MaxConnsPerIP: 1, Logger: discard, Refuse: ref.refuse}
		s.Handle = func(ctx context.Context, c *serve.Conn) {
			expectPanic(t, func() { c.SetNetConn(c) })
			expectPanic(t, func() { c.SetNetConn(&wrapper{Conn: c}) })
			// The header is read inside the session, as a protocol might
			// do for XCLIENT-like changes.
			pc, err := serve.ReadProxyHeader(c.NetConn(), 0)
			if err != nil {
				return
			}
			c.SetNetConn(pc)
			fmt.Fprintf(c, "220 %s\r\n", c.RemoteAddr())
			r := bufio.NewReader(c)
			c.SetReadDeadline(time.Now().Add(time.Hour))
			if !c.Idle() {
				return
			}
			if _, err := r.ReadString('\n'); err != nil && c.ShuttingDown() {
				io.WriteString(c, "421 shutting down\r\n")
			}
		}
		l := newFakeListener()
		served := startServe(s, l)
		c1 := l.dial(t, "10.0.0.1:1")
		c1.send("PROXY TCP4 192.0.2.1 192.0.2.25 1 25")
		c1.expect("220 192.0.2.1:1")
		// 10.0.0.1's slot moved to 192.0.2.1.
		c2 := l.dial(t, "10.0.0.1:2")
		c2.send("PROXY TCP4 192.0.2.2 192.0.2.25 1 25")
		c2.expect("220 192.0.2.2:1")
		c3 := l.dial(t, "10.0.0.1:3")
		c3.send("PROXY TCP4 192.0.2.1 192.0.2.25 2 25")
		c3.expect("220 192.0.2.1:2") // admitted as 10.0.0.1: the limit is not rechecked
		c4 := l.dial(t, "192.0.2.1:4")
		c4.expect("421 4.7.0 too many connections from this IP address")
		ref.expect(t, serve.ErrTooManyConnsFromIP)

		synctest.Wait()
		done := startShutdown(context.Background(), s)
		for _, c := range []*client{c1, c2, c3} {
			c.expect("421 shutting down")
			c.expectEOF()
		}
		synctest.Wait()
		expectErr(t, done, nil)
		expectErr(t, served, serve.ErrServerClosed)
	})
}

type wrapper struct{ net.Conn }

func (w *wrapper) NetConn() net.Conn { return w.Conn }

func expectPanic(t *testing.T, f func()) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Error("no panic")
		}
	}()
	f()
}

func TestConnID(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ids := make(chan uint64, 2)
		s := &serve.Server{Logger: discard, Handle: func(ctx context.Context, c *serve.Conn) { ids <- c.ID() }}
		for range 2 {
			_, srv := pipe(t, "192.0.2.1:1")
			s.ServeConn(context.Background(), srv)
		}
		if a, b := <-ids, <-ids; a == 0 || a == b {
			t.Errorf("IDs %d, %d", a, b)
		}
	})
}

// TestLoopback runs the server on real TCP sockets and checks that every
// goroutine it started is gone after Shutdown.
func TestLoopback(t *testing.T) {
	baseline := runtime.NumGoroutine()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Skipf("no loopback: %v", err)
	}
	ls := &lineSession{release: make(chan struct{}), slowing: make(chan struct{}, 1)}
	ref := newRefuser()
	s := &serve.Server{MaxConnsPerIP: 4, Logger: discard, Handle: ls.handle, Refuse: ref.refuse}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()

	dial := func() *client {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		return newClient(t, c)
	}
	var idle []*client
	for range 3 {
		c := dial()
		c.expect("220 ready")
		c.send("NOOP")
		c.expect("250 NOOP")
		idle = append(idle, c)
	}
	busy := dial()
	busy.expect("220 ready")
	busy.send("SLOW")
	<-ls.slowing
	over := dial()
	over.expect("421 4.7.0 too many connections from this IP address")
	over.expectEOF()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Shutdown(ctx) }()
	for _, c := range idle {
		c.expect("421 shutting down")
		c.expectEOF()
	}
	close(ls.release)
	busy.expect("250 slow done")
	busy.expect("421 shutting down")
	busy.expectEOF()
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-served; !errors.Is(err, serve.ErrServerClosed) {
		t.Fatalf("Serve: %v", err)
	}
	for _, c := range append(idle, busy, over) {
		c.Close()
	}
	waitGoroutines(t, baseline)
}

// waitGoroutines fails unless the number of goroutines drops to baseline.
func waitGoroutines(t *testing.T, baseline int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > baseline {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("%d goroutines, want %d:\n%s", runtime.NumGoroutine(), baseline, buf)
		}
		runtime.Gosched()
	}
}
