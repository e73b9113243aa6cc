package mailbox_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/postyard/postyard/mailbox"
)

func TestUIDSet(t *testing.T) {
	var s mailbox.UIDSet
	for _, u := range []mailbox.UID{1, 2, 3, 7, 5, 6, 10, 0, 4} {
		s.Add(u)
	}
	if s.String() != "1:7,10" {
		t.Errorf("set %v", s)
	}
	s.AddRange(20, 15)
	s.AddRange(11, 14)
	if s.String() != "1:7,10:20" {
		t.Errorf("set %v", s)
	}
	raw := mailbox.UIDSet{{Start: 9, Stop: 3}, {Start: 0, Stop: 0}, {Start: 1, Stop: 1}, {Start: 10, Stop: 12}, {Start: mailbox.MaxUID, Stop: 100}}
	if got := raw.Normalize().String(); got != "1,3:12,100:4294967295" {
		t.Errorf("Normalize = %s", got)
	}
	for u, want := range map[mailbox.UID]bool{0: false, 1: true, 2: false, 3: true, 9: true, 13: false, 100: true, mailbox.MaxUID: true} {
		if raw.Contains(u) != want {
			t.Errorf("Contains(%d) = %v", u, !want)
		}
	}
	if !(mailbox.UIDSet{}).IsEmpty() || !(mailbox.UIDSet{{}}).IsEmpty() || raw.IsEmpty() {
		t.Error("IsEmpty")
	}
	if got := slices.Collect(mailbox.UIDSetOf(5, 1, 2, mailbox.MaxUID).All()); !slices.Equal(got, []mailbox.UID{1, 2, 5, mailbox.MaxUID}) {
		t.Errorf("All = %v", got)
	}
	if mailbox.AllUIDs().String() != "1:4294967295" {
		t.Error("AllUIDs")
	}
	if (mailbox.UIDSet(nil)).Normalize() != nil {
		t.Error("Normalize of nil")
	}
}

func TestFlags(t *testing.T) {
	f := mailbox.FlagSeen | mailbox.FlagDeleted
	if f.String() != `\Seen \Deleted` || mailbox.Flags(0).String() != "" {
		t.Errorf("String = %q", f.String())
	}
	for _, n := range mailbox.AllFlags.Names() {
		if g, ok := mailbox.ParseFlag(strings.ToUpper(n)); !ok || g.String() != n {
			t.Errorf("ParseFlag(%s)", n)
		}
	}
	for _, c := range []struct {
		op       mailbox.FlagOp
		cur      mailbox.Flags
		curKw    []string
		flags    mailbox.Flags
		kws      []string
		want     mailbox.Flags
		wantKw   []string
		wantDiff bool
	}{
		{mailbox.FlagsAdd, 0, nil, mailbox.FlagSeen, nil, mailbox.FlagSeen, nil, true},
		{mailbox.FlagsAdd, mailbox.FlagSeen, []string{"A"}, mailbox.FlagSeen, []string{"a"}, mailbox.FlagSeen, []string{"A"}, false},
		{mailbox.FlagsAdd, 0, []string{"b"}, 0, []string{"a", "C"}, 0, []string{"a", "b", "C"}, true},
		{mailbox.FlagsRemove, mailbox.FlagSeen, []string{"a", "B"}, mailbox.FlagDraft, []string{"b"}, mailbox.FlagSeen, []string{"a"}, true},
		{mailbox.FlagsRemove, 0, []string{"a"}, 0, []string{"z"}, 0, []string{"a"}, false},
		{mailbox.FlagsRemove, 0, []string{"a"}, 0, []string{"A"}, 0, nil, true},
		{mailbox.FlagsReplace, mailbox.FlagSeen, []string{"a"}, mailbox.FlagDraft, []string{"a"}, mailbox.FlagDraft, []string{"a"}, true},
		{mailbox.FlagsReplace, mailbox.FlagSeen, []string{"a"}, mailbox.FlagSeen, []string{"a"}, mailbox.FlagSeen, []string{"a"}, false},
		{mailbox.FlagsReplace, 0, nil, 0xff, nil, mailbox.AllFlags, nil, true},
	} {
		curKw := slices.Clone(c.curKw)
		f, kw, diff := c.op.Apply(c.cur, curKw, c.flags, c.kws)
		if f != c.want || !slices.Equal(kw, c.wantKw) || diff != c.wantDiff {
			t.Errorf("%d.Apply(%v %q, %v %q) = %v %q %v, want %v %q %v", c.op, c.cur, c.curKw, c.flags, c.kws, f, kw, diff, c.want, c.wantKw, c.wantDiff)
		}
		if !slices.Equal(curKw, c.curKw) {
			t.Errorf("Apply modified its input: %q", curKw)
		}
	}
}

func TestKeywords(t *testing.T) {
	got, err := mailbox.NormalizeKeywords([]string{"b", "$A", "B", "a", "$a"})
	if err != nil || !slices.Equal(got, []string{"$A", "a", "b"}) {
		t.Errorf("NormalizeKeywords = %q, %v", got, err)
	}
	for _, kw := range []string{"", `\Seen`, "a b", "a\x00", "ü", "a)", strings.Repeat("a", 256)} {
		if mailbox.ValidKeyword(kw) {
			t.Errorf("ValidKeyword(%q) = true", kw)
		}
		if _, err := mailbox.NormalizeKeywords([]string{"ok", kw}); !errors.Is(err, mailbox.ErrInvalidName) {
			t.Errorf("NormalizeKeywords(%q) error %v", kw, err)
		}
	}
	for _, kw := range []string{"$Forwarded", "$MDNSent", "NonJunk", "a.b-c_d", strings.Repeat("a", 255)} {
		if !mailbox.ValidKeyword(kw) {
			t.Errorf("ValidKeyword(%q) = false", kw)
		}
	}
}

func TestNames(t *testing.T) {
	for in, want := range map[string]string{"inbox": "INBOX", "InBox": "INBOX", "Inbox/Sub": "Inbox/Sub", "a/b": "a/b", "Ü ber": "Ü ber"} {
		if got, err := mailbox.CleanName(in); got != want || err != nil {
			t.Errorf("CleanName(%q) = %q, %v", in, got, err)
		}
	}
	deep := strings.Repeat("a/", mailbox.MaxNameDepth) + "a"
	for _, bad := range []string{"", "/", "a/", "/a", "a//b", ".", "a/..", "a\tb", "\u0085", strings.Repeat("a", mailbox.MaxNameLen+1), deep, "\xff"} {
		if _, err := mailbox.CleanName(bad); !errors.Is(err, mailbox.ErrInvalidName) {
			t.Errorf("CleanName(%q) error %v", bad, err)
		}
	}
	if !mailbox.IsInferior("a/b", "a") || mailbox.IsInferior("ab", "a") || mailbox.IsInferior("a", "a") {
		t.Error("IsInferior")
	}
	for name, want := range map[string]bool{"alice": true, "alice@example.org": true, "ünï": true, "": false, "..": false, "a/b": false, "a\\b": false, "a\nb": false, strings.Repeat("u", 256): false} {
		if mailbox.ValidUserName(name) != want {
			t.Errorf("ValidUserName(%q) = %v", name, !want)
		}
	}
	if u, ok := mailbox.ParseSpecialUse(`\sent`); !ok || u != mailbox.Sent {
		t.Error("ParseSpecialUse")
	}
	if _, ok := mailbox.ParseSpecialUse(`\All`); ok {
		t.Error(`\All accepted`)
	}
}

func TestErrors(t *testing.T) {
	err := fmt.Errorf("store: append: %w", mailbox.ErrOverQuota)
	e := mailbox.AsError(err)
	if e != mailbox.ErrOverQuota || e.SMTPCode != 552 || e.SMTPEnhanced != "5.2.2" || e.IMAP != "OVERQUOTA" {
		t.Errorf("AsError = %+v", e)
	}
	if mailbox.AsError(errors.New("disk on fire")) != nil {
		t.Error("AsError of an internal error")
	}
	if !strings.Contains(mailbox.ErrLocked.Error(), "in use") {
		t.Error(mailbox.ErrLocked.Error())
	}
}

func TestHub(t *testing.T) {
	h := &mailbox.Hub{MaxPending: 3}
	a, b := h.Subscribe(), h.Subscribe()
	if h.Len() != 2 {
		t.Fatalf("Len %d", h.Len())
	}
	h.Publish(mailbox.Event{Kind: mailbox.EventNew, UID: 1, ModSeq: 2})
	select {
	case <-a.Ready():
	default:
		t.Fatal("not ready")
	}
	if evs := a.Events(); len(evs) != 1 || evs[0].UID != 1 {
		t.Fatalf("events %+v", evs)
	}
	if a.Events() != nil {
		t.Fatal("events taken twice")
	}
	// b fell behind: its queue collapses into one overflow, and events
	// until it drains are dropped.
	h.Publish(mailbox.Event{Kind: mailbox.EventFlags, UID: 1, ModSeq: 3}, mailbox.Event{Kind: mailbox.EventFlags, UID: 1, ModSeq: 4})
	h.Publish(mailbox.Event{Kind: mailbox.EventExpunge, UID: 1, ModSeq: 5})
	if evs := b.Events(); len(evs) != 1 || evs[0].Kind != mailbox.EventOverflow {
		t.Fatalf("overflowed events %+v", evs)
	}
	if evs := a.Events(); len(evs) != 3 {
		t.Fatalf("a's events %+v", evs)
	}
	h.Publish(mailbox.Event{Kind: mailbox.EventNew, UID: 2, ModSeq: 6})
	if evs := b.Events(); len(evs) != 1 || evs[0].UID != 2 {
		t.Fatalf("events after overflow %+v", evs)
	}
	a.Close()
	a.Close()
	if h.Len() != 1 || a.Err() == nil {
		t.Fatalf("after Close: Len %d, Err %v", h.Len(), a.Err())
	}
	h.Publish(mailbox.Event{Kind: mailbox.EventNew, UID: 3, ModSeq: 7})
	h.Close()
	evs := b.Events()
	if len(evs) != 2 || evs[1].Kind != mailbox.EventGone || b.Err() == nil {
		t.Fatalf("after hub Close: %+v, %v", evs, b.Err())
	}
	if _, err := b.Wait(t.Context()); !errors.Is(err, mailbox.ErrClosed) {
		t.Errorf("Wait after end: %v", err)
	}
	c := h.Subscribe()
	if evs := c.Events(); len(evs) != 1 || evs[0].Kind != mailbox.EventGone {
		t.Errorf("subscription on closed hub: %+v", evs)
	}
	for k := range mailbox.EventGone + 2 {
		if k.String() == "" {
			t.Errorf("EventKind(%d) has no name", k)
		}
	}
	// Unlimited queue.
	u := &mailbox.Hub{MaxPending: -1}
	s := u.Subscribe()
	for i := range 10000 {
		u.Publish(mailbox.Event{Kind: mailbox.EventNew, UID: mailbox.UID(i + 1)})
	}
	if n := len(s.Events()); n != 10000 {
		t.Errorf("unlimited hub kept %d events", n)
	}
}

func TestQuotaAllows(t *testing.T) {
	u := mailbox.QuotaUsage{Quota: mailbox.Quota{MaxBytes: 100, MaxMessages: 2}, Bytes: 90, Messages: 1}
	if !u.Allows(1, 10) || u.Allows(1, 11) || u.Allows(2, 1) {
		t.Error("Allows with limits")
	}
	if !(mailbox.QuotaUsage{Bytes: 1 << 40, Messages: 1 << 30}).Allows(1, 1<<40) {
		t.Error("no limit refused")
	}
}

func TestPartWalkStops(t *testing.T) {
	m := parse(t, "Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n\r\na\r\n--x\r\n\r\nb\r\n--x--\r\n", nil)
	n := 0
	m.Body.Walk(func([]int, *mailbox.Part) bool { n++; return n < 2 })
	if n != 2 {
		t.Errorf("Walk visited %d parts after stop", n)
	}
	if !m.Body.IsMultipart() || m.Body.Parts[0].IsMultipart() {
		t.Error("IsMultipart")
	}
}
