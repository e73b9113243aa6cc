package pop3_test

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"regexp"
	"testing"
	"testing/synctest"
	"time"

	"github.com/postyard/postyard/auth"
	"github.com/postyard/postyard/pop3"
)

func TestAuthSASL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := newStore(t, map[string][]string{"alice": {msg1}, "bob": {msg1, msg2}})
		srv := newServer(st)
		p := dial(t, srv)
		p.run(`
			S: +OK pop.example POP3 server ready
			C: AUTH
			S: +OK Mechanisms follow
			S: PLAIN
			S: LOGIN
			S: .
			C: AUTH CRAM-MD5
			S: -ERR Unsupported authentication mechanism
			C: AUTH PLAIN !!!
			S: -ERR Invalid base64 data
			C: AUTH PLAIN =
			S: -ERR Malformed authentication data
			C: AUTH PLAIN a b c
			S: -ERR Syntax: AUTH mechanism [initial-response]
			C: AUTH LOGIN
			S: + VXNlcm5hbWU6
			C: *
			S: -ERR Authentication cancelled
			C: AUTH LOGIN
			S: + VXNlcm5hbWU6
			C: not base64!
			S: -ERR Invalid base64 data
			C: AUTH PLAIN AGFsaWNlAHdyb25n
			S: -ERR [AUTH] Authentication failed
			C: AUTH PLAIN
			S: +...
			C: AGFsaWNlAHNlY3JldA==
			S: +OK Maildrop locked and ready, 1 messages (53 octets)
			C: AUTH PLAIN AGFsaWNlAHNlY3JldA==
			S: -ERR Command not valid after login`)
		// LOGIN, with the user name as initial response.
		p = dial(t, srv)
		p.run(`
			S: +OK pop.example POP3 server ready
			C: AUTH LOGIN
			S: + VXNlcm5hbWU6
			C: Ym9i
			S: + UGFzc3dvcmQ6
			C: c2VjcmV0
			S: +OK Maildrop locked and ready, 2 messages (124 octets)`)
		p.close()
		// PLAIN with an authorization identity: root acts as bob.
		p = dial(t, srv)
		p.run(`
			S: +OK pop.example POP3 server ready
			C: AUTH PLAIN Ym9iAHJvb3QAdG9vcg==
			S: +OK Maildrop locked and ready, 2 messages (124 octets)`)
	})
}

// TestAuthSCRAM checks that SCRAM-SHA-256 is offered when the
// Authenticator can do it.
func TestAuthSCRAM(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := newServer(newStore(t, nil))
		srv.Authenticator = scramUsers(t)
		p := dial(t, srv)
		p.run(`
			S: +OK pop.example POP3 server ready
			C: AUTH
			S: +OK Mechanisms follow
			S: PLAIN
			S: LOGIN
			S: SCRAM-SHA-256
			S: .
			C: AUTH SCRAM-SHA-256 biwsbj1hbGljZSxyPW5vbmNl
			S: + ...`)
	})
}

// scramUsers is an auth.Users with alice, password secret.
func scramUsers(t *testing.T) *auth.Users {
	t.Helper()
	users, err := interopUsers()
	if err != nil {
		t.Fatal(err)
	}
	return users
}

func TestAuthFailureLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := dial(t, newServer(newStore(t, nil)))
		p.run(`
			S: +OK pop.example POP3 server ready
			C: USER alice
			C: PASS wrong
			S: +OK Send PASS
			S: -ERR [AUTH] Authentication failed
			C: AUTH PLAIN AGFsaWNlAHdyb25n
			S: -ERR [AUTH] Authentication failed
			C: USER alice
			C: PASS wrong
			S: +OK Send PASS
			S: -ERR [AUTH] Too many authentication failures, closing connection`)
		if !p.closed() {
			t.Fatal("open after 3 failed logins")
		}
	})
}

// TestAuthFailureDelay: a failed login is answered only after the
// throttle's delay, which doubles with each failure from the same address.
func TestAuthFailureDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := newServer(newStore(t, nil))
		srv.AuthThrottle = nil
		srv.MaxAuthFailures = -1
		p := dial(t, srv)
		p.replies()
		for _, d := range []time.Duration{time.Second, 2 * time.Second} {
			p.send("USER alice\r\nPASS wrong\r\n")
			if got := p.replies(); got != "+OK Send PASS\r\n" {
				t.Fatalf("before the delay: %q", got)
			}
			time.Sleep(d - time.Millisecond)
			if got := p.replies(); got != "" {
				t.Fatalf("before %v: %q", d, got)
			}
			time.Sleep(time.Millisecond)
			if got := p.replies(); got != "-ERR [AUTH] Authentication failed\r\n" {
				t.Fatalf("after %v: %q", d, got)
			}
		}
		// Success resets the count.
		p.run(`
			C: USER alice
			C: PASS secret
			S: +OK Send PASS
			S: +OK Maildrop locked and ready, 0 messages (0 octets)`)
	})
}

// apopSecrets is an APOPAuthenticator over a map.
type apopSecrets map[string]string

func (a apopSecrets) APOPSecret(ctx context.Context, username string) (string, string, error) {
	s, ok := a[username]
	if !ok {
		return "", "", auth.ErrInvalidCredentials
	}
	return username, s, nil
}

func TestAPOP(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := newStore(t, map[string][]string{"alice": {msg1}})
		srv := newServer(st, noBadLimit)
		p := dial(t, srv)
		p.run(`
			S: +OK pop.example POP3 server ready
			C: APOP alice c4c9334bac560ecc979e58001b3e22fb
			S: -ERR Command not available`)
		p.close()

		srv = newServer(st)
		srv.APOP = apopSecrets{"alice": "tanstaaf"}
		p = dial(t, srv)
		greeting := p.replies()
		m := regexp.MustCompile(`^\+OK pop\.example POP3 server ready (<[^<>@]+@pop\.example>)\r\n$`).FindStringSubmatch(greeting)
		if m == nil {
			t.Fatalf("greeting %q", greeting)
		}
		sum := md5.Sum([]byte(m[1] + "tanstaaf"))
		digest := hex.EncodeToString(sum[:])
		p.run(`
			C: APOP alice
			S: -ERR Syntax: APOP name digest
			C: APOP alice c4c9334bac560ecc979e58001b3e22fb
			S: -ERR [AUTH] Authentication failed
			C: APOP mallory ` + digest + `
			S: -ERR [AUTH] Authentication failed
			C: APOP alice ` + digest + `
			S: +OK Maildrop locked and ready, 1 messages (53 octets)`)
		// Each greeting has its own timestamp: a digest cannot be replayed.
		p2 := dial(t, srv)
		if g := p2.replies(); g == greeting {
			t.Fatalf("same timestamp twice: %q", g)
		}
		p2.run(`
			C: APOP alice ` + digest + `
			S: -ERR [AUTH] Authentication failed`)
	})
}

// TestInsecureAuthRefused: without TLS and AllowInsecureAuth no login
// command is offered or accepted.
func TestInsecureAuthRefused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := newServer(newStore(t, nil))
		srv.AllowInsecureAuth = false
		srv.APOP = apopSecrets{"alice": "tanstaaf"}
		srv.TLSConfig, _ = newTLS(t)
		p := dial(t, srv)
		p.replies()
		p.run(`
			C: CAPA
			` + capaHead + `
			S: STLS
			S: EXPIRE NEVER
			S: IMPLEMENTATION postyard
			S: .
			C: USER alice
			S: -ERR [AUTH] Authentication requires TLS, use STLS
			C: PASS secret
			S: -ERR Send USER first
			C: AUTH PLAIN AGFsaWNlAHNlY3JldA==
			S: -ERR [AUTH] Authentication requires TLS, use STLS
			C: APOP alice c4c9334bac560ecc979e58001b3e22fb
			S: -ERR [AUTH] Authentication requires TLS, use STLS`)
	})
}

func TestUserPolicy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := newStore(t, map[string][]string{"alice": {msg1, msg2}, "bob": {msg1, msg2}, "carol": {msg1, msg2}})
		srv := newServer(st)
		srv.UserPolicy = func(ctx context.Context, c *pop3.ConnInfo) (*pop3.Policy, error) {
			switch c.User {
			case "bob":
				return &pop3.Policy{LeaveMail: true, LoginDelay: 10 * time.Second}, nil
			case "carol":
				return &pop3.Policy{DeleteRetrieved: true, LoginDelay: 15 * time.Minute}, nil
			case "root":
				return nil, &pop3.Error{Code: pop3.CodeSysPerm, Message: "Account disabled"}
			}
			return nil, nil
		}
		p := dial(t, srv)
		p.run(`
			S: +OK pop.example POP3 server ready
			C: CAPA
			` + capaHead + `
			S: USER
			S: SASL PLAIN LOGIN
			S: EXPIRE NEVER USER
			S: LOGIN-DELAY 0 USER
			S: IMPLEMENTATION postyard
			S: .
			C: USER root
			C: PASS toor
			S: +OK Send PASS
			S: -ERR [SYS/PERM] Account disabled
			C: USER carol
			C: PASS secret
			S: +OK Send PASS
			S: +OK Maildrop locked and ready, 2 messages (124 octets)
			C: CAPA
			` + capaHead + `
			S: EXPIRE 0
			S: LOGIN-DELAY 900
			S: IMPLEMENTATION postyard
			S: .
			C: RETR 2
			C: QUIT
			` + retr2 + `
			S: +OK pop.example POP3 server signing off (1 messages left)`)
		// EXPIRE 0: what was downloaded is gone.
		if got := inbox(t, st, "carol"); len(got) != 1 || got[0] != msg1 {
			t.Fatalf("carol's INBOX: %q", got)
		}
		// LOGIN-DELAY: the next login must wait 15 minutes.
		p = dial(t, srv)
		p.run(`
			S: +OK pop.example POP3 server ready
			C: USER carol
			C: PASS secret
			S: +OK Send PASS
			S: -ERR [LOGIN-DELAY] Logged in too recently, try again later`)
		time.Sleep(15 * time.Minute)
		p = dial(t, srv)
		p.run(`
			S: +OK pop.example POP3 server ready
			C: USER carol
			C: PASS secret
			S: +OK Send PASS
			S: +OK Maildrop locked and ready, 1 messages (53 octets)`)

		// Leave mail on the server: DELE is accepted, QUIT deletes nothing.
		p = dial(t, srv)
		p.login("bob")
		p.run(`
			C: CAPA
			` + capaHead + `
			S: EXPIRE NEVER
			S: LOGIN-DELAY 10
			S: IMPLEMENTATION postyard
			S: .
			C: DELE 1
			C: DELE 2
			C: STAT
			C: QUIT
			S: +OK Message 1 deleted
			S: +OK Message 2 deleted
			S: +OK 0 0
			S: +OK pop.example POP3 server signing off (2 messages left)`)
		if got := inbox(t, st, "bob"); len(got) != 2 {
			t.Fatalf("bob's INBOX: %q", got)
		}

		// alice gets Server.Policy: DELE deletes.
		p = dial(t, srv)
		p.login("alice")
		p.run(`
			C: CAPA
			` + capaHead + `
			S: EXPIRE NEVER
			S: LOGIN-DELAY 0
			S: IMPLEMENTATION postyard
			S: .
			C: DELE 1
			C: QUIT
			S: +OK Message 1 deleted
			S: +OK pop.example POP3 server signing off (1 messages left)`)
		if got := inbox(t, st, "alice"); len(got) != 1 || got[0] != msg2 {
			t.Fatalf("alice's INBOX: %q", got)
		}
	})
}

// TestServerLeaveMail: the server-wide option keeps all mail.
func TestServerLeaveMail(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := newStore(t, map[string][]string{"alice": {msg1, msg2}})
		srv := newServer(st)
		srv.Policy = pop3.Policy{LeaveMail: true, ExpireDays: 30}
		p := dial(t, srv)
		p.login("alice")
		p.run(`
			C: RETR 1
			C: DELE 1
			C: DELE 2
			C: QUIT
			` + retr1 + `
			S: +OK Message 1 deleted
			S: +OK Message 2 deleted
			S: +OK pop.example POP3 server signing off (2 messages left)`)
		got := inboxMessages(t, st, "alice")
		if len(got) != 2 || got[0].content != msg1 || got[1].content != msg2 {
			t.Fatalf("INBOX: %+v", got)
		}
	})
}

// TestExpireCapability: EXPIRE follows the policy (RFC 2449 §6.7).
func TestExpireCapability(t *testing.T) {
	for _, tc := range []struct {
		policy pop3.Policy
		want   string
	}{
		{pop3.Policy{}, "EXPIRE NEVER"},
		{pop3.Policy{ExpireDays: 30}, "EXPIRE 30"},
		{pop3.Policy{DeleteRetrieved: true, ExpireDays: 30}, "EXPIRE 0"},
		{pop3.Policy{LeaveMail: true, DeleteRetrieved: true}, "EXPIRE NEVER"},
		{pop3.Policy{LoginDelay: 1500 * time.Millisecond}, "EXPIRE NEVER\r\nLOGIN-DELAY 2"},
	} {
		synctest.Test(t, func(t *testing.T) {
			srv := newServer(newStore(t, nil))
			srv.Policy = tc.policy
			p := dial(t, srv)
			p.replies()
			p.send("CAPA\r\n")
			want := "SASL PLAIN LOGIN\r\n" + tc.want + "\r\nIMPLEMENTATION"
			if got := p.replies(); !regexp.MustCompile(regexp.QuoteMeta(want)).MatchString(got) {
				t.Errorf("%+v: CAPA\n%s\nwant\n%s", tc.policy, got, want)
			}
		})
	}
}
