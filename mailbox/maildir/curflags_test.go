package maildir_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/postyard/postyard/mailbox"
)

// TestReaderFlagsTakenOver: flags a mail reader changed by renaming files
// in cur/ reach the folder's index and its watchers when it is next
// asked for its status, once cur/ has changed and a second has passed
// since cur/ was last listed; a base name listed twice (a listing made
// during a rename) is left alone.
func TestReaderFlagsTakenOver(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		root := t.TempDir()
		st := openStore(t, root)
		mb := openBox(t, st, "alice", mailbox.Inbox)
		inbox := filepath.Join(root, "alice")
		cur := filepath.Join(inbox, "cur")
		dropNew(t, mb, inbox, 3) // Status lists cur/
		sub, err := mb.Watch(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		before, err := mb.Status(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		names := curNames(t, cur)
		rename := func(u mailbox.UID, info string) {
			t.Helper()
			base, _, _ := strings.Cut(names[u], ":2,")
			if err := os.Rename(filepath.Join(cur, names[u]), filepath.Join(cur, base+":2,"+info)); err != nil {
				t.Fatal(err)
			}
		}
		rename(2, "S")  // read in mutt
		rename(3, "FS") // and flagged
		base1, _, _ := strings.Cut(names[1], ":2,")
		twin := filepath.Join(cur, base1+":2,T")
		if err := os.WriteFile(twin, []byte(interopMessage("twin")), 0o600); err != nil {
			t.Fatal(err)
		}
		flags := func() map[mailbox.UID]mailbox.Flags {
			out := map[mailbox.UID]mailbox.Flags{}
			for _, m := range listAll(t, mb) {
				out[m.UID] = m.Flags
			}
			return out
		}
		if _, err := mb.Status(t.Context()); err != nil {
			t.Fatal(err)
		}
		if evs := sub.Events(); len(evs) != 0 || flags()[2] != 0 {
			t.Fatalf("within a second of the last listing: events %+v, flags %v", evs, flags())
		}

		time.Sleep(time.Second)
		after, err := mb.Status(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		want := map[mailbox.UID]mailbox.Flags{1: 0, 2: mailbox.FlagSeen, 3: mailbox.FlagSeen | mailbox.FlagFlagged}
		got := flags()
		for u, w := range want {
			if got[u] != w {
				t.Errorf("UID %d: flags %v, want %v", u, got[u], w)
			}
		}
		evs := sub.Events()
		if len(evs) != 2 {
			t.Fatalf("events %+v, want 2", evs)
		}
		for _, ev := range evs {
			if ev.Kind != mailbox.EventFlags || ev.Flags != want[ev.UID] || ev.ModSeq <= before.HighestModSeq {
				t.Errorf("event %+v", ev)
			}
		}
		if after.HighestModSeq <= before.HighestModSeq || after.Unseen != 1 {
			t.Errorf("status %+v after %+v", after, before)
		}
	})
}
