package mailboxtest

import (
	"bytes"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/postyard/postyard/mailbox"
)

func (s *suite) testAppendAndOpen(t *testing.T) {
	_, _, mb := s.inbox(t)
	date := time.Date(2024, 2, 29, 13, 14, 15, 0, time.FixedZone("", -5*3600))
	// Raw bytes are kept: 8-bit text, a long line, trailing spaces, no
	// final CRLF.
	raw := message("raw") + "caf\xc3\xa9 \xff trailing  \r\n" + strings.Repeat("x", 5000) + "\r\nno final CRLF"
	m := appendMsg(t, mb, raw, &mailbox.AppendOptions{
		Flags:        mailbox.FlagSeen | mailbox.FlagDraft,
		Keywords:     []string{"$Forwarded", "Work"},
		InternalDate: date,
	})
	if m.UID == 0 || m.ModSeq == 0 || m.Size != int64(len(raw)) || m.Flags != mailbox.FlagSeen|mailbox.FlagDraft ||
		!slices.Equal(m.Keywords, []string{"$Forwarded", "Work"}) || !sameTime(m.InternalDate, date) {
		t.Errorf("Append = %+v", m)
	}
	if got := read(t, mb, m.UID); got != raw {
		t.Fatalf("content differs: got %d bytes, want %d", len(got), len(raw))
	}
	ms := messages(t, mb, mailbox.AllUIDs(), nil)
	if len(ms) != 1 {
		t.Fatalf("Messages: %d", len(ms))
	}
	got := ms[0]
	if got.UID != m.UID || got.ModSeq != m.ModSeq || got.Size != m.Size || got.Flags != m.Flags ||
		!slices.Equal(got.Keywords, m.Keywords) || !sameTime(got.InternalDate, date) || got.Metadata != nil {
		t.Errorf("Messages = %+v, Append gave %+v", got, m)
	}
	ss := status(t, mb)
	if ss.Messages != 1 || ss.Size != m.Size || ss.Unseen != 0 || ss.UIDNext != m.UID+1 || ss.HighestModSeq != m.ModSeq {
		t.Errorf("Status = %+v", ss)
	}

	// Content: ReadAt, Seek, concurrent readers.
	c, err := mb.Open(t.Context(), m.UID)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 10)
	if n, err := c.ReadAt(buf, 6); n != 10 || err != nil || string(buf) != raw[6:16] {
		t.Errorf("ReadAt = %q, %v", buf[:n], err)
	}
	if n, err := c.ReadAt(buf, m.Size-5); n != 5 || err != io.EOF && err != nil {
		t.Errorf("ReadAt at end = %d, %v", n, err)
	}
	if off, err := c.Seek(-13, io.SeekEnd); err != nil || off != m.Size-13 {
		t.Errorf("Seek = %d, %v", off, err)
	}
	if rest, _ := io.ReadAll(c); string(rest) != "no final CRLF" {
		t.Errorf("after Seek read %q", rest)
	}
	c2, err := mb.Open(t.Context(), m.UID)
	if err != nil {
		t.Fatal(err)
	}
	// A Content stays readable after the message is expunged.
	update(t, mb, mailbox.UIDSetOf(m.UID), mailbox.FlagUpdate{Op: mailbox.FlagsAdd, Flags: mailbox.FlagDeleted})
	expunge(t, mb, mailbox.AllUIDs())
	if b, err := io.ReadAll(c2); err != nil || string(b) != raw {
		t.Errorf("read after expunge: %d bytes, %v", len(b), err)
	}
	c.Close()
	c2.Close()
	_, err = mb.Open(t.Context(), m.UID)
	wantErr(t, "Open expunged", err, mailbox.ErrNoSuchMessage)
	_, err = mb.Open(t.Context(), 999)
	wantErr(t, "Open unknown", err, mailbox.ErrNoSuchMessage)

	// Zero internal date means now; flags beyond the system flags are
	// dropped; an empty message is a message.
	before := time.Now().Add(-time.Second)
	m = appendMsg(t, mb, "", &mailbox.AppendOptions{Flags: 0xff})
	if m.Size != 0 || m.InternalDate.Before(before) || m.InternalDate.After(time.Now().Add(time.Second)) || m.Flags != mailbox.AllFlags {
		t.Errorf("Append empty = %+v", m)
	}
	if got := read(t, mb, m.UID); got != "" {
		t.Errorf("empty message read %q", got)
	}
	_, err = mb.Append(t.Context(), strings.NewReader("x"), &mailbox.AppendOptions{Keywords: []string{`\Seen`}})
	wantErr(t, "Append with keyword \\Seen", err, mailbox.ErrInvalidName)
}

func (s *suite) testAppendFails(t *testing.T) {
	_, _, mb := s.inbox(t)
	appendN(t, mb, 1)
	before := status(t, mb)
	_, err := mb.Append(t.Context(), &failingReader{n: 100000}, nil)
	wantErr(t, "Append from failing reader", err, errRead)
	after := status(t, mb)
	if after.Messages != 1 || after.Size != before.Size {
		t.Errorf("failed append left something: %+v", after)
	}
	if ms := messages(t, mb, mailbox.AllUIDs(), nil); len(ms) != 1 {
		t.Errorf("failed append: %d messages", len(ms))
	}
}

func (s *suite) testUIDMonotonic(t *testing.T) {
	_, u, mb := s.inbox(t)
	uids := appendN(t, mb, 5)
	for i := 1; i < len(uids); i++ {
		if uids[i] <= uids[i-1] {
			t.Fatalf("UIDs not ascending: %v", uids)
		}
	}
	// Expunging the newest messages does not make their UIDs reusable.
	update(t, mb, mailbox.UIDSetOf(uids[3], uids[4]), mailbox.FlagUpdate{Op: mailbox.FlagsAdd, Flags: mailbox.FlagDeleted})
	expunge(t, mb, mailbox.AllUIDs())
	next := status(t, mb).UIDNext
	if next <= uids[4] {
		t.Fatalf("UIDNEXT %d after expunging UID %d", next, uids[4])
	}
	m := appendMsg(t, mb, message("six"), nil)
	if m.UID < next || m.UID <= uids[4] {
		t.Fatalf("new UID %d, UIDNEXT was %d, last expunged %d", m.UID, next, uids[4])
	}
	// Another session sees the same UIDs.
	other := open(t, u, mailbox.Inbox, nil)
	want := []mailbox.UID{uids[0], uids[1], uids[2], m.UID}
	if got := uidsOf(messages(t, other, mailbox.AllUIDs(), nil)); !equalUIDs(got, want) {
		t.Errorf("UIDs = %v, want %v", got, want)
	}
	// Deleting and recreating a mailbox starts UIDs again under a new
	// UIDVALIDITY.
	create(t, u, "Box")
	box := open(t, u, "Box", nil)
	appendN(t, box, 3)
	v := box.UIDValidity()
	if err := u.Delete(t.Context(), "Box"); err != nil {
		t.Fatal(err)
	}
	create(t, u, "Box")
	box = open(t, u, "Box", nil)
	if box.UIDValidity() == v {
		t.Errorf("recreated mailbox kept UIDVALIDITY %d", v)
	}
}

func (s *suite) testModSeq(t *testing.T) {
	_, _, mb := s.inbox(t)
	hi := status(t, mb).HighestModSeq
	if hi < 1 {
		t.Fatalf("HIGHESTMODSEQ %d", hi)
	}
	// Each append raises HIGHESTMODSEQ and the message gets it.
	var uids []mailbox.UID
	for i := range 3 {
		m := appendMsg(t, mb, message("m"+string(rune('a'+i))), nil)
		if m.ModSeq <= hi {
			t.Fatalf("append MODSEQ %d not above %d", m.ModSeq, hi)
		}
		hi = m.ModSeq
		if got := status(t, mb).HighestModSeq; got != hi {
			t.Fatalf("HIGHESTMODSEQ %d, last append %d", got, hi)
		}
		uids = append(uids, m.UID)
	}
	// A flag change gives the changed messages a new MODSEQ.
	res := update(t, mb, mailbox.UIDSetOf(uids[0], uids[2]), mailbox.FlagUpdate{Op: mailbox.FlagsAdd, Flags: mailbox.FlagSeen})
	if len(res.Messages) != 2 || !res.Modified.IsEmpty() {
		t.Fatalf("UpdateFlags = %+v", res)
	}
	for _, m := range res.Messages {
		if m.ModSeq <= hi || m.Flags != mailbox.FlagSeen {
			t.Errorf("updated %+v, previous HIGHESTMODSEQ %d", m, hi)
		}
	}
	newHi := status(t, mb).HighestModSeq
	if newHi < res.Messages[1].ModSeq || newHi <= hi {
		t.Fatalf("HIGHESTMODSEQ %d after update to %d", newHi, res.Messages[1].ModSeq)
	}
	// CHANGEDSINCE lists exactly the changed messages.
	if got := uidsOf(messages(t, mb, mailbox.AllUIDs(), &mailbox.FetchOptions{ChangedSince: hi})); !equalUIDs(got, []mailbox.UID{uids[0], uids[2]}) {
		t.Errorf("ChangedSince %d = %v", hi, got)
	}
	hi = newHi
	// The result reports every message in the set, changed or not.
	res = update(t, mb, mailbox.AllUIDs(), mailbox.FlagUpdate{Op: mailbox.FlagsAdd, Flags: mailbox.FlagSeen})
	if len(res.Messages) != 3 || res.Messages[0].ModSeq > hi || res.Messages[1].ModSeq <= hi {
		t.Errorf("update of all: %+v (HIGHESTMODSEQ was %d)", res.Messages, hi)
	}
	if got := messages(t, mb, mailbox.AllUIDs(), &mailbox.FetchOptions{ChangedSince: status(t, mb).HighestModSeq}); len(got) != 0 {
		t.Errorf("ChangedSince HIGHESTMODSEQ = %v", uidsOf(got))
	}
	hi = status(t, mb).HighestModSeq
	res = update(t, mb, mailbox.UIDSetOf(uids[0]), mailbox.FlagUpdate{Op: mailbox.FlagsAdd, Flags: mailbox.FlagSeen})
	if res.Messages[0].ModSeq > hi || status(t, mb).HighestModSeq != hi {
		t.Errorf("no-op update changed MODSEQ: %+v, HIGHESTMODSEQ was %d", res.Messages[0], hi)
	}
	// An expunge raises HIGHESTMODSEQ (RFC 7162 §3.2.10) and is reported
	// by Expunged.
	update(t, mb, mailbox.UIDSetOf(uids[1]), mailbox.FlagUpdate{Op: mailbox.FlagsAdd, Flags: mailbox.FlagDeleted})
	hi = status(t, mb).HighestModSeq
	expunge(t, mb, mailbox.AllUIDs())
	if got := status(t, mb).HighestModSeq; got <= hi {
		t.Errorf("HIGHESTMODSEQ %d after expunge, was %d", got, hi)
	}
	gone, err := mb.Expunged(t.Context(), mailbox.AllUIDs(), hi)
	if err != nil || !gone.Contains(uids[1]) || gone.Contains(uids[0]) || gone.Contains(uids[2]) {
		t.Errorf("Expunged since %d = %v, %v", hi, gone, err)
	}
}

func (s *suite) testUnchangedSince(t *testing.T) {
	_, _, mb := s.inbox(t)
	uids := appendN(t, mb, 3)
	ms := messages(t, mb, mailbox.AllUIDs(), nil)
	// Change message 2 so that it is newer than the others.
	update(t, mb, mailbox.UIDSetOf(uids[1]), mailbox.FlagUpdate{Op: mailbox.FlagsAdd, Flags: mailbox.FlagFlagged})
	since := ms[2].ModSeq // after all appends, before the flag change
	res := update(t, mb, mailbox.AllUIDs(), mailbox.FlagUpdate{
		Op: mailbox.FlagsAdd, Flags: mailbox.FlagSeen, Conditional: true, UnchangedSince: since,
	})
	if got := uidsOf(ptrs(res.Messages)); !equalUIDs(got, []mailbox.UID{uids[0], uids[2]}) {
		t.Errorf("updated %v, want %v", got, []mailbox.UID{uids[0], uids[2]})
	}
	if !res.Modified.Contains(uids[1]) || res.Modified.Contains(uids[0]) || res.Modified.Contains(uids[2]) {
		t.Errorf("Modified = %v, want %d", res.Modified, uids[1])
	}
	after := messages(t, mb, mailbox.UIDSetOf(uids[1]), nil)
	if after[0].Flags != mailbox.FlagFlagged {
		t.Errorf("modified message was changed: %+v", after[0])
	}
	// UNCHANGEDSINCE 0 fails for every message (RFC 7162 §3.1.3).
	res = update(t, mb, mailbox.AllUIDs(), mailbox.FlagUpdate{Op: mailbox.FlagsAdd, Flags: mailbox.FlagAnswered, Conditional: true})
	if len(res.Messages) != 0 || len(slices.Collect(res.Modified.Normalize().All())) != 3 {
		t.Errorf("UNCHANGEDSINCE 0: %+v", res)
	}
}

func ptrs(ms []mailbox.Message) []*mailbox.Message {
	out := make([]*mailbox.Message, len(ms))
	for i := range ms {
		out[i] = &ms[i]
	}
	return out
}

func (s *suite) testFlags(t *testing.T) {
	_, u, mb := s.inbox(t)
	uids := appendN(t, mb, 3)
	set := mailbox.UIDSetOf(uids...)
	step := func(op mailbox.FlagOp, f mailbox.Flags, want ...mailbox.Flags) {
		t.Helper()
		res := update(t, mb, set, mailbox.FlagUpdate{Op: op, Flags: f})
		for i, m := range res.Messages {
			if m.Flags != want[i] {
				t.Errorf("op %d %v: UID %d has %v, want %v", op, f, m.UID, m.Flags, want[i])
			}
		}
		for i, m := range messages(t, mb, set, nil) {
			if m.Flags != want[i] {
				t.Errorf("op %d %v: listed UID %d has %v, want %v", op, f, m.UID, m.Flags, want[i])
			}
		}
	}
	sd := mailbox.FlagSeen | mailbox.FlagDeleted
	step(mailbox.FlagsAdd, mailbox.FlagSeen, mailbox.FlagSeen, mailbox.FlagSeen, mailbox.FlagSeen)
	step(mailbox.FlagsAdd, mailbox.FlagDeleted, sd, sd, sd)
	step(mailbox.FlagsRemove, mailbox.FlagSeen|mailbox.FlagDraft, mailbox.FlagDeleted, mailbox.FlagDeleted, mailbox.FlagDeleted)
	step(mailbox.FlagsReplace, mailbox.FlagAnswered|mailbox.FlagFlagged|mailbox.FlagDraft,
		mailbox.FlagAnswered|mailbox.FlagFlagged|mailbox.FlagDraft, mailbox.FlagAnswered|mailbox.FlagFlagged|mailbox.FlagDraft, mailbox.FlagAnswered|mailbox.FlagFlagged|mailbox.FlagDraft)
	step(mailbox.FlagsReplace, 0, 0, 0, 0)
	// Only the messages in the set change; unknown UIDs are skipped.
	res := update(t, mb, ranges(uids[1], uids[1], uids[2]+1, uids[2]+100), mailbox.FlagUpdate{Op: mailbox.FlagsAdd, Flags: mailbox.FlagSeen | mailbox.FlagDeleted})
	if len(res.Messages) != 1 || res.Messages[0].UID != uids[1] {
		t.Errorf("update of UID %d and unknown UIDs: %+v", uids[1], res.Messages)
	}
	// Another session sees the change; STATUS counts it.
	ss, err := u.Status(t.Context(), mailbox.Inbox)
	if err != nil || ss.Unseen != 2 || ss.Deleted != 1 || ss.Messages != 3 {
		t.Errorf("Status = %+v, %v; want 2 unseen, 1 deleted", ss, err)
	}
	for _, name := range []string{`\seen`, `\ANSWERED`, `\Flagged`, `\Deleted`, `\Draft`} {
		if _, ok := mailbox.ParseFlag(name); !ok {
			t.Errorf("ParseFlag(%s) failed", name)
		}
	}
	if _, ok := mailbox.ParseFlag(`\Recent`); ok {
		t.Error(`\Recent parsed as a stored flag`)
	}
	// An empty set changes nothing.
	if res := update(t, mb, nil, mailbox.FlagUpdate{Op: mailbox.FlagsReplace}); len(res.Messages) != 0 {
		t.Errorf("update of empty set: %+v", res)
	}
}

func (s *suite) testKeywords(t *testing.T) {
	_, _, mb := s.inbox(t)
	m := appendMsg(t, mb, message("k"), &mailbox.AppendOptions{Keywords: []string{"Work", "$label1", "work", "$Junk"}})
	if !slices.Equal(m.Keywords, []string{"$Junk", "$label1", "Work"}) {
		t.Errorf("Append keywords = %q", m.Keywords)
	}
	set := mailbox.UIDSetOf(m.UID)
	kw := func(op mailbox.FlagOp, kws []string, want ...string) {
		t.Helper()
		res := update(t, mb, set, mailbox.FlagUpdate{Op: op, Keywords: kws})
		if got := res.Messages[0].Keywords; !slices.Equal(got, want) {
			t.Errorf("op %d %q: keywords %q, want %q", op, kws, got, want)
		}
		if got := messages(t, mb, set, nil)[0].Keywords; !slices.Equal(got, want) {
			t.Errorf("op %d %q: listed keywords %q, want %q", op, kws, got, want)
		}
	}
	// Keywords compare case-insensitively; the first spelling stays.
	kw(mailbox.FlagsAdd, []string{"WORK", "$LABEL1", "Later"}, "$Junk", "$label1", "Later", "Work")
	kw(mailbox.FlagsRemove, []string{"$junk", "later", "absent"}, "$label1", "Work")
	kw(mailbox.FlagsReplace, []string{"b", "A", "a"}, "A", "b")
	kw(mailbox.FlagsReplace, nil)
	// Status lists the keywords in use (IMAP FLAGS).
	kw(mailbox.FlagsAdd, []string{"$Forwarded"}, "$Forwarded")
	ss := status(t, mb)
	if !slices.ContainsFunc(ss.Keywords, func(k string) bool { return strings.EqualFold(k, "$Forwarded") }) {
		t.Errorf("Status.Keywords = %q, missing $Forwarded", ss.Keywords)
	}
	for _, bad := range []string{"", `\Seen`, "a b", "a(b", "a{b", "a%b", "a*b", `a"b`, "a]b", "é", strings.Repeat("k", 256)} {
		_, err := mb.UpdateFlags(t.Context(), set, &mailbox.FlagUpdate{Op: mailbox.FlagsAdd, Keywords: []string{bad}})
		wantErr(t, "keyword "+bad, err, mailbox.ErrInvalidName)
	}
	// A failed update changed nothing.
	if got := messages(t, mb, set, nil)[0].Keywords; !slices.Equal(got, []string{"$Forwarded"}) {
		t.Errorf("keywords after failed update: %q", got)
	}
}

func (s *suite) testExpunge(t *testing.T) {
	_, u, mb := s.inbox(t)
	uids := appendN(t, mb, 6)
	// Nothing without \Deleted is expunged.
	if gone := expunge(t, mb, mailbox.AllUIDs()); !gone.IsEmpty() {
		t.Fatalf("expunged %v without \\Deleted", gone)
	}
	update(t, mb, mailbox.UIDSetOf(uids[0], uids[2], uids[3], uids[5]), mailbox.FlagUpdate{Op: mailbox.FlagsAdd, Flags: mailbox.FlagDeleted})
	hi := status(t, mb).HighestModSeq
	// UID EXPUNGE removes only the \Deleted messages in its set
	// (RFC 4315 §2.1).
	gone := expunge(t, mb, ranges(uids[1], uids[3]))
	if got := slices.Collect(gone.All()); !equalUIDs(got, []mailbox.UID{uids[2], uids[3]}) {
		t.Errorf("UID EXPUNGE %d:%d removed %v", uids[1], uids[3], got)
	}
	other := open(t, u, mailbox.Inbox, nil)
	if got := uidsOf(messages(t, other, mailbox.AllUIDs(), nil)); !equalUIDs(got, []mailbox.UID{uids[0], uids[1], uids[4], uids[5]}) {
		t.Errorf("after UID EXPUNGE: %v", got)
	}
	hi2 := status(t, mb).HighestModSeq
	gone = expunge(t, mb, mailbox.AllUIDs())
	if got := slices.Collect(gone.All()); !equalUIDs(got, []mailbox.UID{uids[0], uids[5]}) {
		t.Errorf("EXPUNGE removed %v", got)
	}
	ss := status(t, mb)
	if ss.Messages != 2 || ss.Deleted != 0 {
		t.Errorf("Status after expunge = %+v", ss)
	}
	// QRESYNC: expunged since a MODSEQ. A superset is allowed, but never a
	// present message, and never fewer.
	check := func(since mailbox.ModSeq, want ...mailbox.UID) {
		t.Helper()
		got, err := other.Expunged(t.Context(), mailbox.AllUIDs(), since)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range want {
			if !got.Contains(w) {
				t.Errorf("Expunged since %d = %v, missing %d", since, got, w)
			}
		}
		for _, present := range []mailbox.UID{uids[1], uids[4]} {
			if got.Contains(present) {
				t.Errorf("Expunged since %d = %v contains present UID %d", since, got, present)
			}
		}
		if got.Contains(ss.UIDNext) {
			t.Errorf("Expunged since %d = %v contains UIDNEXT", since, got)
		}
	}
	check(0, uids[0], uids[2], uids[3], uids[5])
	check(hi, uids[0], uids[2], uids[3], uids[5])
	check(hi2, uids[0], uids[5])
	// Restricted to a set.
	got, err := other.Expunged(t.Context(), mailbox.UIDSetOf(uids[2]), 0)
	if err != nil || got.Contains(uids[3]) || !got.Contains(uids[2]) {
		t.Errorf("Expunged in {%d} = %v, %v", uids[2], got, err)
	}
}

func (s *suite) testCopy(t *testing.T) {
	_, u, mb := s.inbox(t)
	create(t, u, "Archive")
	dest := open(t, u, "Archive", nil)
	appendN(t, dest, 2) // the destination's UIDs are not the source's
	date := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	var uids []mailbox.UID
	for i := range 5 {
		m := appendMsg(t, mb, message("copy "+string(rune('a'+i))), &mailbox.AppendOptions{
			Flags: mailbox.Flags(i) & mailbox.AllFlags, Keywords: []string{"k" + string(rune('a'+i))}, InternalDate: date.Add(time.Duration(i) * time.Hour),
		})
		uids = append(uids, m.UID)
	}
	srcBefore := status(t, mb)
	// A set in any order, with UIDs that do not exist.
	set := ranges(uids[4], uids[3], uids[0], uids[0], uids[4]+1, uids[4]+10)
	res, err := mb.Copy(t.Context(), set, "Archive")
	if err != nil {
		t.Fatalf("Copy: %v", err)
	}
	if res.UIDValidity != dest.UIDValidity() {
		t.Errorf("COPYUID validity %d, destination has %d", res.UIDValidity, dest.UIDValidity())
	}
	if !equalUIDs(res.Source, []mailbox.UID{uids[0], uids[3], uids[4]}) || len(res.Dest) != 3 {
		t.Fatalf("Copy map %v -> %v", res.Source, res.Dest)
	}
	destMsgs := messages(t, dest, mailbox.AllUIDs(), nil)
	if len(destMsgs) != 5 {
		t.Fatalf("destination has %d messages", len(destMsgs))
	}
	for i := 1; i < len(res.Dest); i++ {
		if res.Dest[i] <= res.Dest[i-1] || res.Dest[0] <= destMsgs[1].UID {
			t.Fatalf("destination UIDs %v not ascending after %d", res.Dest, destMsgs[1].UID)
		}
	}
	srcMsgs := messages(t, mb, mailbox.AllUIDs(), nil)
	for i, su := range res.Source {
		src := srcMsgs[slices.Index(uids, su)]
		d := destMsgs[2+i]
		if d.UID != res.Dest[i] || d.Flags != src.Flags || !slices.Equal(d.Keywords, src.Keywords) || !sameTime(d.InternalDate, src.InternalDate) || d.Size != src.Size {
			t.Errorf("copy of %+v is %+v", src, d)
		}
		if read(t, dest, d.UID) != read(t, mb, su) {
			t.Errorf("copy of UID %d has other content", su)
		}
	}
	if after := status(t, mb); after.Messages != 5 || after.HighestModSeq != srcBefore.HighestModSeq {
		t.Errorf("source changed by Copy: %+v", after)
	}
	// UIDSets built from the map correspond (COPYUID).
	if a, b := mailbox.UIDSetOf(res.Source...), mailbox.UIDSetOf(res.Dest...); len(slices.Collect(a.All())) != len(slices.Collect(b.All())) {
		t.Errorf("COPYUID sets %v and %v differ in size", a, b)
	}
	// Copy to itself appends new messages.
	res, err = mb.Copy(t.Context(), mailbox.UIDSetOf(uids[1]), mailbox.Inbox)
	if err != nil || len(res.Dest) != 1 || res.Dest[0] <= uids[4] {
		t.Errorf("Copy to self: %+v, %v", res, err)
	}
	_, err = mb.Copy(t.Context(), mailbox.AllUIDs(), "Nope")
	wantErr(t, "Copy to missing mailbox", err, mailbox.ErrNoSuchMailbox)
	res, err = mb.Copy(t.Context(), mailbox.UIDSetOf(uids[4]+100), "Archive")
	if err != nil || len(res.Source) != 0 || len(res.Dest) != 0 {
		t.Errorf("Copy of nothing: %+v, %v", res, err)
	}
	// Copying from a read-only mailbox is allowed.
	ro := open(t, u, mailbox.Inbox, &mailbox.OpenOptions{ReadOnly: true})
	if _, err := ro.Copy(t.Context(), mailbox.UIDSetOf(uids[0]), "Archive"); err != nil {
		t.Errorf("Copy from read-only: %v", err)
	}
}

func (s *suite) testMove(t *testing.T) {
	_, u, mb := s.inbox(t)
	create(t, u, "Trash")
	uids := appendN(t, mb, 4)
	update(t, mb, mailbox.UIDSetOf(uids[1]), mailbox.FlagUpdate{Op: mailbox.FlagsAdd, Flags: mailbox.FlagFlagged, Keywords: []string{"$Important"}})
	raw := read(t, mb, uids[1])
	hi := status(t, mb).HighestModSeq
	res, err := mb.Move(t.Context(), mailbox.UIDSetOf(uids[1], uids[2]), "Trash")
	if err != nil {
		t.Fatalf("Move: %v", err)
	}
	if !equalUIDs(res.Source, []mailbox.UID{uids[1], uids[2]}) || len(res.Dest) != 2 {
		t.Fatalf("Move map %v -> %v", res.Source, res.Dest)
	}
	if got := uidsOf(messages(t, mb, mailbox.AllUIDs(), nil)); !equalUIDs(got, []mailbox.UID{uids[0], uids[3]}) {
		t.Errorf("source after move: %v", got)
	}
	gone, err := mb.Expunged(t.Context(), mailbox.AllUIDs(), hi)
	if err != nil || !gone.Contains(uids[1]) || !gone.Contains(uids[2]) {
		t.Errorf("Expunged after move = %v, %v", gone, err)
	}
	trash := open(t, u, "Trash", nil)
	if trash.UIDValidity() != res.UIDValidity {
		t.Errorf("Move UIDVALIDITY %d, Trash has %d", res.UIDValidity, trash.UIDValidity())
	}
	ms := messages(t, trash, mailbox.AllUIDs(), nil)
	if len(ms) != 2 || ms[0].UID != res.Dest[0] || ms[0].Flags != mailbox.FlagFlagged || !slices.Equal(ms[0].Keywords, []string{"$Important"}) {
		t.Fatalf("moved messages: %+v", ms)
	}
	if read(t, trash, res.Dest[0]) != raw {
		t.Error("moved content differs")
	}
	_, err = mb.Move(t.Context(), mailbox.AllUIDs(), "Nope")
	wantErr(t, "Move to missing mailbox", err, mailbox.ErrNoSuchMailbox)
	if n := status(t, mb).Messages; n != 2 {
		t.Errorf("failed Move removed messages: %d left", n)
	}
	// Move to the same mailbox gives the messages new UIDs.
	res, err = mb.Move(t.Context(), mailbox.UIDSetOf(uids[0]), mailbox.Inbox)
	if err != nil || len(res.Dest) != 1 || res.Dest[0] <= uids[3] {
		t.Fatalf("Move to self: %+v, %v", res, err)
	}
	if got := uidsOf(messages(t, mb, mailbox.AllUIDs(), nil)); !equalUIDs(got, []mailbox.UID{uids[3], res.Dest[0]}) {
		t.Errorf("after move to self: %v", got)
	}
}

func (s *suite) testMessages(t *testing.T) {
	_, _, mb := s.inbox(t)
	uids := appendN(t, mb, 600) // more than one batch of a chunking store
	// Subsets, in any order, with UIDs that do not exist.
	set := ranges(uids[599]+5, uids[598], uids[10], uids[12], uids[0], uids[0])
	want := []mailbox.UID{uids[0], uids[10], uids[11], uids[12], uids[598], uids[599]}
	if got := uidsOf(messages(t, mb, set, nil)); !equalUIDs(got, want) {
		t.Errorf("Messages(%v) = %v, want %v", set, got, want)
	}
	if got := messages(t, mb, nil, nil); len(got) != 0 {
		t.Errorf("Messages(empty set) = %d messages", len(got))
	}
	// Stopping early is fine; changing the mailbox while iterating does
	// not yield a message twice.
	n := 0
	for range mb.Messages(t.Context(), mailbox.AllUIDs(), nil) {
		if n++; n == 3 {
			break
		}
	}
	seen := map[mailbox.UID]bool{}
	var last mailbox.UID
	i := 0
	for m, err := range mb.Messages(t.Context(), mailbox.AllUIDs(), nil) {
		if err != nil {
			t.Fatal(err)
		}
		if seen[m.UID] || m.UID <= last {
			t.Fatalf("UID %d yielded twice or out of order (after %d)", m.UID, last)
		}
		seen[m.UID], last = true, m.UID
		if i++; i%100 == 0 {
			appendMsg(t, mb, message("during iteration"), nil)
			update(t, mb, mailbox.UIDSetOf(uids[0], uids[599]), mailbox.FlagUpdate{Op: mailbox.FlagsReplace, Flags: mailbox.Flags(i / 100)})
		}
	}
	for _, u := range uids {
		if !seen[u] {
			t.Fatalf("UID %d present all along was not yielded", u)
		}
	}
}

func (s *suite) testMetadata(t *testing.T) {
	_, _, mb := s.inbox(t)
	raw := "From: =?utf-8?q?J=C3=B6rg?= <jorg@example.org>\r\n" +
		"To: a@example.com, Group: b@example.com;\r\n" +
		"Subject: =?iso-8859-1?q?Gr=FC=DFe?=\r\n" +
		"Date: Tue, 03 Jan 2006 10:00:00 +0100\r\n" +
		"Message-ID: <meta@example.org>\r\n" +
		"Content-Type: multipart/mixed; boundary=X\r\n" +
		"\r\n" +
		"--X\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n" +
		"\r\n" +
		"Hallo\r\n" +
		"--X\r\n" +
		"Content-Type: application/pdf; name=a.pdf\r\n" +
		"Content-Transfer-Encoding: base64\r\n" +
		"Content-Disposition: attachment; filename=a.pdf\r\n" +
		"\r\n" +
		"JVBERi0=\r\n" +
		"--X--\r\n"
	m := appendMsg(t, mb, raw, nil)
	ms := messages(t, mb, mailbox.UIDSetOf(m.UID), &mailbox.FetchOptions{Metadata: mailbox.MetadataAll})
	md := ms[0].Metadata
	if md == nil {
		t.Fatal("no Metadata")
	}
	// The store caches what Parse says about the raw bytes.
	want, err := mailbox.Parse(strings.NewReader(raw), nil)
	if err != nil {
		t.Fatal(err)
	}
	if md.Envelope.Subject != want.Envelope.Subject || md.Envelope.MessageID != "<meta@example.org>" || len(md.Envelope.To) != 4 ||
		!md.Date.Equal(want.Date) || !slices.Equal(md.Header("Subject"), []string{"Grüße"}) {
		t.Errorf("Metadata envelope %+v date %v subject %q", md.Envelope, md.Date, md.Header("Subject"))
	}
	b := md.Body
	if b.Type != "multipart" || len(b.Parts) != 2 || b.End != int64(len(raw)) || b.Parts[1].Encoding != "BASE64" || b.Parts[1].Disposition != "attachment" {
		t.Fatalf("Body = %+v", b)
	}
	p := b.Parts[0]
	if got := raw[p.BodyOffset:p.End]; got != "Hallo" || p.Lines != 1 {
		t.Errorf("part 1 body %q, %d lines", got, p.Lines)
	}
	c, err := mb.Open(t.Context(), m.UID)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, b.Parts[1].Size)
	if _, err := c.ReadAt(buf, b.Parts[1].BodyOffset); err != nil || !bytes.Equal(buf, []byte("JVBERi0=")) {
		t.Errorf("part 2 by ReadAt = %q, %v", buf, err)
	}
	// Asking for one part gives that part as the whole Metadata has it.
	for _, p := range []mailbox.MetadataParts{mailbox.MetadataEnvelope, mailbox.MetadataBody, mailbox.MetadataDate, mailbox.MetadataFields} {
		got := messages(t, mb, mailbox.UIDSetOf(m.UID), &mailbox.FetchOptions{Metadata: p})[0].Metadata
		var ok bool
		switch {
		case got == nil:
		case p == mailbox.MetadataEnvelope:
			ok = reflect.DeepEqual(got.Envelope, md.Envelope)
		case p == mailbox.MetadataBody:
			ok = reflect.DeepEqual(got.Body, md.Body)
		case p == mailbox.MetadataDate:
			ok = got.Date.Equal(md.Date)
		case p == mailbox.MetadataFields:
			ok = reflect.DeepEqual(got.Fields, md.Fields)
		}
		if !ok {
			t.Errorf("Metadata part %d: %+v, want that part of %+v", p, got, md)
		}
	}
	if m := messages(t, mb, mailbox.UIDSetOf(m.UID), nil)[0]; m.Metadata != nil {
		t.Errorf("Metadata without asking: %+v", m.Metadata)
	}
}

// testMetadataReuse lists messages of different structure with
// FetchOptions.Reuse, copying what it keeps inside the loop, and checks
// that each is what a listing without Reuse gives.
func (s *suite) testMetadataReuse(t *testing.T) {
	_, _, mb := s.inbox(t)
	for i := range 600 { // more than one chunk of a listing
		raw := message(fmt.Sprintf("reuse %d", i))
		switch i % 3 {
		case 1:
			raw = fmt.Sprintf("From: a%d@example.org\r\nTo: b@example.org, c%d@example.net\r\nSubject: two parts %d\r\n"+
				"Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\none\r\n"+
				"--B\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>two</p>\r\n--B--\r\n", i, i, i)
		case 2:
			raw = fmt.Sprintf("Subject: bare %d\r\n\r\nno From, no To\r\n", i)
		}
		appendMsg(t, mb, raw, &mailbox.AppendOptions{Keywords: []string{fmt.Sprintf("k%d", i%4)}})
	}
	type summary struct {
		uid                mailbox.UID
		keywords, subject  string
		from, parts, field string
		end                int64
	}
	sum := func(m *mailbox.Message) summary {
		md := m.Metadata
		x := summary{uid: m.UID, keywords: strings.Join(m.Keywords, " "), subject: strings.Clone(md.Envelope.Subject), end: md.Body.End}
		for _, a := range md.Envelope.From {
			x.from += a.Mailbox + "@" + a.Host + " "
		}
		md.Body.Walk(func(sec []int, p *mailbox.Part) bool {
			x.parts += fmt.Sprint(sec, p.Type, "/", p.Subtype, p.Params, p.BodyOffset, " ")
			return true
		})
		for _, f := range md.Fields {
			x.field += f.Name + ": " + f.Value + "\n"
		}
		return x
	}
	var want, got []summary
	for m, err := range mb.Messages(t.Context(), mailbox.AllUIDs(), &mailbox.FetchOptions{Metadata: mailbox.MetadataAll}) {
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, sum(m))
	}
	for m, err := range mb.Messages(t.Context(), mailbox.AllUIDs(), &mailbox.FetchOptions{Metadata: mailbox.MetadataAll, Reuse: true}) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, sum(m))
	}
	if !slices.Equal(got, want) {
		for i := range min(len(got), len(want)) {
			if got[i] != want[i] {
				t.Fatalf("with Reuse, message %d is %+v, want %+v", i, got[i], want[i])
			}
		}
		t.Fatalf("with Reuse, %d messages, want %d", len(got), len(want))
	}
}

func (s *suite) testReadOnly(t *testing.T) {
	_, u, mb := s.inbox(t)
	create(t, u, "Other")
	uids := appendN(t, mb, 2)
	update(t, mb, mailbox.UIDSetOf(uids[0]), mailbox.FlagUpdate{Op: mailbox.FlagsAdd, Flags: mailbox.FlagDeleted})
	ro := open(t, u, mailbox.Inbox, &mailbox.OpenOptions{ReadOnly: true})
	_, err := ro.Append(t.Context(), strings.NewReader(message("ro")), nil)
	wantErr(t, "Append", err, mailbox.ErrReadOnly)
	_, err = ro.UpdateFlags(t.Context(), mailbox.AllUIDs(), &mailbox.FlagUpdate{Op: mailbox.FlagsAdd, Flags: mailbox.FlagSeen})
	wantErr(t, "UpdateFlags", err, mailbox.ErrReadOnly)
	_, err = ro.Expunge(t.Context(), mailbox.AllUIDs())
	wantErr(t, "Expunge", err, mailbox.ErrReadOnly)
	_, err = ro.Move(t.Context(), mailbox.AllUIDs(), "Other")
	wantErr(t, "Move", err, mailbox.ErrReadOnly)
	if ms := messages(t, ro, mailbox.AllUIDs(), nil); len(ms) != 2 || ms[0].Flags != mailbox.FlagDeleted {
		t.Errorf("read-only view: %+v", ms)
	}
	if read(t, ro, uids[1]) != message("message 2") {
		t.Error("read-only Open content differs")
	}
}

func (s *suite) testExclusive(t *testing.T) {
	_, u, _ := s.inbox(t)
	pop := open(t, u, mailbox.Inbox, &mailbox.OpenOptions{Exclusive: true})
	_, err := u.Open(t.Context(), mailbox.Inbox, &mailbox.OpenOptions{Exclusive: true})
	wantErr(t, "second exclusive Open", err, mailbox.ErrLocked)
	if e := mailbox.AsError(err); e == nil || e.POP3 != "IN-USE" || !e.Temporary {
		t.Errorf("ErrLocked codes: %+v", e)
	}
	// Non-exclusive sessions (IMAP) are not blocked, and other mailboxes
	// and users have their own locks.
	imap := open(t, u, mailbox.Inbox, nil)
	appendN(t, imap, 1)
	create(t, u, "Other")
	open(t, u, "Other", &mailbox.OpenOptions{Exclusive: true})
	if err := pop.Close(); err != nil {
		t.Fatal(err)
	}
	if err := pop.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	again := open(t, u, mailbox.Inbox, &mailbox.OpenOptions{Exclusive: true})
	if n := status(t, again).Messages; n != 1 {
		t.Errorf("exclusive session sees %d messages", n)
	}
}
