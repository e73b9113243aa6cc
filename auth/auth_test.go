package auth_test

import (
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/postyard/postyard/auth"
)

// users is shared by the tests: hashing with argon2id is slow under the race
// detector, so it is done once.
//
//	alice / pencil   Add (argon2id and SCRAM-SHA-256)
//	a,b=c / x        Add, a name that needs escaping in SCRAM
//	bob / builder    SetHash with a bcrypt hash of cost 4
//
// Most cases use bob, whose password is quick to check.
var users = sync.OnceValue(func() *auth.Users {
	u := new(auth.Users)
	bob, err := bcrypt.GenerateFromPassword([]byte("builder"), bcrypt.MinCost)
	if err != nil {
		panic(err)
	}
	for _, err := range []error{
		u.Add("alice", "pencil"),
		u.Add("a,b=c", "x"),
		u.SetHash("bob", string(bob)), // last, so unknown users are checked against cheap bcrypt
	} {
		if err != nil {
			panic(err)
		}
	}
	return u
})

// step is one client response and what the server should answer.
type step struct {
	in        []byte
	challenge string // if done and err are zero
	done      bool
	err       error
}

func b(s string) []byte { return []byte(s) }

// runSteps runs an exchange and returns it.
func runSteps(t *testing.T, s *auth.SASL, mech string, steps []step) *auth.Exchange {
	t.Helper()
	ex, err := s.Start(t.Context(), mech)
	if err != nil {
		t.Fatalf("Start(%q): %v", mech, err)
	}
	for i, st := range steps {
		ch, done, err := ex.Next(st.in)
		if st.err != nil {
			if !errors.Is(err, st.err) {
				t.Fatalf("step %d: Next(%q) err = %v, want %v", i, st.in, err, st.err)
			}
			return ex
		}
		if err != nil || done != st.done || string(ch) != st.challenge {
			t.Fatalf("step %d: Next(%q) = %q, %v, %v; want %q, %v, nil", i, st.in, ch, done, err, st.challenge, st.done)
		}
	}
	return ex
}

func TestPlainLogin(t *testing.T) {
	s := &auth.SASL{Authenticator: users()}
	tests := []struct {
		name, mech string
		steps      []step
		user       string
	}{
		{"plain initial response", "PLAIN", []step{{in: b("\x00alice\x00pencil"), done: true}}, "alice"},
		{"plain lower case", "plain", []step{{in: b("\x00bob\x00builder"), done: true}}, "bob"},
		{"plain empty challenge", "PLAIN", []step{{in: nil, challenge: ""}, {in: b("\x00bob\x00builder"), done: true}}, "bob"},
		{"plain authzid self", "PLAIN", []step{{in: b("bob\x00bob\x00builder"), done: true}}, "bob"},
		{"plain authzid other", "PLAIN", []step{{in: b("alice\x00bob\x00builder"), err: auth.ErrAuthzDenied}}, ""},
		{"plain authzid other, bad password", "PLAIN", []step{{in: b("alice\x00bob\x00builders"), err: auth.ErrInvalidCredentials}}, ""},
		{"plain wrong password", "PLAIN", []step{{in: b("\x00alice\x00pencils"), err: auth.ErrInvalidCredentials}}, ""},
		{"plain unknown user", "PLAIN", []step{{in: b("\x00carol\x00pencil"), err: auth.ErrInvalidCredentials}}, ""},
		{"plain user name case", "PLAIN", []step{{in: b("\x00Bob\x00builder"), err: auth.ErrInvalidCredentials}}, ""},
		{"plain two fields", "PLAIN", []step{{in: b("bob\x00builder"), err: auth.ErrMalformed}}, ""},
		{"plain four fields", "PLAIN", []step{{in: b("\x00bob\x00builder\x00"), err: auth.ErrMalformed}}, ""},
		{"plain empty initial response", "PLAIN", []step{{in: b(""), err: auth.ErrMalformed}}, ""},
		{"plain empty response", "PLAIN", []step{{in: nil}, {in: b(""), err: auth.ErrMalformed}}, ""},
		{"plain empty password", "PLAIN", []step{{in: b("\x00bob\x00"), err: auth.ErrMalformed}}, ""},
		{"plain control character", "PLAIN", []step{{in: b("\x00bob\x00build\ner"), err: auth.ErrMalformed}}, ""},
		{"plain invalid UTF-8", "PLAIN", []step{{in: b("\x00bob\x00build\xffer"), err: auth.ErrMalformed}}, ""},
		{"plain too long", "PLAIN", []step{{in: b("\x00bob\x00" + strings.Repeat("p", 9000)), err: auth.ErrMalformed}}, ""},
		{"login", "LOGIN", []step{{in: nil, challenge: "Username:"}, {in: b("alice"), challenge: "Password:"}, {in: b("pencil"), done: true}}, "alice"},
		{"login initial response", "LOGIN", []step{{in: b("bob"), challenge: "Password:"}, {in: b("builder"), done: true}}, "bob"},
		{"login wrong password", "LOGIN", []step{{in: b("bob"), challenge: "Password:"}, {in: b("pencil"), err: auth.ErrInvalidCredentials}}, ""},
		{"login unknown user", "LOGIN", []step{{in: nil, challenge: "Username:"}, {in: b("carol"), challenge: "Password:"}, {in: b("pencil"), err: auth.ErrInvalidCredentials}}, ""},
		{"login empty user name", "LOGIN", []step{{in: nil, challenge: "Username:"}, {in: b(""), challenge: "Password:"}, {in: b("pencil"), err: auth.ErrMalformed}}, ""},
		{"login NUL", "LOGIN", []step{{in: b("bob\x00"), challenge: "Password:"}, {in: b("builder"), err: auth.ErrMalformed}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ex := runSteps(t, s, tt.mech, tt.steps)
			if ex.User() != tt.user {
				t.Errorf("User() = %q, want %q", ex.User(), tt.user)
			}
			if last := tt.steps[len(tt.steps)-1]; last.done || last.err != nil {
				if _, _, err := ex.Next(b("")); !errors.Is(err, auth.ErrMalformed) {
					t.Errorf("Next after the end: %v, want ErrMalformed", err)
				}
			}
		})
	}
}

func TestAvailable(t *testing.T) {
	plainOnly := auth.AuthenticatorFunc(func(ctx context.Context, identity, username, password string) (string, error) {
		return "", auth.ErrInvalidCredentials
	})
	tests := []struct {
		s    auth.SASL
		want string
	}{
		{auth.SASL{Authenticator: users()}, "[PLAIN LOGIN SCRAM-SHA-256]"},
		{auth.SASL{Authenticator: plainOnly}, "[PLAIN LOGIN]"},
		{auth.SASL{}, "[]"},
		{auth.SASL{Authenticator: users(), Mechanisms: []string{"scram-sha-256", "CRAM-MD5", "PLAIN", "plain"}}, "[SCRAM-SHA-256 PLAIN]"},
		{auth.SASL{Authenticator: plainOnly, Mechanisms: []string{"SCRAM-SHA-256", "LOGIN"}}, "[LOGIN]"},
		{auth.SASL{Authenticator: users(), Mechanisms: []string{}}, "[]"},
	}
	for _, tt := range tests {
		if got := fmt.Sprint(tt.s.Available()); got != tt.want {
			t.Errorf("%v.Available() = %s, want %s", tt.s.Mechanisms, got, tt.want)
		}
	}

	s := &auth.SASL{Authenticator: plainOnly, Mechanisms: []string{"PLAIN"}}
	for _, mech := range []string{"LOGIN", "SCRAM-SHA-256", "CRAM-MD5", ""} {
		if _, err := s.Start(t.Context(), mech); !errors.Is(err, auth.ErrUnsupportedMechanism) {
			t.Errorf("Start(%q) = %v, want ErrUnsupportedMechanism", mech, err)
		}
	}
}

func TestExchange(t *testing.T) {
	errTemp := errors.New("database down")
	var gotIdentity string
	fn := auth.AuthenticatorFunc(func(ctx context.Context, identity, username, password string) (string, error) {
		gotIdentity = identity
		switch {
		case ctx.Value(ctxKey{}) != "conn-1":
			return "", errors.New("context not passed on")
		case username == "down":
			return "", errTemp
		case username == "canon":
			return "Canonical", nil
		}
		return "", nil // "" means username
	})
	s := &auth.SASL{Authenticator: fn}
	ctx := context.WithValue(t.Context(), ctxKey{}, "conn-1")

	next := func(mech string, resp []byte) (*auth.Exchange, bool, error) {
		t.Helper()
		ex, err := s.Start(ctx, mech)
		if err != nil {
			t.Fatal(err)
		}
		_, done, err := ex.Next(resp)
		return ex, done, err
	}
	if _, _, err := next("PLAIN", b("\x00down\x00x")); err != errTemp {
		t.Errorf("temporary failure: %v, want %v", err, errTemp)
	}
	if ex, done, err := next("PLAIN", b("someone\x00dave\x00x")); !done || err != nil || ex.User() != "dave" || gotIdentity != "someone" {
		t.Errorf("empty user: %v, %v, User %q, identity %q", done, err, ex.User(), gotIdentity)
	}
	if ex, done, err := next("PLAIN", b("\x00canon\x00x")); !done || err != nil || ex.User() != "Canonical" {
		t.Errorf("canonical user: %v, %v, User %q", done, err, ex.User())
	}

	ex, _ := s.Start(ctx, "LOGIN")
	if ch, _, _ := ex.Next(nil); string(ch) != "Username:" || ex.Mechanism() != "LOGIN" {
		t.Fatalf("LOGIN challenge %q, mechanism %q", ch, ex.Mechanism())
	}
	if err := ex.Cancel(); err != auth.ErrCanceled {
		t.Errorf("Cancel() = %v", err)
	}
	if _, _, err := ex.Next(b("dave")); !errors.Is(err, auth.ErrMalformed) {
		t.Errorf("Next after Cancel: %v, want ErrMalformed", err)
	}

	// A nil response after the first is an empty response, not a missing one.
	ex, _ = s.Start(ctx, "PLAIN")
	ex.Next(nil)
	if _, _, err := ex.Next(nil); !errors.Is(err, auth.ErrMalformed) {
		t.Errorf("second nil response: %v, want ErrMalformed", err)
	}
}

type ctxKey struct{}

// scramClient is the client side of SCRAM-SHA-256 (RFC 5802 §3), written
// independently of the server for the tests.
type scramClient struct {
	gs2, user, password, cnonce string

	bare      string
	serverSig []byte
}

func escapeName(s string) string {
	return strings.NewReplacer("=", "=3D", ",", "=2C").Replace(s)
}

func (c *scramClient) first() []byte {
	if c.gs2 == "" {
		c.gs2 = "n,,"
	}
	if c.cnonce == "" {
		c.cnonce = "fyko+d2lbbFgONRv9qkxdawL"
	}
	c.bare = "n=" + escapeName(c.user) + ",r=" + c.cnonce
	return []byte(c.gs2 + c.bare)
}

func (c *scramClient) final(serverFirst []byte) []byte {
	var nonce, salt string
	var iter int
	for _, a := range strings.Split(string(serverFirst), ",") {
		switch {
		case strings.HasPrefix(a, "r="):
			nonce = a[2:]
		case strings.HasPrefix(a, "s="):
			salt = a[2:]
		case strings.HasPrefix(a, "i="):
			fmt.Sscan(a[2:], &iter)
		}
	}
	saltBytes, _ := base64.StdEncoding.DecodeString(salt)
	salted, _ := pbkdf2.Key(sha256.New, c.password, saltBytes, iter, 32)
	mac := func(key []byte, msg string) []byte {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(msg))
		return m.Sum(nil)
	}
	clientKey := mac(salted, "Client Key")
	storedKey := sha256.Sum256(clientKey)
	withoutProof := "c=" + base64.StdEncoding.EncodeToString([]byte(c.gs2)) + ",r=" + nonce
	authMessage := c.bare + "," + string(serverFirst) + "," + withoutProof
	proof := mac(storedKey[:], authMessage)
	subtle.XORBytes(proof, proof, clientKey)
	c.serverSig = mac(mac(salted, "Server Key"), authMessage)
	return []byte(withoutProof + ",p=" + base64.StdEncoding.EncodeToString(proof))
}

func TestSCRAM(t *testing.T) {
	s := &auth.SASL{Authenticator: users()}
	tests := []struct {
		name   string
		client scramClient
		noIR   bool
		user   string
		err    error // from the client-final message
	}{
		{"full exchange", scramClient{user: "alice", password: "pencil"}, false, "alice", nil},
		{"no initial response", scramClient{user: "alice", password: "pencil"}, true, "alice", nil},
		{"client supports channel binding", scramClient{gs2: "y,,", user: "alice", password: "pencil"}, false, "alice", nil},
		{"authzid self", scramClient{gs2: "n,a=alice,", user: "alice", password: "pencil"}, false, "alice", nil},
		{"authzid other", scramClient{gs2: "n,a=bob,", user: "alice", password: "pencil"}, false, "", auth.ErrAuthzDenied},
		{"escaped name", scramClient{user: "a,b=c", password: "x"}, false, "a,b=c", nil},
		{"wrong password", scramClient{user: "alice", password: "pencils"}, false, "", auth.ErrInvalidCredentials},
		{"unknown user", scramClient{user: "carol", password: "pencil"}, false, "", auth.ErrInvalidCredentials},
		{"user without SCRAM credentials", scramClient{user: "bob", password: "builder"}, false, "", auth.ErrInvalidCredentials},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := tt.client
			var steps []step
			if tt.noIR {
				steps = append(steps, step{in: nil, challenge: ""})
			}
			ex, _ := s.Start(t.Context(), "SCRAM-SHA-256")
			for _, st := range steps {
				if ch, done, err := ex.Next(st.in); string(ch) != st.challenge || done || err != nil {
					t.Fatalf("Next(nil) = %q, %v, %v", ch, done, err)
				}
			}
			serverFirst, done, err := ex.Next(c.first())
			if err != nil || done || !strings.HasPrefix(string(serverFirst), "r="+c.cnonce) || !strings.HasSuffix(string(serverFirst), ",i=4096") {
				t.Fatalf("client-first: %q, %v, %v", serverFirst, done, err)
			}
			serverFinal, done, err := ex.Next(c.final(serverFirst))
			if tt.err != nil {
				if !errors.Is(err, tt.err) || ex.User() != "" {
					t.Fatalf("client-final: %v, User %q; want %v", err, ex.User(), tt.err)
				}
				return
			}
			if err != nil || done || string(serverFinal) != "v="+base64.StdEncoding.EncodeToString(c.serverSig) {
				t.Fatalf("client-final: %q, %v, %v", serverFinal, done, err)
			}
			if ex.User() != "" {
				t.Fatalf("User() = %q before done", ex.User())
			}
			if ch, done, err := ex.Next([]byte{}); len(ch) != 0 || !done || err != nil || ex.User() != tt.user {
				t.Fatalf("empty response: %q, %v, %v, User %q", ch, done, err, ex.User())
			}
		})
	}
}

func TestSCRAMUnknownUserSalt(t *testing.T) {
	// RFC 5802 §5.1: the salt for an unknown user is stable, like a real one.
	s := &auth.SASL{Authenticator: users()}
	serverFirst := func(user string) string {
		ex, _ := s.Start(t.Context(), "SCRAM-SHA-256")
		c := scramClient{user: user}
		ch, _, err := ex.Next(c.first())
		if err != nil {
			t.Fatal(err)
		}
		_, rest, _ := strings.Cut(string(ch), ",s=")
		return rest
	}
	if a, b := serverFirst("carol"), serverFirst("carol"); a != b {
		t.Errorf("salt for unknown user changes: %q, %q", a, b)
	}
	if a, b := serverFirst("carol"), serverFirst("dave"); a == b {
		t.Errorf("same salt for different unknown users: %q", a)
	}
}

func TestSCRAMMalformed(t *testing.T) {
	s := &auth.SASL{Authenticator: users()}
	const nonce = "r=fyko+d2lbbFgONRv9qkxdawL"
	for _, first := range []string{
		"",
		"n,,",
		"n,,n=alice",
		"n,," + nonce,
		"x,,n=alice," + nonce,
		"p=tls-unique,,n=alice," + nonce,
		"n,b=x,n=alice," + nonce,
		"n,a=,n=alice," + nonce,
		"n,,m=ext,n=alice," + nonce,
		"n,,n=,r=abc",
		"n,,n=al=3ice," + nonce,
		"n,,n=al=2cice," + nonce,
		"n,,n=alice,r=",
		"n,,n=alice,r=a b",
		"n,,n=al\x01ice," + nonce,
		"n,,n=alice," + nonce + ",",
		"n,,n=alice," + nonce + ",=x",
		"n,,n=alice," + nonce + ",xx",
	} {
		ex, _ := s.Start(t.Context(), "SCRAM-SHA-256")
		if ch, _, err := ex.Next([]byte(first)); !errors.Is(err, auth.ErrMalformed) {
			t.Errorf("client-first %q: %q, %v; want ErrMalformed", first, ch, err)
		}
	}

	// Client-final messages, from a correct one.
	c := scramClient{user: "alice", password: "pencil"}
	for _, edit := range []func(string) string{
		func(s string) string { return "" },
		func(s string) string { return strings.Replace(s, "c=biws", "c=eSws", 1) },
		func(s string) string { return strings.Replace(s, "c=biws,", "", 1) },
		func(s string) string { return strings.Replace(s, "r=fyko", "r=fyk0", 1) },
		func(s string) string { return s[:strings.Index(s, ",p=")] },
		func(s string) string { return s[:len(s)-4] },
		func(s string) string { return s + "AAAA" },
		func(s string) string { return strings.Replace(s, ",p=", ",x=y,p=", 1) + "!" },
	} {
		ex, _ := s.Start(t.Context(), "SCRAM-SHA-256")
		serverFirst, _, err := ex.Next(c.first())
		if err != nil {
			t.Fatal(err)
		}
		final := edit(string(c.final(serverFirst)))
		if ch, _, err := ex.Next([]byte(final)); !errors.Is(err, auth.ErrMalformed) {
			t.Errorf("client-final %q: %q, %v; want ErrMalformed", final, ch, err)
		}
	}

	// An extension before the proof is allowed (RFC 5802 §7), but it is part
	// of AuthMessage, so the proof computed without it fails.
	ex, _ := s.Start(t.Context(), "SCRAM-SHA-256")
	serverFirst, _, _ := ex.Next(c.first())
	final := strings.Replace(string(c.final(serverFirst)), ",p=", ",x=y,p=", 1)
	if _, _, err := ex.Next([]byte(final)); !errors.Is(err, auth.ErrInvalidCredentials) {
		t.Errorf("extension: %v, want ErrInvalidCredentials", err)
	}

	// Data after the server-final message.
	ex, _ = s.Start(t.Context(), "SCRAM-SHA-256")
	serverFirst, _, _ = ex.Next(c.first())
	ex.Next(c.final(serverFirst))
	if _, done, err := ex.Next(b("ok")); done || !errors.Is(err, auth.ErrMalformed) || ex.User() != "" {
		t.Errorf("data after server-final: %v, %v, User %q", done, err, ex.User())
	}
}
