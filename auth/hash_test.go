package auth_test

import (
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/postyard/postyard/auth"
)

func TestHashPassword(t *testing.T) {
	h, err := auth.HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("HashPassword = %q", h)
	}
	if h2, _ := auth.HashPassword("correct horse"); h2 == h {
		t.Errorf("two hashes of the same password are equal: the salt is not random")
	}
	for pw, want := range map[string]bool{"correct horse": true, "correct horsE": false, "": false} {
		if ok, err := auth.CheckHash(h, pw); ok != want || err != nil {
			t.Errorf("CheckHash(%q) = %v, %v; want %v", pw, ok, err, want)
		}
	}
}

func TestCheckHash(t *testing.T) {
	bc, err := bcrypt.GenerateFromPassword([]byte("builder"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	bcs := string(bc)
	tests := []struct {
		hash, password string
		want           bool
	}{
		// Test vectors of the reference implementation (phc-winner-argon2
		// src/test.c), with salt "somesalt".
		{"$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4", "password", true},
		{"$argon2id$v=19$m=256,t=2,p=2$c29tZXNhbHQ$bQk8UB/VmZZF4Oo79iDXuL5/0ttZwg2f/5U52iv1cDc", "password", true},
		{"$argon2id$v=19$m=256,t=2,p=2$c29tZXNhbHQ$bQk8UB/VmZZF4Oo79iDXuL5/0ttZwg2f/5U52iv1cDc", "passwore", false},
		{bcs, "builder", true},
		{bcs, "Builder", false},
		{"$2b$" + bcs[4:], "builder", true},
		{"$2y$" + bcs[4:], "builder", true},
		{"$2y$" + bcs[4:], "builde", false},
	}
	for _, tt := range tests {
		if ok, err := auth.CheckHash(tt.hash, tt.password); ok != tt.want || err != nil {
			t.Errorf("CheckHash(%q, %q) = %v, %v; want %v", tt.hash, tt.password, ok, err, tt.want)
		}
	}
}

func TestCheckHashMalformed(t *testing.T) {
	const salt, key = "c29tZXNhbHQ", "CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"
	for _, h := range []string{
		"",
		"password",
		"$1$abc$def",
		"$2x$04$..............................",
		"$2a$99$" + strings.Repeat(".", 53),
		"$2a$04$short",
		"$argon2i$v=19$m=65536,t=2,p=1$" + salt + "$" + key,
		"$argon2id$v=16$m=65536,t=2,p=1$" + salt + "$" + key,
		"$argon2id$m=65536,t=2,p=1$" + salt + "$" + key,
		"$argon2id$v=19$t=2,m=65536,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=65536,t=2,p=1,x=1$" + salt + "$" + key,
		"$argon2id$v=19$m=65536,t=0,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=65536,t=2,p=0$" + salt + "$" + key,
		"$argon2id$v=19$m=4,t=2,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=99999999,t=2,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=65536,t=2,p=1$" + salt + "=$" + key,
		"$argon2id$v=19$m=65536,t=2,p=1$" + salt + "$" + key + "$",
		"$argon2id$v=19$m=65536,t=2,p=1$c29tZQ$" + key,
		"$argon2id$v=19$m=65536,t=2,p=1$" + salt + "$c29tZQ",
	} {
		if ok, err := auth.CheckHash(h, "password"); ok || err == nil {
			t.Errorf("CheckHash(%q) = %v, %v; want an error", h, ok, err)
		}
		if err := new(auth.Users).SetHash("x", h); err == nil {
			t.Errorf("SetHash(%q) succeeded", h)
		}
	}
}
