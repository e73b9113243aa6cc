package mailboxtest

import (
	"strings"
	"testing"
	"time"

	"github.com/postyard/postyard/mailbox"
)

func setQuota(t *testing.T, u mailbox.User, q mailbox.Quota) {
	t.Helper()
	if err := u.SetQuota(t.Context(), q); err != nil {
		t.Fatalf("SetQuota: %v", err)
	}
}

func usage(t *testing.T, u mailbox.User) mailbox.QuotaUsage {
	t.Helper()
	q, err := u.Quota(t.Context())
	if err != nil {
		t.Fatalf("Quota: %v", err)
	}
	return q
}

func wantOverQuota(t *testing.T, what string, err error) {
	t.Helper()
	wantErr(t, what, err, mailbox.ErrOverQuota)
	e := mailbox.AsError(err)
	if e == nil || e.SMTPCode != 552 || e.SMTPEnhanced != "5.2.2" || e.IMAP != "OVERQUOTA" {
		t.Errorf("%s: ErrOverQuota codes %+v", what, e)
	}
}

func (s *suite) testQuota(t *testing.T) {
	_, u, mb := s.inbox(t)
	if q := usage(t, u); q.MaxBytes > 0 || q.MaxMessages > 0 || q.Messages != 0 || q.Bytes != 0 {
		t.Fatalf("new user quota %+v", q)
	}
	create(t, u, "Other")
	other := open(t, u, "Other", nil)
	small := message("q")
	setQuota(t, u, mailbox.Quota{MaxMessages: 3})
	appendMsg(t, mb, small, nil)
	uids := appendN(t, other, 2) // quota covers all mailboxes
	q := usage(t, u)
	if q.Messages != 3 || q.Bytes != int64(len(small)+len(message("message 1"))+len(message("message 2"))) || q.MaxMessages != 3 {
		t.Fatalf("usage %+v", q)
	}
	_, err := mb.Append(t.Context(), strings.NewReader(small), nil)
	wantOverQuota(t, "fourth append", err)
	if n := status(t, mb).Messages; n != 1 {
		t.Errorf("over-quota append stored something: %d messages", n)
	}
	// Expunge frees quota.
	update(t, other, mailbox.UIDSetOf(uids[0]), mailbox.FlagUpdate{Op: mailbox.FlagsAdd, Flags: mailbox.FlagDeleted})
	expunge(t, other, mailbox.AllUIDs())
	appendMsg(t, mb, small, nil)
	// So does deleting a mailbox.
	if err := u.Delete(t.Context(), "Other"); err != nil {
		t.Fatal(err)
	}
	if q := usage(t, u); q.Messages != 2 {
		t.Errorf("usage after delete %+v", q)
	}
	// A byte limit.
	setQuota(t, u, mailbox.Quota{MaxBytes: 3*int64(len(small)) + 10})
	appendMsg(t, mb, small, nil)
	_, err = mb.Append(t.Context(), strings.NewReader(small), nil)
	wantOverQuota(t, "append over byte limit", err)
	appendMsg(t, mb, "tiny", nil) // what still fits is stored
	// Lowering the limit below the usage deletes nothing.
	setQuota(t, u, mailbox.Quota{MaxMessages: 1})
	if n := status(t, mb).Messages; n != 4 {
		t.Errorf("lowering quota left %d messages", n)
	}
	_, err = mb.Append(t.Context(), strings.NewReader("x"), nil)
	wantOverQuota(t, "append over lowered limit", err)
	// No limit again. Quotas are per user.
	setQuota(t, u, mailbox.Quota{})
	appendMsg(t, mb, small, nil)
}

func (s *suite) testQuotaCopyMove(t *testing.T) {
	_, u, mb := s.inbox(t)
	create(t, u, "Archive")
	uids := appendN(t, mb, 3)
	setQuota(t, u, mailbox.Quota{MaxMessages: 4})
	_, err := mb.Copy(t.Context(), mailbox.UIDSetOf(uids...), "Archive")
	wantOverQuota(t, "Copy over quota", err)
	if ss, _ := u.Status(t.Context(), "Archive"); ss.Messages != 0 {
		t.Errorf("failed copy left %d messages", ss.Messages)
	}
	if _, err := mb.Copy(t.Context(), mailbox.UIDSetOf(uids[0]), "Archive"); err != nil {
		t.Errorf("Copy within quota: %v", err)
	}
	// At the limit, Move still works: it does not add usage.
	if _, err := mb.Move(t.Context(), mailbox.UIDSetOf(uids[1], uids[2]), "Archive"); err != nil {
		t.Errorf("Move at the quota limit: %v", err)
	}
	if q := usage(t, u); q.Messages != 4 {
		t.Errorf("usage after move %+v", q)
	}
}

func (s *suite) testDeliver(t *testing.T) {
	st := s.store(t)
	alice := user(t, st, "alice")
	create(t, alice, "Lists")
	bob := user(t, st, "bob")
	appendMsg(t, open(t, bob, mailbox.Inbox, nil), message("old"), nil)
	setQuota(t, bob, mailbox.Quota{MaxMessages: 1})
	sub := watch(t, open(t, alice, mailbox.Inbox, nil))
	date := time.Date(2023, 5, 6, 7, 8, 9, 0, time.UTC)
	raw := "Received: from mx.example by here; Sat, 6 May 2023 07:08:09 +0000\r\n" + message("delivered")
	rcpts := []mailbox.Recipient{
		{User: "alice"},
		{User: "carol"}, // a new user: created with INBOX
		{User: "alice", Mailbox: "Lists", Options: &mailbox.AppendOptions{Flags: mailbox.FlagSeen, Keywords: []string{"$List"}, InternalDate: date}},
		{User: "alice", Mailbox: "Nope"},
		{User: "bad/user"},
		{User: "bob"},
	}
	errs, err := st.Deliver(t.Context(), strings.NewReader(raw), rcpts)
	if err != nil || len(errs) != len(rcpts) {
		t.Fatalf("Deliver: %v, %d results", err, len(errs))
	}
	for i, want := range []error{nil, nil, nil, mailbox.ErrNoSuchMailbox, mailbox.ErrInvalidName, mailbox.ErrOverQuota} {
		if want == nil && errs[i] != nil {
			t.Errorf("recipient %d: %v", i, errs[i])
		} else if want != nil {
			wantErr(t, rcpts[i].User+"/"+rcpts[i].Mailbox, errs[i], want)
		}
	}
	if e := mailbox.AsError(errs[5]); e == nil || e.SMTPCode != 552 {
		t.Errorf("over quota delivery: %+v", e)
	}
	for _, c := range []struct {
		u    mailbox.User
		name string
	}{{alice, mailbox.Inbox}, {user(t, st, "carol"), mailbox.Inbox}, {alice, "Lists"}} {
		mb := open(t, c.u, c.name, nil)
		ms := messages(t, mb, mailbox.AllUIDs(), nil)
		if len(ms) != 1 || read(t, mb, ms[0].UID) != raw || ms[0].Size != int64(len(raw)) {
			t.Fatalf("%s/%s: %+v", c.u.Name(), c.name, ms)
		}
		if c.name == "Lists" && (ms[0].Flags != mailbox.FlagSeen || len(ms[0].Keywords) != 1 || !sameTime(ms[0].InternalDate, date)) {
			t.Errorf("delivery options not applied: %+v", ms[0])
		}
	}
	if evs := sub.Events(); len(evs) != 1 || evs[0].Kind != mailbox.EventNew {
		t.Errorf("delivery events %+v", evs)
	}
	// A failing reader delivers nothing.
	_, err = st.Deliver(t.Context(), &failingReader{n: 50}, rcpts[:1])
	wantErr(t, "Deliver from failing reader", err, errRead)
	if ss, _ := alice.Status(t.Context(), mailbox.Inbox); ss.Messages != 1 {
		t.Errorf("failed delivery stored something: %+v", ss)
	}
}
