package imap_test

// Interop with mbsync (isync): two-way synchronisation of a 500-message
// mailbox between the server and a local Maildir, changes on both sides,
// resync, and a check that both sides converged to the expected state.

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/postyard/postyard/internal/interop"
	"github.com/postyard/postyard/mailbox"
)

const mbsyncMessages = 500

func TestInteropMbsync(t *testing.T) {
	mbsync := interop.Require(t, "mbsync", "apt-get install isync")
	forEachStore(t, func(t *testing.T, is *interopServer) {
		testMbsync(t, mbsync, is)
	})
}

func testMbsync(t *testing.T, mbsync string, is *interopServer) {
	dir := t.TempDir()
	local := filepath.Join(dir, "mail")
	if err := os.Mkdir(local, 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "mbsyncrc")
	conf := fmt.Sprintf(`IMAPAccount test
Host 127.0.0.1
Port %s
User alice
Pass pass
SSLType STARTTLS
CertificateFile %s
AuthMechs LOGIN

IMAPStore remote
Account test

MaildirStore local
Path %s/
Inbox %s/INBOX
SubFolders Verbatim

Channel test
Far :remote:
Near :local:
Patterns INBOX
Create Both
Expunge Both
SyncState *
`, is.port, is.caFile, local, local)
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"HOME=" + dir}
	sync := func(step string) {
		t.Helper()
		out := interop.Run(t, nil, env, mbsync, "-c", cfg, "-a")
		t.Logf("mbsync %s: %s", step, strings.TrimSpace(string(out)))
	}
	inbox := filepath.Join(local, "INBOX")

	// want is the expected state of both sides: Subject → flags.
	want := make(map[string]string)
	for i := 1; i <= mbsyncMessages; i++ {
		subj := fmt.Sprintf("msg-%03d", i)
		var f mailbox.Flags
		if i%3 == 0 {
			f |= mailbox.FlagSeen
		}
		if i%5 == 0 {
			f |= mailbox.FlagFlagged
		}
		if i%7 == 0 {
			f |= mailbox.FlagAnswered
		}
		if i%50 == 0 {
			f |= mailbox.FlagDraft
		}
		deliver(t, is.st, "alice", "", testMessage(subj), &mailbox.AppendOptions{Flags: f})
		want[subj] = letters(f)
	}

	// 1. Initial sync: the server's mailbox is copied to the Maildir.
	sync("initial")
	compareBox(t, "Maildir after initial sync", maildirBox(t, inbox), want)
	compareBox(t, "server after initial sync", serverBox(t, is.st, "alice", "INBOX"), want)

	// 2. Changes on the server, as other clients and delivery make them.
	srv := serverBox(t, is.st, "alice", "INBOX")
	uids := func(subjs ...string) []mailbox.UID {
		var u []mailbox.UID
		for _, s := range subjs {
			u = append(u, srv[s].UID)
		}
		return u
	}
	rangeOf := func(from, to int) []string {
		var s []string
		for i := from; i <= to; i++ {
			s = append(s, fmt.Sprintf("msg-%03d", i))
		}
		return s
	}
	setWant := func(subjs []string, add, del mailbox.Flags) {
		for _, s := range subjs {
			want[s] = letters(flagsOf(want[s])&^del | add)
		}
	}
	read := rangeOf(1, 20)
	updateFlags(t, is.st, "alice", "INBOX", uids(read...), mailbox.FlagsAdd, mailbox.FlagSeen)
	setWant(read, mailbox.FlagSeen, 0)
	var unflag []string
	for i := 100; i <= 150; i += 5 {
		unflag = append(unflag, fmt.Sprintf("msg-%03d", i))
	}
	updateFlags(t, is.st, "alice", "INBOX", uids(unflag...), mailbox.FlagsRemove, mailbox.FlagFlagged)
	setWant(unflag, 0, mailbox.FlagFlagged)
	gone := rangeOf(400, 404)
	expunge(t, is.st, "alice", "INBOX", uids(gone...))
	for _, s := range gone {
		delete(want, s)
	}
	for i := 1; i <= 10; i++ {
		subj := fmt.Sprintf("srv-new-%02d", i)
		var f mailbox.Flags
		if i%2 == 0 {
			f = mailbox.FlagFlagged
		}
		deliver(t, is.st, "alice", "", testMessage(subj), &mailbox.AppendOptions{Flags: f})
		want[subj] = letters(f)
	}
	// A flag change on each side of one message: mbsync merges them.
	updateFlags(t, is.st, "alice", "INBOX", uids("msg-006"), mailbox.FlagsRemove, mailbox.FlagSeen)

	// ... and in the local Maildir, as a mail reader would.
	loc := maildirBox(t, inbox)
	relabel := func(subj, flags string) {
		m := loc[subj]
		base, _, _ := strings.Cut(filepath.Base(m.Path), ":2,")
		if err := os.Rename(m.Path, filepath.Join(inbox, "cur", base+":2,"+flags)); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range rangeOf(200, 209) {
		f := flagsOf(want[s]) | mailbox.FlagFlagged | mailbox.FlagSeen
		relabel(s, letters(f))
		want[s] = letters(f)
	}
	relabel("msg-006", "FS")
	want["msg-006"] = "F"
	for _, s := range rangeOf(300, 304) {
		if err := os.Remove(loc[s].Path); err != nil {
			t.Fatal(err)
		}
		delete(want, s)
	}
	relabel("msg-310", letters(flagsOf(want["msg-310"])|mailbox.FlagDeleted)) // trashed
	delete(want, "msg-310")
	for i := 1; i <= 6; i++ {
		subj := fmt.Sprintf("loc-new-%02d", i)
		name := filepath.Join(inbox, "new", fmt.Sprintf("1700000000.P%d.local", i))
		flags := ""
		if i > 3 {
			flags = "FS"
			name = filepath.Join(inbox, "cur", fmt.Sprintf("1700000000.P%d.local:2,%s", i, flags))
		}
		raw := strings.ReplaceAll(testMessage(subj), "\n", "\r\n")
		if err := os.WriteFile(name, []byte(raw), 0o600); err != nil {
			t.Fatal(err)
		}
		want[subj] = flags
	}

	// 3. Resync: both sides converge.
	sync("after changes")
	compareBox(t, "server after resync", serverBox(t, is.st, "alice", "INBOX"), want)
	compareBox(t, "Maildir after resync", maildirBox(t, inbox), want)

	// 4. A sync with nothing to do changes nothing, uploads nothing twice.
	before := serverBox(t, is.st, "alice", "INBOX")
	sync("idempotent")
	after := serverBox(t, is.st, "alice", "INBOX")
	compareBox(t, "server after third sync", after, want)
	compareBox(t, "Maildir after third sync", maildirBox(t, inbox), want)
	for s, m := range after {
		if before[s].UID != m.UID {
			t.Errorf("%q: UID %d became %d in a sync with nothing to do", s, before[s].UID, m.UID)
		}
	}
}
