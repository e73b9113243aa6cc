package queuetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/postyard/postyard/queue"
)

func testBackoff(t *testing.T, s *suite) {
	dead := func(local string) *queue.Envelope { return envelope(rcpt(local, "dead.example")) }
	m1 := s.enqueue(t, dead("x"), body)
	m2 := s.enqueue(t, dead("y"), body)
	m3 := s.enqueue(t, envelope(rcpt("z", "alive.example")), body)
	s.complete(t, s.leaseID(t, m1), queue.TempFail(0, tempErr("connection refused"), time.Time{}))
	// m2 is due, but its destination backs off for a minute; m3 is not held up.
	s.complete(t, s.leaseID(t, m3), queue.Delivered(0, ""))
	s.nothingDue(t)
	time.Sleep(time.Minute)
	// One probe at a time: m2 (due earlier than m1), and nothing else for
	// dead.example until it ends.
	l := s.leaseID(t, m2)
	s.nothingDue(t)
	s.complete(t, l, queue.TempFail(0, tempErr("connection refused"), time.Time{}))
	// Second failure in a row: 2 minutes.
	time.Sleep(time.Minute)
	s.nothingDue(t)
	time.Sleep(time.Minute)
	l = s.leaseID(t, m1)
	s.nothingDue(t)
	s.complete(t, l, queue.Delivered(0, ""))
	// The destination answered: m2 goes at once.
	s.complete(t, s.leaseID(t, m2), queue.Delivered(0, ""))

	// A lease leaves out the recipients whose destination backs off.
	m4 := s.enqueue(t, envelope(rcpt("u", "dead2.example")), body)
	s.complete(t, s.leaseID(t, m4), queue.TempFail(0, nil, time.Now().Add(time.Hour)))
	m5 := s.enqueue(t, envelope(rcpt("p", "dead2.example"), rcpt("q", "alive2.example")), body)
	l = s.leaseID(t, m5)
	if !slices.Equal(l.Recipients, []int{1}) {
		t.Errorf("lease recipients %v, want [1]", l.Recipients)
	}
	s.complete(t, l, queue.Delivered(1, ""))
	s.nothingDue(t)
	// RetryNow overrides the back-off.
	s.q.RetryNow(ctx, m5)
	if l := s.leaseID(t, m5); !slices.Equal(l.Recipients, []int{0}) {
		t.Errorf("lease recipients %v, want [0]", l.Recipients)
	}
}

// testConcurrency runs producers, workers and an admin view at once; each
// recipient must be delivered exactly once.
func testConcurrency(t *testing.T, s *suite) {
	const producers, perProducer, workers = 4, 25, 8
	const total = producers * perProducer * 2
	var (
		mu        sync.Mutex
		delivered = make(map[string]int)
		count     atomic.Int64
	)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for p := range producers {
		wg.Go(func() {
			for i := range perProducer {
				env := &queue.Envelope{Recipients: []queue.Recipient{
					rcpt("r"+strconv.Itoa(i), "d"+strconv.Itoa(i%5)+".example"),
					rcpt("s"+strconv.Itoa(p), "e"+strconv.Itoa(p)+".example"),
				}}
				if _, err := s.q.Enqueue(ctx, env, stringsReader(body)); err != nil {
					t.Errorf("Enqueue: %v", err)
					return
				}
				time.Sleep(time.Second)
			}
		})
	}
	for range workers {
		wg.Go(func() {
			for {
				l, err := s.q.Lease(wctx, &queue.LeaseOptions{Duration: time.Minute})
				if err != nil {
					if !errors.Is(err, context.Canceled) {
						t.Errorf("Lease: %v", err)
					}
					return
				}
				var outcomes []queue.Outcome
				for _, i := range l.Recipients {
					rs := l.Message.Recipients[i]
					switch {
					case i == 0 && rs.Attempts == 0:
						outcomes = append(outcomes, queue.TempFail(i, tempErr("busy"), time.Time{}))
					default:
						outcomes = append(outcomes, queue.Delivered(i, ""))
					}
				}
				time.Sleep(time.Second) // the delivery
				if err := s.q.Complete(ctx, l, outcomes); err != nil {
					t.Errorf("Complete: %v", err)
					continue
				}
				mu.Lock()
				for _, o := range outcomes {
					if o.Result == queue.ResultDelivered {
						delivered[fmt.Sprint(l.ID(), o.Recipient)]++
						if count.Add(1) == total {
							cancel()
						}
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Go(func() { // admin view
		for wctx.Err() == nil {
			for m, err := range s.q.List(ctx, &queue.Filter{State: queue.StateDeferred}) {
				if err != nil {
					t.Errorf("List: %v", err)
					return
				}
				s.q.Inspect(ctx, m.ID)
			}
			time.Sleep(10 * time.Second)
		}
	})
	wg.Wait()
	if len(delivered) != total {
		t.Errorf("%d recipients delivered, want %d", len(delivered), total)
	}
	for k, n := range delivered {
		if n != 1 {
			t.Errorf("%s delivered %d times", k, n)
		}
	}
	if ids := s.list(t, nil); len(ids) != 0 {
		t.Errorf("%d messages left", len(ids))
	}
}

func (s *suite) reopen(t *testing.T) {
	t.Helper()
	if s.h.Reopen == nil {
		t.Skip("queue is not durable (Harness.Reopen is nil)")
	}
	s.q = s.h.Reopen(t, s.q, s.opts)
}

func testReopen(t *testing.T, s *suite) {
	if s.h.Reopen == nil {
		t.Skip("queue is not durable (Harness.Reopen is nil)")
	}
	full := s.enqueue(t, fullEnvelope(), body)
	held := s.enqueue(t, envelope(rcpt("a", "dest.example")), body)
	s.q.Hold(ctx, held)
	tried := s.enqueue(t, envelope(rcpt("a", "dest.example"), rcpt("b", "dest.example"), rcpt("c", "dest.example")), body)
	s.complete(t, s.leaseID(t, full), queue.TempFail(0, nil, time.Time{}), queue.TempFail(1, nil, time.Time{}), queue.TempFail(2, nil, time.Time{}))
	// full's temporary failure put dest.example in back-off.
	if err := s.q.RetryNow(ctx, tried); err != nil {
		t.Fatal(err)
	}
	s.complete(t, s.leaseID(t, tried), queue.Delivered(0, "mx.dest.example"), queue.TempFail(1, tempErr("busy"), time.Now().Add(time.Hour)), queue.PermFail(2, permErr("no")))
	before := map[queue.ID]*queue.Message{}
	for m, err := range s.q.List(ctx, nil) {
		if err != nil {
			t.Fatal(err)
		}
		before[m.ID] = m
	}
	s.reopen(t)
	after := 0
	for m, err := range s.q.List(ctx, nil) {
		if err != nil {
			t.Fatal(err)
		}
		after++
		b := before[m.ID]
		if b == nil {
			t.Errorf("message %s appeared after reopen", m.ID)
			continue
		}
		if diff := compareMessages(b, m); diff != "" {
			t.Errorf("message %s changed across reopen: %s", m.ID, diff)
		}
		if got := s.content(t, m.ID); got != body && !m.Envelope.From.IsNull() {
			t.Errorf("content of %s changed across reopen: %q", m.ID, got)
		}
	}
	if after != len(before) {
		t.Errorf("%d messages after reopen, want %d", after, len(before))
	}
	// The reopened queue goes on where it was.
	time.Sleep(time.Hour)
	for {
		l, err := s.q.Lease(ctx, &queue.LeaseOptions{NoWait: true})
		if errors.Is(err, queue.ErrNothingDue) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if l.ID() == held {
			t.Error("held message leased after reopen")
		}
		if l.ID() == tried && !slices.Equal(l.Recipients, []int{1}) {
			t.Errorf("lease recipients %v after reopen, want [1]", l.Recipients)
		}
		var outcomes []queue.Outcome
		for _, i := range l.Recipients {
			outcomes = append(outcomes, queue.Delivered(i, ""))
		}
		s.complete(t, l, outcomes...)
	}
	if ids := s.list(t, nil); !slices.Equal(ids, []queue.ID{held}) {
		t.Errorf("left %v, want [%s]", ids, held)
	}
}

func testReopenLeases(t *testing.T, s *suite) {
	if s.h.Reopen == nil {
		t.Skip("queue is not durable (Harness.Reopen is nil)")
	}
	id := s.enqueue(t, envelope(rcpt("a", "dest.example")), body)
	old, err := s.q.Lease(ctx, &queue.LeaseOptions{Duration: time.Hour, NoWait: true})
	if err != nil {
		t.Fatal(err)
	}
	s.reopen(t)
	l := s.leaseID(t, id) // leases do not survive a restart
	if err := s.q.Complete(ctx, old, []queue.Outcome{queue.Delivered(0, "")}); !errors.Is(err, queue.ErrLeaseLost) {
		t.Errorf("Complete with a lease from before reopen = %v, want ErrLeaseLost", err)
	}
	s.complete(t, l, queue.Delivered(0, ""))
	s.gone(t, id)
	s.reopen(t)
	s.gone(t, id)
	s.nothingDue(t)
}

// compareMessages describes how the persistent parts of two records
// differ, "" if they do not.
func compareMessages(a, b *queue.Message) string {
	switch {
	case a.ID != b.ID, a.Size != b.Size, !a.Enqueued.Equal(b.Enqueued), a.Held != b.Held:
		return fmt.Sprintf("ID/Size/Enqueued/Held %s %d %v %v != %s %d %v %v", a.ID, a.Size, a.Enqueued, a.Held, b.ID, b.Size, b.Enqueued, b.Held)
	case a.Envelope.From.String() != b.Envelope.From.String(), a.Envelope.Options != b.Envelope.Options:
		return fmt.Sprintf("envelope %+v != %+v", a.Envelope, b.Envelope)
	case len(a.Recipients) != len(b.Recipients), len(a.Envelope.Recipients) != len(b.Envelope.Recipients):
		return "recipient count"
	}
	for i := range a.Recipients {
		ra, rb := a.Envelope.Recipients[i], b.Envelope.Recipients[i]
		if ra.To.String() != rb.To.String() || ra.Options != rb.Options {
			return fmt.Sprintf("recipient %d: %+v != %+v", i, ra, rb)
		}
		sa, sb := a.Recipients[i], b.Recipients[i]
		ea, eb := sa.Err, sb.Err
		sa.Err, sb.Err = nil, nil
		if !sa.LastAttempt.Equal(sb.LastAttempt) || !sa.NextAttempt.Equal(sb.NextAttempt) {
			return fmt.Sprintf("recipient %d times: %+v != %+v", i, sa, sb)
		}
		sa.LastAttempt, sa.NextAttempt, sb.LastAttempt, sb.NextAttempt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
		if sa != sb {
			return fmt.Sprintf("recipient %d status: %+v != %+v", i, sa, sb)
		}
		if (ea == nil) != (eb == nil) || ea != nil && (ea.Permanent != eb.Permanent || ea.Code != eb.Code ||
			ea.EnhancedCode != eb.EnhancedCode || ea.Message != eb.Message || ea.RemoteMTA != eb.RemoteMTA) {
			return fmt.Sprintf("recipient %d error: %+v != %+v", i, ea, eb)
		}
	}
	return ""
}
