package imap_test

import (
	"bufio"
	"context"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/postyard/postyard/imap"
)

func TestShutdownSaysBye(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		srv, _ := newServer(t)
		p := login(t, srv, "alice")
		idler := login(t, srv, "alice")
		idler.run(`
C: i1 SELECT INBOX
S: * 0 EXISTS
S: * 0 RECENT
S: * OK [UIDVALIDITY ...
S: * OK [UIDNEXT 1] Predicted next UID
S: * FLAGS ...
S: * OK [PERMANENTFLAGS ...
S: i1 OK [READ-WRITE] SELECT completed
C: i2 IDLE
S: + idling
`)
		if err := srv.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		p.run(`S: * BYE Server shutting down`)
		idler.run(`S: * BYE Server shutting down`)
		if !p.closed() || !idler.closed() {
			t.Fatal("sessions still open")
		}
	})
}

func TestAutologoutAndIdleTimeout(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		srv, _ := newServer(t)
		p := dial(t, srv)
		p.replies()
		time.Sleep(imap.DefaultIdleTimeout + time.Second)
		p.run(`S: * BYE Autologout; idle for too long`)
		if !p.closed() {
			t.Fatal("not closed")
		}
		q := login(t, srv, "alice")
		q.run(`
C: i IDLE
S: + idling
`)
		time.Sleep(imap.DefaultIDLETimeout + time.Second)
		q.run(`S: * BYE IDLE timed out`)
	})
}

func TestLimits(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		srv, _ := newServer(t)
		srv.MaxBadCommands = 3
		p := dial(t, srv)
		p.run(`
S: * OK ...
C: a1 LOGIN {70000}
S: a1 NO [TOOBIG] Literal too big
C: a2 LOGIN {5000+}
S: a2 BAD [TOOBIG] Non-synchronizing literal too big
`)
		if !p.closed() {
			t.Fatal("not closed after oversized non-synchronizing literal")
		}
		q := dial(t, srv)
		q.run(`
S: * OK ...
C: ` + strings.Repeat("x", 9000) + `
S: * BAD [TOOBIG] Line too long
C: +
S: * BAD Missing or invalid tag
C: a FOO
S: a BAD Unknown command
S: * BYE Too many invalid commands
`)
		r := login(t, srv, "alice")
		r.run(`
C: s SELECT INBOX
S: ...
S: ...
S: ...
S: ...
S: ...
S: ...
S: s OK [READ-WRITE] SELECT completed
C: a SEARCH ` + strings.Repeat("(", 40) + "ALL" + strings.Repeat(")", 40) + `
S: a BAD Nested too deeply
`)
	})
}

func TestAuthenticate(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		srv, _ := newServer(t)
		p := dial(t, srv)
		p.run(`
S: * OK ...
C: a1 AUTHENTICATE PLAIN AGFsaWNlAHBhc3M=
S: a1 OK [CAPABILITY ...] Logged in
`)
		q := dial(t, srv)
		q.run(`
S: * OK ...
C: a1 AUTHENTICATE PLAIN
S: +...
C: AGFsaWNlAHdyb25n
S: a1 NO [AUTHENTICATIONFAILED] Authentication failed
C: a2 AUTHENTICATE PLAIN
S: +...
C: *
S: a2 BAD Authentication cancelled
`)
		srv2, _ := newServer(t)
		srv2.AllowInsecureAuth = false
		r := dial(t, srv2)
		r.run(`
S: * OK [CAPABILITY IMAP4rev1 IMAP4rev2 LOGINDISABLED LITERAL- ID ENABLE IDLE] ...
C: a1 LOGIN alice pass
S: a1 NO [PRIVACYREQUIRED] LOGIN is disabled without TLS
`)
	})
}

// TestCloseLeaksNothing serves real connections, some in IDLE, and checks
// that every goroutine the server started is gone after Close.
func TestCloseLeaksNothing(t *testing.T) {
	before := runtime.NumGoroutine()
	srv, _ := newServer(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	var conns []net.Conn
	for i := range 4 {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		br := bufio.NewReader(c)
		br.ReadString('\n')
		if i%2 == 0 {
			c.Write([]byte("a LOGIN alice pass\r\nb SELECT INBOX\r\nc IDLE\r\n"))
			for {
				line, err := br.ReadString('\n')
				if err != nil {
					t.Fatal(err)
				}
				if strings.HasPrefix(line, "+ ") {
					break
				}
			}
		}
		conns = append(conns, c)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-served; err != imap.ErrServerClosed {
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
		time.Sleep(time.Millisecond)
	}
}
