package queue_test

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/postyard/postyard/queue"
	"github.com/postyard/postyard/smtp"
)

func TestScheduleDelay(t *testing.T) {
	var zero *queue.Schedule
	for failures, want := range map[int]time.Duration{0: time.Minute, 1: time.Minute, 2: 2 * time.Minute, 6: 32 * time.Minute, 7: time.Hour, 1000: time.Hour, 1 << 30: time.Hour} {
		for range 50 {
			got := zero.Delay(failures)
			if got > want || got < want*8/10 {
				t.Fatalf("Delay(%d) = %v, want %v minus up to 20%%", failures, got, want)
			}
		}
	}
	exact := &queue.Schedule{Initial: time.Second, Max: 10 * time.Second, Factor: 3, Jitter: -1, DestinationMax: 2 * time.Second}
	for failures, want := range map[int]time.Duration{1: time.Second, 2: 3 * time.Second, 3: 9 * time.Second, 4: 10 * time.Second} {
		if got := exact.Delay(failures); got != want {
			t.Errorf("Delay(%d) = %v, want %v", failures, got, want)
		}
		if got := exact.DestinationDelay(failures); got != min(want, 2*time.Second) {
			t.Errorf("DestinationDelay(%d) = %v", failures, got)
		}
	}
	if r := exact.Resolved(); r != r.Resolved() {
		t.Errorf("Resolved is not idempotent: %+v != %+v", r, r.Resolved())
	}
	if r := zero.Resolved(); r.Expire != queue.DefaultExpire || r.DelayWarning != 4*time.Hour || r.Initial != time.Minute || r.Max != time.Hour {
		t.Errorf("zero schedule resolves to %+v", r)
	}
	now := time.Now()
	if d, ok := zero.Deadline(now); !ok || !d.Equal(now.Add(5*24*time.Hour)) {
		t.Errorf("Deadline = %v, %v", d, ok)
	}
	if _, ok := (&queue.Schedule{Expire: -1}).Deadline(now); ok {
		t.Error("negative Expire still expires")
	}
}

func TestBackoff(t *testing.T) {
	b := &queue.Backoff{Schedule: &queue.Schedule{Jitter: -1}}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if ok, _ := b.Allow("d.example", now); !ok || b.Begin("d.example") {
		t.Fatal("healthy destination refused or probed")
	}
	retry := b.Failed("d.example", now)
	if !retry.Equal(now.Add(time.Minute)) || b.Len() != 1 {
		t.Errorf("first failure: retry %v, Len %d", retry, b.Len())
	}
	if ok, wait := b.Allow("d.example", now); ok || !wait.Equal(retry) {
		t.Errorf("Allow during back-off = %v, %v", ok, wait)
	}
	if ok, _ := b.Allow("other.example", now); !ok {
		t.Error("another destination is held up")
	}
	now = retry
	if ok, _ := b.Allow("d.example", now); !ok || !b.Begin("d.example") {
		t.Fatal("the probe is refused or not a probe")
	}
	if ok, wait := b.Allow("d.example", now); ok || !wait.IsZero() {
		t.Errorf("second lease during a probe: %v, %v", ok, wait)
	}
	b.Aborted("d.example", true)
	if ok, _ := b.Allow("d.example", now); !ok {
		t.Error("aborted probe still blocks")
	}
	b.Begin("d.example")
	if retry := b.Failed("d.example", now); !retry.Equal(now.Add(2 * time.Minute)) {
		t.Errorf("second failure: retry after %v", retry.Sub(now))
	}
	for range 10 {
		retry = b.Failed("d.example", now)
	}
	if !retry.Equal(now.Add(queue.DefaultDestinationMax)) {
		t.Errorf("back-off grows past DestinationMax: %v", retry.Sub(now))
	}
	b.Succeeded("d.example")
	if ok, _ := b.Allow("d.example", now); !ok || b.Len() != 0 {
		t.Error("success does not make the destination healthy")
	}
	b.Failed("d.example", now)
	b.Reset("d.example")
	if b.Len() != 0 {
		t.Error("Reset kept the destination")
	}
}

// settleMessage returns a fresh record with one recipient per NOTIFY.
func settleMessage(enqueued time.Time, notify ...smtp.Notify) *queue.Message {
	m := &queue.Message{ID: "X", Enqueued: enqueued, Envelope: queue.Envelope{From: smtp.Path{Local: "s", Domain: "o.example"}}}
	for i, n := range notify {
		m.Envelope.Recipients = append(m.Envelope.Recipients, queue.Recipient{
			To: smtp.Path{Local: fmt.Sprint("r", i), Domain: "D.example"}, Options: smtp.RcptOptions{Notify: n}})
	}
	m.Recipients = make([]queue.RecipientStatus, len(notify))
	return m
}

func all(m *queue.Message) []int {
	var idx []int
	for i := range m.Recipients {
		idx = append(idx, i)
	}
	return idx
}

func TestSettleNotify(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	notifies := []smtp.Notify{0, smtp.NotifyNever, smtp.NotifySuccess, smtp.NotifyFailure, smtp.NotifyDelay, smtp.NotifySuccess | smtp.NotifyFailure | smtp.NotifyDelay}
	for _, tc := range []struct {
		name    string
		outcome func(i int) queue.Outcome
		at      time.Duration
		action  queue.Action
		want    []int // recipients reported
	}{
		{"delivered", func(i int) queue.Outcome { return queue.Delivered(i, "mx") }, 0, queue.ActionDelivered, []int{2, 5}},
		{"permfail", func(i int) queue.Outcome { return queue.PermFail(i, errors.New("x")) }, 0, queue.ActionFailed, []int{0, 3, 5}},
		{"tempfail early", func(i int) queue.Outcome { return queue.TempFail(i, nil, time.Time{}) }, time.Hour, "", nil},
		{"tempfail late", func(i int) queue.Outcome { return queue.TempFail(i, nil, time.Time{}) }, 5 * time.Hour, queue.ActionDelayed, []int{0, 4, 5}},
		{"expired", func(i int) queue.Outcome { return queue.TempFail(i, nil, time.Time{}) }, 6 * 24 * time.Hour, queue.ActionFailed, []int{0, 3, 5}},
	} {
		m := settleMessage(start, notifies...)
		var outcomes []queue.Outcome
		for i := range notifies {
			outcomes = append(outcomes, tc.outcome(i))
		}
		st, err := queue.Settle(m, all(m), outcomes, start.Add(tc.at), nil)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var got []int
		for _, n := range st.Notices {
			if n.Action != tc.action {
				t.Errorf("%s: notice %s, want %s", tc.name, n.Action, tc.action)
			}
			got = append(got, n.Recipients...)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: reported %v, want %v", tc.name, got, tc.want)
		}
		if len(st.Events) != len(notifies) || st.Destinations["d.example"] != (tc.name == "delivered" || tc.name == "permfail") || len(st.Destinations) != 1 {
			t.Errorf("%s: events %d, destinations %v", tc.name, len(st.Events), st.Destinations)
		}
		// The null reverse-path gets nothing.
		m = settleMessage(start, notifies...)
		m.Envelope.From = smtp.Path{}
		if st, _ := queue.Settle(m, all(m), outcomes, start.Add(tc.at), nil); len(st.Notices) != 0 {
			t.Errorf("%s: notices for a bounce: %v", tc.name, st.Notices)
		}
	}
	// A delay is reported once per recipient.
	m := settleMessage(start, 0)
	for k, want := range []int{1, 0} {
		st, _ := queue.Settle(m, []int{0}, nil, start.Add(time.Duration(5+k)*time.Hour), nil)
		if len(st.Notices) != want {
			t.Errorf("delay %d: %d notices, want %d", k, len(st.Notices), want)
		}
	}
}

func TestSettleStates(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := &queue.Schedule{Jitter: -1, Expire: 2 * time.Hour}
	m := settleMessage(start, 0, 0, 0)
	now := start.Add(time.Minute)
	st, err := queue.Settle(m, []int{0, 1}, []queue.Outcome{
		queue.TempFail(0, &smtp.Error{Code: 421, EnhancedCode: "4.4.2", Message: "bye"}, time.Time{}),
		queue.PermFail(1, &queue.DeliveryError{Permanent: false, Code: 451, Message: "said temporary"}),
	}, now, s)
	if err != nil {
		t.Fatal(err)
	}
	r0, r1, r2 := m.Recipients[0], m.Recipients[1], m.Recipients[2]
	if r0.State != queue.RecipientPending || !r0.NextAttempt.Equal(now.Add(time.Minute)) || r0.Err.Code != 421 || r0.Err.Status() != "4.4.2" || r0.Attempts != 1 {
		t.Errorf("tempfail: %+v %+v", r0, r0.Err)
	}
	if r1.State != queue.RecipientFailed || !r1.Err.Permanent || r1.Err.Status() != "5.0.0" || r1.Expired() {
		t.Errorf("permfail with a temporary error: %+v %+v", r1, r1.Err)
	}
	if r2.Attempts != 0 {
		t.Errorf("unleased recipient changed: %+v", r2)
	}
	if got := []queue.EventKind{st.Events[0].Kind, st.Events[1].Kind}; !slices.Equal(got, []queue.EventKind{queue.EventDeferred, queue.EventFailed}) {
		t.Errorf("events %v", got)
	}
	// Next attempt moved back to the deadline, then expiry.
	st, _ = queue.Settle(m, []int{0}, []queue.Outcome{queue.TempFail(0, nil, start.Add(10*time.Hour))}, now, s)
	if !m.Recipients[0].NextAttempt.Equal(start.Add(2 * time.Hour)) {
		t.Errorf("NextAttempt %v, want the deadline", m.Recipients[0].NextAttempt)
	}
	st, _ = queue.Settle(m, []int{0}, nil, start.Add(2*time.Hour), s)
	if r := m.Recipients[0]; r.State != queue.RecipientFailed || !r.Expired() || r.Err.Code != 421 || st.Events[0].Kind != queue.EventExpired {
		t.Errorf("expired: %+v, events %v", r, st.Events)
	}
	if m.Done() {
		t.Error("Done with a pending recipient")
	}
	// Outcome errors change nothing.
	before := m.Clone()
	for _, outcomes := range [][]queue.Outcome{
		{queue.Delivered(1, "")}, {queue.Delivered(7, "")}, {queue.Delivered(2, ""), queue.Delivered(2, "")}, {{Recipient: 2, Result: 9}},
	} {
		var oe *queue.OutcomeError
		if _, err := queue.Settle(m, []int{2}, outcomes, now, s); !errors.As(err, &oe) {
			t.Errorf("Settle(%v) = %v, want *OutcomeError", outcomes, err)
		}
	}
	if fmt.Sprint(before.Recipients) != fmt.Sprint(m.Recipients) {
		t.Error("a failed Settle changed the record")
	}
}

func TestDeliveryError(t *testing.T) {
	cause := io.ErrUnexpectedEOF
	for _, tc := range []struct {
		err    *queue.DeliveryError
		status string
	}{
		{&queue.DeliveryError{Permanent: true, EnhancedCode: "5.1.1"}, "5.1.1"},
		{&queue.DeliveryError{Permanent: true, EnhancedCode: "4.1.1"}, "5.0.0"},
		{&queue.DeliveryError{EnhancedCode: "4.7.100"}, "4.7.100"},
		{&queue.DeliveryError{EnhancedCode: "4.7.1000"}, "4.0.0"},
		{&queue.DeliveryError{EnhancedCode: "4..1"}, "4.0.0"},
		{&queue.DeliveryError{EnhancedCode: "4.1."}, "4.0.0"},
		{&queue.DeliveryError{EnhancedCode: "4.1.1.1"}, "4.0.0"},
		{&queue.DeliveryError{EnhancedCode: "3.1.1"}, "4.0.0"},
		{&queue.DeliveryError{}, "4.0.0"},
	} {
		if got := tc.err.Status(); got != tc.status {
			t.Errorf("Status(%q, permanent %v) = %q, want %q", tc.err.EnhancedCode, tc.err.Permanent, got, tc.status)
		}
	}
	e := &queue.DeliveryError{Permanent: true, Code: 550, EnhancedCode: "5.1.1", Message: "no", RemoteMTA: "mx", Err: cause}
	if !errors.Is(e, cause) || e.Temporary() || !strings.Contains(e.Error(), "550 5.1.1 no") || !strings.Contains(e.Error(), cause.Error()) {
		t.Errorf("DeliveryError %q", e)
	}
	wrapped := fmt.Errorf("deliver: %w", &smtp.Error{Code: 554, EnhancedCode: "5.7.1", Message: "rejected"})
	if de := queue.AsDeliveryError(wrapped); !de.Permanent || de.Code != 554 || de.Status() != "5.7.1" || de.Message != "rejected" || !errors.Is(de, wrapped) {
		t.Errorf("AsDeliveryError(smtp.Error) = %+v", de)
	}
	if de := queue.AsDeliveryError(cause); de.Permanent || de.Message != "" || de.Err != cause {
		t.Errorf("AsDeliveryError(other) = %+v", de)
	}
	if queue.AsDeliveryError(nil) != nil {
		t.Error("AsDeliveryError(nil) != nil")
	}
	if de := queue.AsDeliveryError(fmt.Errorf("x: %w", e)); de != e {
		t.Error("AsDeliveryError does not find a wrapped DeliveryError")
	}
}

func TestID(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a, b := queue.NewID(t0), queue.NewID(t0.Add(time.Millisecond))
	if !a.Valid() || len(a) != 26 || a == queue.NewID(t0) || !(a < b) {
		t.Errorf("NewID: %q %q", a, b)
	}
	for _, id := range []queue.ID{"", "a-b", "a b", "ä", queue.ID(strings.Repeat("a", 65))} {
		if id.Valid() {
			t.Errorf("%q is valid", id)
		}
	}
}

func TestMessageState(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m := settleMessage(now, 0, 0)
	m.Recipients[0].NextAttempt = now.Add(time.Hour)
	m.Recipients[1].State = queue.RecipientDelivered
	if st := m.State(now); st != queue.StateDeferred {
		t.Errorf("State = %v", st)
	}
	if next, ok := m.NextAttempt(); !ok || !next.Equal(now.Add(time.Hour)) {
		t.Errorf("NextAttempt = %v %v", next, ok)
	}
	m.LeaseExpires = now.Add(time.Minute)
	if st := m.State(now); st != queue.StateLeased {
		t.Errorf("State = %v", st)
	}
	if st := m.State(now.Add(2 * time.Hour)); st != queue.StateReady {
		t.Errorf("State after the lease = %v", st)
	}
	m.Held = true
	if st := m.State(now); st != queue.StateHeld || st.String() != "held" {
		t.Errorf("State = %v", st)
	}
	if s := (queue.StateReady | queue.StateHeld).String(); s != "ready|held" {
		t.Errorf("String = %q", s)
	}
	if got := queue.Destination(smtp.Path{Local: "a", Domain: "BÜCHER.Example"}); got != "xn--bcher-kva.example" {
		t.Errorf("Destination = %q", got)
	}
}
