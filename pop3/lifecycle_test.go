package pop3_test

import (
	"bufio"
	"context"
	"errors"
	"net"
	"runtime"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/postyard/postyard/mailbox"
	"github.com/postyard/postyard/pop3"
)

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// greet connects and returns the first response line.
func greet(t *testing.T, addr string) (net.Conn, *bufio.Reader, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("reading greeting: %v", err)
	}
	return c, r, line
}

// TestCloseLeaksNothing serves real connections, some logged in, and
// checks that every goroutine the server started is gone after Close.
func TestCloseLeaksNothing(t *testing.T) {
	before := runtime.NumGoroutine()
	st := newStore(t, map[string][]string{"alice": {msg1}})
	srv := newServer(st)
	ln := listen(t)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	var conns []net.Conn
	for i := range 5 {
		c, r, line := greet(t, ln.Addr().String())
		if !strings.HasPrefix(line, "+OK ") {
			t.Fatalf("greeting %q", line)
		}
		if i == 0 {
			c.Write([]byte("USER alice\r\nPASS secret\r\nDELE 1\r\n"))
			for range 3 {
				if line, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "+OK") {
					t.Fatalf("login: %q, %v", line, err)
				}
			}
		}
		conns = append(conns, c)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-served; err != pop3.ErrServerClosed {
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
	if got := inbox(t, st, "alice"); len(got) != 1 {
		t.Fatalf("INBOX after Close: %q", got)
	}
}

func TestConnLimitPerIP(t *testing.T) {
	srv := newServer(newStore(t, nil))
	srv.MaxConnsPerIP = 2
	ln := listen(t)
	go srv.Serve(ln)
	defer srv.Close()
	c1, _, _ := greet(t, ln.Addr().String())
	defer c1.Close()
	c2, _, _ := greet(t, ln.Addr().String())
	_, _, line := greet(t, ln.Addr().String())
	if line != "-ERR [SYS/TEMP] Too many connections, try again later\r\n" {
		t.Fatalf("third connection: %q", line)
	}
	// Once one session ends, the next is served.
	c2.Close()
	for i := 0; ; i++ {
		c, _, line := greet(t, ln.Addr().String())
		c.Close()
		if strings.HasPrefix(line, "+OK ") {
			break
		}
		if i > 1000 {
			t.Fatal("no connection served after one closed")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestProxyProtocol(t *testing.T) {
	srv := newServer(newStore(t, nil))
	remote := make(chan string, 1)
	srv.UserPolicy = func(ctx context.Context, c *pop3.ConnInfo) (*pop3.Policy, error) {
		remote <- c.RemoteAddr.String()
		return nil, nil
	}
	ln := listen(t)
	go srv.ServeListener(ln, pop3.ListenerOptions{ProxyProtocol: true})
	defer srv.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("PROXY TCP4 192.0.2.7 192.0.2.1 40000 110\r\nUSER alice\r\nPASS secret\r\n"))
	if got := <-remote; got != "192.0.2.7:40000" {
		t.Fatalf("remote address %q", got)
	}
}

// TestShutdown: an idle session is told and closed, deleting nothing; a
// new connection is refused.
func TestShutdown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st, srv, p := deleOne(t)
		if err := srv.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		p.run(`S: -ERR [SYS/TEMP] Server shutting down, closing connection`)
		if !p.closed() {
			t.Fatal("open after Shutdown")
		}
		if err := <-p.done; !errors.Is(err, pop3.ErrServerClosed) {
			t.Fatalf("ServeConn returned %v", err)
		}
		p.done <- nil
		if got := inbox(t, st, "alice"); len(got) != 1 {
			t.Fatalf("INBOX after Shutdown: %q", got)
		}
	})
}

// faultStore wraps a Store to inject failures.
type faultStore struct {
	mailbox.Store
	userErr    error // returned by User
	userPanic  bool  // User panics
	expungeErr error // returned by Expunge
}

func (s *faultStore) User(ctx context.Context, name string) (mailbox.User, error) {
	if s.userPanic {
		panic("store bug")
	}
	if s.userErr != nil {
		return nil, s.userErr
	}
	u, err := s.Store.User(ctx, name)
	if err != nil {
		return nil, err
	}
	return faultUser{u, s}, nil
}

type faultUser struct {
	mailbox.User
	s *faultStore
}

func (u faultUser) Open(ctx context.Context, name string, opts *mailbox.OpenOptions) (mailbox.Mailbox, error) {
	mb, err := u.User.Open(ctx, name, opts)
	if err != nil {
		return nil, err
	}
	return faultMailbox{mb, u.s}, nil
}

type faultMailbox struct {
	mailbox.Mailbox
	s *faultStore
}

func (m faultMailbox) Expunge(ctx context.Context, uids mailbox.UIDSet) (mailbox.UIDSet, error) {
	if m.s.expungeErr != nil {
		return nil, m.s.expungeErr
	}
	return m.Mailbox.Expunge(ctx, uids)
}

// TestQuitExpungeFails: when the store cannot delete, QUIT says so with
// [SYS/TEMP], and the messages are left as they were, without \Deleted.
func TestQuitExpungeFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := newStore(t, map[string][]string{"alice": {msg1, msg2}})
		fs := &faultStore{Store: st, expungeErr: errors.New("disk on fire")}
		p := dial(t, newServer(fs))
		p.login("alice")
		p.run(`
			C: DELE 1
			C: QUIT
			S: +OK Message 1 deleted
			S: -ERR [SYS/TEMP] Some deleted messages not removed`)
		if !p.closed() {
			t.Fatal("open after QUIT")
		}
		got := inboxMessages(t, st, "alice")
		if len(got) != 2 || got[0].flags != 0 {
			t.Fatalf("INBOX: %+v", got)
		}
	})
}

// TestStoreErrors: errors with wire meaning are sent with their response
// code; others become a generic [SYS/TEMP]; a panic ends the session.
func TestStoreErrors(t *testing.T) {
	for _, tc := range []struct {
		fs   *faultStore
		want string
	}{
		{&faultStore{userErr: mailbox.ErrClosed}, "-ERR [SYS/TEMP] store closed"},
		{&faultStore{userErr: mailbox.ErrNoSuchUser}, "-ERR [SYS/PERM] no such user"},
		{&faultStore{userErr: errors.New("secret internal detail")}, "-ERR [SYS/TEMP] Temporary failure, try again later"},
		{&faultStore{userErr: &pop3.Error{Code: pop3.CodeSysPerm, Message: "Mailbox migrated"}}, "-ERR [SYS/PERM] Mailbox migrated"},
		{&faultStore{userPanic: true}, "-ERR [SYS/TEMP] Internal error, closing connection"},
	} {
		synctest.Test(t, func(t *testing.T) {
			tc.fs.Store = newStore(t, nil)
			p := dial(t, newServer(tc.fs))
			p.run(`
				S: +OK pop.example POP3 server ready
				C: USER alice
				C: PASS secret
				S: +OK Send PASS
				S: ` + tc.want)
			if closed := p.closed(); closed != tc.fs.userPanic {
				t.Errorf("%s: closed = %v", tc.want, closed)
			}
		})
	}
}

// TestPolicyPanic: a panic in UserPolicy refuses the login with
// [SYS/TEMP] and the session goes on.
func TestPolicyPanic(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := newServer(newStore(t, nil))
		srv.UserPolicy = func(ctx context.Context, c *pop3.ConnInfo) (*pop3.Policy, error) { panic("policy bug") }
		p := dial(t, srv)
		p.run(`
			S: +OK pop.example POP3 server ready
			C: USER alice
			C: PASS secret
			S: +OK Send PASS
			S: -ERR [SYS/TEMP] Temporary failure, try again later
			C: STAT
			S: -ERR Command not valid before login`)
	})
}

// TestMessageExpungedByIMAP: a message removed by another session after
// login cannot be retrieved; the session goes on.
func TestMessageExpungedByIMAP(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := newStore(t, map[string][]string{"alice": {msg1, msg2}})
		p := dial(t, newServer(st))
		p.login("alice")
		ctx := context.Background()
		u, _ := st.User(ctx, "alice")
		mb, err := u.Open(ctx, mailbox.Inbox, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer mb.Close()
		uid := inboxMessages(t, st, "alice")[0].uid
		mb.UpdateFlags(ctx, mailbox.UIDSetOf(uid), &mailbox.FlagUpdate{Op: mailbox.FlagsAdd, Flags: mailbox.FlagDeleted})
		if _, err := mb.Expunge(ctx, mailbox.UIDSetOf(uid)); err != nil {
			t.Fatal(err)
		}
		p.run(`
			C: RETR 1
			S: -ERR Message was deleted by another session
			C: TOP 1 0
			S: -ERR Message was deleted by another session
			C: DELE 1
			C: RETR 2
			S: +OK Message 1 deleted
			` + retr2)
	})
}
