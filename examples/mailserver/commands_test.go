package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/postyard/postyard/auth"
	"github.com/postyard/postyard/queue"
	"github.com/postyard/postyard/queue/filequeue"
)

// TestUserCommands: adduser writes an argon2id hash that logs in, keeps
// comments and other users; passwd changes it; deluser removes it; the
// mistakes are refused.
func TestUserCommands(t *testing.T) {
	file := filepath.Join(t.TempDir(), "etc", "users")
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		t.Fatal(err)
	}
	bob, err := bcrypt.GenerateFromPassword([]byte("password"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(file, []byte("# mail users\nbob@example.org:"+string(bob)+"\n"), 0o600)

	if out, code := runCLI(t, "s3cret\n", "adduser", "-users", file, "alice@example.org"); code != 0 {
		t.Fatalf("adduser: %d %s", code, out)
	}
	data, _ := os.ReadFile(file)
	if !strings.HasPrefix(string(data), "# mail users\nbob@example.org:$2a$") || !strings.Contains(string(data), "\nalice@example.org:$argon2id$") {
		t.Fatalf("users file:\n%s", data)
	}
	if fi, _ := os.Stat(file); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode())
	}
	db, err := openUsers(file, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if u, err := db.Authenticate(ctx, "", "Alice@example.org", "s3cret"); err != nil || u != "alice@example.org" {
		t.Errorf("alice: %q %v", u, err)
	}
	if _, err := db.Authenticate(ctx, "", "bob@example.org", "password"); err != nil { // bcrypt, as htpasswd -B writes
		t.Errorf("bob: %v", err)
	}

	if out, code := runCLI(t, "other\n", "adduser", "-users", file, "alice@example.org"); code == 0 || !strings.Contains(out, "exists") {
		t.Errorf("adduser of an existing user: %d %s", code, out)
	}
	if out, code := runCLI(t, "", "adduser", "-users", file, "carol@example.org"); code == 0 || !strings.Contains(out, "password") {
		t.Errorf("adduser without a password: %d %s", code, out)
	}
	if out, code := runCLI(t, "x\n", "adduser", "-users", file, "bad:name"); code == 0 {
		t.Errorf("adduser bad:name: %d %s", code, out)
	}
	if out, code := runCLI(t, "x\n", "passwd", "-users", file, "nobody@example.org"); code == 0 || !strings.Contains(out, "no user") {
		t.Errorf("passwd of an unknown user: %d %s", code, out)
	}
	if out, code := runCLI(t, "n3w\r\n", "passwd", "-users", file, "ALICE@example.org"); code != 0 {
		t.Fatalf("passwd: %d %s", code, out)
	}
	db.reload()
	if _, err := db.Authenticate(ctx, "", "alice@example.org", "s3cret"); !errors.Is(err, auth.ErrInvalidCredentials) {
		t.Errorf("old password: %v", err)
	}
	if _, err := db.Authenticate(ctx, "", "alice@example.org", "n3w"); err != nil {
		t.Errorf("new password: %v", err)
	}
	if out, code := runCLI(t, "", "deluser", "-users", file, "bob@example.org"); code != 0 {
		t.Fatalf("deluser: %d %s", code, out)
	}
	data, _ = os.ReadFile(file)
	if strings.Contains(string(data), "bob") || !strings.HasPrefix(string(data), "# mail users\nalice@example.org:") {
		t.Errorf("after deluser:\n%s", data)
	}

	// Without -users: DATA/users, or the config file's users_file.
	dir := t.TempDir()
	if out, code := runCLI(t, "pw\n", "adduser", "-data", dir, "dave"); code != 0 {
		t.Fatalf("adduser -data: %d %s", code, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "users")); err != nil {
		t.Error(err)
	}
	cf := writeConfig(t, "users_file = \"accounts\"\n")
	if out, code := runCLI(t, "pw\n", "adduser", "-config", cf, "erin"); code != 0 {
		t.Fatalf("adduser -config: %d %s", code, out)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(cf), "accounts")); err != nil {
		t.Error(err)
	}
	if out, code := runCLI(t, "pw\n", "adduser", "frank"); code == 0 {
		t.Errorf("adduser without a file: %s", out)
	}
}

// TestAddUserWhileRunning: a user added while the server runs can log in
// and receive mail after SIGHUP (here: the reload it triggers).
func TestAddUserWhileRunning(t *testing.T) {
	c := testConfig(t)
	c.Domains = []string{"example.org"}
	if out, code := runCLI(t, "alice-pw\n", "adduser", "-data", c.DataDir, "alice@example.org"); code != 0 {
		t.Fatal(out)
	}
	ms := startTest(t, c)
	if ms.user != "" {
		t.Fatalf("demo user %q with a users file", ms.user)
	}
	if _, err := submit(t, ms.addrs["submission"], "bob@example.org", "bob-pw", "bob@example.org", []string{"alice@example.org"}, "Subject: x\r\n\r\nx\r\n"); err == nil {
		t.Fatal("bob logged in before he was added")
	}
	if out, code := runCLI(t, "bob-pw\n", "adduser", "-data", c.DataDir, "bob@example.org"); code != 0 {
		t.Fatal(out)
	}
	ms.reload()
	msg := "From: <bob@example.org>\r\nTo: <alice@example.org>\r\nSubject: hello Alice\r\n\r\nHi.\r\n"
	if _, err := submit(t, ms.addrs["submission"], "bob@example.org", "bob-pw", "bob@example.org", []string{"alice@example.org"}, msg); err != nil {
		t.Fatalf("bob after adduser: %v", err)
	}
}

// TestQueueCommands: the queue subcommand works on a running server (over
// the admin socket) and on a stopped one (opening the directory): list,
// hold, release, retry, delete.
func TestQueueCommands(t *testing.T) {
	c := testConfig(t)
	// Remote mail goes to a smarthost that refuses connections: it stays
	// queued, deferred.
	c.Smarthost = smarthostConfig{Host: "127.0.0.1", Port: 1, TLS: "none"}
	ms := startTest(t, c)
	if _, err := submit(t, ms.addrs["submission"], ms.user, ms.password, ms.user, []string{"friend@example.net"},
		"From: <"+ms.user+">\r\nTo: <friend@example.net>\r\nSubject: stuck\r\n\r\nWaiting.\r\n"); err != nil {
		t.Fatal(err)
	}

	if fi, err := os.Stat(filepath.Join(c.DataDir, adminSocket)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("admin socket: %v %v", fi.Mode(), err)
	}
	out, code := runCLI(t, "", "queue", "-data", c.DataDir, "list")
	m := regexp.MustCompile(`(?m)^([0-9A-Za-z]{26})\s+(\S+)`).FindStringSubmatch(out)
	if code != 0 || m == nil || !strings.Contains(out, "<friend@example.net>") || !strings.Contains(out, "1 message\n") {
		t.Fatalf("queue list: %d\n%s", code, out)
	}
	id := m[1]
	if out, code := runCLI(t, "", "queue", "-data", c.DataDir, "hold", id); code != 0 || !strings.Contains(out, id+": ok") {
		t.Fatalf("queue hold: %d\n%s", code, out)
	}
	out, _ = runCLI(t, "", "queue", "-data", c.DataDir, "list", id)
	if !regexp.MustCompile(`(?m)^` + id + `\s+held\s`).MatchString(out) {
		t.Fatalf("held message not shown held:\n%s", out)
	}
	if out, code := runCLI(t, "", "queue", "-data", c.DataDir, "hold", "NOSUCHID"); code == 0 || !strings.Contains(out, "not found") {
		t.Errorf("hold of an unknown ID: %d\n%s", code, out)
	}
	if out, code := runCLI(t, "", "queue", "-data", c.DataDir, "hold"); code == 0 {
		t.Errorf("hold without an ID: %s", out)
	}
	if out, code := runCLI(t, "", "queue", "-data", c.DataDir, "frobnicate"); code == 0 || !strings.Contains(out, "unknown operation") {
		t.Errorf("unknown operation: %d %s", code, out)
	}

	// Stopped: the subcommand opens the queue itself; the hold is on disk.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ms.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(c.DataDir, adminSocket)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("admin socket left behind: %v", err)
	}
	out, _ = runCLI(t, "", "queue", "-data", c.DataDir, "list")
	if !regexp.MustCompile(`(?m)^` + id + `\s+held\s`).MatchString(out) {
		t.Fatalf("after restart, held message:\n%s", out)
	}
	for _, op := range []string{"release", "retry"} {
		if out, code := runCLI(t, "", "queue", "-data", c.DataDir, op, id); code != 0 {
			t.Fatalf("queue %s: %d\n%s", op, code, out)
		}
	}
	q, err := filequeue.Open(filepath.Join(c.DataDir, "queue"), nil)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := q.Inspect(ctx, queue.ID(id))
	q.Close()
	if err != nil || msg.Held {
		t.Fatalf("after release: %+v %v", msg, err)
	}
	if out, code := runCLI(t, "", "queue", "-data", c.DataDir, "delete", id); code != 0 {
		t.Fatalf("queue delete: %d\n%s", code, out)
	}
	if out, _ := runCLI(t, "", "queue", "-data", c.DataDir, "list"); out != "0 messages\n" {
		t.Fatalf("after delete:\n%s", out)
	}
}
