// Package memqueue is the in-memory reference implementation of
// [queue.Queue], for tests and test harnesses: everything, content
// included, lives in memory and is lost with the process, so Enqueue's
// "durable" means "in this process".
//
// It follows every rule of the queue package and passes queuetest. Due
// messages are kept in a binary heap keyed by when they are due (or, for a
// leased message, when its lease expires), so choosing the next one costs
// O(log n). Messages whose destinations are backing off ([queue.Backoff])
// are parked per destination, off the heap, until the destination may be
// tried again. Time is read with time.Now(), so the queue runs on fake
// time inside a testing/synctest bubble.
package memqueue

import (
	"bytes"
	"cmp"
	"context"
	"io"
	"iter"
	"slices"
	"sync"
	"time"

	"github.com/postyard/postyard/queue"
)

// Queue is an in-memory queue.Queue. Create it with [New]; it is safe for
// concurrent use.
type Queue struct {
	opts queue.Options // resolved

	mu      sync.Mutex
	msgs    map[queue.ID]*entry
	due     minHeap[*entry] // neither held nor parked, or leased
	wake    minHeap[*wakeup]
	parked  map[string]map[*entry]struct{} // destination → messages waiting on it
	backoff queue.Backoff
	seq     uint64
	token   uint64
	changed chan struct{} // closed and replaced on every change that may make a message due
	closed  bool
	done    chan struct{} // closed by Close
}

// entry is a queued message and its scheduling state.
type entry struct {
	msg     *queue.Message
	content []byte // never modified
	seq     uint64 // enqueue order, breaks ties
	index   int    // in Queue.due, -1 if not there
	key     time.Time
	parked  string // destination it waits on, if parkedOn
	isPark  bool
	force   bool // RetryNow: ignore back-off for the next lease

	lease      uint64          // token of the current lease, 0 if none
	leaseRcpts []int           // recipients of the current lease
	probes     map[string]bool // destinations of the lease → it is their probe
}

// wakeup says when a destination's back-off ends.
type wakeup struct {
	at   time.Time
	dest string
}

var _ queue.Queue = (*Queue)(nil)

// New returns an empty queue. opts may be nil (all defaults); see
// [queue.Options].
func New(opts *queue.Options) *Queue {
	q := &Queue{
		opts:    opts.Resolved(),
		msgs:    make(map[queue.ID]*entry),
		parked:  make(map[string]map[*entry]struct{}),
		changed: make(chan struct{}),
		done:    make(chan struct{}),
	}
	q.backoff.Schedule = q.opts.Schedule
	q.due = minHeap[*entry]{
		less: func(a, b *entry) bool {
			if c := a.key.Compare(b.key); c != 0 {
				return c < 0
			}
			return a.seq < b.seq
		},
		setIndex: func(e *entry, i int) { e.index = i },
	}
	q.wake = minHeap[*wakeup]{
		less:     func(a, b *wakeup) bool { return a.at.Before(b.at) },
		setIndex: func(*wakeup, int) {},
	}
	return q
}

// Len returns the number of queued messages.
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.msgs)
}

// signal wakes waiting Lease calls. q.mu is held.
func (q *Queue) signal() {
	close(q.changed)
	q.changed = make(chan struct{})
}

func (q *Queue) emit(events []queue.Event) {
	if q.opts.OnEvent == nil {
		return
	}
	for _, ev := range events {
		q.opts.OnEvent(ev)
	}
}

// dueKey returns when e is next due, ignoring back-off: the earliest
// NextAttempt of its pending recipients, never before it was enqueued.
func dueKey(m *queue.Message) time.Time {
	next, _ := m.NextAttempt()
	if next.Before(m.Enqueued) {
		return m.Enqueued
	}
	return next
}

// schedule puts e where it belongs after a change: in the heap under its
// due time or lease expiry, or nowhere if held and not leased. It unparks
// e. q.mu is held.
func (q *Queue) schedule(e *entry) {
	q.unpark(e)
	switch {
	case e.lease != 0:
		e.key = e.msg.LeaseExpires
	case e.msg.Held:
		if e.index >= 0 {
			q.due.Remove(e.index)
		}
		return
	default:
		e.key = dueKey(e.msg)
	}
	if e.index >= 0 {
		q.due.Fix(e.index)
	} else {
		q.due.Push(e)
	}
}

func (q *Queue) park(e *entry, dest string, until time.Time) {
	if e.index >= 0 {
		q.due.Remove(e.index)
	}
	set := q.parked[dest]
	if set == nil {
		set = make(map[*entry]struct{})
		q.parked[dest] = set
		if !until.IsZero() {
			q.wake.Push(&wakeup{at: until, dest: dest})
		}
	}
	set[e] = struct{}{}
	e.parked, e.isPark = dest, true
}

func (q *Queue) unpark(e *entry) {
	if !e.isPark {
		return
	}
	set := q.parked[e.parked]
	delete(set, e)
	if len(set) == 0 {
		delete(q.parked, e.parked)
	}
	e.parked, e.isPark = "", false
}

// unparkDest puts every message waiting on dest back on the heap.
func (q *Queue) unparkDest(dest string) {
	set := q.parked[dest]
	if len(set) == 0 {
		return
	}
	delete(q.parked, dest)
	for e := range set {
		e.parked, e.isPark = "", false
		q.schedule(e)
	}
}

// Enqueue implements [queue.Queue.Enqueue]; the content is kept in memory.
func (q *Queue) Enqueue(ctx context.Context, env *queue.Envelope, body io.Reader) (queue.ID, error) {
	if err := q.check(ctx); err != nil {
		return "", err
	}
	if err := q.opts.CheckEnvelope(env); err != nil {
		return "", err
	}
	r := body
	if q.opts.MaxSize >= 0 {
		r = io.LimitReader(body, q.opts.MaxSize+1)
	}
	content, err := io.ReadAll(r)
	if err != nil {
		return "", err
	}
	if q.opts.MaxSize >= 0 && int64(len(content)) > q.opts.MaxSize {
		return "", queue.ErrTooLarge
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}

	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return "", queue.ErrClosed
	}
	now := time.Now()
	id := queue.NewID(now)
	for q.msgs[id] != nil {
		id = queue.NewID(now)
	}
	m := &queue.Message{
		ID:         id,
		Envelope:   env.Clone(),
		Size:       int64(len(content)),
		Enqueued:   now,
		Recipients: make([]queue.RecipientStatus, len(env.Recipients)),
		Held:       env.Hold,
	}
	q.seq++
	e := &entry{msg: m, content: content, seq: q.seq, index: -1}
	q.msgs[id] = e
	q.schedule(e)
	q.signal()
	q.mu.Unlock()
	q.emit([]queue.Event{{Kind: queue.EventEnqueued, ID: id, Time: now, Recipient: -1}})
	return id, nil
}

// check returns ctx's error or ErrClosed.
func (q *Queue) check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return queue.ErrClosed
	}
	return nil
}

// Lease implements [queue.Queue.Lease].
func (q *Queue) Lease(ctx context.Context, opts *queue.LeaseOptions) (*queue.Lease, error) {
	var o queue.LeaseOptions
	if opts != nil {
		o = *opts
	}
	if o.Duration <= 0 {
		o.Duration = q.opts.LeaseDuration
	}
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		q.mu.Lock()
		if q.closed {
			q.mu.Unlock()
			return nil, queue.ErrClosed
		}
		now := time.Now()
		l, events, wake := q.tryLease(now, o.Duration)
		changed := q.changed
		q.mu.Unlock()
		q.emit(events)
		if l != nil {
			return l, nil
		}
		if o.NoWait {
			return nil, queue.ErrNothingDue
		}
		if err := q.wait(ctx, changed, wake.Sub(now), !wake.IsZero()); err != nil {
			return nil, err
		}
	}
}

// wait blocks until changed is closed, the queue is closed, ctx ends, or
// (if timed) d has passed.
func (q *Queue) wait(ctx context.Context, changed <-chan struct{}, d time.Duration, timed bool) error {
	var timer <-chan time.Time
	if timed {
		t := time.NewTimer(d)
		defer t.Stop()
		timer = t.C
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-q.done:
		return queue.ErrClosed
	case <-changed:
	case <-timer:
	}
	return nil
}

// tryLease leases the first due message, if any. Otherwise it returns
// when to look again (zero: only after a change). q.mu is held.
func (q *Queue) tryLease(now time.Time, d time.Duration) (*queue.Lease, []queue.Event, time.Time) {
	var events []queue.Event
	// Destinations whose back-off ended release their messages.
	for q.wake.Len() > 0 && !q.wake.Peek().at.After(now) {
		q.unparkDest(q.wake.Pop().dest)
	}
	for q.due.Len() > 0 {
		e := q.due.Peek()
		if e.key.After(now) {
			break
		}
		if e.lease != 0 {
			events = append(events, q.expireLease(e, now))
			continue
		}
		var leased []int
		var gatedDest string
		var gatedUntil time.Time
		for i := range e.msg.Recipients {
			rs := &e.msg.Recipients[i]
			if rs.State != queue.RecipientPending || rs.NextAttempt.After(now) {
				continue
			}
			dest := queue.Destination(e.msg.Envelope.Recipients[i].To)
			if !e.force {
				if ok, until := q.backoff.Allow(dest, now); !ok {
					if gatedDest == "" {
						gatedDest, gatedUntil = dest, until
					}
					continue
				}
			}
			leased = append(leased, i)
		}
		switch {
		case len(leased) > 0:
			return q.grant(e, leased, now, d), append(events, queue.Event{
				Kind: queue.EventLeased, ID: e.msg.ID, Time: now, Recipient: -1,
			}), time.Time{}
		case gatedDest != "":
			q.park(e, gatedDest, gatedUntil)
		default:
			q.schedule(e) // its key was stale
		}
	}
	var wake time.Time
	if q.due.Len() > 0 {
		wake = q.due.Peek().key
	}
	if q.wake.Len() > 0 && (wake.IsZero() || q.wake.Peek().at.Before(wake)) {
		wake = q.wake.Peek().at
	}
	return nil, events, wake
}

// grant leases recipients of e. q.mu is held.
func (q *Queue) grant(e *entry, rcpts []int, now time.Time, d time.Duration) *queue.Lease {
	q.token++
	e.lease = q.token
	e.leaseRcpts = rcpts
	e.force = false
	e.probes = make(map[string]bool)
	for _, i := range rcpts {
		dest := queue.Destination(e.msg.Envelope.Recipients[i].To)
		if _, seen := e.probes[dest]; !seen {
			e.probes[dest] = q.backoff.Begin(dest)
		}
	}
	e.msg.LeaseExpires = now.Add(d)
	q.schedule(e)
	return &queue.Lease{
		Message:    e.msg.Clone(),
		Recipients: slices.Clone(rcpts),
		Expires:    e.msg.LeaseExpires,
		Token:      e.lease,
	}
}

// endLease forgets e's lease; aborted says it ended without a result.
// q.mu is held.
func (q *Queue) endLease(e *entry, aborted bool) {
	if aborted {
		for dest, probe := range e.probes {
			q.backoff.Aborted(dest, probe)
			if probe {
				q.unparkDest(dest)
			}
		}
	}
	e.lease, e.leaseRcpts, e.probes = 0, nil, nil
	e.msg.LeaseExpires = time.Time{}
}

// expireLease ends e's expired lease. q.mu is held.
func (q *Queue) expireLease(e *entry, now time.Time) queue.Event {
	q.endLease(e, true)
	q.schedule(e)
	q.signal()
	return queue.Event{Kind: queue.EventLeaseExpired, ID: e.msg.ID, Time: now, Recipient: -1}
}

// Renew implements [queue.Queue.Renew].
func (q *Queue) Renew(ctx context.Context, l *queue.Lease, d time.Duration) error {
	if d <= 0 {
		d = q.opts.LeaseDuration
	}
	e, events, err := q.leased(ctx, l)
	if err == nil {
		e.msg.LeaseExpires = time.Now().Add(d)
		l.Expires = e.msg.LeaseExpires
		q.schedule(e)
	}
	q.mu.Unlock()
	q.emit(events)
	return err
}

// leased locks q and returns the entry l holds, or ErrLeaseLost (ending
// the lease if it has just expired). q.mu stays locked in every case.
func (q *Queue) leased(ctx context.Context, l *queue.Lease) (*entry, []queue.Event, error) {
	if err := ctx.Err(); err != nil {
		q.mu.Lock()
		return nil, nil, err
	}
	q.mu.Lock()
	if q.closed {
		return nil, nil, queue.ErrClosed
	}
	e := q.msgs[l.ID()]
	if e == nil || e.lease != l.Token {
		return nil, nil, queue.ErrLeaseLost
	}
	now := time.Now()
	if !now.Before(e.msg.LeaseExpires) {
		return nil, []queue.Event{q.expireLease(e, now)}, queue.ErrLeaseLost
	}
	return e, nil, nil
}

// Complete implements [queue.Queue.Complete].
func (q *Queue) Complete(ctx context.Context, l *queue.Lease, outcomes []queue.Outcome) error {
	e, events, err := q.leased(ctx, l)
	if err != nil {
		q.mu.Unlock()
		q.emit(events)
		return err
	}
	now := time.Now()
	st, err := queue.Settle(e.msg, e.leaseRcpts, outcomes, now, q.opts.Schedule)
	if err != nil {
		q.mu.Unlock()
		return err
	}
	for dest, ok := range st.Destinations {
		if ok {
			q.backoff.Succeeded(dest)
		} else {
			q.backoff.Failed(dest, now)
		}
		q.unparkDest(dest)
	}
	for dest, probe := range e.probes {
		if _, done := st.Destinations[dest]; !done {
			q.backoff.Aborted(dest, probe)
			q.unparkDest(dest)
		}
	}
	q.endLease(e, false)
	snapshot := e.msg.Clone()
	content := e.content
	done := e.msg.Done()
	if done {
		q.remove(e)
	} else {
		q.schedule(e)
	}
	q.signal()
	q.mu.Unlock()

	events = append(events, st.Events...)
	open := func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(content)), nil }
	// The outcomes are recorded: the reports must go out even if ctx ends.
	reported, err := queue.SendReports(context.WithoutCancel(ctx), q, snapshot, st.Notices, open, &q.opts, now)
	events = append(events, reported...)
	if err != nil {
		q.opts.Logger.Error("queue: cannot enqueue report", "queue_id", snapshot.ID, "err", err)
	}
	if done {
		events = append(events, queue.Event{Kind: queue.EventRemoved, ID: snapshot.ID, Time: now, Recipient: -1})
	}
	q.emit(events)
	return err
}

// remove takes e out of the queue. q.mu is held.
func (q *Queue) remove(e *entry) {
	if e.lease != 0 {
		q.endLease(e, true)
	}
	q.unpark(e)
	if e.index >= 0 {
		q.due.Remove(e.index)
	}
	delete(q.msgs, e.msg.ID)
}

// Open implements [queue.Queue.Open].
func (q *Queue) Open(ctx context.Context, id queue.ID) (io.ReadCloser, error) {
	var content []byte
	err := q.with(ctx, id, func(e *entry, _ time.Time) *queue.Event {
		content = e.content
		return nil
	})
	if err != nil {
		return nil, err
	}
	return io.NopCloser(bytes.NewReader(content)), nil
}

// with runs f on the entry for id with q.mu held, then emits the event f
// returns, if any.
func (q *Queue) with(ctx context.Context, id queue.ID, f func(e *entry, now time.Time) *queue.Event) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return queue.ErrClosed
	}
	e := q.msgs[id]
	if e == nil {
		q.mu.Unlock()
		return queue.ErrNotFound
	}
	ev := f(e, time.Now())
	q.mu.Unlock()
	if ev != nil {
		q.emit([]queue.Event{*ev})
	}
	return nil
}

func adminEvent(kind queue.EventKind, e *entry, now time.Time) *queue.Event {
	return &queue.Event{Kind: kind, ID: e.msg.ID, Time: now, Recipient: -1}
}

// Hold implements [queue.Queue.Hold].
func (q *Queue) Hold(ctx context.Context, id queue.ID) error {
	return q.with(ctx, id, func(e *entry, now time.Time) *queue.Event {
		if e.msg.Held {
			return nil
		}
		e.msg.Held = true
		q.schedule(e)
		return adminEvent(queue.EventHeld, e, now)
	})
}

// Release implements [queue.Queue.Release].
func (q *Queue) Release(ctx context.Context, id queue.ID) error {
	return q.with(ctx, id, func(e *entry, now time.Time) *queue.Event {
		if !e.msg.Held {
			return nil
		}
		e.msg.Held = false
		q.schedule(e)
		q.signal()
		return adminEvent(queue.EventReleased, e, now)
	})
}

// Delete implements [queue.Queue.Delete].
func (q *Queue) Delete(ctx context.Context, id queue.ID) error {
	return q.with(ctx, id, func(e *entry, now time.Time) *queue.Event {
		q.remove(e)
		q.signal()
		return adminEvent(queue.EventDeleted, e, now)
	})
}

// RetryNow implements [queue.Queue.RetryNow].
func (q *Queue) RetryNow(ctx context.Context, id queue.ID) error {
	return q.with(ctx, id, func(e *entry, now time.Time) *queue.Event {
		for i := range e.msg.Recipients {
			if rs := &e.msg.Recipients[i]; rs.State == queue.RecipientPending {
				rs.NextAttempt = now
			}
		}
		e.force = true
		q.schedule(e)
		q.signal()
		return adminEvent(queue.EventRetryNow, e, now)
	})
}

// Inspect implements [queue.Queue.Inspect].
func (q *Queue) Inspect(ctx context.Context, id queue.ID) (*queue.Message, error) {
	var m *queue.Message
	err := q.with(ctx, id, func(e *entry, _ time.Time) *queue.Event {
		m = e.msg.Clone()
		return nil
	})
	return m, err
}

// List implements [queue.Queue.List]. Messages are yielded in enqueue
// order; the IDs are collected first, then each message is copied under
// the lock when its turn comes.
func (q *Queue) List(ctx context.Context, f *queue.Filter) iter.Seq2[*queue.Message, error] {
	return func(yield func(*queue.Message, error) bool) {
		if err := q.check(ctx); err != nil {
			yield(nil, err)
			return
		}
		type ref struct {
			id  queue.ID
			seq uint64
		}
		q.mu.Lock()
		refs := make([]ref, 0, len(q.msgs))
		for id, e := range q.msgs {
			refs = append(refs, ref{id, e.seq})
		}
		q.mu.Unlock()
		slices.SortFunc(refs, func(a, b ref) int { return cmp.Compare(a.seq, b.seq) })
		for _, r := range refs {
			if err := ctx.Err(); err != nil {
				yield(nil, err)
				return
			}
			m, err := q.Inspect(ctx, r.id)
			switch {
			case err == queue.ErrNotFound:
				continue
			case err != nil:
				yield(nil, err)
				return
			}
			if f.Match(m, time.Now()) && !yield(m, nil) {
				return
			}
		}
	}
}

// Close implements [queue.Queue.Close]. The messages are dropped.
func (q *Queue) Close() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.closed {
		q.closed = true
		close(q.done)
	}
	return nil
}
