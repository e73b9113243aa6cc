package auth_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/postyard/postyard/auth"
)

// fileUser is a users-file entry made quickly: a bcrypt hash of cost 4 and,
// with scram, SCRAM-SHA-256 credentials.
func fileUser(t *testing.T, name, password string, scram bool) auth.FileUser {
	t.Helper()
	u := auth.FileUser{Name: name, Hash: hashBcrypt(t, password)}
	if scram {
		c, err := auth.NewSCRAMCredentials(password, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		u.SCRAM = &c
	}
	return u
}

func TestFileUserLine(t *testing.T) {
	u, err := auth.NewFileUser("alice@example.org", "pencil", nil)
	if err != nil {
		t.Fatal(err)
	}
	line := u.String()
	f := strings.SplitN(line, ":", 3)
	if f[0] != "alice@example.org" || !strings.HasPrefix(f[1], "$argon2id$") || !strings.HasPrefix(f[2], "SCRAM-SHA-256$4096:") {
		t.Fatalf("line %q", line)
	}
	got, ok, err := auth.ParseFileUser("  " + line + "\r")
	if !ok || err != nil || !reflect.DeepEqual(got, u) {
		t.Fatalf("ParseFileUser(%q) = %+v, %v, %v", line, got, ok, err)
	}
	if ok, err := auth.CheckHash(got.Hash, "pencil"); !ok || err != nil {
		t.Errorf("hash: %v %v", ok, err)
	}

	noSCRAM, err := auth.NewFileUser("bob", "builder", &auth.FileUserOptions{NoSCRAM: true})
	if err != nil || noSCRAM.SCRAM != nil || strings.Count(noSCRAM.String(), ":") != 1 {
		t.Fatalf("NoSCRAM: %q %v", noSCRAM.String(), err)
	}
	more, err := auth.NewFileUser("carol", "pw", &auth.FileUserOptions{SCRAMIterations: 10000})
	if err != nil || more.SCRAM.Iterations != 10000 || !strings.Contains(more.String(), "SCRAM-SHA-256$10000:") {
		t.Fatalf("SCRAMIterations: %q %v", more.String(), err)
	}

	for _, name := range []string{"", "a b", "a:b", "a/b", `a\b`, ".hidden", "#x", "tab\tx", "nl\nx", "nbsp\u00a0x"} {
		if _, err := auth.NewFileUser(name, "pw", &auth.FileUserOptions{NoSCRAM: true}); err == nil {
			t.Errorf("NewFileUser(%q) accepted", name)
		}
	}

	for _, line := range []string{"", "   ", "# comment", "  # indented comment"} {
		if _, ok, err := auth.ParseFileUser(line); ok || err != nil {
			t.Errorf("ParseFileUser(%q) = %v, %v", line, ok, err)
		}
	}
	bc := hashBcrypt(t, "x")
	salt := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef"))
	key := base64.StdEncoding.EncodeToString(make([]byte, 32))
	short := base64.StdEncoding.EncodeToString(make([]byte, 31))
	if _, ok, err := auth.ParseFileUser("x:" + bc + ":SCRAM-SHA-256$4096:" + salt + "$" + key + ":" + key); !ok || err != nil {
		t.Errorf("a valid SCRAM field refused: %v", err)
	}
	for _, line := range []string{
		"nocolon",
		"name:",
		":" + bc,
		"bad name:" + bc,
		"x:plaintext",
		"x:" + bc + ":",
		"x:" + bc + ":{SCRAM-SHA-256}4096," + salt,
		"x:" + bc + ":SCRAM-SHA-256$0:" + salt + "$" + key + ":" + key,
		"x:" + bc + ":SCRAM-SHA-256$04096:" + salt + "$" + key + ":" + key,
		"x:" + bc + ":SCRAM-SHA-256$4096:$" + key + ":" + key,
		"x:" + bc + ":SCRAM-SHA-256$4096:" + salt + "$" + short + ":" + key,
		"x:" + bc + ":SCRAM-SHA-256$4096:" + salt + "$" + key + ":" + key + "!",
		"x:" + bc + ":SCRAM-SHA-256$4096:" + salt + "$" + key,
	} {
		if _, _, err := auth.ParseFileUser(line); err == nil {
			t.Errorf("ParseFileUser(%q) accepted", line)
		}
	}
}

// TestParseUsersFile: the files of before SCRAM (htpasswd -B, the
// examples' "name:hash" lines, CRLF) read as they did.
func TestParseUsersFile(t *testing.T) {
	bob := hashBcrypt(t, "builder")
	alice := fileUser(t, "alice@example.org", "pencil", true)
	data := "# users\r\n\r\nbob:" + bob + "\r\n  " + alice.String() + "  \n# end"
	users, err := auth.ParseUsersFile(strings.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if u, err := users.Authenticate(ctx, "", "BOB", "builder"); u != "bob" || err != nil {
		t.Errorf("bob: %q %v", u, err)
	}
	if u, err := users.Authenticate(ctx, "", "Alice@Example.org", "pencil"); u != "alice@example.org" || err != nil {
		t.Errorf("alice: %q %v", u, err)
	}
	if c, err := users.SCRAMCredentials(ctx, "alice@example.org"); err != nil || !bytes.Equal(c.StoredKey, alice.SCRAM.StoredKey) {
		t.Errorf("alice's SCRAM credentials: %v", err)
	}
	if _, err := users.SCRAMCredentials(ctx, "bob"); !errors.Is(err, auth.ErrInvalidCredentials) {
		t.Errorf("bob has no SCRAM credentials: %v", err)
	}
	if _, err := auth.ParseUsersFile(strings.NewReader("# ok\nbob:" + bob + "\nbroken\n")); err == nil || !strings.Contains(err.Error(), "line 3") {
		t.Errorf("broken file: %v", err)
	}
}

// TestUsersFileEdit: adding, replacing and removing users keeps the other
// lines and the comments, and writes a private file.
func TestUsersFileEdit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "etc", "users")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	bob := "bob@example.org:" + hashBcrypt(t, "builder")
	os.WriteFile(path, []byte("# mail users\n"+bob+"\n"), 0o644)

	alice := fileUser(t, "Alice@example.org", "pencil", true)
	if err := auth.AddFileUser(path, alice); err != nil {
		t.Fatal(err)
	}
	read := func() string {
		t.Helper()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if got, want := read(), "# mail users\n"+bob+"\n"+alice.String()+"\n"; got != want {
		t.Fatalf("after AddFileUser:\n%s\nwant\n%s", got, want)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode())
	}
	if err := auth.AddFileUser(path, fileUser(t, "alice@EXAMPLE.org", "x", false)); !errors.Is(err, auth.ErrUserExists) {
		t.Errorf("adding alice again: %v", err)
	}

	// A new password: the name stays as it was written.
	alice2 := fileUser(t, "ALICE@example.org", "new", false)
	if err := auth.ReplaceFileUser(path, alice2); err != nil {
		t.Fatal(err)
	}
	alice2.Name = "Alice@example.org"
	if got, want := read(), "# mail users\n"+bob+"\n"+alice2.String()+"\n"; got != want {
		t.Fatalf("after ReplaceFileUser:\n%s\nwant\n%s", got, want)
	}
	if err := auth.ReplaceFileUser(path, fileUser(t, "nobody", "x", false)); !errors.Is(err, auth.ErrUnknownUser) {
		t.Errorf("replacing an unknown user: %v", err)
	}

	if err := auth.RemoveFileUser(path, "bob@example.org"); err != nil {
		t.Fatal(err)
	}
	if got, want := read(), "# mail users\n"+alice2.String()+"\n"; got != want {
		t.Fatalf("after RemoveFileUser:\n%s\nwant\n%s", got, want)
	}
	if err := auth.RemoveFileUser(path, "bob@example.org"); !errors.Is(err, auth.ErrUnknownUser) {
		t.Errorf("removing bob twice: %v", err)
	}

	// Refused: bad entries, and editing a file that does not parse.
	if err := auth.AddFileUser(path, auth.FileUser{Name: "carol", Hash: "plain"}); err == nil {
		t.Error("a bad hash accepted")
	}
	if err := auth.AddFileUser(path, auth.FileUser{Name: "carol", Hash: hashBcrypt(t, "x"), SCRAM: &auth.SCRAMCredentials{Iterations: 1}}); err == nil {
		t.Error("bad SCRAM credentials accepted")
	}
	os.WriteFile(path, []byte(read()+"garbage\n"), 0o600)
	if err := auth.AddFileUser(path, fileUser(t, "carol", "x", false)); err == nil || !strings.Contains(err.Error(), path+":3") {
		t.Errorf("editing a broken file: %v", err)
	}

	// A new file, in a new directory.
	fresh := filepath.Join(t.TempDir(), "new", "users")
	if err := auth.AddFileUser(fresh, fileUser(t, "dave", "x", false)); err != nil {
		t.Fatal(err)
	}
	if users, err := auth.LoadUsersFile(fresh); err != nil {
		t.Fatal(err)
	} else if _, err := users.Authenticate(t.Context(), "", "dave", "x"); err != nil {
		t.Error(err)
	}
	if _, err := auth.LoadUsersFile(filepath.Join(t.TempDir(), "none")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("LoadUsersFile of no file: %v", err)
	}
}

// TestUsersFile: logins with PLAIN and SCRAM-SHA-256 against the file,
// which is read again when it changes; a broken file keeps the previous
// users.
func TestUsersFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users")
	alice := fileUser(t, "alice", "pencil", true)
	if err := auth.AddFileUser(path, alice); err != nil {
		t.Fatal(err)
	}
	if err := auth.AddFileUser(path, fileUser(t, "bob", "builder", false)); err != nil {
		t.Fatal(err)
	}
	// Checked at every use, for the test.
	f, err := auth.OpenUsersFile(path, &auth.UsersFileOptions{CheckInterval: time.Nanosecond, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if n, scram := f.Count(); n != 2 || scram != 1 {
		t.Errorf("Count = %d, %d", n, scram)
	}
	if u, err := f.Authenticate(ctx, "", "Bob", "builder"); u != "bob" || err != nil {
		t.Errorf("bob: %q %v", u, err)
	}
	if _, err := f.Authenticate(ctx, "", "bob", "wrong"); !errors.Is(err, auth.ErrInvalidCredentials) {
		t.Errorf("wrong password: %v", err)
	}
	if name, ok := f.Lookup("ALICE"); name != "alice" || !ok {
		t.Errorf("Lookup(ALICE) = %q, %v", name, ok)
	}
	if _, ok := f.Lookup("carol"); ok {
		t.Error("Lookup(carol) found")
	}

	s := &auth.SASL{Authenticator: f}
	if got := s.Available(); !reflect.DeepEqual(got, []string{"PLAIN", "LOGIN", "SCRAM-SHA-256"}) {
		t.Errorf("mechanisms %q", got)
	}
	scram := func(user, password string) error {
		ex, err := s.Start(ctx, "SCRAM-SHA-256")
		if err != nil {
			return err
		}
		c := scramClient{user: user, password: password}
		first, _, err := ex.Next(c.first())
		if err != nil {
			return err
		}
		final, _, err := ex.Next(c.final(first))
		if err != nil {
			return err
		}
		if string(final) != "v="+base64.StdEncoding.EncodeToString(c.serverSig) {
			return errors.New("bad server signature")
		}
		if _, done, err := ex.Next([]byte{}); !done || err != nil || ex.User() != user {
			return errors.New("not done")
		}
		return nil
	}
	if err := scram("alice", "pencil"); err != nil {
		t.Errorf("SCRAM as alice: %v", err)
	}
	if err := scram("alice", "pencils"); !errors.Is(err, auth.ErrInvalidCredentials) {
		t.Errorf("SCRAM as alice with a wrong password: %v", err)
	}
	if err := scram("bob", "builder"); !errors.Is(err, auth.ErrInvalidCredentials) {
		t.Errorf("SCRAM as bob, who has no SCRAM credentials: %v", err)
	}

	// Changed by another program: seen without Reload.
	if err := auth.ReplaceFileUser(path, fileUser(t, "bob", "new", true)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Authenticate(ctx, "", "bob", "new"); err != nil {
		t.Errorf("bob's new password: %v", err)
	}
	if err := scram("bob", "new"); err != nil {
		t.Errorf("SCRAM as bob after his new password: %v", err)
	}
	if n, scram := f.Count(); n != 2 || scram != 2 {
		t.Errorf("Count = %d, %d", n, scram)
	}

	// A broken file: the previous users stay.
	data, _ := os.ReadFile(path)
	os.WriteFile(path, append(data, "broken\n"...), 0o600)
	if _, err := f.Authenticate(ctx, "", "bob", "new"); err != nil {
		t.Errorf("after the file broke: %v", err)
	}
	if err := f.Reload(); err == nil || !strings.Contains(err.Error(), "line 3") {
		t.Errorf("Reload of a broken file: %v", err)
	}
	if _, err := auth.OpenUsersFile(path, nil); err == nil {
		t.Error("OpenUsersFile of a broken file succeeded")
	}

	// Without automatic checks only Reload reads the file.
	os.WriteFile(path, data, 0o600)
	manual, err := auth.OpenUsersFile(path, &auth.UsersFileOptions{CheckInterval: -1, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := auth.RemoveFileUser(path, "bob"); err != nil {
		t.Fatal(err)
	}
	if _, ok := manual.Lookup("bob"); !ok {
		t.Error("bob gone before Reload")
	}
	if err := manual.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, ok := manual.Lookup("bob"); ok {
		t.Error("bob still there after Reload")
	}
	if manual.Path() != path {
		t.Errorf("Path %q", manual.Path())
	}
}
