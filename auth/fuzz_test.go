package auth_test

import (
	"context"
	"strings"
	"testing"

	"github.com/postyard/postyard/auth"
)

// fuzzBackend checks credentials without slow hashing, so that fuzzing is
// fast. Its only user is "user" with password "pencil".
type fuzzBackend struct{ creds auth.SCRAMCredentials }

func newFuzzBackend(f *testing.F) *fuzzBackend {
	c, err := auth.NewSCRAMCredentials("pencil", []byte("saltsaltsaltsalt"), 4096)
	if err != nil {
		f.Fatal(err)
	}
	return &fuzzBackend{c}
}

func (b *fuzzBackend) Authenticate(ctx context.Context, identity, username, password string) (string, error) {
	if username != "user" || password != "pencil" {
		return "", auth.ErrInvalidCredentials
	}
	return username, nil
}

func (b *fuzzBackend) SCRAMCredentials(ctx context.Context, username string) (auth.SCRAMCredentials, error) {
	if username != "user" {
		return auth.SCRAMCredentials{}, auth.ErrInvalidCredentials
	}
	return b.creds, nil
}

// FuzzExchange feeds arbitrary client responses to every mechanism. Responses
// are separated by "\n"; a leading "!" means no initial response.
func FuzzExchange(f *testing.F) {
	for _, seed := range [][2]string{
		{"PLAIN", "\x00user\x00pencil"},
		{"PLAIN", "!\n\x00user\x00pencil"},
		{"PLAIN", "user\x00user\x00pencil\x00"},
		{"LOGIN", "!\nuser\npencil"},
		{"LOGIN", "user\npencil\nmore"},
		{"SCRAM-SHA-256", "n,,n=user,r=abc\nc=biws,r=abc,p=AAAA\n"},
		{"SCRAM-SHA-256", "!\ny,a=user,n=user,r=abc,x=y\nc=eSws,r=abcd,x=1,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=\n"},
		{"SCRAM-SHA-256", "p=tls-unique,,n=user,r=abc"},
		{"scram-sha-256", "n,,m=x,n=u=2C=3D,r=abc"},
	} {
		f.Add(seed[0], seed[1])
	}
	s := &auth.SASL{Authenticator: newFuzzBackend(f)}
	f.Fuzz(func(t *testing.T, mech, script string) {
		ex, err := s.Start(context.Background(), mech)
		if err != nil {
			return
		}
		for i, r := range strings.Split(script, "\n") {
			resp := []byte(r)
			if i == 0 && r == "!" {
				resp = nil
			}
			_, done, err := ex.Next(resp)
			if done && (err != nil || ex.User() == "") || !done && ex.User() != "" {
				t.Fatalf("Next(%q) = done %v, err %v, User %q", r, done, err, ex.User())
			}
			if done || err != nil {
				if _, _, err := ex.Next([]byte{}); err == nil {
					t.Fatal("Next succeeded after the end of the exchange")
				}
				return
			}
		}
	})
}

// FuzzSCRAMClientFirst feeds arbitrary client-first messages to SCRAM-SHA-256.
func FuzzSCRAMClientFirst(f *testing.F) {
	for _, seed := range []string{
		"n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
		"y,,n=user,r=abc",
		"n,a=user,n=user,r=abc",
		"n,,n=us=2Cer=3D,r=abc,x=ext",
		"n,,m=mandatory,n=user,r=abc",
		"p=tls-server-end-point,,n=user,r=abc",
		"n,,n=user,r=a,b",
		"n,,n=us=er,r=abc",
		"",
	} {
		f.Add(seed)
	}
	s := &auth.SASL{Authenticator: newFuzzBackend(f)}
	f.Fuzz(func(t *testing.T, msg string) {
		ex, err := s.Start(context.Background(), "SCRAM-SHA-256")
		if err != nil {
			t.Fatal(err)
		}
		ch, done, err := ex.Next([]byte(msg))
		if err != nil {
			return
		}
		// A server-first message: r=<client nonce><server nonce>,s=<salt>,i=4096
		_, cnonce, _ := strings.Cut(msg, ",r=")
		cnonce, _, _ = strings.Cut(cnonce, ",")
		if done || !strings.HasPrefix(string(ch), "r="+cnonce) || len(ch) <= len("r=")+len(cnonce) || !strings.HasSuffix(string(ch), ",i=4096") {
			t.Fatalf("client-first %q: server-first %q, done %v", msg, ch, done)
		}
	})
}
