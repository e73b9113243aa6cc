package mailboxtest

import (
	"context"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/postyard/postyard/mailbox"
)

func watch(t *testing.T, mb mailbox.Mailbox) *mailbox.Subscription {
	t.Helper()
	sub, err := mb.Watch(t.Context())
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	t.Cleanup(sub.Close)
	return sub
}

// ev is the part of an event the tests compare.
type ev struct {
	Kind  mailbox.EventKind
	UID   mailbox.UID
	Flags mailbox.Flags
}

// take returns the pending events (queued before the changes returned)
// and checks that their MODSEQs do not decrease.
func take(t *testing.T, sub *mailbox.Subscription) []ev {
	t.Helper()
	var out []ev
	var last mailbox.ModSeq
	for _, e := range sub.Events() {
		if e.Kind != mailbox.EventGone && e.Kind != mailbox.EventOverflow {
			if e.ModSeq < last || e.ModSeq == 0 {
				t.Errorf("event %+v: MODSEQ after %d", e, last)
			}
			last = e.ModSeq
		}
		out = append(out, ev{e.Kind, e.UID, e.Flags})
	}
	return out
}

func wantEvents(t *testing.T, what string, sub *mailbox.Subscription, want ...ev) {
	t.Helper()
	if got := take(t, sub); !slices.Equal(got, want) {
		t.Fatalf("%s: events %+v, want %+v", what, got, want)
	}
}

func (s *suite) testEvents(t *testing.T) {
	st, u, mb := s.inbox(t)
	create(t, u, "Other")
	watcher := open(t, u, mailbox.Inbox, nil)
	sub := watch(t, watcher)
	own := watch(t, mb) // the changer's own subscription sees its changes too
	otherSub := watch(t, open(t, u, "Other", nil))

	m := appendMsg(t, mb, message("new"), &mailbox.AppendOptions{Flags: mailbox.FlagDraft})
	wantEvents(t, "append", sub, ev{mailbox.EventNew, m.UID, mailbox.FlagDraft})
	wantEvents(t, "append (own)", own, ev{mailbox.EventNew, m.UID, mailbox.FlagDraft})

	update(t, mb, mailbox.UIDSetOf(m.UID), mailbox.FlagUpdate{Op: mailbox.FlagsAdd, Flags: mailbox.FlagSeen, Keywords: []string{"$Seen2"}})
	evs := sub.Events()
	if len(evs) != 1 || evs[0].Kind != mailbox.EventFlags || evs[0].Flags != mailbox.FlagDraft|mailbox.FlagSeen ||
		!slices.Equal(evs[0].Keywords, []string{"$Seen2"}) || evs[0].ModSeq <= m.ModSeq {
		t.Fatalf("flag events %+v", evs)
	}
	// A change that changes nothing has no event.
	update(t, mb, mailbox.UIDSetOf(m.UID), mailbox.FlagUpdate{Op: mailbox.FlagsAdd, Flags: mailbox.FlagSeen})
	wantEvents(t, "no-op update", sub)

	m2 := appendMsg(t, mb, message("second"), nil)
	take(t, sub)
	res, err := mb.Move(t.Context(), mailbox.UIDSetOf(m.UID), "Other")
	if err != nil {
		t.Fatal(err)
	}
	wantEvents(t, "move (source)", sub, ev{mailbox.EventExpunge, m.UID, 0})
	wantEvents(t, "move (destination)", otherSub, ev{mailbox.EventNew, res.Dest[0], mailbox.FlagDraft | mailbox.FlagSeen})
	res, err = mb.Copy(t.Context(), mailbox.UIDSetOf(m2.UID), "Other")
	if err != nil {
		t.Fatal(err)
	}
	wantEvents(t, "copy (source)", sub)
	wantEvents(t, "copy (destination)", otherSub, ev{mailbox.EventNew, res.Dest[0], 0})

	update(t, mb, mailbox.UIDSetOf(m2.UID), mailbox.FlagUpdate{Op: mailbox.FlagsAdd, Flags: mailbox.FlagDeleted})
	take(t, sub)
	expunge(t, mb, mailbox.AllUIDs())
	wantEvents(t, "expunge", sub, ev{mailbox.EventExpunge, m2.UID, 0})

	errs, err := st.Deliver(t.Context(), strings.NewReader(message("delivered")), []mailbox.Recipient{{User: "alice"}})
	if err != nil || errs[0] != nil {
		t.Fatalf("Deliver: %v %v", err, errs)
	}
	evs = sub.Events()
	if len(evs) != 1 || evs[0].Kind != mailbox.EventNew || evs[0].UID <= m2.UID {
		t.Fatalf("delivery events %+v", evs)
	}
	take(t, own)
	wantEvents(t, "other mailbox", otherSub)

	// A closed subscription gets nothing more; closing the Mailbox ends
	// the subscriptions made through it.
	sub.Close()
	appendN(t, mb, 1)
	wantEvents(t, "closed subscription", sub)
	if err := sub.Err(); err == nil {
		t.Error("Err of closed subscription is nil")
	}
	take(t, own)
	if err := mb.Close(); err != nil {
		t.Fatal(err)
	}
	take(t, own)
	if _, err := own.Wait(t.Context()); err == nil {
		t.Error("Wait on subscription of closed Mailbox returned no error")
	}
}

func (s *suite) testEventsWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, u, mb := s.inbox(t)
		sub := watch(t, open(t, u, mailbox.Inbox, nil))
		type result struct {
			evs []mailbox.Event
			err error
		}
		got := make(chan result, 1)
		go func() {
			evs, err := sub.Wait(t.Context())
			got <- result{evs, err}
		}()
		synctest.Wait()
		select {
		case r := <-got:
			t.Fatalf("Wait returned %+v before any change", r)
		default:
		}
		m := appendMsg(t, mb, message("wake"), nil)
		synctest.Wait()
		select {
		case r := <-got:
			if r.err != nil || len(r.evs) != 1 || r.evs[0].UID != m.UID {
				t.Fatalf("Wait = %+v", r)
			}
		default:
			t.Fatal("Wait did not return after an append")
		}

		// Ready wakes a select loop (IMAP IDLE).
		appendN(t, mb, 1)
		select {
		case <-sub.Ready():
		default:
			t.Fatal("Ready not signalled")
		}
		if evs := sub.Events(); len(evs) != 1 {
			t.Fatalf("Events after Ready = %+v", evs)
		}

		// Wait honours its context's deadline (in the bubble's time).
		ctx, cancel := context.WithTimeout(t.Context(), 29*time.Minute)
		defer cancel()
		start := time.Now()
		evs, err := sub.Wait(ctx)
		if err != context.DeadlineExceeded || evs != nil || time.Since(start) != 29*time.Minute {
			t.Fatalf("Wait with deadline = %v, %v after %v", evs, err, time.Since(start))
		}
	})
}

func (s *suite) testEventsGone(t *testing.T) {
	st, u, _ := s.inbox(t)
	create(t, u, "Box")
	box := open(t, u, "Box", nil)
	sub := watch(t, box)
	inboxSub := watch(t, open(t, u, mailbox.Inbox, nil))
	if err := u.Delete(t.Context(), "Box"); err != nil {
		t.Fatal(err)
	}
	wantEvents(t, "delete", sub, ev{Kind: mailbox.EventGone})
	if _, err := sub.Wait(t.Context()); err == nil {
		t.Error("Wait after EventGone returned no error")
	}
	_, err := box.Watch(t.Context())
	wantErr(t, "Watch deleted mailbox", err, mailbox.ErrNoSuchMailbox)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	evs := take(t, inboxSub)
	if len(evs) == 0 || evs[len(evs)-1].Kind != mailbox.EventGone {
		t.Errorf("events after store Close: %+v", evs)
	}
}

func (s *suite) testEventsOverflow(t *testing.T) {
	_, u, mb := s.inbox(t)
	uids := appendN(t, mb, 100)
	watcher := open(t, u, mailbox.Inbox, nil)
	sub := watch(t, watcher)
	known := status(t, watcher).HighestModSeq
	// 5000 events for a subscriber that does not read: the store must
	// not block, and the subscriber must be able to catch up.
	for i := range 50 {
		op := mailbox.FlagsAdd
		if i%2 == 1 {
			op = mailbox.FlagsRemove
		}
		update(t, mb, mailbox.AllUIDs(), mailbox.FlagUpdate{Op: op, Flags: mailbox.FlagSeen})
	}
	evs := sub.Events()
	if len(evs) == 0 {
		t.Fatal("no events")
	}
	if evs[0].Kind == mailbox.EventOverflow {
		// Resync the CONDSTORE way.
		changed := messages(t, watcher, mailbox.AllUIDs(), &mailbox.FetchOptions{ChangedSince: known})
		if len(changed) != len(uids) {
			t.Fatalf("resync after overflow: %d changed messages, want %d", len(changed), len(uids))
		}
		for _, m := range changed {
			if m.Flags != 0 {
				t.Fatalf("resync: %+v, want no flags", m)
			}
		}
		return
	}
	if len(evs) != 5000 {
		t.Fatalf("got %d events, want 5000 or an overflow", len(evs))
	}
}
