package mailboxtest

import (
	"slices"
	"strings"
	"testing"

	"github.com/postyard/postyard/mailbox"
)

func names(t *testing.T, u mailbox.User) []string {
	t.Helper()
	list, err := u.List(t.Context())
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	var ns []string
	for _, mi := range list {
		ns = append(ns, mi.Name)
	}
	if !slices.IsSorted(ns) {
		t.Errorf("List not sorted: %q", ns)
	}
	return ns
}

func wantNames(t *testing.T, u mailbox.User, want ...string) {
	t.Helper()
	if got := names(t, u); !slices.Equal(got, want) {
		t.Fatalf("List = %q, want %q", got, want)
	}
}

func (s *suite) testUserAndInbox(t *testing.T) {
	st := s.store(t)
	u := user(t, st, "alice")
	if u.Name() != "alice" {
		t.Errorf("Name = %q", u.Name())
	}
	wantNames(t, u, mailbox.Inbox)
	ss, err := u.Status(t.Context(), "inbox")
	if err != nil {
		t.Fatalf("Status(inbox): %v", err)
	}
	if ss.Name != mailbox.Inbox || ss.UIDValidity == 0 || ss.UIDNext != 1 || ss.HighestModSeq < 1 || ss.Messages != 0 || ss.Size != 0 {
		t.Errorf("new INBOX status = %+v", ss)
	}
	// A second view of the same user sees the same mailboxes.
	create(t, u, "Work")
	wantNames(t, user(t, st, "alice"), mailbox.Inbox, "Work")
	// Users are separate.
	wantNames(t, user(t, st, "bob"), mailbox.Inbox)
	for _, bad := range []string{"", ".", "..", "a/b", "a\x00b", "a\\b"} {
		_, err := st.User(t.Context(), bad)
		wantErr(t, "User("+bad+")", err, mailbox.ErrInvalidName)
	}
	mb := open(t, u, "InBoX", nil)
	if mb.Name() != mailbox.Inbox || mb.UIDValidity() != ss.UIDValidity {
		t.Errorf("Open(InBoX): name %q validity %d", mb.Name(), mb.UIDValidity())
	}
}

func (s *suite) testNames(t *testing.T) {
	u := user(t, s.store(t), "alice")
	for _, bad := range []string{"", "/", "a/", "/a", "a//b", "a/./b", "a/../b", "..", "a\x01", "a\x7f", string([]byte{0xff})} {
		wantErr(t, "Create("+bad+")", u.Create(t.Context(), bad, nil), mailbox.ErrInvalidName)
		_, err := u.Open(t.Context(), bad, nil)
		wantErr(t, "Open("+bad+")", err, mailbox.ErrInvalidName)
	}
	// UTF-8 and spaces are fine; names other than INBOX are case-sensitive.
	for _, good := range []string{"Entwürfe", "日本語", "with space", "Archive", "archive", "a.b", "[Gmail]/Sent Mail"} {
		create(t, u, good)
	}
	mb := open(t, u, "Entwürfe", nil)
	if mb.Name() != "Entwürfe" {
		t.Errorf("Name = %q", mb.Name())
	}
	wantNames(t, u, "Archive", "Entwürfe", mailbox.Inbox, "[Gmail]", "[Gmail]/Sent Mail", "a.b", "archive", "with space", "日本語")
}

func (s *suite) testCreateDelete(t *testing.T) {
	u := user(t, s.store(t), "alice")
	create(t, u, "a/b/c") // parents are created (RFC 9051 §6.3.4)
	wantNames(t, u, mailbox.Inbox, "a", "a/b", "a/b/c")
	wantErr(t, "Create(a/b)", u.Create(t.Context(), "a/b", nil), mailbox.ErrMailboxExists)
	wantErr(t, "Create(inbox)", u.Create(t.Context(), "inbox", nil), mailbox.ErrMailboxExists)
	wantErr(t, "Delete(INBOX)", u.Delete(t.Context(), "INBOX"), mailbox.ErrNotAllowed)
	wantErr(t, "Delete(nope)", u.Delete(t.Context(), "nope"), mailbox.ErrNoSuchMailbox)
	_, err := u.Open(t.Context(), "nope", nil)
	wantErr(t, "Open(nope)", err, mailbox.ErrNoSuchMailbox)
	_, err = u.Status(t.Context(), "nope")
	wantErr(t, "Status(nope)", err, mailbox.ErrNoSuchMailbox)

	// Deleting a parent keeps its inferiors (RFC 9051 §6.3.5).
	mb := open(t, u, "a", nil)
	appendN(t, mb, 2)
	if err := u.Delete(t.Context(), "a"); err != nil {
		t.Fatal(err)
	}
	wantNames(t, u, mailbox.Inbox, "a/b", "a/b/c")
	_, err = mb.Status(t.Context())
	wantErr(t, "Status of deleted", err, mailbox.ErrNoSuchMailbox)
	_, err = mb.Append(t.Context(), strings.NewReader(message("late")), nil)
	wantErr(t, "Append to deleted", err, mailbox.ErrNoSuchMailbox)

	// Special use (RFC 6154).
	for _, su := range []mailbox.SpecialUse{mailbox.Sent, mailbox.Drafts, mailbox.Trash, mailbox.Junk, mailbox.Archive} {
		name := string(su[1:])
		if err := u.Create(t.Context(), name, &mailbox.CreateOptions{SpecialUse: su}); err != nil {
			t.Fatalf("Create(%s, %s): %v", name, su, err)
		}
		ss, err := u.Status(t.Context(), name)
		if err != nil || ss.SpecialUse != su {
			t.Errorf("Status(%s) = %+v, %v; want special use %s", name, ss, err, su)
		}
	}
	list, _ := u.List(t.Context())
	for _, mi := range list {
		if want := mailbox.SpecialUse(`\` + mi.Name); mi.Name != mailbox.Inbox && mi.Name[0] != 'a' && mi.SpecialUse != want {
			t.Errorf("List: %s has special use %q, want %q", mi.Name, mi.SpecialUse, want)
		}
	}
	wantErr(t, `Create \All`, u.Create(t.Context(), "All", &mailbox.CreateOptions{SpecialUse: `\All`}), mailbox.ErrNotAllowed)
	wantErr(t, `Create \Bogus`, u.Create(t.Context(), "Bogus", &mailbox.CreateOptions{SpecialUse: `\Bogus`}), mailbox.ErrNotAllowed)
}

func (s *suite) testRename(t *testing.T) {
	u := user(t, s.store(t), "alice")
	create(t, u, "a/b/c")
	create(t, u, "ab") // not an inferior of a
	mb := open(t, u, "a/b", nil)
	uids := appendN(t, mb, 3)
	before := status(t, mb)
	if err := u.Rename(t.Context(), "a/b", "x/y"); err != nil {
		t.Fatalf("Rename: %v", err)
	}
	wantNames(t, u, mailbox.Inbox, "a", "ab", "x", "x/y", "x/y/c")
	if mb.Name() != "x/y" {
		t.Errorf("open Mailbox Name after rename = %q", mb.Name())
	}
	after := status(t, mb)
	if after.UIDValidity != before.UIDValidity || after.UIDNext != before.UIDNext || after.Messages != 3 {
		t.Errorf("status after rename = %+v, before %+v", after, before)
	}
	mb2 := open(t, u, "x/y", nil)
	if got := uidsOf(messages(t, mb2, mailbox.AllUIDs(), nil)); !equalUIDs(got, uids) {
		t.Errorf("UIDs after rename = %v, want %v", got, uids)
	}
	wantErr(t, "Rename to existing", u.Rename(t.Context(), "a", "ab"), mailbox.ErrMailboxExists)
	wantErr(t, "Rename into own subtree", u.Rename(t.Context(), "x", "x/y/z"), mailbox.ErrNotAllowed)
	wantErr(t, "Rename missing", u.Rename(t.Context(), "nope", "zz"), mailbox.ErrNoSuchMailbox)
	wantErr(t, "Rename to invalid", u.Rename(t.Context(), "a", "a//"), mailbox.ErrInvalidName)
	// An inferior whose new name is taken makes the rename fail whole.
	create(t, u, "q/c")
	wantErr(t, "Rename onto inferior", u.Rename(t.Context(), "x/y", "q"), mailbox.ErrMailboxExists)
	wantNames(t, u, mailbox.Inbox, "a", "ab", "q", "q/c", "x", "x/y", "x/y/c")
	// Special use moves with the mailbox.
	if err := u.Create(t.Context(), "Sent", &mailbox.CreateOptions{SpecialUse: mailbox.Sent}); err != nil {
		t.Fatal(err)
	}
	if err := u.Rename(t.Context(), "Sent", "Sent Items"); err != nil {
		t.Fatal(err)
	}
	if ss, err := u.Status(t.Context(), "Sent Items"); err != nil || ss.SpecialUse != mailbox.Sent {
		t.Errorf("renamed Sent: %+v, %v", ss, err)
	}
}

func (s *suite) testRenameInbox(t *testing.T) {
	u := user(t, s.store(t), "alice")
	inbox := open(t, u, mailbox.Inbox, nil)
	create(t, u, "INBOX/child")
	m1 := appendMsg(t, inbox, message("one"), &mailbox.AppendOptions{Flags: mailbox.FlagSeen, Keywords: []string{"$Label1"}})
	appendMsg(t, inbox, message("two"), nil)
	before := status(t, inbox)
	if err := u.Rename(t.Context(), "inbox", "Old/Mail"); err != nil {
		t.Fatalf("Rename INBOX: %v", err)
	}
	// INBOX stays, empty, with its UIDVALIDITY and without reusing UIDs;
	// its inferiors stay too (RFC 9051 §6.3.6).
	wantNames(t, u, mailbox.Inbox, "INBOX/child", "Old", "Old/Mail")
	after := status(t, inbox)
	if after.Messages != 0 || after.UIDValidity != before.UIDValidity || after.UIDNext != before.UIDNext || after.HighestModSeq <= before.HighestModSeq {
		t.Errorf("INBOX after rename: %+v, before %+v", after, before)
	}
	if inbox.Name() != mailbox.Inbox {
		t.Errorf("open INBOX renamed to %q", inbox.Name())
	}
	old := open(t, u, "Old/Mail", nil)
	ms := messages(t, old, mailbox.AllUIDs(), nil)
	if len(ms) != 2 || old.UIDValidity() == before.UIDValidity {
		t.Fatalf("Old/Mail: %d messages, UIDVALIDITY %d (INBOX %d)", len(ms), old.UIDValidity(), before.UIDValidity)
	}
	if ms[0].Flags != mailbox.FlagSeen || !slices.Equal(ms[0].Keywords, []string{"$Label1"}) || !sameTime(ms[0].InternalDate, m1.InternalDate) {
		t.Errorf("moved message: %+v, want flags and date of %+v", ms[0], m1)
	}
	if got := read(t, old, ms[1].UID); got != message("two") {
		t.Errorf("moved content = %q", got)
	}
	appendMsg(t, inbox, message("three"), nil)
	if got := messages(t, inbox, mailbox.AllUIDs(), nil); len(got) != 1 || got[0].UID != before.UIDNext {
		t.Errorf("append to INBOX after rename: %v, want UID %d", uidsOf(got), before.UIDNext)
	}
}

func (s *suite) testSubscriptions(t *testing.T) {
	u := user(t, s.store(t), "alice")
	create(t, u, "Lists")
	for _, n := range []string{"Lists", "Nonexistent/Box", "Lists", "inbox"} {
		if err := u.Subscribe(t.Context(), n); err != nil {
			t.Fatalf("Subscribe(%q): %v", n, err)
		}
	}
	subs, err := u.Subscriptions(t.Context())
	if err != nil || !slices.Equal(subs, []string{mailbox.Inbox, "Lists", "Nonexistent/Box"}) {
		t.Fatalf("Subscriptions = %q, %v", subs, err)
	}
	list, _ := u.List(t.Context())
	for _, mi := range list {
		if !mi.Subscribed {
			t.Errorf("List: %s not marked subscribed", mi.Name)
		}
	}
	// Deleting a mailbox keeps its subscription (RFC 9051 §6.3.5).
	if err := u.Delete(t.Context(), "Lists"); err != nil {
		t.Fatal(err)
	}
	if err := u.Unsubscribe(t.Context(), "Nonexistent/Box"); err != nil {
		t.Fatal(err)
	}
	if err := u.Unsubscribe(t.Context(), "never"); err != nil {
		t.Fatalf("Unsubscribe of unsubscribed: %v", err)
	}
	subs, _ = u.Subscriptions(t.Context())
	if !slices.Equal(subs, []string{mailbox.Inbox, "Lists"}) {
		t.Errorf("Subscriptions = %q", subs)
	}
	wantErr(t, "Subscribe(a//b)", u.Subscribe(t.Context(), "a//b"), mailbox.ErrInvalidName)
}

func (s *suite) testUIDValidity(t *testing.T) {
	st := s.store(t)
	u := user(t, st, "alice")
	seen := map[uint32]string{}
	note := func(name string) {
		t.Helper()
		ss, err := u.Status(t.Context(), name)
		if err != nil {
			t.Fatal(err)
		}
		if ss.UIDValidity == 0 {
			t.Fatalf("%s: UIDVALIDITY 0", name)
		}
		if prev, ok := seen[ss.UIDValidity]; ok {
			t.Fatalf("%s: UIDVALIDITY %d already used by an earlier %s", name, ss.UIDValidity, prev)
		}
		seen[ss.UIDValidity] = name
	}
	// A mailbox deleted and created again gets a new UIDVALIDITY
	// (RFC 9051 §2.3.1.1), and so does one created with the name a
	// renamed mailbox had.
	for range 3 {
		create(t, u, "Box")
		mb := open(t, u, "Box", nil)
		appendN(t, mb, 1)
		note("Box")
		if err := u.Delete(t.Context(), "Box"); err != nil {
			t.Fatal(err)
		}
	}
	create(t, u, "Box")
	note("Box")
	if err := u.Rename(t.Context(), "Box", "Box2"); err != nil {
		t.Fatal(err)
	}
	create(t, u, "Box")
	note("Box")
	// UIDVALIDITY is stable while the mailbox exists.
	mb := open(t, u, "Box", nil)
	v := mb.UIDValidity()
	appendN(t, mb, 2)
	expunge(t, mb, mailbox.AllUIDs())
	if ss := status(t, mb); ss.UIDValidity != v {
		t.Errorf("UIDVALIDITY changed from %d to %d", v, ss.UIDValidity)
	}
}
