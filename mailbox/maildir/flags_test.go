package maildir_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/postyard/postyard/mailbox"
	"github.com/postyard/postyard/mailbox/maildir"
)

// curNames returns the file names of cur/ by the UID in them.
func curNames(t *testing.T, cur string) map[mailbox.UID]string {
	t.Helper()
	ents, err := os.ReadDir(cur)
	if err != nil {
		t.Fatal(err)
	}
	out := map[mailbox.UID]string{}
	for _, e := range ents {
		base, _, _ := strings.Cut(e.Name(), ":2,")
		i := strings.LastIndex(base, ",U=")
		if i < 0 {
			t.Fatalf("cur/%s: no UID", e.Name())
		}
		u, err := strconv.ParseUint(base[i+3:], 10, 32)
		if err != nil {
			t.Fatalf("cur/%s: %v", e.Name(), err)
		}
		out[mailbox.UID(u)] = e.Name()
	}
	return out
}

// dropNew writes n messages into the new/ of the Maildir inbox, as
// another program delivering there would, and has mb pick them up.
func dropNew(tb testing.TB, mb mailbox.Mailbox, inbox string, n int) {
	tb.Helper()
	for i := range n {
		name := fmt.Sprintf("1700000000.P1Q%d.other", i)
		if err := os.WriteFile(filepath.Join(inbox, "new", name), []byte(interopMessage(fmt.Sprint("m", i))), 0o600); err != nil {
			tb.Fatal(err)
		}
	}
	if s, err := mb.Status(tb.Context()); err != nil || s.Messages != n {
		tb.Fatalf("Status: %+v, %v", s, err)
	}
}

// TestStoreRenameFails runs STOREs over more messages than one batch of
// renames while files are missing or cannot be renamed: each message is
// either changed (index, file name, event, result) or left as it was,
// and what the index says survives a reopen.
func TestStoreRenameFails(t *testing.T) {
	const n = 700 // several batches of renames, on their goroutine
	root := t.TempDir()
	st := openStore(t, root)
	mb := openBox(t, st, "alice", mailbox.Inbox)
	inbox := filepath.Join(root, "alice")
	cur := filepath.Join(inbox, "cur")
	for i := range n {
		name := fmt.Sprintf("1700000000.P1Q%d.other", i)
		tmp := filepath.Join(inbox, "tmp", name)
		if err := os.WriteFile(tmp, []byte(interopMessage(fmt.Sprint("m", i))), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(inbox, "new", name)); err != nil {
			t.Fatal(err)
		}
	}
	if s, err := mb.Status(t.Context()); err != nil || s.Messages != n {
		t.Fatalf("Status: %+v, %v", s, err)
	}
	sub, err := mb.Watch(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()

	// check compares the index, the result and the file names: the
	// messages in changed have flags want, the others none.
	check := func(step string, res []mailbox.Message, changed func(mailbox.UID) bool, want mailbox.Flags) {
		t.Helper()
		names := curNames(t, cur)
		flags := map[mailbox.UID]mailbox.Flags{}
		for _, m := range listAll(t, mb) {
			flags[m.UID] = m.Flags
		}
		for u := mailbox.UID(1); u <= n; u++ {
			w := mailbox.Flags(0)
			if changed(u) {
				w = want
			}
			if flags[u] != w {
				t.Errorf("%s: UID %d: index flags %v, want %v", step, u, flags[u], w)
			}
			if name, ok := names[u]; ok && strings.HasSuffix(name, ":2,S") != (w&mailbox.FlagSeen != 0) {
				t.Errorf("%s: UID %d: file %s, want flags %v", step, u, name, w)
			}
		}
		for _, m := range res {
			if m.Flags != flags[m.UID] {
				t.Errorf("%s: UID %d reported with %v, index has %v", step, m.UID, m.Flags, flags[m.UID])
			}
		}
	}

	// A file gone (removed by another program): that message is left
	// alone and reported as it is; the STORE succeeds.
	names := curNames(t, cur)
	if err := os.Remove(filepath.Join(cur, names[300])); err != nil {
		t.Fatal(err)
	}
	res, err := mb.UpdateFlags(t.Context(), mailbox.AllUIDs(), &mailbox.FlagUpdate{Op: mailbox.FlagsAdd, Flags: mailbox.FlagSeen})
	if err != nil {
		t.Fatalf("STORE with a file gone: %v", err)
	}
	if len(res.Messages) != n {
		t.Fatalf("STORE reported %d messages, want %d", len(res.Messages), n)
	}
	check("file gone", res.Messages, func(u mailbox.UID) bool { return u != 300 }, mailbox.FlagSeen)
	evs := sub.Events()
	if len(evs) != n-1 {
		t.Errorf("%d events, want %d", len(evs), n-1)
	}
	for _, ev := range evs {
		if ev.Kind != mailbox.EventFlags || ev.UID == 300 || ev.Flags != mailbox.FlagSeen {
			t.Errorf("event %+v", ev)
		}
	}

	// A rename that fails otherwise (a directory where the new name
	// goes): the STORE fails, that message is left alone, the others'
	// changes are made (and published).
	names = curNames(t, cur)
	base, _, _ := strings.Cut(names[450], ":2,")
	block := filepath.Join(cur, base+":2,")
	if err := os.Mkdir(block, 0o700); err != nil {
		t.Fatal(err)
	}
	_, err = mb.UpdateFlags(t.Context(), mailbox.AllUIDs(), &mailbox.FlagUpdate{Op: mailbox.FlagsRemove, Flags: mailbox.FlagSeen})
	if err == nil {
		t.Fatal("STORE with a rename failing: no error")
	}
	if err := os.Remove(block); err != nil {
		t.Fatal(err)
	}
	check("rename failed", nil, func(u mailbox.UID) bool { return u == 450 }, mailbox.FlagSeen)
	if evs := sub.Events(); len(evs) != n-2 { // neither 300 (unchanged) nor 450
		t.Errorf("%d events, want %d", len(evs), n-2)
	}

	// What the index says is durable and agrees with the names: the
	// message whose file is gone goes at the next full scan.
	st.Close()
	st = openStore(t, root)
	mb = openBox(t, st, "alice", mailbox.Inbox)
	got := map[mailbox.UID]mailbox.Flags{}
	for _, m := range listAll(t, mb) {
		got[m.UID] = m.Flags
	}
	if len(got) != n-1 {
		t.Errorf("after reopen: %d messages, want %d", len(got), n-1)
	}
	for u := mailbox.UID(1); u <= n; u++ {
		fl, ok := got[u]
		switch {
		case u == 300:
			if ok {
				t.Errorf("after reopen: UID 300 (file gone) still there")
			}
		case u == 450:
			if fl != mailbox.FlagSeen {
				t.Errorf("after reopen: UID 450 flags %v, want \\Seen", fl)
			}
		case fl != 0:
			t.Errorf("after reopen: UID %d flags %v, want none", u, fl)
		}
	}
}

// BenchmarkStore10k sets and clears \Seen on 10,000 messages (a rename
// of each file, each time): ns/op is one STORE of all of them.
func BenchmarkStore10k(b *testing.B) {
	const n = 10000
	root := b.TempDir()
	st, err := maildir.Open(root, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	u, err := st.User(b.Context(), "alice")
	if err != nil {
		b.Fatal(err)
	}
	mb, err := u.Open(b.Context(), mailbox.Inbox, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer mb.Close()
	dropNew(b, mb, filepath.Join(root, "alice"), n)
	op := mailbox.FlagsAdd
	b.ResetTimer()
	for b.Loop() {
		res, err := mb.UpdateFlags(b.Context(), mailbox.AllUIDs(), &mailbox.FlagUpdate{Op: op, Flags: mailbox.FlagSeen})
		if err != nil || len(res.Messages) != n {
			b.Fatal(err)
		}
		if op == mailbox.FlagsAdd {
			op = mailbox.FlagsRemove
		} else {
			op = mailbox.FlagsAdd
		}
	}
}

// TestStoreAfterReaderRename runs a STORE after a mail reader sharing the
// Maildir renamed some files to change their flags (as mutt does when a
// message is read): those files are found by their base names, the
// reader's flags are kept and the STORE's are added, in the index, the
// file names, the result and the events, and a reopen agrees.
func TestStoreAfterReaderRename(t *testing.T) {
	for _, n := range []int{3, 600} { // one batch inline; several, on their goroutine
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			root := t.TempDir()
			st := openStore(t, root)
			mb := openBox(t, st, "alice", mailbox.Inbox)
			inbox := filepath.Join(root, "alice")
			cur := filepath.Join(inbox, "cur")
			dropNew(t, mb, inbox, n)
			read := map[mailbox.UID]bool{2: true, mailbox.UID(n): true}
			names := curNames(t, cur)
			for u := range read {
				base, _, _ := strings.Cut(names[u], ":2,")
				if err := os.Rename(filepath.Join(cur, names[u]), filepath.Join(cur, base+":2,S")); err != nil {
					t.Fatal(err)
				}
			}
			sub, err := mb.Watch(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Close()
			res, err := mb.UpdateFlags(t.Context(), mailbox.AllUIDs(), &mailbox.FlagUpdate{Op: mailbox.FlagsAdd, Flags: mailbox.FlagFlagged})
			if err != nil {
				t.Fatalf("STORE: %v", err)
			}
			want := func(u mailbox.UID) mailbox.Flags {
				if read[u] {
					return mailbox.FlagFlagged | mailbox.FlagSeen
				}
				return mailbox.FlagFlagged
			}
			if len(res.Messages) != n {
				t.Fatalf("STORE reported %d messages, want %d", len(res.Messages), n)
			}
			for _, m := range res.Messages {
				if m.Flags != want(m.UID) {
					t.Errorf("UID %d reported with %v, want %v", m.UID, m.Flags, want(m.UID))
				}
			}
			evs := sub.Events()
			if len(evs) != n {
				t.Errorf("%d events, want %d", len(evs), n)
			}
			for _, ev := range evs {
				if ev.Flags != want(ev.UID) {
					t.Errorf("event %+v, want flags %v", ev, want(ev.UID))
				}
			}
			names = curNames(t, cur)
			if len(names) != n {
				t.Errorf("%d files in cur/, want %d", len(names), n)
			}
			for u, name := range names {
				suffix := ":2,F"
				if read[u] {
					suffix = ":2,FS"
				}
				if !strings.HasSuffix(name, suffix) {
					t.Errorf("UID %d: file %s, want ...%s", u, name, suffix)
				}
			}
			st.Close()
			st = openStore(t, root)
			mb = openBox(t, st, "alice", mailbox.Inbox)
			got := listAll(t, mb)
			if len(got) != n {
				t.Fatalf("after reopen: %d messages, want %d", len(got), n)
			}
			for _, m := range got {
				if m.Flags != want(m.UID) {
					t.Errorf("after reopen: UID %d flags %v, want %v", m.UID, m.Flags, want(m.UID))
				}
			}
		})
	}
}
