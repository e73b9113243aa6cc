package serve

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// tcpPair returns the two ends of a loopback TCP connection, the accepted
// one wrapped by withPolling with working as the server's count.
func tcpPair(t *testing.T, working *atomic.Int32) (server net.Conn, client net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	nc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	server = withPolling(nc, working)
	if _, ok := server.(*pollConn); !ok {
		t.Fatalf("withPolling(%T) = %T, want *pollConn", nc, server)
	}
	t.Cleanup(func() { server.Close(); client.Close() })
	return server, client
}

// longReply has the server write pollAfter octets (a reply the next read
// polls after), and the client read them.
func longReply(t *testing.T, s, c net.Conn) {
	t.Helper()
	if _, err := s.Write(make([]byte, pollAfter)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, make([]byte, pollAfter)); err != nil {
		t.Fatal(err)
	}
}

func TestPollConnRead(t *testing.T) {
	for _, busy := range []int32{0, 1} {
		var working atomic.Int32
		working.Store(busy)
		s, c := tcpPair(t, &working)
		buf := make([]byte, 64)
		// Data already there, data arriving while the read polls or
		// sleeps, then end of stream.
		for i, msg := range []string{"NOOP\r\n", "RETR 1\r\n", "QUIT\r\n"} {
			longReply(t, s, c)
			done := make(chan struct{})
			go func() {
				defer close(done)
				if i > 0 {
					time.Sleep(time.Duration(i) * time.Millisecond)
				}
				c.Write([]byte(msg))
			}()
			if i == 0 {
				<-done
			}
			n, err := s.Read(buf)
			if err != nil || string(buf[:n]) != msg {
				t.Fatalf("busy=%d read %d: %q, %v; want %q", busy, i, buf[:n], err, msg)
			}
			<-done
			if p := pollers.Load(); p != 0 {
				t.Fatalf("%d polling slots still taken after a read", p)
			}
		}
		c.Close()
		if n, err := s.Read(buf); n != 0 || err != io.EOF {
			t.Fatalf("after close: %d, %v; want io.EOF", n, err)
		}
	}
}

func TestPollConnDeadline(t *testing.T) {
	var working atomic.Int32
	s, _ := tcpPair(t, &working)
	s.SetReadDeadline(time.Now().Add(-time.Second))
	_, err := s.Read(make([]byte, 8))
	var ne net.Error
	if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("read past the deadline: %v, want a timeout", err)
	}
	// A deadline reached while the read sleeps in the poller.
	s.SetReadDeadline(time.Now().Add(5 * time.Millisecond))
	if _, err := s.Read(make([]byte, 8)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read until the deadline: %v, want a timeout", err)
	}
}

func TestPollConnReset(t *testing.T) {
	var working atomic.Int32
	s, c := tcpPair(t, &working)
	c.(*net.TCPConn).SetLinger(0) // close sends RST
	c.Close()
	_, err := s.Read(make([]byte, 8))
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read after reset: %v, want ECONNRESET", err)
	}
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "read" {
		t.Fatalf("read after reset: %#v, want a *net.OpError", err)
	}
}

// The server's count of connections not idle follows Idle, Busy and the
// end of a connection, so that reads poll only while every connection is
// idle.
func TestWorkingCount(t *testing.T) {
	idle, busy, end := make(chan struct{}), make(chan struct{}), make(chan struct{})
	srv := &Server{Handle: func(ctx context.Context, c *Conn) {
		if !c.Idle() {
			return
		}
		idle <- struct{}{}
		<-busy
		c.Busy()
		busy <- struct{}{}
		<-end
	}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	<-idle
	if w := srv.working.Load(); w != 0 {
		t.Fatalf("idle connection: working = %d, want 0", w)
	}
	busy <- struct{}{}
	<-busy
	if w := srv.working.Load(); w != 1 {
		t.Fatalf("busy connection: working = %d, want 1", w)
	}
	close(end)
	c.Close()
	for srv.working.Load() != 0 {
		time.Sleep(time.Millisecond)
	}
}

// A connection whose client answers later than pollBudget stops polling
// after pollMisses polls in a row end without data, and probes once every
// pollProbe reads.
func TestPollConnBacksOff(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("no polling with GOMAXPROCS=1")
	}
	var working atomic.Int32
	s, c := tcpPair(t, &working)
	pc := s.(*pollConn)
	buf := make([]byte, 8)
	late := func() {
		t.Helper()
		longReply(t, s, c)
		done := make(chan struct{})
		go func() {
			defer close(done)
			time.Sleep(100 * pollBudget) // long after the poll ends
			c.Write([]byte("x"))
		}()
		if n, err := s.Read(buf); n != 1 || err != nil {
			t.Fatalf("read: %d, %v", n, err)
		}
		<-done
	}
	for i := range pollMisses {
		if pc.misses != i {
			t.Fatalf("after %d late answers: misses = %d", i, pc.misses)
		}
		late()
	}
	if pc.misses != pollMisses {
		t.Fatalf("misses = %d, want %d", pc.misses, pollMisses)
	}
	for i := 1; i < pollProbe; i++ {
		late()
		if pc.skipped != i || pc.misses != pollMisses {
			t.Fatalf("read %d after backing off: skipped %d, misses %d", i, pc.skipped, pc.misses)
		}
	}
	late() // the probe: polls, ends without data again
	if pc.skipped != 0 || pc.misses != pollMisses {
		t.Fatalf("after the probe: skipped %d, misses %d", pc.skipped, pc.misses)
	}
}

// Write sends everything, also when the socket takes only part of it at
// once (the rest waits in the network poller), counts it for the next
// Read, and fails as net.TCPConn.Write does.
func TestPollConnWrite(t *testing.T) {
	var working atomic.Int32
	s, c := tcpPair(t, &working)
	pc := s.(*pollConn)
	big := make([]byte, 8<<20) // more than the socket buffers hold
	for i := range big {
		big[i] = byte(i % 251)
	}
	got := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(io.LimitReader(c, int64(len(big))))
		got <- b
	}()
	if n, err := s.Write(big); n != len(big) || err != nil {
		t.Fatalf("write: %d, %v", n, err)
	}
	if b := <-got; !bytes.Equal(b, big) {
		t.Fatalf("client read %d octets, not what was written", len(b))
	}
	if w := pc.wrote.Load(); w != int64(len(big)) {
		t.Fatalf("wrote = %d, want %d", w, len(big))
	}
	c.Write([]byte("x"))
	if _, err := s.Read(make([]byte, 8)); err != nil || pc.wrote.Load() != 0 {
		t.Fatalf("after a read: %v, wrote = %d, want 0", err, pc.wrote.Load())
	}

	s.SetWriteDeadline(time.Now().Add(-time.Second))
	_, err := s.Write([]byte("late"))
	var ne net.Error
	if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("write past the deadline: %v, want a timeout", err)
	}
	s.SetWriteDeadline(time.Time{})
	c.(*net.TCPConn).SetLinger(0) // close sends RST
	c.Close()
	var oe *net.OpError
	for range 100 { // the reset may take a write or two to be seen
		if _, err = s.Write([]byte("+OK\r\n")); err != nil {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if !errors.As(err, &oe) || oe.Op != "write" {
		t.Fatalf("write after reset: %#v, want a *net.OpError", err)
	}
}

// What one side did before writing to the socket happens before what the
// other does after reading it, as with net's own reads and writes: built
// with the race detector, this test fails if sysRead or sysWrite lose the
// annotations that say so.
func TestPollConnOrdersMemory(t *testing.T) {
	var working atomic.Int32
	s, c := tcpPair(t, &working)
	var toServer, toClient int
	got := make(chan int)
	go func() {
		if _, err := s.Read(make([]byte, 1)); err != nil {
			got <- -1
			return
		}
		got <- toServer
		toClient = 2
		s.Write([]byte("y"))
	}()
	toServer = 1
	c.Write([]byte("x"))
	if v := <-got; v != 1 {
		t.Fatalf("server read %d, want 1", v)
	}
	if _, err := c.Read(make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	if toClient != 2 {
		t.Fatalf("client read %d, want 2", toClient)
	}
}
