package queuetest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/postyard/postyard/queue"
)

func testHoldRelease(t *testing.T, s *suite) {
	a := s.enqueue(t, envelope(rcpt("a", "dest.example")), body)
	b := s.enqueue(t, envelope(rcpt("b", "dest.example")), body)
	for range 2 { // holding twice is fine
		if err := s.q.Hold(ctx, a); err != nil {
			t.Fatalf("Hold: %v", err)
		}
	}
	if m := s.inspect(t, a); !m.Held || m.State(time.Now()) != queue.StateHeld {
		t.Errorf("held message: Held %v, State %v", m.Held, m.State(time.Now()))
	}
	if got := s.list(t, &queue.Filter{State: queue.StateHeld}); !slices.Equal(got, []queue.ID{a}) {
		t.Errorf("List(held) = %v, want [%s]", got, a)
	}
	s.complete(t, s.leaseID(t, b), queue.Delivered(0, ""))
	s.nothingDue(t)
	time.Sleep(100 * time.Hour) // held messages do not expire while held
	s.nothingDue(t)
	for range 2 { // releasing twice is fine
		if err := s.q.Release(ctx, a); err != nil {
			t.Fatalf("Release: %v", err)
		}
	}
	s.complete(t, s.leaseID(t, a), queue.Delivered(0, ""))
	for _, f := range []func(context.Context, queue.ID) error{s.q.Hold, s.q.Release, s.q.Delete, s.q.RetryNow} {
		if err := f(ctx, a); !errors.Is(err, queue.ErrNotFound) {
			t.Errorf("admin operation on a removed message = %v, want ErrNotFound", err)
		}
	}
	// A Lease waiting for work wakes when a message is released.
	c := s.enqueue(t, envelope(rcpt("c", "dest.example")), body)
	s.q.Hold(ctx, c)
	go func() {
		time.Sleep(time.Minute)
		s.q.Release(ctx, c)
	}()
	if l, err := s.q.Lease(ctx, nil); err != nil || l.ID() != c {
		t.Errorf("Lease = %v, want %s", err, c)
	}
}

func testHoldWhileLeased(t *testing.T, s *suite) {
	id := s.enqueue(t, envelope(rcpt("a", "dest.example")), body)
	l := s.leaseID(t, id)
	if err := s.q.Hold(ctx, id); err != nil {
		t.Fatal(err)
	}
	s.complete(t, l, queue.TempFail(0, tempErr("later"), time.Time{}))
	time.Sleep(time.Hour)
	s.nothingDue(t)
	if m := s.inspect(t, id); !m.Held || m.Recipients[0].Attempts != 1 {
		t.Errorf("after Complete: Held %v, %+v", m.Held, m.Recipients[0])
	}
	s.q.Release(ctx, id)
	s.leaseID(t, id)
}

// testEnqueueHeld: Envelope.Hold enqueues on hold in the same step, and
// a durable queue keeps it held across a reopen until Release.
func testEnqueueHeld(t *testing.T, s *suite) {
	env := envelope(rcpt("a", "dest.example"))
	env.Hold = true
	id := s.enqueue(t, env, body)
	s.nothingDue(t)
	if m := s.inspect(t, id); !m.Held {
		t.Fatalf("enqueued with Hold: Held %v", m.Held)
	}
	if s.h.Reopen != nil {
		s.reopen(t)
		s.nothingDue(t)
		if m := s.inspect(t, id); !m.Held {
			t.Fatalf("after reopen: Held %v", m.Held)
		}
	}
	if err := s.q.Release(ctx, id); err != nil {
		t.Fatal(err)
	}
	if s.h.Reopen != nil {
		s.reopen(t) // released stays released
	}
	s.complete(t, s.leaseID(t, id), queue.Delivered(0, ""))
}

func testDelete(t *testing.T, s *suite) {
	a := s.enqueue(t, envelope(rcpt("a", "dest.example")), body)
	b := s.enqueue(t, envelope(rcpt("b", "dest.example")), body)
	l := s.leaseID(t, a)
	if err := s.q.Delete(ctx, a); err != nil {
		t.Fatal(err)
	}
	s.gone(t, a)
	if err := s.q.Complete(ctx, l, []queue.Outcome{queue.PermFail(0, permErr("no"))}); !errors.Is(err, queue.ErrLeaseLost) {
		t.Errorf("Complete of a deleted message = %v, want ErrLeaseLost", err)
	}
	s.complete(t, s.leaseID(t, b), queue.TempFail(0, nil, time.Time{}))
	if err := s.q.Delete(ctx, b); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Hour)
	s.nothingDue(t)
	s.wantReports(t) // deleting sends no report
	if ids := s.list(t, nil); len(ids) != 0 {
		t.Errorf("List after deletes = %v", ids)
	}
}

func testRetryNow(t *testing.T, s *suite) {
	id := s.enqueue(t, envelope(rcpt("a", "dest.example")), body)
	s.complete(t, s.leaseID(t, id), queue.TempFail(0, tempErr("later"), time.Now().Add(time.Hour)))
	s.nothingDue(t)
	if err := s.q.RetryNow(ctx, id); err != nil {
		t.Fatal(err)
	}
	s.complete(t, s.leaseID(t, id), queue.TempFail(0, tempErr("later"), time.Now().Add(time.Hour)))
	// RetryNow does not release a held message.
	s.q.Hold(ctx, id)
	s.q.RetryNow(ctx, id)
	s.nothingDue(t)
	s.q.Release(ctx, id)
	s.leaseID(t, id)
}

func testList(t *testing.T, s *suite) {
	held := s.enqueue(t, envelope(rcpt("a", "one.example")), body)
	s.q.Hold(ctx, held)
	time.Sleep(time.Hour)
	bounce := s.enqueue(t, &queue.Envelope{Recipients: []queue.Recipient{rcpt("b", "two.example")}}, body)
	time.Sleep(time.Hour)
	leased := s.enqueue(t, envelope(rcpt("c", "ONE.example"), rcpt("d", "two.example")), body)
	deferred := s.enqueue(t, envelope(rcpt("e", "three.example")), body)
	s.complete(t, s.leaseID(t, bounce), queue.Delivered(0, ""))
	s.gone(t, bounce)
	bounce = s.enqueue(t, &queue.Envelope{Recipients: []queue.Recipient{rcpt("b", "two.example")}}, body)
	l := s.leaseID(t, leased)
	s.complete(t, s.leaseID(t, deferred), queue.TempFail(0, nil, time.Time{}))
	_ = l

	sorted := func(ids ...queue.ID) []queue.ID { slices.Sort(ids); return ids }
	for _, tc := range []struct {
		name string
		f    *queue.Filter
		want []queue.ID
	}{
		{"all", nil, sorted(held, bounce, leased, deferred)},
		{"zero filter", &queue.Filter{}, sorted(held, bounce, leased, deferred)},
		{"held", &queue.Filter{State: queue.StateHeld}, sorted(held)},
		{"leased", &queue.Filter{State: queue.StateLeased}, sorted(leased)},
		{"ready", &queue.Filter{State: queue.StateReady}, sorted(bounce)},
		{"deferred", &queue.Filter{State: queue.StateDeferred}, sorted(deferred)},
		{"ready or deferred", &queue.Filter{State: queue.StateReady | queue.StateDeferred}, sorted(bounce, deferred)},
		{"domain", &queue.Filter{Domain: "one.EXAMPLE"}, sorted(held, leased)},
		{"domain two", &queue.Filter{Domain: "two.example"}, sorted(bounce, leased)},
		{"null sender", &queue.Filter{Sender: "<>"}, sorted(bounce)},
		{"sender", &queue.Filter{Sender: "Sender@origin.example"}, sorted(held, leased, deferred)},
		{"older than 90m", &queue.Filter{OlderThan: 90 * time.Minute}, sorted(held)},
		{"newer than 90m", &queue.Filter{NewerThan: 90 * time.Minute}, sorted(bounce, leased, deferred)},
		{"combined", &queue.Filter{Domain: "one.example", State: queue.StateLeased}, sorted(leased)},
	} {
		if got := s.list(t, tc.f); !slices.Equal(got, tc.want) {
			t.Errorf("List(%s) = %v, want %v", tc.name, got, tc.want)
		}
	}
	// A domain whose recipients are all delivered no longer matches.
	s.complete(t, l, queue.Delivered(0, ""), queue.TempFail(1, nil, time.Time{}))
	if got := s.list(t, &queue.Filter{Domain: "one.example"}); !slices.Equal(got, []queue.ID{held}) {
		t.Errorf("List(domain) after delivery = %v, want [%s]", got, held)
	}
	// Stopping early and a canceled context.
	for range s.q.List(ctx, nil) {
		break
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	for m, err := range s.q.List(cctx, nil) {
		if err == nil || m != nil {
			t.Errorf("List with canceled ctx yielded %v, %v", m, err)
		}
	}
}

func testEvents(t *testing.T, s *suite) {
	id := s.enqueue(t, envelope(rcpt("a", "dest.example"), rcpt("b", "Other.example")), body)
	s.complete(t, s.leaseID(t, id), queue.TempFail(0, tempErr("later"), time.Time{}), queue.PermFail(1, permErr("no")))
	time.Sleep(time.Hour)
	l := s.lease(t)
	for l.ID() != id {
		s.complete(t, l, queue.Delivered(0, ""))
		l = s.lease(t)
	}
	s.complete(t, l, queue.Delivered(0, "mx.dest.example"))
	want := []queue.EventKind{
		queue.EventEnqueued, queue.EventLeased, queue.EventDeferred, queue.EventFailed, queue.EventReported,
		queue.EventLeased, queue.EventDelivered, queue.EventRemoved,
	}
	if got := s.events.kinds(id); !slices.Equal(got, want) {
		t.Errorf("events %v, want %v", got, want)
	}
	s.events.mu.Lock()
	for _, ev := range s.events.events {
		if ev.ID != id {
			continue
		}
		switch ev.Kind {
		case queue.EventDeferred:
			if ev.Recipient != 0 || ev.Destination != "dest.example" || ev.Err == nil || ev.Err.Code != 451 {
				t.Errorf("deferred event %+v", ev)
			}
		case queue.EventFailed:
			if ev.Recipient != 1 || ev.Destination != "other.example" || ev.Err == nil || !ev.Err.Permanent {
				t.Errorf("failed event %+v", ev)
			}
		case queue.EventReported:
			if ev.Action != queue.ActionFailed || !ev.Report.Valid() {
				t.Errorf("reported event %+v", ev)
			}
		case queue.EventEnqueued, queue.EventLeased, queue.EventRemoved:
			if ev.Recipient != -1 {
				t.Errorf("message event with Recipient %d", ev.Recipient)
			}
		}
	}
	s.events.mu.Unlock()

	id = s.enqueue(t, envelope(rcpt("a", "dest.example")), body)
	s.q.Hold(ctx, id)
	s.q.Release(ctx, id)
	s.q.RetryNow(ctx, id)
	s.q.Delete(ctx, id)
	want = []queue.EventKind{queue.EventEnqueued, queue.EventHeld, queue.EventReleased, queue.EventRetryNow, queue.EventDeleted}
	if got := s.events.kinds(id); !slices.Equal(got, want) {
		t.Errorf("events %v, want %v", got, want)
	}
}

func testClosed(t *testing.T, s *suite) {
	id := s.enqueue(t, envelope(rcpt("a", "dest.example")), body)
	s.complete(t, s.leaseID(t, id), queue.TempFail(0, nil, time.Time{}))
	done := make(chan error)
	go func() {
		l, err := s.q.Lease(ctx, &queue.LeaseOptions{})
		if l != nil {
			err = errors.New("leased " + string(l.ID()))
		}
		done <- err
	}()
	time.Sleep(time.Second)
	if err := s.q.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := <-done; !errors.Is(err, queue.ErrClosed) {
		t.Errorf("waiting Lease after Close = %v, want ErrClosed", err)
	}
	if _, err := s.q.Enqueue(ctx, envelope(rcpt("a", "dest.example")), nil); !errors.Is(err, queue.ErrClosed) {
		t.Errorf("Enqueue after Close = %v", err)
	}
	if _, err := s.q.Lease(ctx, nil); !errors.Is(err, queue.ErrClosed) {
		t.Errorf("Lease after Close = %v", err)
	}
	if _, err := s.q.Inspect(ctx, id); !errors.Is(err, queue.ErrClosed) {
		t.Errorf("Inspect after Close = %v", err)
	}
	for _, err := range s.q.List(ctx, nil) {
		if !errors.Is(err, queue.ErrClosed) {
			t.Errorf("List after Close = %v", err)
		}
	}
	if err := s.q.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}
