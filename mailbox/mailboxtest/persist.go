package mailboxtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/postyard/postyard/mailbox"
)

func (s *suite) testClosed(t *testing.T) {
	st, u, mb := s.inbox(t)
	appendN(t, mb, 1)
	sub := watch(t, mb)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	_, err := st.User(t.Context(), "alice")
	wantErr(t, "User after Close", err, mailbox.ErrClosed)
	_, err = mb.Status(t.Context())
	wantErr(t, "Status after Close", err, mailbox.ErrClosed)
	_, err = mb.Append(t.Context(), strings.NewReader(message("late")), nil)
	wantErr(t, "Append after Close", err, mailbox.ErrClosed)
	_, err = u.List(t.Context())
	wantErr(t, "List after Close", err, mailbox.ErrClosed)
	_, err = st.Deliver(t.Context(), strings.NewReader(message("late")), []mailbox.Recipient{{User: "alice"}})
	wantErr(t, "Deliver after Close", err, mailbox.ErrClosed)
	wantEvents(t, "store closed", sub, ev{Kind: mailbox.EventGone})
	if e := mailbox.AsError(err); e == nil || !e.Temporary {
		t.Errorf("ErrClosed is not temporary: %+v", e)
	}
	// Closing a Mailbox after its store is fine.
	if err := mb.Close(); err != nil {
		t.Errorf("Mailbox Close after store Close: %v", err)
	}
}

func (s *suite) testCanceled(t *testing.T) {
	st, u, mb := s.inbox(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := mb.Append(ctx, strings.NewReader(message("x")), nil)
	wantErr(t, "Append", err, context.Canceled)
	_, err = st.User(ctx, "alice")
	wantErr(t, "User", err, context.Canceled)
	wantErr(t, "Create", u.Create(ctx, "X", nil), context.Canceled)
	for _, err := range mb.Messages(ctx, mailbox.AllUIDs(), nil) {
		wantErr(t, "Messages", err, context.Canceled)
	}
	if n := status(t, mb).Messages; n != 0 {
		t.Errorf("canceled Append stored a message")
	}
	if ns := names(t, u); len(ns) != 1 {
		t.Errorf("canceled Create made a mailbox: %q", ns)
	}
}

// snapshot is what must survive a restart.
type snapshot struct {
	list   []mailbox.MailboxInfo
	subs   []string
	quota  mailbox.QuotaUsage
	status map[string]*mailbox.Status
	msgs   map[string][]*mailbox.Message
	raw    map[string][]string
}

func takeSnapshot(t *testing.T, u mailbox.User) *snapshot {
	t.Helper()
	sn := &snapshot{status: map[string]*mailbox.Status{}, msgs: map[string][]*mailbox.Message{}, raw: map[string][]string{}}
	var err error
	if sn.list, err = u.List(t.Context()); err != nil {
		t.Fatal(err)
	}
	if sn.subs, err = u.Subscriptions(t.Context()); err != nil {
		t.Fatal(err)
	}
	sn.quota = usage(t, u)
	for _, mi := range sn.list {
		mb := open(t, u, mi.Name, nil)
		sn.status[mi.Name] = status(t, mb)
		sn.msgs[mi.Name] = messages(t, mb, mailbox.AllUIDs(), &mailbox.FetchOptions{Metadata: mailbox.MetadataAll})
		for _, m := range sn.msgs[mi.Name] {
			sn.raw[mi.Name] = append(sn.raw[mi.Name], read(t, mb, m.UID))
		}
		mb.Close()
	}
	return sn
}

func compareSnapshots(t *testing.T, before, after *snapshot) {
	t.Helper()
	if !slices.Equal(before.list, after.list) || !slices.Equal(before.subs, after.subs) || before.quota != after.quota {
		t.Fatalf("after reopen: list %+v subs %q quota %+v; before %+v %q %+v", after.list, after.subs, after.quota, before.list, before.subs, before.quota)
	}
	for name, b := range before.status {
		a := after.status[name]
		if a.UIDValidity != b.UIDValidity || a.UIDNext != b.UIDNext || a.HighestModSeq < b.HighestModSeq ||
			a.Messages != b.Messages || a.Size != b.Size || a.Unseen != b.Unseen || a.SpecialUse != b.SpecialUse {
			t.Errorf("%s after reopen: %+v, before %+v", name, a, b)
		}
		bm, am := before.msgs[name], after.msgs[name]
		if len(am) != len(bm) {
			t.Fatalf("%s: %d messages after reopen, %d before", name, len(am), len(bm))
		}
		for i := range bm {
			x, y := bm[i], am[i]
			if x.UID != y.UID || x.ModSeq != y.ModSeq || x.Flags != y.Flags || !slices.Equal(x.Keywords, y.Keywords) ||
				!sameTime(x.InternalDate, y.InternalDate) || x.Size != y.Size || y.Metadata == nil ||
				y.Metadata.Envelope.Subject != x.Metadata.Envelope.Subject || y.Metadata.Body.End != x.Metadata.Body.End {
				t.Errorf("%s message %d after reopen: %+v, before %+v", name, i, y, x)
			}
			if after.raw[name][i] != before.raw[name][i] {
				t.Errorf("%s UID %d: content changed by reopen", name, x.UID)
			}
		}
	}
}

func (s *suite) testReopen(t *testing.T) {
	if s.opts.Reopen == nil {
		t.Skip("store is not persistent (no Options.Reopen)")
	}
	st := s.store(t)
	u := user(t, st, "alice")
	inbox := open(t, u, mailbox.Inbox, nil)
	date := time.Date(2022, 12, 31, 23, 59, 59, 0, time.UTC)
	uids := []mailbox.UID{
		appendMsg(t, inbox, message("one"), &mailbox.AppendOptions{Flags: mailbox.FlagSeen | mailbox.FlagAnswered, Keywords: []string{"$Forwarded", "Work"}, InternalDate: date}).UID,
		appendMsg(t, inbox, message("two"), &mailbox.AppendOptions{Flags: mailbox.FlagDeleted}).UID,
		appendMsg(t, inbox, message("three"), &mailbox.AppendOptions{Flags: mailbox.FlagDraft | mailbox.FlagFlagged}).UID,
	}
	expunge(t, inbox, mailbox.AllUIDs())
	update(t, inbox, mailbox.UIDSetOf(uids[2]), mailbox.FlagUpdate{Op: mailbox.FlagsReplace, Flags: mailbox.FlagSeen, Keywords: []string{"$Label1"}})
	if err := u.Create(t.Context(), "Work/Old", &mailbox.CreateOptions{SpecialUse: mailbox.Archive}); err != nil {
		t.Fatal(err)
	}
	if _, err := inbox.Copy(t.Context(), mailbox.UIDSetOf(uids[0]), "Work/Old"); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"Work", "Gone"} {
		if err := u.Subscribe(t.Context(), n); err != nil {
			t.Fatal(err)
		}
	}
	setQuota(t, u, mailbox.Quota{MaxBytes: 1 << 20, MaxMessages: 100})
	create(t, u, "Box")
	oldValidity := open(t, u, "Box", nil).UIDValidity()
	if err := u.Delete(t.Context(), "Box"); err != nil {
		t.Fatal(err)
	}
	hi := status(t, inbox).HighestModSeq
	before := takeSnapshot(t, u)
	inbox.Close()

	st = s.reopen(t, st)
	u = user(t, st, "alice")
	compareSnapshots(t, before, takeSnapshot(t, u))

	inbox = open(t, u, mailbox.Inbox, nil)
	m := appendMsg(t, inbox, message("after reopen"), nil)
	if m.UID != before.status[mailbox.Inbox].UIDNext || m.ModSeq <= hi {
		t.Errorf("append after reopen: UID %d MODSEQ %d; UIDNEXT was %d, HIGHESTMODSEQ %d", m.UID, m.ModSeq, before.status[mailbox.Inbox].UIDNext, hi)
	}
	gone, err := inbox.Expunged(t.Context(), mailbox.AllUIDs(), 0)
	if err != nil || !gone.Contains(uids[1]) || gone.Contains(uids[0]) {
		t.Errorf("Expunged after reopen = %v, %v", gone, err)
	}
	create(t, u, "Box")
	if v := open(t, u, "Box", nil).UIDValidity(); v == oldValidity {
		t.Errorf("mailbox recreated after reopen reuses UIDVALIDITY %d", v)
	}
}

func (s *suite) testReopenAfterExpunge(t *testing.T) {
	if s.opts.Reopen == nil {
		t.Skip("store is not persistent (no Options.Reopen)")
	}
	st, _, mb := s.inbox(t)
	uids := appendN(t, mb, 3)
	update(t, mb, mailbox.UIDSetOf(uids[1], uids[2]), mailbox.FlagUpdate{Op: mailbox.FlagsAdd, Flags: mailbox.FlagDeleted})
	expunge(t, mb, mailbox.AllUIDs())
	next := status(t, mb).UIDNext
	mb.Close()
	st = s.reopen(t, st)
	mb = open(t, user(t, st, "alice"), mailbox.Inbox, nil)
	// UIDNEXT is not derived from the highest UID present.
	if got := status(t, mb).UIDNext; got != next {
		t.Errorf("UIDNEXT after reopen %d, was %d", got, next)
	}
	if m := appendMsg(t, mb, message("new"), nil); m.UID <= uids[2] {
		t.Errorf("UID %d reused after reopen", m.UID)
	}
	// Reopening twice in a row is fine.
	st = s.reopen(t, st)
	if n := status(t, open(t, user(t, st, "alice"), mailbox.Inbox, nil)).Messages; n != 2 {
		t.Errorf("%d messages after second reopen", n)
	}
}

// bigMessage is a deterministic message of exactly size bytes: a header,
// then 64-byte lines "L<10-digit number><51 letters>\r\n".
type bigMessage struct {
	off, size int64
}

const bigHeader = "From: big@example.org\r\nSubject: large\r\n\r\n"

// line returns the bytes of the header or body line holding off, and
// where that line starts.
func (g *bigMessage) line(off int64, buf *[64]byte) ([]byte, int64) {
	if off < int64(len(bigHeader)) {
		return []byte(bigHeader), 0
	}
	k := (off - int64(len(bigHeader))) / 64
	buf[0] = 'L'
	d := k
	for j := 10; j >= 1; j-- {
		buf[j] = byte('0' + d%10)
		d /= 10
	}
	for j := 11; j < 62; j++ {
		buf[j] = byte('a' + k%26)
	}
	buf[62], buf[63] = '\r', '\n'
	return buf[:], int64(len(bigHeader)) + k*64
}

func (g *bigMessage) Read(p []byte) (int, error) {
	if g.off >= g.size {
		return 0, io.EOF
	}
	var buf [64]byte
	n := 0
	for n < len(p) && g.off < g.size {
		line, start := g.line(g.off, &buf)
		c := copy(p[n:], line[g.off-start:min(int64(len(line)), g.size-start)])
		n += c
		g.off += int64(c)
	}
	return n, nil
}

func (s *suite) testLargeMessage(t *testing.T) {
	size := s.opts.LargeMessageSize
	if size < 0 {
		t.Skip("Options.LargeMessageSize < 0")
	}
	_, _, mb := s.inbox(t)
	var ms0, ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	m, err := mb.Append(t.Context(), &bigMessage{size: size}, nil)
	runtime.ReadMemStats(&ms1)
	if err != nil {
		t.Fatalf("Append of %d bytes: %v", size, err)
	}
	if alloc := int64(ms1.TotalAlloc - ms0.TotalAlloc); s.opts.MaxAppendAlloc > 0 && alloc > s.opts.MaxAppendAlloc {
		t.Errorf("Append of %d bytes allocated %d bytes, limit %d: the message is not streamed", size, alloc, s.opts.MaxAppendAlloc)
	}
	if m.Size != size {
		t.Fatalf("Size %d, want %d", m.Size, size)
	}
	want := sha256.New()
	io.Copy(want, &bigMessage{size: size})
	c, err := mb.Open(t.Context(), m.UID)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got := sha256.New()
	if n, err := io.Copy(got, c); err != nil || n != size {
		t.Fatalf("read %d bytes, %v", n, err)
	}
	if string(got.Sum(nil)) != string(want.Sum(nil)) {
		t.Fatal("content differs")
	}
	for _, off := range []int64{0, size / 3, size - 100} {
		buf, want := make([]byte, 100), make([]byte, 100)
		if _, err := c.ReadAt(buf, off); err != nil && err != io.EOF {
			t.Fatal(err)
		}
		io.ReadFull(&bigMessage{off: off, size: size}, want)
		if !bytes.Equal(buf, want) {
			t.Fatalf("ReadAt(%d) = %q, want %q", off, buf, want)
		}
	}
	md := messages(t, mb, mailbox.UIDSetOf(m.UID), &mailbox.FetchOptions{Metadata: mailbox.MetadataAll})[0].Metadata
	if md == nil || md.Body.End != size || md.Body.BodyOffset != int64(len(bigHeader)) || md.Envelope.Subject != "large" {
		t.Errorf("metadata of large message: %+v", md)
	}
}
