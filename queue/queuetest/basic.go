package queuetest

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/postyard/postyard/queue"
	"github.com/postyard/postyard/smtp"
)

// fullEnvelope uses every envelope field.
func fullEnvelope() *queue.Envelope {
	return &queue.Envelope{
		From: smtp.Path{Local: "sénder", Domain: "origin.example", SourceRoute: []string{"relay.example"}},
		Options: smtp.MailOptions{
			Body: smtp.Body8BitMIME, UTF8: true, RequireTLS: true,
			Return: smtp.DSNReturnHeaders, EnvelopeID: "env-42", Auth: "sender@origin.example",
		},
		Recipients: []queue.Recipient{
			{To: smtp.Path{Local: "a", Domain: "dest.example"},
				Options: smtp.RcptOptions{Notify: smtp.NotifySuccess | smtp.NotifyFailure, OriginalRcpt: "A@dest.example", OriginalRcptType: "rfc822"}},
			{To: smtp.Path{Local: "b c", Domain: "bücher.example"},
				Options: smtp.RcptOptions{Notify: smtp.NotifyNever, OriginalRcpt: "bé@bücher.example", OriginalRcptType: "utf-8"}},
			{To: smtp.Path{Local: "Postmaster"}},
		},
	}
}

func testEnqueueInspect(t *testing.T, s *suite) {
	env := fullEnvelope()
	content := "Subject: t\r\n\r\nbinary \x00\xff\r bare\n lines\r\n.\r\n..\r\nno final CRLF"
	start := time.Now()
	id := s.enqueue(t, env, content)
	end := time.Now()
	// The caller may reuse its envelope.
	env.Recipients[0].To.Local = "changed"
	env.From.SourceRoute[0] = "changed"

	m := s.inspect(t, id)
	want := fullEnvelope()
	if m.ID != id || m.Size != int64(len(content)) || !within(m.Enqueued, start, end) || m.Held {
		t.Errorf("Inspect = ID %s size %d enqueued %v held %v; want %s %d %v..%v false", m.ID, m.Size, m.Enqueued, m.Held, id, len(content), start, end)
	}
	if m.Envelope.From.String() != want.From.String() || !slices.Equal(m.Envelope.From.SourceRoute, want.From.SourceRoute) {
		t.Errorf("From = %+v, want %+v", m.Envelope.From, want.From)
	}
	if m.Envelope.Options != want.Options {
		t.Errorf("Options = %+v, want %+v", m.Envelope.Options, want.Options)
	}
	if !slices.EqualFunc(m.Envelope.Recipients, want.Recipients, func(a, b queue.Recipient) bool {
		return a.To.Local == b.To.Local && a.To.Domain == b.To.Domain && a.Options == b.Options
	}) {
		t.Errorf("Recipients = %+v, want %+v", m.Envelope.Recipients, want.Recipients)
	}
	if len(m.Recipients) != 3 {
		t.Fatalf("%d recipient statuses, want 3", len(m.Recipients))
	}
	for i, rs := range m.Recipients {
		if rs.State != queue.RecipientPending || rs.Attempts != 0 || rs.Err != nil {
			t.Errorf("recipient %d: %+v, want pending", i, rs)
		}
	}
	if st := m.State(time.Now()); st != queue.StateReady {
		t.Errorf("State = %v, want ready", st)
	}
	if got := s.content(t, id); got != content {
		t.Errorf("content = %q, want %q", got, content)
	}
	// A returned copy is the caller's.
	m.Envelope.Recipients[0].To.Local = "x"
	m.Recipients[0].Attempts = 9
	if m2 := s.inspect(t, id); m2.Envelope.Recipients[0].To.Local != "a" || m2.Recipients[0].Attempts != 0 {
		t.Error("modifying Inspect's result changed the queue")
	}
	// Two enqueues never share an ID.
	if id2 := s.enqueue(t, envelope(rcpt("a", "dest.example")), content); id2 == id {
		t.Errorf("second Enqueue returned the same ID %s", id)
	}
	if _, err := s.q.Inspect(ctx, "nosuchid"); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("Inspect(unknown) = %v, want ErrNotFound", err)
	}
	if _, err := s.q.Open(ctx, "nosuchid"); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("Open(unknown) = %v, want ErrNotFound", err)
	}
}

func testEnqueueLimits(t *testing.T, s *suite) {
	for _, tc := range []struct {
		name    string
		env     *queue.Envelope
		content string
		want    error
	}{
		{"no recipients", envelope(), "x", queue.ErrNoRecipients},
		{"too many recipients", envelope(rcpt("a", "d.example"), rcpt("b", "d.example"), rcpt("c", "d.example")), "x", queue.ErrTooManyRecipients},
		{"too large", envelope(rcpt("a", "d.example")), "01234567890", queue.ErrTooLarge},
	} {
		if _, err := s.q.Enqueue(ctx, tc.env, strings.NewReader(tc.content)); !errors.Is(err, tc.want) {
			t.Errorf("%s: Enqueue = %v, want %v", tc.name, err, tc.want)
		}
	}
	if ids := s.list(t, nil); len(ids) != 0 {
		t.Errorf("failed enqueues left %v", ids)
	}
	// Exactly at the limits is fine.
	s.enqueue(t, envelope(rcpt("a", "d.example"), rcpt("b", "d.example")), "0123456789")
}

func testEnqueueBodyError(t *testing.T, s *suite) {
	bad := errors.New("connection lost")
	r := io.MultiReader(strings.NewReader("Subject: partial\r\n"), iotest.ErrReader(bad))
	if _, err := s.q.Enqueue(ctx, envelope(rcpt("a", "d.example")), r); !errors.Is(err, bad) {
		t.Errorf("Enqueue with failing body = %v, want %v", err, bad)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.q.Enqueue(cctx, envelope(rcpt("a", "d.example")), strings.NewReader(body)); !errors.Is(err, context.Canceled) {
		t.Errorf("Enqueue with canceled ctx = %v, want context.Canceled", err)
	}
	if ids := s.list(t, nil); len(ids) != 0 {
		t.Errorf("failed enqueues left %v", ids)
	}
	s.nothingDue(t)
}

func testDueOrder(t *testing.T, s *suite) {
	var ids []queue.ID
	for _, local := range []string{"a", "b", "c", "d"} {
		ids = append(ids, s.enqueue(t, &queue.Envelope{Recipients: []queue.Recipient{rcpt(local, local+".example")}}, body))
		time.Sleep(time.Second)
	}
	// Messages come in enqueue order.
	for i, id := range ids {
		l := s.leaseID(t, id)
		// Defer them so that they come back in the opposite order: the
		// last enqueued is due first.
		s.complete(t, l, queue.TempFail(0, tempErr("try later"), time.Now().Add(time.Duration(10-i)*time.Hour)))
	}
	s.nothingDue(t)
	time.Sleep(10 * time.Hour)
	for i := len(ids) - 1; i >= 0; i-- {
		s.complete(t, s.leaseID(t, ids[i]), queue.Delivered(0, "mx.example"))
		s.gone(t, ids[i])
	}
	s.nothingDue(t)
}

func testLeaseWaits(t *testing.T, s *suite) {
	s.nothingDue(t)
	start := time.Now()
	idc := make(chan queue.ID, 1)
	go func() {
		time.Sleep(time.Minute)
		idc <- s.enqueue(t, envelope(rcpt("a", "d.example")), body)
	}()
	l, err := s.q.Lease(ctx, nil)
	if err != nil {
		t.Fatalf("Lease: %v", err)
	}
	id := <-idc
	if l.ID() != id || !within(time.Now(), start.Add(time.Minute), start.Add(time.Minute+time.Second)) {
		t.Errorf("Lease returned %s after %v, want %s after 1m", l.ID(), time.Since(start), id)
	}
	if !slices.Equal(l.Recipients, []int{0}) || l.Message.ID != id || !l.Expires.Equal(time.Now().Add(queue.DefaultLeaseDuration)) {
		t.Errorf("lease = %+v", l)
	}
	// A deferred message wakes a waiting Lease when it becomes due.
	s.complete(t, l, queue.TempFail(0, tempErr("later"), time.Now().Add(time.Hour)))
	start = time.Now()
	l, err = s.q.Lease(ctx, nil)
	if err != nil || l.ID() != id || !within(time.Now(), start.Add(time.Hour), start.Add(time.Hour+time.Second)) {
		t.Fatalf("Lease = %v after %v, want %s after 1h", err, time.Since(start), id)
	}
	// ctx ends the wait.
	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if _, err := s.q.Lease(cctx, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Lease with expiring ctx = %v", err)
	}
}

func testLeaseExpiry(t *testing.T, s *suite) {
	id := s.enqueue(t, envelope(rcpt("a", "d.example")), body)
	l1, err := s.q.Lease(ctx, &queue.LeaseOptions{Duration: time.Minute, NoWait: true})
	if err != nil {
		t.Fatal(err)
	}
	if st := s.inspect(t, id).State(time.Now()); st != queue.StateLeased {
		t.Errorf("State = %v, want leased", st)
	}
	s.nothingDue(t) // at most one lease per message
	time.Sleep(time.Minute)
	l2 := s.leaseID(t, id)
	if l2.Token == l1.Token {
		t.Error("new lease has the old token")
	}
	if err := s.q.Complete(ctx, l1, []queue.Outcome{queue.Delivered(0, "")}); !errors.Is(err, queue.ErrLeaseLost) {
		t.Errorf("Complete with expired lease = %v, want ErrLeaseLost", err)
	}
	if err := s.q.Renew(ctx, l1, time.Hour); !errors.Is(err, queue.ErrLeaseLost) {
		t.Errorf("Renew of expired lease = %v, want ErrLeaseLost", err)
	}
	if rs := s.inspect(t, id).Recipients[0]; rs.Attempts != 0 || rs.State != queue.RecipientPending {
		t.Errorf("after expiry: %+v; no attempt should be counted", rs)
	}
	s.complete(t, l2, queue.Delivered(0, ""))
	s.gone(t, id)
	if !slices.Contains(s.events.kinds(id), queue.EventLeaseExpired) {
		t.Errorf("events %v lack lease-expired", s.events.kinds(id))
	}

	// An expired lease whose message was not leased again is lost too.
	id = s.enqueue(t, envelope(rcpt("a", "d.example")), body)
	l3, _ := s.q.Lease(ctx, &queue.LeaseOptions{Duration: time.Minute, NoWait: true})
	time.Sleep(2 * time.Minute)
	if err := s.q.Complete(ctx, l3, nil); !errors.Is(err, queue.ErrLeaseLost) {
		t.Errorf("Complete after expiry = %v, want ErrLeaseLost", err)
	}
	s.leaseID(t, id)
}

func testRenew(t *testing.T, s *suite) {
	id := s.enqueue(t, envelope(rcpt("a", "d.example")), body)
	l, _ := s.q.Lease(ctx, &queue.LeaseOptions{Duration: time.Minute, NoWait: true})
	time.Sleep(50 * time.Second)
	if err := s.q.Renew(ctx, l, 2*time.Minute); err != nil {
		t.Fatalf("Renew: %v", err)
	}
	sameTime(t, "Expires", l.Expires, time.Now().Add(2*time.Minute))
	time.Sleep(time.Minute)
	s.nothingDue(t)
	if m := s.inspect(t, id); !m.LeaseExpires.Equal(l.Expires) {
		t.Errorf("LeaseExpires = %v, want %v", m.LeaseExpires, l.Expires)
	}
	s.complete(t, l, queue.Delivered(0, ""))
	s.gone(t, id)
}

func testOutcomes(t *testing.T, s *suite) {
	env := envelope(rcpt("ok", "dest.example"), rcpt("later", "dest.example"), rcpt("never", "dest.example"))
	id := s.enqueue(t, env, body)
	l := s.leaseID(t, id)
	if !slices.Equal(l.Recipients, []int{0, 1, 2}) {
		t.Fatalf("lease recipients %v", l.Recipients)
	}
	now := time.Now()
	s.complete(t, l,
		queue.Delivered(0, "mx.dest.example"),
		queue.TempFail(1, tempErr("mailbox busy"), time.Time{}),
		queue.PermFail(2, permErr("no such user")))

	m := s.inspect(t, id)
	r0, r1, r2 := m.Recipients[0], m.Recipients[1], m.Recipients[2]
	if r0.State != queue.RecipientDelivered || r0.RemoteMTA != "mx.dest.example" || r0.Attempts != 1 || !within(r0.LastAttempt, now, time.Now()) {
		t.Errorf("delivered recipient: %+v", r0)
	}
	if r1.State != queue.RecipientPending || r1.Attempts != 1 || r1.Err == nil || r1.Err.Permanent || r1.Err.Message != "mailbox busy" {
		t.Errorf("deferred recipient: %+v", r1)
	}
	// Default schedule: 1 minute, minus up to 20% jitter.
	if d := r1.NextAttempt.Sub(r1.LastAttempt); d < 48*time.Second || d > time.Minute {
		t.Errorf("deferred for %v, want 48s..1m", d)
	}
	if r2.State != queue.RecipientFailed || r2.Err == nil || !r2.Err.Permanent || r2.Err.Code != 550 || r2.Err.Status() != "5.1.1" {
		t.Errorf("failed recipient: %+v err %+v", r2, r2.Err)
	}
	if st := m.State(now); st != queue.StateDeferred {
		t.Errorf("State = %v, want deferred", st)
	}
	// The failure is reported to the sender, with the null reverse-path.
	reps := s.wantReports(t, queue.ActionFailed)
	if rep := reps[0]; len(rep.PerRecipient) != 1 || rep.PerRecipient[0].Get("Final-Recipient") != "rfc822; never@dest.example" {
		t.Errorf("report recipients %v", rep.PerRecipient)
	}
	// The report is itself a queued message; deliver it.
	s.complete(t, s.leaseID(t, reps[0].msg.ID), queue.Delivered(0, ""))

	time.Sleep(time.Minute)
	l = s.leaseID(t, id)
	if !slices.Equal(l.Recipients, []int{1}) {
		t.Fatalf("second lease recipients %v, want [1]", l.Recipients)
	}
	s.complete(t, l, queue.Delivered(1, ""))
	s.gone(t, id)
	s.nothingDue(t)
}

func testOutcomeErrors(t *testing.T, s *suite) {
	id := s.enqueue(t, envelope(rcpt("a", "dest.example"), rcpt("b", "dest.example")), body)
	l := s.leaseID(t, id)
	for _, outcomes := range [][]queue.Outcome{
		{queue.Delivered(2, "")},
		{queue.Delivered(-1, "")},
		{queue.Delivered(0, ""), queue.PermFail(0, nil)},
		{{Recipient: 0}},
	} {
		err := s.q.Complete(ctx, l, outcomes)
		var oe *queue.OutcomeError
		if !errors.As(err, &oe) {
			t.Errorf("Complete(%+v) = %v, want *OutcomeError", outcomes, err)
		}
	}
	// Nothing changed, and the lease still holds.
	if rs := s.inspect(t, id).Recipients[0]; rs.Attempts != 0 {
		t.Errorf("failed Complete changed the message: %+v", rs)
	}
	s.complete(t, l, queue.Delivered(0, ""), queue.Delivered(1, ""))
	s.gone(t, id)
	// A recipient that is not in the lease cannot get an outcome.
	id = s.enqueue(t, envelope(rcpt("a", "dest.example"), rcpt("b", "dest.example")), body)
	l = s.leaseID(t, id)
	s.complete(t, l, queue.Delivered(0, ""), queue.TempFail(1, nil, time.Time{}))
	time.Sleep(time.Hour)
	l = s.leaseID(t, id)
	var oe *queue.OutcomeError
	if err := s.q.Complete(ctx, l, []queue.Outcome{queue.Delivered(0, "")}); !errors.As(err, &oe) || oe.Recipient != 0 {
		t.Errorf("outcome for a delivered recipient: %v", err)
	}
}

func testUnreportedRecipient(t *testing.T, s *suite) {
	id := s.enqueue(t, envelope(rcpt("a", "dest.example"), rcpt("b", "dest.example")), body)
	l := s.leaseID(t, id)
	s.complete(t, l, queue.Delivered(0, ""))
	rs := s.inspect(t, id).Recipients[1]
	if rs.State != queue.RecipientPending || rs.Attempts != 1 || rs.Err != nil || !rs.NextAttempt.After(time.Now()) {
		t.Errorf("recipient without outcome: %+v, want deferred", rs)
	}
}

func testTempFailNextAttempt(t *testing.T, s *suite) {
	id := s.enqueue(t, envelope(rcpt("a", "dest.example")), body)
	next := time.Now().Add(17 * time.Minute)
	s.complete(t, s.leaseID(t, id), queue.TempFail(0, tempErr("greylisted"), next))
	sameTime(t, "NextAttempt", s.inspect(t, id).Recipients[0].NextAttempt, next)
	time.Sleep(17*time.Minute - time.Second)
	s.nothingDue(t)
	time.Sleep(time.Second)
	s.complete(t, s.leaseID(t, id), queue.Delivered(0, ""))
	// A NextAttempt past the message's expiry is moved back to it.
	id = s.enqueue(t, envelope(rcpt("b", "dest.example")), body)
	s.complete(t, s.leaseID(t, id), queue.TempFail(0, nil, time.Now().Add(30*24*time.Hour)))
	m := s.inspect(t, id)
	sameTime(t, "NextAttempt", m.Recipients[0].NextAttempt, m.Enqueued.Add(queue.DefaultExpire))
}

func testSchedule(t *testing.T, s *suite) {
	id := s.enqueue(t, envelope(rcpt("a", "dest.example")), body)
	// 1, 2, 4, ..., 32 minutes, then 1 hour at most.
	for _, want := range []time.Duration{1, 2, 4, 8, 16, 32, 60, 60} {
		l := s.leaseID(t, id)
		s.complete(t, l, queue.TempFail(0, tempErr("down"), time.Time{}))
		got := s.inspect(t, id).Recipients[0].NextAttempt.Sub(time.Now())
		if got != want*time.Minute {
			t.Fatalf("attempt %d: deferred %v, want %v", s.inspect(t, id).Recipients[0].Attempts, got, want*time.Minute)
		}
		time.Sleep(got)
	}
}
