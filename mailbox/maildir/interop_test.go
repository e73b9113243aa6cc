package maildir_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/postyard/postyard/internal/interop"
	"github.com/postyard/postyard/mailbox"
	"github.com/postyard/postyard/mailbox/maildir"
)

func interopMessage(subj string) string {
	return "From: Alice <alice@example.org>\r\nTo: bob@example.com\r\nSubject: " + subj +
		"\r\nDate: Mon, 02 Jan 2006 15:04:05 -0700\r\nMessage-ID: <" + subj + "@example.org>\r\n\r\nBody of " + subj + ".\r\n"
}

func openStore(t *testing.T, dir string) *maildir.Store {
	t.Helper()
	st, err := maildir.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func openBox(t *testing.T, st *maildir.Store, user, name string) mailbox.Mailbox {
	t.Helper()
	u, err := st.User(t.Context(), user)
	if err != nil {
		t.Fatal(err)
	}
	mb, err := u.Open(t.Context(), name, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mb.Close() })
	return mb
}

// boxState returns subject -> flag letters (DFRST) of a mailbox, and
// checks every message's content against interopMessage (if ours).
func boxState(t *testing.T, mb mailbox.Mailbox, ours bool) map[string]string {
	t.Helper()
	out := map[string]string{}
	for m, err := range mb.Messages(t.Context(), mailbox.AllUIDs(), &mailbox.FetchOptions{Metadata: mailbox.MetadataAll}) {
		if err != nil {
			t.Fatal(err)
		}
		subj := m.Metadata.Envelope.Subject
		c, err := mb.Open(t.Context(), m.UID)
		if err != nil {
			t.Fatal(err)
		}
		b := make([]byte, m.Size)
		_, err = c.ReadAt(b, 0)
		c.Close()
		if err != nil || ours && string(b) != interopMessage(subj) || !strings.Contains(string(b), "Body of "+subj) {
			t.Errorf("%s: content %q, %v", subj, b, err)
		}
		var fl []string
		for _, f := range []struct {
			l string
			f mailbox.Flags
		}{{"D", mailbox.FlagDraft}, {"F", mailbox.FlagFlagged}, {"R", mailbox.FlagAnswered}, {"S", mailbox.FlagSeen}, {"T", mailbox.FlagDeleted}} {
			if m.Flags&f.f != 0 {
				fl = append(fl, f.l)
			}
		}
		out[subj] = strings.Join(fl, "")
	}
	return out
}

// TestInteropMutt has mutt read a Maildir this store wrote: it pipes
// every message out (contents must be ours, byte for byte after mutt's
// CRLF handling), selects by the flags our file names carry, flags one
// message, deletes another, and copies one into a subfolder; the store
// then sees mutt's changes.
func TestInteropMutt(t *testing.T) {
	mutt := interop.Require(t, "mutt", "apt-get install mutt")
	script := interop.Require(t, "script", "apt-get install bsdutils")
	root := t.TempDir()
	st := openStore(t, root)
	ctx := t.Context()
	u, err := st.User(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if err := u.Create(ctx, "Archive", nil); err != nil {
		t.Fatal(err)
	}
	flags := []mailbox.Flags{0, mailbox.FlagSeen, mailbox.FlagFlagged | mailbox.FlagSeen, 0}
	for i, f := range flags {
		errs, err := st.Deliver(ctx, strings.NewReader(interopMessage(fmt.Sprintf("msg-%d", i+1))),
			[]mailbox.Recipient{{User: "alice", Options: &mailbox.AppendOptions{Flags: f}}})
		if err != nil || errs[0] != nil {
			t.Fatal(err, errs)
		}
	}
	inboxDir := filepath.Join(root, "alice")
	archiveDir := filepath.Join(inboxDir, ".Archive")
	if _, err := os.Stat(filepath.Join(archiveDir, "cur")); err != nil {
		t.Fatalf("Archive is not a Maildir++ folder: %v", err)
	}
	st.Close()

	dir := t.TempDir()
	cfg := filepath.Join(dir, "muttrc")
	// Mutt lists a Maildir in directory order, which is no order: sort
	// by subject so that <jump> finds the same message every time.
	conf := `set mbox_type=Maildir
set folder=` + inboxDir + `
set spoolfile=` + inboxDir + `
set record=""
set postponed=""
set sort=subject
set pager=cat
set wait_key=no
set delete=yes
set quit=yes
set move=no
set mark_old=no
set confirmappend=no
set confirmcreate=no
set beep=no
set pipe_decode=no
set pipe_split=yes
set header_cache=""
set maildir_trash=no
`
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	all, seen, flagged := filepath.Join(dir, "all"), filepath.Join(dir, "seen"), filepath.Join(dir, "flagged")
	keys := "<tag-pattern>~A<enter><tag-prefix><pipe-message>cat >> " + all + "<enter><untag-pattern>~A<enter>" +
		"<tag-pattern>~R<enter><tag-prefix><pipe-message>cat >> " + seen + "<enter><untag-pattern>~A<enter>" +
		"<tag-pattern>~F<enter><tag-prefix><pipe-message>cat >> " + flagged + "<enter><untag-pattern>~A<enter>" +
		"<jump>4<enter><flag-message>" +
		"<jump>1<enter><copy-message>=.Archive<enter>" +
		"<jump>2<enter><delete-message><sync-mailbox><quit>"
	env := []string{"HOME=" + dir, "TERM=vt100", "COLUMNS=80", "LINES=24", "MAILCAPS=/dev/null"}
	cmd := strings.Join([]string{mutt, "-n", "-F", quote(cfg), "-f", quote(inboxDir), "-e", quote("push '" + keys + "'")}, " ")
	if out, err := interop.Output(nil, env, script, "-qefc", cmd, "/dev/null"); err != nil {
		t.Fatalf("mutt: %v\n%s", err, out)
	}
	subjects := func(path string) []string {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("mutt wrote nothing to %s: %v", filepath.Base(path), err)
		}
		var out []string
		for l := range strings.Lines(string(b)) {
			if s, ok := strings.CutPrefix(strings.TrimRight(l, "\r\n"), "Subject: "); ok {
				out = append(out, s)
			}
		}
		return out
	}
	if got := subjects(all); !slices.Equal(got, []string{"msg-1", "msg-2", "msg-3", "msg-4"}) {
		t.Errorf("mutt read subjects %q", got)
	}
	if b, _ := os.ReadFile(all); !strings.Contains(strings.ReplaceAll(string(b), "\r\n", "\n"), strings.ReplaceAll(interopMessage("msg-3"), "\r\n", "\n")) {
		t.Errorf("mutt's copy of msg-3 differs:\n%s", b)
	}
	if got := subjects(seen); !slices.Equal(got, []string{"msg-2", "msg-3"}) {
		t.Errorf("mutt sees as read %q, want msg-2 and msg-3", got)
	}
	if got := subjects(flagged); !slices.Equal(got, []string{"msg-3"}) {
		t.Errorf("mutt sees as flagged %q, want msg-3", got)
	}

	// Mutt's changes, seen by the store.
	st = openStore(t, root)
	want := map[string]string{"msg-1": "", "msg-3": "FS", "msg-4": "F"}
	if got := boxState(t, openBox(t, st, "alice", mailbox.Inbox), true); !mapsEqual(got, want) {
		t.Errorf("INBOX after mutt: %v, want %v", got, want)
	}
	// Mutt rewrites the header of what it copies (Content-Length, LF).
	if got := boxState(t, openBox(t, st, "alice", "Archive"), false); !mapsEqual(got, map[string]string{"msg-1": ""}) {
		t.Errorf("Archive after mutt: %v", got)
	}
}

// newInbox opens a store in root (the caller closes it) and appends n
// messages with opts to alice's INBOX.
func newInbox(t *testing.T, root string, n int, opts *mailbox.AppendOptions) (*maildir.Store, mailbox.Mailbox) {
	t.Helper()
	st, err := maildir.Open(root, nil)
	if err != nil {
		t.Fatal(err)
	}
	mb := openBox(t, st, "alice", mailbox.Inbox)
	for i := range n {
		if _, err := mb.Append(t.Context(), strings.NewReader(interopMessage(fmt.Sprintf("m%d", i))), opts); err != nil {
			t.Fatal(err)
		}
	}
	return st, mb
}

// listAll returns every message of mb, without metadata.
func listAll(t *testing.T, mb mailbox.Mailbox) []mailbox.Message {
	t.Helper()
	var ms []mailbox.Message
	for m, err := range mb.Messages(t.Context(), mailbox.AllUIDs(), nil) {
		if err != nil {
			t.Fatal(err)
		}
		ms = append(ms, *m)
	}
	return ms
}

func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestDroppedFiles: messages another program (procmail, Postfix's
// virtual, a person) drops into new/ or cur/ are picked up, with UIDs
// and events, while the store is open and when it opens.
func TestDroppedFiles(t *testing.T) {
	root := t.TempDir()
	st := openStore(t, root)
	mb := openBox(t, st, "alice", mailbox.Inbox)
	sub, err := mb.Watch(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	inbox := filepath.Join(root, "alice")
	drop := func(sub, name, subj string) {
		t.Helper()
		tmp := filepath.Join(inbox, "tmp", name)
		if err := os.WriteFile(tmp, []byte(interopMessage(subj)), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(inbox, sub, name)); err != nil {
			t.Fatal(err)
		}
	}
	drop("new", "1700000000.P1Q1.other", "dropped-1")
	drop("new", "1700000001.P1Q2.other", "dropped-2")
	st1, err := mb.Status(t.Context())
	if err != nil || st1.Messages != 2 || st1.UIDNext != 3 {
		t.Fatalf("Status after drop: %+v, %v", st1, err)
	}
	evs := sub.Events()
	if len(evs) != 2 || evs[0].Kind != mailbox.EventNew || evs[1].UID != 2 {
		t.Errorf("events for dropped files: %+v", evs)
	}
	if ents, _ := os.ReadDir(filepath.Join(inbox, "new")); len(ents) != 0 {
		t.Errorf("new/ not emptied: %v", ents)
	}
	// A file dropped into cur/ with flags, picked up when the store opens
	// (cur/ is read whole only then).
	st.Close()
	drop("cur", "1700000002.P1Q3.other:2,FS", "dropped-3")
	drop("new", "1700000003.P1Q4.other", "dropped-4")
	st = openStore(t, root)
	mb = openBox(t, st, "alice", mailbox.Inbox)
	want := map[string]string{"dropped-1": "", "dropped-2": "", "dropped-3": "FS", "dropped-4": ""}
	if got := boxState(t, mb, true); !mapsEqual(got, want) {
		t.Errorf("after reopen: %v, want %v", got, want)
	}
	var uids []mailbox.UID
	for _, m := range listAll(t, mb) {
		uids = append(uids, m.UID)
	}
	if !slices.Equal(uids, []mailbox.UID{1, 2, 3, 4}) {
		t.Errorf("UIDs %v", uids)
	}
}

// lastAddEnd returns where the last add record of an index ends.
func lastAddEnd(b []byte) int {
	const magic = len("postyard-index 1\n")
	end := 0
	for off := magic; off+9 <= len(b); {
		n := int(binary.LittleEndian.Uint32(b[off:]))
		if b[off+8] == 'A' {
			end = off + 8 + n
		}
		off += 8 + n
	}
	return end
}

// TestRecovery damages the index in the ways a crash or a person can and
// checks what reopening keeps.
func TestRecovery(t *testing.T) {
	setup := func(t *testing.T) (string, []mailbox.Message, uint32) {
		root := t.TempDir()
		st, mb := newInbox(t, root, 5, &mailbox.AppendOptions{Keywords: []string{"kw"}})
		ms := listAll(t, mb)
		v := mb.UIDValidity()
		st.Close()
		return root, ms, v
	}
	index := func(root string) string { return filepath.Join(root, "alice", "postyard-index") }
	reopen := func(t *testing.T, root string) (mailbox.Mailbox, []mailbox.Message) {
		st := openStore(t, root)
		mb := openBox(t, st, "alice", mailbox.Inbox)
		return mb, listAll(t, mb)
	}
	t.Run("TornTail", func(t *testing.T) {
		root, before, v := setup(t)
		b, _ := os.ReadFile(index(root))
		// The last add record cut (and the durable mark Close wrote
		// after it dropped).
		os.WriteFile(index(root), b[:lastAddEnd(b)-7], 0o600)
		mb, after := reopen(t, root)
		if mb.UIDValidity() != v || len(after) != 5 {
			t.Fatalf("validity %d (was %d), %d messages", mb.UIDValidity(), v, len(after))
		}
		for i := range before {
			if after[i].UID != before[i].UID {
				t.Errorf("UID %d became %d", before[i].UID, after[i].UID)
			}
		}
		// The message whose record was lost is found again by its file,
		// under its UID, without its keyword; the others keep theirs.
		if len(after[4].Keywords) != 0 || len(after[3].Keywords) != 1 {
			t.Errorf("keywords after torn tail: %v %v", after[3].Keywords, after[4].Keywords)
		}
	})
	t.Run("CorruptMiddle", func(t *testing.T) {
		root, before, v := setup(t)
		b, _ := os.ReadFile(index(root))
		b[len(b)/2] ^= 0xff
		os.WriteFile(index(root), b, 0o600)
		mb, after := reopen(t, root)
		if mb.UIDValidity() != v || len(after) != 5 {
			t.Fatalf("validity %d (was %d), %d messages", mb.UIDValidity(), v, len(after))
		}
		for i := range before {
			if after[i].UID != before[i].UID {
				t.Errorf("UID %d became %d", before[i].UID, after[i].UID)
			}
		}
	})
	t.Run("Lost", func(t *testing.T) {
		root, before, v := setup(t)
		os.Remove(index(root))
		mb, after := reopen(t, root)
		if mb.UIDValidity() != v || len(after) != 5 {
			t.Fatalf("validity %d (was %d), %d messages", mb.UIDValidity(), v, len(after))
		}
		for i := range before {
			if after[i].UID != before[i].UID || after[i].ModSeq <= before[4].ModSeq {
				t.Errorf("message %+v became %+v", before[i], after[i])
			}
		}
	})
	t.Run("LostWithClash", func(t *testing.T) {
		// Two files claim one UID: the UIDs cannot be kept, so
		// UIDVALIDITY changes.
		root, _, v := setup(t)
		os.Remove(index(root))
		cur := filepath.Join(root, "alice", "cur")
		ents, _ := os.ReadDir(cur)
		name := ents[0].Name()
		clash := strings.Replace(name, ".M", ".Mclash", 1)
		data, _ := os.ReadFile(filepath.Join(cur, name))
		os.WriteFile(filepath.Join(cur, clash), data, 0o600)
		mb, after := reopen(t, root)
		if mb.UIDValidity() == v || len(after) != 6 {
			t.Fatalf("validity %d (was %d), %d messages", mb.UIDValidity(), v, len(after))
		}
	})
	t.Run("TornFile", func(t *testing.T) {
		// A message file shorter than its recorded size (a write a crash
		// cut before the group commit) is dropped, never served short.
		root, before, _ := setup(t)
		cur := filepath.Join(root, "alice", "cur")
		// The last message's file, found by the UID in its name (the
		// names do not sort by arrival: microseconds are not padded).
		last := fmt.Sprintf(",U=%d:", before[4].UID)
		ents, _ := os.ReadDir(cur)
		for _, e := range ents {
			if strings.Contains(e.Name(), last) {
				os.Truncate(filepath.Join(cur, e.Name()), 10)
			}
		}
		_, after := reopen(t, root)
		if len(after) != 4 || after[3].UID != before[3].UID {
			t.Fatalf("after torn file: %+v", after)
		}
	})
}

// TestCompactionReopen writes enough changes to compact the index and
// checks that reopening keeps every UID and MODSEQ (nothing is adopted
// again from the files).
func TestCompactionReopen(t *testing.T) {
	root := t.TempDir()
	st, mb := newInbox(t, root, 20, nil)
	// Flag changes of every message with long keywords grow the log past
	// the compaction threshold many times over.
	kw := strings.Repeat("k", 200)
	for i := range 150 {
		op := mailbox.FlagsAdd
		if i%2 == 1 {
			op = mailbox.FlagsRemove
		}
		if _, err := mb.UpdateFlags(t.Context(), mailbox.AllUIDs(), &mailbox.FlagUpdate{Op: op, Keywords: []string{kw + fmt.Sprint(i%5)}, Flags: mailbox.FlagSeen}); err != nil {
			t.Fatal(err)
		}
	}
	before := listAll(t, mb)
	fi, _ := os.Stat(filepath.Join(root, "alice", "postyard-index"))
	st.Close()
	mb = openBox(t, openStore(t, root), "alice", mailbox.Inbox)
	after := listAll(t, mb)
	if len(after) != len(before) || fi.Size() > 1<<20 {
		t.Fatalf("%d messages after reopen, %d before; index %d bytes", len(after), len(before), fi.Size())
	}
	for i := range before {
		if after[i].UID != before[i].UID || after[i].ModSeq != before[i].ModSeq || after[i].Flags != before[i].Flags ||
			!slices.Equal(after[i].Keywords, before[i].Keywords) {
			t.Errorf("%+v became %+v", before[i], after[i])
		}
	}
}

// TestExclusiveAcrossProcesses: the maildrop lock taken by a child
// process keeps this process out until the child dies.
func TestExclusiveAcrossProcesses(t *testing.T) {
	if dir := os.Getenv(lockEnv); dir != "" {
		t.Skip("child")
	}
	root := t.TempDir()
	st := openStore(t, root)
	u, err := st.User(t.Context(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	child := startLockChild(t, root)
	_, err = u.Open(t.Context(), mailbox.Inbox, &mailbox.OpenOptions{Exclusive: true})
	if err == nil || mailbox.AsError(err) != mailbox.ErrLocked {
		t.Fatalf("Open while another process holds the lock: %v", err)
	}
	child.Process.Kill() // a dead holder's lock is released by the kernel
	child.Wait()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	mb, err := u.Open(ctx, mailbox.Inbox, &mailbox.OpenOptions{Exclusive: true})
	if err != nil {
		t.Fatalf("Open after the holder died: %v", err)
	}
	mb.Close()
}
