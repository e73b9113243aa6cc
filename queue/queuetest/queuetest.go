// Package queuetest is the conformance suite for [queue.Queue]
// implementations. Every implementation runs it from its own tests:
//
//	func TestConformance(t *testing.T) {
//		queuetest.Run(t, queuetest.Harness{
//			New: func(t *testing.T, opts *queue.Options) queue.Queue {
//				return memqueue.New(opts)
//			},
//		})
//	}
//
// Each test runs inside a testing/synctest bubble, so the queue must read
// the time with time.Now() and wait with timers or channels (not with
// real-time polling), and every goroutine it starts must end when it is
// closed. An Enqueue may take up to a second of fake time (a group-commit
// timer, say); other methods are expected to take none. The suite checks the rules written in the queue package's doc
// comments: durability of Enqueue (through Reopen), ordering of due
// messages, leases and their expiry, outcomes, the schedule, expiry and
// reports (DSNs), per-destination back-off, hold, release, delete,
// retry-now, listing with filters, events, and concurrent use (run it
// with -race).
package queuetest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/postyard/postyard/queue"
	"github.com/postyard/postyard/smtp"
)

// Harness tells the suite how to make queues.
type Harness struct {
	// New returns a new, empty queue with opts (never nil; Hostname is
	// set). It is called inside the test's synctest bubble. The suite
	// closes the queue; New may register more clean-up with t.Cleanup.
	New func(t *testing.T, opts *queue.Options) queue.Queue
	// Reopen, for a durable queue, closes q and opens the same storage
	// again with opts, as a restart would. Nil means the queue is not
	// durable and the persistence tests are skipped.
	Reopen func(t *testing.T, q queue.Queue, opts *queue.Options) queue.Queue
}

// Run runs the whole suite as subtests of t.
func Run(t *testing.T, h Harness) {
	if h.New == nil {
		t.Fatal("queuetest: Harness.New is nil")
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := &suite{h: h}
				s.events = new(eventLog)
				s.opts = &queue.Options{
					Hostname: "mx.test.example",
					OnEvent:  s.events.add,
				}
				if tc.opts != nil {
					tc.opts(s.opts)
				}
				s.q = h.New(t, s.opts)
				defer func() { s.q.Close() }()
				tc.f(t, s)
			})
		})
	}
}

// suite is the state of one test.
type suite struct {
	h      Harness
	opts   *queue.Options
	q      queue.Queue
	events *eventLog
}

// eventLog records events; safe for concurrent use.
type eventLog struct {
	mu     sync.Mutex
	events []queue.Event
}

func (l *eventLog) add(ev queue.Event) {
	l.mu.Lock()
	l.events = append(l.events, ev)
	l.mu.Unlock()
}

// kinds returns the kinds of the events about id, in order.
func (l *eventLog) kinds(id queue.ID) []queue.EventKind {
	l.mu.Lock()
	defer l.mu.Unlock()
	var ks []queue.EventKind
	for _, ev := range l.events {
		if ev.ID == id {
			ks = append(ks, ev.Kind)
		}
	}
	return ks
}

type testCase struct {
	name string
	opts func(*queue.Options)
	f    func(t *testing.T, s *suite)
}

var tests = []testCase{
	{name: "EnqueueInspect", f: testEnqueueInspect},
	{name: "EnqueueLimits", opts: func(o *queue.Options) { o.MaxSize = 10; o.MaxRecipients = 2 }, f: testEnqueueLimits},
	{name: "EnqueueBodyError", f: testEnqueueBodyError},
	{name: "DueOrder", f: testDueOrder},
	{name: "LeaseWaits", f: testLeaseWaits},
	{name: "LeaseExpiry", f: testLeaseExpiry},
	{name: "Renew", f: testRenew},
	{name: "Outcomes", f: testOutcomes},
	{name: "OutcomeErrors", f: testOutcomeErrors},
	{name: "UnreportedRecipient", f: testUnreportedRecipient},
	{name: "TempFailNextAttempt", f: testTempFailNextAttempt},
	{name: "Schedule", opts: fixedSchedule, f: testSchedule},
	{name: "Expiry", opts: func(o *queue.Options) { o.Schedule = &queue.Schedule{Expire: 2 * time.Hour, DelayWarning: -1} }, f: testExpiry},
	{name: "DelayReport", opts: func(o *queue.Options) { o.Schedule = &queue.Schedule{DelayWarning: 30 * time.Minute, Jitter: -1} }, f: testDelayReport},
	{name: "SuccessReport", f: testSuccessReport},
	{name: "NoReports", f: testNoReports},
	{name: "ReportReturn", opts: func(o *queue.Options) { o.ReturnLimit = 1000 }, f: testReportReturn},
	{name: "HoldRelease", f: testHoldRelease},
	{name: "HoldWhileLeased", f: testHoldWhileLeased},
	{name: "EnqueueHeld", f: testEnqueueHeld},
	{name: "Delete", f: testDelete},
	{name: "RetryNow", f: testRetryNow},
	{name: "List", f: testList},
	{name: "Backoff", opts: fixedSchedule, f: testBackoff},
	{name: "Events", f: testEvents},
	{name: "Closed", f: testClosed},
	{name: "Concurrency", opts: func(o *queue.Options) { o.OnEvent = nil }, f: testConcurrency},
	{name: "ReopenKeepsMessages", f: testReopen},
	{name: "ReopenDropsLeases", f: testReopenLeases},
}

// fixedSchedule sets a schedule without jitter: 1, 2, 4, ... minutes.
func fixedSchedule(o *queue.Options) {
	o.Schedule = &queue.Schedule{Jitter: -1}
}

var ctx = context.Background()

// Addresses used in the tests.
var (
	sender = smtp.Path{Local: "sender", Domain: "origin.example"}
)

func rcpt(local, domain string) queue.Recipient {
	return queue.Recipient{To: smtp.Path{Local: local, Domain: domain}}
}

// envelope returns an envelope from sender to the recipients.
func envelope(rcpts ...queue.Recipient) *queue.Envelope {
	return &queue.Envelope{From: sender, Recipients: rcpts}
}

const body = "From: sender@origin.example\r\nTo: a@dest.example\r\nSubject: test\r\n\r\nHello.\r\n"

func (s *suite) enqueue(t *testing.T, env *queue.Envelope, content string) queue.ID {
	t.Helper()
	id, err := s.q.Enqueue(ctx, env, strings.NewReader(content))
	if err != nil {
		t.Fatalf("Enqueue: %v", err)
	}
	if !id.Valid() {
		t.Fatalf("Enqueue returned invalid ID %q", id)
	}
	return id
}

// lease leases without waiting and fails if nothing is due.
func (s *suite) lease(t *testing.T) *queue.Lease {
	t.Helper()
	l, err := s.q.Lease(ctx, &queue.LeaseOptions{NoWait: true})
	if err != nil {
		t.Fatalf("Lease: %v", err)
	}
	return l
}

// leaseID leases and checks that the message is id.
func (s *suite) leaseID(t *testing.T, id queue.ID) *queue.Lease {
	t.Helper()
	l := s.lease(t)
	if l.ID() != id {
		t.Fatalf("Lease returned %s, want %s", l.ID(), id)
	}
	return l
}

// nothingDue checks that no message is due.
func (s *suite) nothingDue(t *testing.T) {
	t.Helper()
	l, err := s.q.Lease(ctx, &queue.LeaseOptions{NoWait: true})
	if !errors.Is(err, queue.ErrNothingDue) {
		id := queue.ID("")
		if l != nil {
			id = l.ID()
		}
		t.Fatalf("Lease = %q, %v; want ErrNothingDue", id, err)
	}
}

func (s *suite) complete(t *testing.T, l *queue.Lease, outcomes ...queue.Outcome) {
	t.Helper()
	if err := s.q.Complete(ctx, l, outcomes); err != nil {
		t.Fatalf("Complete: %v", err)
	}
}

func (s *suite) inspect(t *testing.T, id queue.ID) *queue.Message {
	t.Helper()
	m, err := s.q.Inspect(ctx, id)
	if err != nil {
		t.Fatalf("Inspect(%s): %v", id, err)
	}
	return m
}

func (s *suite) gone(t *testing.T, id queue.ID) {
	t.Helper()
	if _, err := s.q.Inspect(ctx, id); !errors.Is(err, queue.ErrNotFound) {
		t.Fatalf("Inspect(%s) = %v, want ErrNotFound", id, err)
	}
}

func (s *suite) content(t *testing.T, id queue.ID) string {
	t.Helper()
	rc, err := s.q.Open(ctx, id)
	if err != nil {
		t.Fatalf("Open(%s): %v", id, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("reading %s: %v", id, err)
	}
	return string(b)
}

// list returns the IDs List yields for f.
func (s *suite) list(t *testing.T, f *queue.Filter) []queue.ID {
	t.Helper()
	var ids []queue.ID
	for m, err := range s.q.List(ctx, f) {
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		ids = append(ids, m.ID)
	}
	slices.Sort(ids)
	return ids
}

// reports returns the queued messages with the null reverse-path, in
// enqueue order as seen by List, and their parsed content.
func (s *suite) reports(t *testing.T) []*queue.Message {
	t.Helper()
	var out []*queue.Message
	for m, err := range s.q.List(ctx, &queue.Filter{Sender: "<>"}) {
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		out = append(out, m)
	}
	return out
}

// report is a queued report, parsed.
type report struct {
	msg *queue.Message
	*ParsedReport
	returned string // third part
}

// readReport parses the queued report id.
func (s *suite) readReport(t *testing.T, id queue.ID) *report {
	t.Helper()
	r := &report{msg: s.inspect(t, id), ParsedReport: ParseReport(t, []byte(s.content(t, id)))}
	if len(r.Parts) > 2 {
		r.returned = string(r.Parts[2])
	}
	return r
}

// wantReports checks the queued reports: their actions, in order.
func (s *suite) wantReports(t *testing.T, actions ...queue.Action) []*report {
	t.Helper()
	msgs := s.reports(t)
	var got []queue.Action
	var out []*report
	for _, m := range msgs {
		r := s.readReport(t, m.ID)
		out = append(out, r)
		got = append(got, queue.Action(r.PerRecipient[0].Get("Action")))
		if len(m.Envelope.Recipients) != 1 || m.Envelope.Recipients[0].To.String() != sender.String() {
			t.Errorf("report %s goes to %v, want %v", m.ID, m.Envelope.Recipients, sender)
		}
	}
	if !slices.Equal(got, actions) {
		t.Fatalf("reports %v, want %v", got, actions)
	}
	return out
}

func tempErr(msg string) error {
	return &queue.DeliveryError{Code: 451, EnhancedCode: "4.3.0", Message: msg, RemoteMTA: "mx.dest.example"}
}

func permErr(msg string) error {
	return &queue.DeliveryError{Permanent: true, Code: 550, EnhancedCode: "5.1.1", Message: msg, RemoteMTA: "mx.dest.example"}
}

// within reports whether from <= t <= to. Tests allow a durable queue's
// group commit to take some (fake) time.
func within(t, from, to time.Time) bool { return !t.Before(from) && !t.After(to) }

// sameTime fails unless got equals want.
func sameTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if !got.Equal(want) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

// drain reads r to the end, for bodies that fail.
func drain(r io.Reader) { io.Copy(io.Discard, r) }

func stringsReader(s string) io.Reader { return bytes.NewReader([]byte(s)) }
