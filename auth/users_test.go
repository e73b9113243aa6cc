package auth_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/postyard/postyard/auth"
)

func TestUsers(t *testing.T) {
	ctx := t.Context()
	var u auth.Users // the zero value is usable
	if _, err := u.Authenticate(ctx, "", "nobody", "x"); err != auth.ErrInvalidCredentials {
		t.Errorf("empty Users: %v", err)
	}
	if _, err := u.SCRAMCredentials(ctx, "nobody"); err != auth.ErrInvalidCredentials {
		t.Errorf("empty Users, SCRAMCredentials: %v", err)
	}
	for _, name := range []string{"", "a\x00b", "tab\tname", "\xff"} {
		if err := u.Add(name, "pw"); err == nil {
			t.Errorf("Add(%q) succeeded", name)
		}
	}
	if err := u.Add("carol", "pw\n"); err == nil {
		t.Error("Add with a control character in the password succeeded")
	}

	u.SetHash("dave", hashBcrypt(t, "one"))
	u.SetHash("dave", hashBcrypt(t, "two"))
	tests := []struct {
		identity, username, password string
		user                         string
		err                          error
	}{
		{"", "dave", "two", "dave", nil},
		{"dave", "dave", "two", "dave", nil},
		{"", "dave", "one", "", auth.ErrInvalidCredentials},
		{"", "Dave", "two", "", auth.ErrInvalidCredentials},
		{"erin", "dave", "two", "", auth.ErrAuthzDenied},
		{"erin", "erin", "two", "", auth.ErrInvalidCredentials},
	}
	for _, tt := range tests {
		user, err := u.Authenticate(ctx, tt.identity, tt.username, tt.password)
		if user != tt.user || err != tt.err {
			t.Errorf("Authenticate(%q, %q, %q) = %q, %v; want %q, %v", tt.identity, tt.username, tt.password, user, err, tt.user, tt.err)
		}
	}

	u.Remove("dave")
	u.Remove("nobody")
	if _, err := u.Authenticate(ctx, "", "dave", "two"); err != auth.ErrInvalidCredentials {
		t.Errorf("after Remove: %v", err)
	}

	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := users().Authenticate(canceled, "", "alice", "pencil"); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled context: %v", err)
	}
}

func TestUsersFold(t *testing.T) {
	u := &auth.Users{Fold: true}
	u.SetHash("Dave", hashBcrypt(t, "pw"))
	u.SetHash("KELVIN", hashBcrypt(t, "pw"))
	for _, tt := range []struct{ identity, username, user string }{
		{"", "dave", "Dave"},
		{"DAVE", "dAvE", "Dave"},
		{"", "\u212aelvin", "KELVIN"}, // KELVIN SIGN folds to k
	} {
		if user, err := u.Authenticate(t.Context(), tt.identity, tt.username, "pw"); user != tt.user || err != nil {
			t.Errorf("Authenticate(%q, %q) = %q, %v; want %q", tt.identity, tt.username, user, err, tt.user)
		}
	}
	u.Remove("DAVE")
	if _, err := u.Authenticate(t.Context(), "", "Dave", "pw"); err != auth.ErrInvalidCredentials {
		t.Errorf("after Remove: %v", err)
	}
}

func TestUsersSCRAMCredentials(t *testing.T) {
	u := users()
	c, err := u.SCRAMCredentials(t.Context(), "alice")
	if err != nil || c.User != "alice" || c.Iterations != 4096 || len(c.Salt) != 16 || len(c.StoredKey) != 32 || len(c.ServerKey) != 32 {
		t.Fatalf("SCRAMCredentials = %+v, %v", c, err)
	}
	want, _ := auth.NewSCRAMCredentials("pencil", c.Salt, 4096)
	if !bytes.Equal(c.StoredKey, want.StoredKey) || !bytes.Equal(c.ServerKey, want.ServerKey) {
		t.Errorf("credentials differ from NewSCRAMCredentials")
	}
	c.StoredKey[0] ^= 1 // the caller owns the returned slices
	if c2, _ := u.SCRAMCredentials(t.Context(), "alice"); !bytes.Equal(c2.StoredKey, want.StoredKey) {
		t.Errorf("SCRAMCredentials returned shared memory")
	}
	if _, err := u.SCRAMCredentials(t.Context(), "bob"); err != auth.ErrInvalidCredentials {
		t.Errorf("user from SetHash: %v", err)
	}
}

func TestUsersConcurrent(t *testing.T) {
	var u auth.Users
	h := hashBcrypt(t, "pw")
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			name := fmt.Sprint("user", i)
			for range 3 {
				if err := u.SetHash(name, h); err != nil {
					t.Error(err)
				}
				if user, err := u.Authenticate(context.Background(), "", name, "pw"); user != name || err != nil {
					t.Errorf("Authenticate(%s) = %q, %v", name, user, err)
				}
				u.Remove(name)
			}
		})
	}
	wg.Wait()
}

func hashBcrypt(t *testing.T, pw string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}
