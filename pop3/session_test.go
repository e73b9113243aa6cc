package pop3_test

import (
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/postyard/postyard/mailbox"
	"github.com/postyard/postyard/mailbox/maildir"
	"github.com/postyard/postyard/pop3"
)

// TestRFC1939Session plays the example session of RFC 1939 §10 (with
// USER/PASS in place of APOP) and checks that the maildrop is empty after
// QUIT.
func TestRFC1939Session(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := newStore(t, map[string][]string{"alice": {msg1, msg2}})
		p := dial(t, newServer(st))
		p.run(`
			S: +OK pop.example POP3 server ready
			C: USER alice
			S: +OK Send PASS
			C: PASS secret
			S: +OK Maildrop locked and ready, 2 messages (124 octets)
			C: STAT
			S: +OK 2 124
			C: LIST
			S: +OK 2 messages (124 octets)
			S: 1 53
			S: 2 71
			S: .
			C: RETR 1
			` + retr1 + `
			C: DELE 1
			S: +OK Message 1 deleted
			C: RETR 2
			` + retr2 + `
			C: DELE 2
			S: +OK Message 2 deleted
			C: QUIT
			S: +OK pop.example POP3 server signing off (maildrop empty)`)
		if !p.closed() {
			t.Fatal("session still open after QUIT")
		}
		if got := inbox(t, st, "alice"); len(got) != 0 {
			t.Fatalf("INBOX after QUIT: %q", got)
		}
	})
}

func TestAuthorizationState(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := newStore(t, map[string][]string{"alice": {msg1}})
		srv := newServer(st, noBadLimit)
		p := dial(t, srv)
		p.run(`
			S: +OK pop.example POP3 server ready
			C: STAT
			S: -ERR Command not valid before login
			C: LIST
			S: -ERR Command not valid before login
			C: RETR 1
			S: -ERR Command not valid before login
			C: NOOP
			S: -ERR Command not valid before login
			C: PASS secret
			S: -ERR Send USER first
			C: USER
			S: -ERR Syntax: USER name
			C: USER alice extra
			S: -ERR Syntax: USER name
			C: user alice
			S: +OK Send PASS
			C: pass wrong
			S: -ERR [AUTH] Authentication failed
			C: PASS secret
			S: -ERR Send USER first
			C: USER mallory
			S: +OK Send PASS
			C: PASS secret
			S: -ERR [AUTH] Authentication failed
			C: USER alice
			S: +OK Send PASS
			C: PASS secret
			S: +OK Maildrop locked and ready, 1 messages (53 octets)
			C: USER alice
			S: -ERR Command not valid after login
			C: PASS secret
			S: -ERR Command not valid after login
			C: STLS
			S: -ERR Command not valid after login
			C: AUTH PLAIN
			S: -ERR Command not valid after login
			C: QUIT
			S: +OK pop.example POP3 server signing off (1 messages left)`)
		if got := inbox(t, st, "alice"); len(got) != 1 {
			t.Fatalf("INBOX after QUIT: %q", got)
		}
	})
}

func TestQuitBeforeLogin(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := dial(t, newServer(newStore(t, nil)))
		p.run(`
			S: +OK pop.example POP3 server ready
			C: QUIT
			S: +OK pop.example POP3 server signing off`)
		if !p.closed() {
			t.Fatal("session open after QUIT")
		}
	})
}

// TestPasswordWithSpaces: the argument of PASS is the rest of the line
// (RFC 1939 §7).
func TestPasswordWithSpaces(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := newServer(newStore(t, nil))
		srv.Authenticator = authFunc(func(user, pass string) bool { return user == "alice" && pass == " two  words " })
		p := dial(t, srv)
		p.replies()
		p.send("USER alice\r\nPASS  two  words \r\n")
		if got, want := p.replies(), "+OK Send PASS\r\n+OK Maildrop locked and ready, 0 messages (0 octets)\r\n"; got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	})
}

func TestTransactionCommands(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := newStore(t, map[string][]string{"alice": {msg1, msg2, "Subject: no body\r\n"}})
		srv := newServer(st, noBadLimit)
		p := dial(t, srv).withValidity(st, "alice")
		p.login("alice")
		p.run(`
			C: NOOP
			S: +OK
			C: NOOP x
			S: -ERR Syntax: NOOP
			C: STAT x
			S: -ERR Syntax: STAT
			C: LIST 2
			S: +OK 2 71
			C: LIST 0
			S: -ERR No such message
			C: LIST 4
			S: -ERR No such message
			C: LIST 99999999999999999999
			S: -ERR No such message
			C: LIST -1
			S: -ERR Invalid message number
			C: LIST +1
			S: -ERR Invalid message number
			C: LIST 1 2
			S: -ERR Syntax: LIST [msg]
			C: UIDL
			S: +OK
			S: 1 00000001{V}
			S: 2 00000002{V}
			S: 3 00000003{V}
			S: .
			C: UIDL 3
			S: +OK 3 00000003{V}
			C: TOP 2 0
			S: +OK
			S: From: b@example.org
			S: Subject: two
			S:
			S: .
			C: TOP 2 1
			S: +OK
			S: From: b@example.org
			S: Subject: two
			S:
			S: Second message,
			S: .
			C: TOP 2 99999999999999999999
			S: +OK
			S: From: b@example.org
			S: Subject: two
			S:
			S: Second message,
			S: with two lines.
			S: .
			C: TOP 3 5
			S: +OK
			S: Subject: no body
			S: .
			C: TOP 2
			S: -ERR Syntax: TOP msg n
			C: TOP 2 x
			S: -ERR Invalid number of lines
			C: RETR
			S: -ERR Syntax: RETR msg
			C: DELE 2
			S: +OK Message 2 deleted
			C: DELE 2
			S: -ERR Message 2 already deleted
			C: RETR 2
			S: -ERR Message 2 already deleted
			C: LIST 2
			S: -ERR Message 2 already deleted
			C: TOP 2 0
			S: -ERR Message 2 already deleted
			C: UIDL 2
			S: -ERR Message 2 already deleted
			C: STAT
			S: +OK 2 71
			C: LIST
			S: +OK 2 messages (71 octets)
			S: 1 53
			S: 3 18
			S: .
			C: UIDL
			S: +OK
			S: 1 00000001{V}
			S: 3 00000003{V}
			S: .
			C: RSET
			S: +OK Maildrop has 3 messages (142 octets)
			C: STAT
			S: +OK 3 142
			C: RSET x
			S: -ERR Syntax: RSET
			C: DELE 3
			S: +OK Message 3 deleted
			C: QUIT x
			S: -ERR Syntax: QUIT
			C: QUIT
			S: +OK pop.example POP3 server signing off (2 messages left)`)
		if got := inbox(t, st, "alice"); len(got) != 2 || got[0] != msg1 || got[1] != msg2 {
			t.Fatalf("INBOX after QUIT: %q", got)
		}
	})
}

// TestDotStuffing: lines starting with "." are stuffed, a message without a
// final CRLF gets one before the terminator, and LIST counts the octets as
// stored.
func TestDotStuffing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const m = "Subject: dots\r\n\r\n.\r\n..two\r\n.three\r\nlast"
		st := newStore(t, map[string][]string{"alice": {m}})
		p := dial(t, newServer(st))
		p.login("alice")
		p.run(`
			C: LIST 1
			S: +OK 1 39
			C: RETR 1
			S: +OK 39 octets
			S: Subject: dots
			S:
			S: ..
			S: ...two
			S: ..three
			S: last
			S: .
			C: TOP 1 2
			S: +OK
			S: Subject: dots
			S:
			S: ..
			S: ...two
			S: .`)
		if len(m) != 39 {
			t.Fatalf("len %d", len(m))
		}
	})
}

// TestPipelining sends whole batches of commands in one write (RFC 2449
// §6.6) and gets every response in order.
func TestPipelining(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := newStore(t, map[string][]string{"alice": {msg1, msg2}})
		p := dial(t, newServer(st)).withValidity(st, "alice")
		p.run(`
			S: +OK pop.example POP3 server ready
			C: CAPA
			C: USER alice
			C: PASS secret
			C: STAT
			C: LIST
			C: UIDL 1
			C: TOP 1 0
			C: DELE 1
			C: RETR 2
			C: DELE 2
			C: QUIT
			` + capaHead + `
			S: USER
			S: SASL PLAIN LOGIN
			S: EXPIRE NEVER
			S: IMPLEMENTATION postyard
			S: .
			S: +OK Send PASS
			S: +OK Maildrop locked and ready, 2 messages (124 octets)
			S: +OK 2 124
			S: +OK 2 messages (124 octets)
			S: 1 53
			S: 2 71
			S: .
			S: +OK 1 00000001{V}
			S: +OK
			S: From: a@example.org
			S: Subject: one
			S:
			S: .
			S: +OK Message 1 deleted
			` + retr2 + `
			S: +OK Message 2 deleted
			S: +OK pop.example POP3 server signing off (maildrop empty)`)
		if got := inbox(t, st, "alice"); len(got) != 0 {
			t.Fatalf("INBOX after QUIT: %q", got)
		}
	})
}

// TestDropDeletesNothing: DELE, then the connection goes away without
// QUIT. Nothing is deleted and the maildrop lock is released.
func TestDropDeletesNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := newStore(t, map[string][]string{"alice": {msg1, msg2}})
		srv := newServer(st)
		p := dial(t, srv)
		p.login("alice")
		p.run(`
			C: RETR 1
			C: DELE 1
			C: DELE 2
			` + retr1 + `
			S: +OK Message 1 deleted
			S: +OK Message 2 deleted`)
		p.close()
		if got := inbox(t, st, "alice"); len(got) != 2 {
			t.Fatalf("INBOX after a dropped connection: %q", got)
		}
		if got := inboxMessages(t, st, "alice"); got[0].flags != 0 {
			t.Fatalf("flags changed without QUIT: %v", got[0].flags)
		}
		// The lock is gone with the connection.
		p2 := dial(t, srv)
		p2.login("alice")
	})
}

// TestIdleTimeout: a client that says nothing for IdleTimeout is
// disconnected without the UPDATE state, and the lock is released.
func TestIdleTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st, srv, p := deleOne(t)
		time.Sleep(10*time.Minute - time.Second)
		if p.closed() {
			t.Fatal("closed before the idle timeout")
		}
		time.Sleep(2 * time.Second)
		p.run(`S: -ERR Timeout waiting for command, closing connection`)
		if !p.closed() {
			t.Fatal("open after the idle timeout")
		}
		if got := inbox(t, st, "alice"); len(got) != 1 {
			t.Fatalf("INBOX after timeout: %q", got)
		}
		dial(t, srv).login("alice")
	})
}

// TestMaildropLock: a second session of the same user gets [IN-USE]
// (RFC 2449 §8.1.1) while the first holds the maildrop; other users are
// not affected; the lock is free again after QUIT.
func TestMaildropLock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := newStore(t, map[string][]string{"alice": {msg1}, "bob": {msg2}})
		srv := newServer(st)
		p1 := dial(t, srv)
		p1.login("alice")
		p2 := dial(t, srv)
		p2.run(`
			S: +OK pop.example POP3 server ready
			C: USER alice
			C: PASS secret
			S: +OK Send PASS
			S: -ERR [IN-USE] Maildrop is locked by another session
			C: STAT
			S: -ERR Command not valid before login`)
		p3 := dial(t, srv)
		p3.login("bob")
		p3.run(`
			C: STAT
			S: +OK 1 71`)
		p1.run(`
			C: DELE 1
			C: QUIT
			S: +OK Message 1 deleted
			S: +OK pop.example POP3 server signing off (maildrop empty)`)
		p2.run(`
			C: USER alice
			C: PASS secret
			S: +OK Send PASS
			S: +OK Maildrop locked and ready, 0 messages (0 octets)`)
	})
}

// TestConcurrentSessions runs sessions of several users at once, each
// deleting its own mail.
func TestConcurrentSessions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		users := []string{"alice", "bob", "carol"}
		msgs := map[string][]string{}
		for _, u := range users {
			msgs[u] = []string{msg1, msg2}
		}
		st := newStore(t, msgs)
		srv := newServer(st)
		var ps []*pipeConn
		for _, u := range users {
			p := dial(t, srv)
			p.login(u)
			ps = append(ps, p)
		}
		for _, p := range ps {
			p.send("DELE 1\r\nQUIT\r\n")
		}
		for i, p := range ps {
			if !p.closed() {
				t.Fatalf("%s: session open after QUIT", users[i])
			}
			if got := inbox(t, st, users[i]); len(got) != 1 || got[0] != msg2 {
				t.Fatalf("%s: INBOX %q", users[i], got)
			}
		}
	})
}

// TestUIDLStable: unique-ids stay the same across sessions, and after
// other messages are deleted; new messages get new ones.
func TestUIDLStable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := newStore(t, map[string][]string{"alice": {msg1, msg2, msg1}})
		srv := newServer(st)
		p := dial(t, srv).withValidity(st, "alice")
		p.login("alice")
		p.run(`
			C: UIDL
			S: +OK
			S: 1 00000001{V}
			S: 2 00000002{V}
			S: 3 00000003{V}
			S: .
			C: DELE 2
			C: QUIT
			S: +OK Message 2 deleted
			S: +OK ...`)
		deliver(t, st, "alice", msg2)
		p = dial(t, srv).withValidity(st, "alice")
		p.login("alice")
		p.run(`
			C: UIDL
			S: +OK
			S: 1 00000001{V}
			S: 2 00000003{V}
			S: 3 00000004{V}
			S: .`)
	})
}

// TestSeenAfterRetrieve: messages downloaded with RETR are marked \Seen at
// QUIT; those only looked at with TOP are not.
func TestSeenAfterRetrieve(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := newStore(t, map[string][]string{"alice": {msg1, msg2}})
		p := dial(t, newServer(st))
		p.login("alice")
		p.send("RETR 1\r\nTOP 2 0\r\nQUIT\r\n")
		if !p.closed() {
			t.Fatal("open after QUIT")
		}
		got := inboxMessages(t, st, "alice")
		if got[0].flags != mailbox.FlagSeen || got[1].flags != 0 {
			t.Fatalf("flags %v, %v", got[0].flags, got[1].flags)
		}
	})
}

func TestBadInput(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := newStore(t, map[string][]string{"alice": {msg1}})
		srv := newServer(st, noBadLimit)
		p := dial(t, srv)
		p.run(`
			S: +OK pop.example POP3 server ready
			C: XYZZY
			S: -ERR Unknown command
			C:
			S: -ERR Unknown command
			C: USERS alice
			S: -ERR Unknown command
			C: USER` + "\x00" + `alice
			S: -ERR Invalid characters in command
			C: USER alice` + "\t" + `x
			S: -ERR Invalid characters in command
			C: USER ` + strings.Repeat("a", 248) + `
			S: +OK Send PASS
			C: USER ` + strings.Repeat("a", 249) + `
			S: -ERR Line too long
			C: USER ` + strings.Repeat("a", 20000) + `
			S: -ERR Line too long
			C: USER alice
			C: PASS secret
			S: +OK Send PASS
			S: +OK Maildrop locked and ready, 1 messages (53 octets)
			C: LIST ` + strings.Repeat("1", 5000) + `
			S: -ERR Line too long
			C: STAT
			S: +OK 1 53`)
	})
}

// TestTooManyBadCommands: the tenth bad command ends the session.
func TestTooManyBadCommands(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := dial(t, newServer(newStore(t, nil)))
		p.replies()
		p.send(strings.Repeat("BOGUS\r\n", 9))
		if p.closed() {
			t.Fatal("closed after 9 bad commands")
		}
		p.replies()
		p.run(`
			C: STAT
			S: -ERR Command not valid before login
			S: -ERR Too many errors, closing connection`)
		if !p.closed() {
			t.Fatal("open after 10 bad commands")
		}
	})
}

// TestHTTPRequest: an HTTP request sent to the POP3 port ends the session
// without a response.
func TestHTTPRequest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := dial(t, newServer(newStore(t, nil)))
		p.replies()
		p.run(`
			C: GET / HTTP/1.1
			C: Host: pop.example`)
		if !p.closed() {
			t.Fatal("session open after an HTTP request")
		}
	})
}

// deleOne starts a session of alice, who has msg1, and marks it with DELE.
func deleOne(t *testing.T) (mailbox.Store, *pop3.Server, *pipeConn) {
	t.Helper()
	st := newStore(t, map[string][]string{"alice": {msg1}})
	srv := newServer(st)
	p := dial(t, srv)
	p.login("alice")
	p.run(`
		C: DELE 1
		S: +OK Message 1 deleted`)
	return st, srv, p
}

// TestUIDLAcrossRestart: unique-ids survive a restart of a file-backed
// store.
func TestUIDLAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	uidl := func() string {
		st, err := maildir.Open(dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		if len(inbox(t, st, "alice")) == 0 {
			deliver(t, st, "alice", msg1)
			deliver(t, st, "alice", msg2)
		}
		l := dialLines(t, newServer(st))
		l.line()
		l.cmd("USER alice", "+OK", false)
		l.cmd("PASS secret", "+OK", false)
		list := l.cmd("UIDL", "+OK", true)
		l.cmd("QUIT", "+OK", false)
		return list
	}
	first := uidl()
	if second := uidl(); second != first || strings.Count(first, "\n") != 1 {
		t.Fatalf("UIDL before restart:\n%s\nafter:\n%s", first, second)
	}
}
