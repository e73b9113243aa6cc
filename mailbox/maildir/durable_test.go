package maildir

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/postyard/postyard/mailbox"
)

func durableTestMessage(i int) string {
	return fmt.Sprintf("From: a@example.org\r\nSubject: message %d\r\n\r\n%s\r\n", i, strings.Repeat(fmt.Sprintf("line %d ", i), 50))
}

// filterLog returns the index log b without the records keep rejects;
// keep gets each record's kind and its first uvarint field.
func filterLog(t *testing.T, b []byte, keep func(kind byte, v uint64) bool) []byte {
	t.Helper()
	out := []byte(indexMagic)
	for off := len(indexMagic); off < len(b); {
		n := int(binary.LittleEndian.Uint32(b[off:]))
		rec := b[off : off+8+n]
		v, _ := binary.Uvarint(rec[9:])
		if keep(rec[8], v) {
			out = append(out, rec...)
		}
		off += 8 + n
	}
	return out
}

// TestPowerLossRecovery fabricates what a power loss can leave of
// deliveries that were never acknowledged: names (and index records) of
// files in cur/ whose content did not reach the disk, zeros, garbage or
// cut short. Loading the folder must drop exactly those, keep the intact
// ones (acknowledged or not) under their UIDs, and leave a consistent
// index; and it must not read again what it has checked.
func TestPowerLossRecovery(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	st, err := Open(root, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 10; i++ {
		errs, err := st.Deliver(ctx, strings.NewReader(durableTestMessage(i)), []mailbox.Recipient{{User: "alice"}})
		if err != nil || errs[0] != nil {
			t.Fatal(err, errs)
		}
	}
	st.Close()

	dir := filepath.Join(root, "alice")
	cur := filepath.Join(dir, "cur")
	files := map[mailbox.UID]string{} // UID -> path
	ents, _ := os.ReadDir(cur)
	for _, e := range ents {
		fn, _ := parseFileName(e.Name())
		if !fn.HasSum || fn.Size != int64(len(durableTestMessage(int(fn.UID)))) {
			t.Fatalf("file name %q: no content checksum or wrong size", e.Name())
		}
		files[fn.UID] = filepath.Join(cur, e.Name())
	}
	// The index as a crash leaves it: the durable marks from UID 4 on
	// lost (the records of 4 to 8 are suspect), and the records of 9 and
	// 10 lost too (their files are in cur/ without records).
	ipath := filepath.Join(dir, indexFile)
	b, _ := os.ReadFile(ipath)
	b = filterLog(t, b, func(kind byte, v uint64) bool {
		return !(kind == recDurable && v > 4) && !(kind == recAdd && v > 8)
	})
	if err := os.WriteFile(ipath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	size := func(uid mailbox.UID) int { return len(durableTestMessage(int(uid))) }
	damage := map[mailbox.UID][]byte{
		2:  bytes.Repeat([]byte("?"), size(2)),  // before the mark: not checked, kept
		4:  make([]byte, size(4)),               // zeros
		6:  bytes.Repeat([]byte("x"), size(6)),  // garbage of the right size
		7:  []byte(durableTestMessage(7)[:10]),  // cut short
		9:  bytes.Repeat([]byte{0xa5}, size(9)), // no record, garbage
		5:  []byte(durableTestMessage(5)),       // intact, unacknowledged
		8:  []byte(durableTestMessage(8)),       // intact
		10: []byte(durableTestMessage(10)),      // intact, no record
	}
	for uid, data := range damage {
		if err := os.WriteFile(files[uid], data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// Another program's delivery without a checksum: taken as it is.
	foreign := "From: b@example.org\r\nSubject: foreign\r\n\r\nhi\r\n"
	os.WriteFile(filepath.Join(dir, "new", "1700000000.P1Q1.other"), []byte(foreign), 0o600)

	check := func(wantUIDs []mailbox.UID, content map[mailbox.UID]string) {
		t.Helper()
		st, err := Open(root, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		u, err := st.User(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		mb, err := u.Open(ctx, mailbox.Inbox, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer mb.Close()
		var uids []mailbox.UID
		for m, err := range mb.Messages(ctx, mailbox.AllUIDs(), nil) {
			if err != nil {
				t.Fatal(err)
			}
			uids = append(uids, m.UID)
			c, err := mb.Open(ctx, m.UID)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(c)
			c.Close()
			if string(got) != content[m.UID] || int64(len(got)) != m.Size {
				t.Errorf("UID %d: size %d, content %.30q, want %.30q", m.UID, m.Size, got, content[m.UID])
			}
		}
		if !slices.Equal(uids, wantUIDs) {
			t.Fatalf("UIDs %v, want %v", uids, wantUIDs)
		}
		s, err := mb.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if s.Messages != len(wantUIDs) || s.UIDNext != 12 {
			t.Errorf("status %+v", s)
		}
	}
	content := map[mailbox.UID]string{2: string(damage[2]), 11: foreign}
	for _, u := range []mailbox.UID{1, 3, 5, 8, 10} {
		content[u] = durableTestMessage(int(u))
	}
	check([]mailbox.UID{1, 2, 3, 5, 8, 10, 11}, content)
	for _, uid := range []mailbox.UID{4, 6, 7, 9} {
		if _, err := os.Stat(files[uid]); !os.IsNotExist(err) {
			t.Errorf("damaged file of UID %d still there: %v", uid, err)
		}
	}
	// The index now marks everything durable: damaging a checked file
	// afterwards is not noticed (loading does not read every message).
	var x index
	b, _ = os.ReadFile(ipath)
	if n := x.replay(b, 100); n != len(b) || x.durable != x.uidNext || x.uidNext != 12 {
		t.Fatalf("index after recovery: %d of %d bytes good, durable mark %d, UIDNEXT %d", n, len(b), x.durable, x.uidNext)
	}
	os.WriteFile(files[5], make([]byte, size(5)), 0o600)
	content[5] = string(make([]byte, size(5)))
	check([]mailbox.UID{1, 2, 3, 5, 8, 10, 11}, content)
}

// TestPending checks the bookkeeping of pending messages: the durable
// bound is the lowest pending UID, and a copy finds the file to fsync of
// a message whose delivery is not durable yet.
func TestPending(t *testing.T) {
	f := &folder{}
	fl, err := os.CreateTemp(t.TempDir(), "m")
	if err != nil {
		t.Fatal(err)
	}
	defer fl.Close()
	f.addPending(3, fl)
	f.addPending(4, nil)
	f.idx.uidNext = 5
	if f.pendingFile(3) != fl || f.pendingFile(4) != nil || f.durableBound() != 3 {
		t.Fatal("pending state wrong")
	}
	f.settle(3)
	if f.pendingFile(3) != nil || f.durableBound() != 4 {
		t.Fatal("settled message still pending")
	}
	f.settle(4)
	if f.durableBound() != 5 {
		t.Fatal("bound not UIDNEXT with nothing pending")
	}
}
