package imap_test

// Interop with mutt in batch mode: keystrokes pushed with -e drive the
// index (read, flag, delete and expunge, copy, pipe), and the test checks
// what the store holds afterwards.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/postyard/postyard/internal/interop"
	"github.com/postyard/postyard/mailbox"
)

func TestInteropMutt(t *testing.T) {
	mutt := interop.Require(t, "mutt", "apt-get install mutt")
	// mutt is a terminal program: without a terminal on stdin it would
	// send mail in batch mode instead. script(1) gives it one.
	script := interop.Require(t, "script", "apt-get install bsdutils")
	forEachStore(t, func(t *testing.T, is *interopServer) {
		testMutt(t, script, mutt, is)
	})
}

// shellQuote quotes s for sh.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func testMutt(t *testing.T, script, mutt string, is *interopServer) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "muttrc")
	conf := fmt.Sprintf(`set imap_user=alice
set imap_pass=pass
set ssl_starttls=no
set ssl_force_tls=no
set folder=imap://127.0.0.1:%s/
set spoolfile=+INBOX
set record=""
set postponed=""
set sort=mailbox-order
set pager=builtin
set pager_stop=yes
set wait_key=no
set delete=yes
set quit=yes
set move=no
set mark_old=no
set confirmcreate=no
set confirmappend=no
set beep=no
set pipe_decode=no
set header_cache=""
set message_cachedir=""
set imap_check_subscribed=no
set imap_idle=no
set timeout=1
`, is.port)
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for i := 1; i <= 5; i++ {
		subj := fmt.Sprintf("msg-%03d", i)
		var f mailbox.Flags
		if i == 2 {
			f = mailbox.FlagSeen
		}
		deliver(t, is.st, "alice", "", testMessage(subj), &mailbox.AppendOptions{Flags: f})
		want[subj] = letters(f)
	}
	env := []string{"HOME=" + dir, "TERM=vt100", "COLUMNS=80", "LINES=24", "MAILCAPS=/dev/null"}
	run := func(keys string) {
		t.Helper()
		cmd := strings.Join([]string{mutt, "-n", "-F", shellQuote(cfg), "-f", "imap://127.0.0.1:" + is.port + "/INBOX",
			"-e", shellQuote("push '" + keys + "'")}, " ")
		// script(1) passes its stdin on to mutt's terminal, and an end of
		// file there reaches mutt as a keystroke: keep stdin open and
		// silent until mutt is done.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		c := exec.CommandContext(ctx, script, "-qefc", cmd, "/dev/null")
		c.Env = append(os.Environ(), env...)
		stdin, err := c.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		defer stdin.Close()
		out, err := c.CombinedOutput()
		if err != nil {
			t.Fatalf("mutt: %v\n%q", err, out[max(0, len(out)-1500):])
		}
	}

	// 1. Read message 3, flag message 5, copy message 4 to a new
	// mailbox, pipe message 2 to a file, delete message 1 and expunge.
	piped := filepath.Join(dir, "piped.eml")
	run("<jump>3<enter><display-message><exit>" +
		"<jump>5<enter><flag-message>" +
		"<jump>4<enter><copy-message>=Archive<enter>" +
		"<jump>2<enter><pipe-message>cat > " + piped + "<enter>" +
		"<jump>1<enter><delete-message><sync-mailbox><quit>")
	want["msg-003"] = "S"
	want["msg-005"] = "F"
	delete(want, "msg-001")
	compareBox(t, "INBOX after mutt", serverBox(t, is.st, "alice", "INBOX"), want)
	compareBox(t, "Archive after mutt", serverBox(t, is.st, "alice", "Archive"), map[string]string{"msg-004": ""})
	raw, err := os.ReadFile(piped)
	if err != nil {
		t.Fatal(err)
	}
	if subj, body := splitMessage(raw); subj != "msg-002" || body != bodyOf("msg-002") {
		t.Fatalf("mutt piped %q", raw)
	}

	// 2. A change by another client shows in mutt: the message flagged
	// elsewhere is unflagged with mutt's toggle (it must know the flag).
	srv := serverBox(t, is.st, "alice", "INBOX")
	updateFlags(t, is.st, "alice", "INBOX", []mailbox.UID{srv["msg-002"].UID}, mailbox.FlagsAdd, mailbox.FlagFlagged)
	run("<jump>1<enter><flag-message><jump>4<enter><flag-message><sync-mailbox><quit>")
	want["msg-002"] = "S"
	want["msg-005"] = ""
	compareBox(t, "INBOX after second mutt", serverBox(t, is.st, "alice", "INBOX"), want)
}
