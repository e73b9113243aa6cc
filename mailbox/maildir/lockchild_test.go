package maildir_test

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"testing"

	"github.com/postyard/postyard/mailbox"
	"github.com/postyard/postyard/mailbox/maildir"
)

const lockEnv = "POSTYARD_MAILDIR_LOCK_CHILD"

// TestLockChild is the child of TestExclusiveAcrossProcesses: it takes
// the maildrop lock, says so, and waits to be killed.
func TestLockChild(t *testing.T) {
	dir := os.Getenv(lockEnv)
	if dir == "" {
		t.Skip("run by TestExclusiveAcrossProcesses")
	}
	st, err := maildir.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	u, err := st.User(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := u.Open(ctx, mailbox.Inbox, &mailbox.OpenOptions{Exclusive: true}); err != nil {
		t.Fatal(err)
	}
	os.Stdout.WriteString("locked\n")
	select {}
}

// startChild runs the test test of this binary as a child process with
// env added, and returns it with the lines it prints.
func startChild(t *testing.T, test string, env ...string) (*exec.Cmd, <-chan string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1024)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	return cmd, lines
}

func startLockChild(t *testing.T, dir string) *exec.Cmd {
	t.Helper()
	cmd, lines := startChild(t, "TestLockChild", lockEnv+"="+dir)
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for l := range lines {
		if l == "locked" {
			return cmd
		}
	}
	t.Fatal("lock child did not take the lock")
	return nil
}
