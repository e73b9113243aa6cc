package auth

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

type scramFunc func(ctx context.Context, username string) (SCRAMCredentials, error)

func (f scramFunc) SCRAMCredentials(ctx context.Context, username string) (SCRAMCredentials, error) {
	return f(ctx, username)
}

// TestSCRAMVector runs the example exchange of RFC 7677 §3, with its fixed
// server nonce and salt.
func TestSCRAMVector(t *testing.T) {
	salt, _ := base64.StdEncoding.DecodeString("W22ZaJ0SNY7soEsUEjb6gQ==")
	creds, err := NewSCRAMCredentials("pencil", salt, 4096)
	if err != nil {
		t.Fatal(err)
	}
	s := &scramServer{
		ctx: t.Context(),
		auth: scramFunc(func(ctx context.Context, username string) (SCRAMCredentials, error) {
			if username != "user" {
				return SCRAMCredentials{}, ErrInvalidCredentials
			}
			return creds, nil
		}),
		snonce: "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
	}
	for _, st := range []struct{ c, s string }{
		{"n,,n=user,r=rOprNGfwEbeRWgbNEkqO", "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"},
		{"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="},
	} {
		ch, user, err := s.next([]byte(st.c))
		if string(ch) != st.s || user != "" || err != nil {
			t.Fatalf("C: %s\nS: %s, %q, %v\nwant S: %s", st.c, ch, user, err, st.s)
		}
	}
	if _, user, err := s.next([]byte{}); user != "user" || err != nil {
		t.Fatalf("final empty response: %q, %v", user, err)
	}
}

// TestDummyHash checks that the hash used for unknown users has the same
// kind and cost as the real one, and that checking it works.
func TestDummyHash(t *testing.T) {
	bc, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	for _, h := range []string{string(bc), defaultDummy, "$argon2id$v=19$m=64,t=3,p=2$c29tZXNhbHQ$c29tZXNhbHRzb21lc2FsdA"} {
		d := dummyHash(h)
		if ok, err := CheckHash(d, "pw"); ok || err != nil {
			t.Errorf("CheckHash(dummyHash(%q) = %q) = %v, %v", h, d, ok, err)
		}
		params := func(h string) string {
			if isBcrypt(h) {
				return h[:7] // $2a$04$
			}
			return strings.Join(strings.Split(h, "$")[:4], "$") // $argon2id$v=19$m=...
		}
		if len(d) != len(h) || params(d) != params(h) {
			t.Errorf("dummyHash(%q) = %q, different parameters", h, d)
		}
	}
	u := new(Users)
	u.SetHash("x", string(bc))
	if _, dummy := u.lookup("y"); dummy != dummyHash(string(bc)) {
		t.Errorf("unknown users checked against %q", dummy)
	}
}
