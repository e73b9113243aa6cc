package filequeue

import (
	"cmp"
	"context"
	"errors"
	"io"
	"io/fs"
	"iter"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/postyard/postyard/queue"
)

// ErrLocked is returned by [Open] when another Queue, in this process or
// another, has the directory open.
var ErrLocked = errors.New("filequeue: queue directory in use")

// Queue is a durable queue.Queue in a directory. Create it with [Open];
// it is safe for concurrent use.
type Queue struct {
	opts      queue.Options // resolved
	dir       string
	msgPrefix string   // dir/msg/
	lock      *os.File // holds the flock
	msgDir    *os.File // for fsync
	com       *committer
	syncEach  bool // fsync the directory per change instead of group commit (benchmark baseline)
	spares    sparePool

	mu       sync.Mutex
	x        index
	reserved map[queue.ID]bool // IDs of the Enqueues in progress
	changed  chan struct{}     // closed and replaced on every change that may make a message due
	closed   bool
	done     chan struct{} // closed by Close
	ops      sync.WaitGroup
}

var _ queue.Queue = (*Queue)(nil)

// Open opens the queue stored in dir, creating the directory if needed,
// and recovers it: every message is loaded, leases are gone, files that
// fail their checks are moved to dir/quarantine, unfinished writes are
// deleted. opts may be nil (all defaults); see [queue.Options].
//
// One Queue at a time may have dir open; Open fails with [ErrLocked]
// otherwise (flock(2); not enforced where flock is missing). The Queue
// owns its directory until Close.
func Open(dir string, opts *queue.Options) (_ *Queue, err error) {
	q := &Queue{
		opts:      opts.Resolved(),
		dir:       dir,
		msgPrefix: filepath.Join(dir, msgDir) + string(filepath.Separator),
		reserved:  make(map[queue.ID]bool),
		changed:   make(chan struct{}),
		done:      make(chan struct{}),
	}
	q.spares.dir = filepath.Join(dir, tmpDir)
	q.x.msgs = make(map[queue.ID]*entry)
	q.x.parked = make(map[string]map[*entry]struct{})
	q.x.backoff.Schedule = q.opts.Schedule
	// Lease tokens must not repeat across restarts.
	q.x.token = rand.Uint64() >> 1

	_, err = os.Stat(dir)
	created := errors.Is(err, fs.ErrNotExist)
	for _, d := range []string{msgDir, tmpDir, quarantineDir} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			return nil, err
		}
	}
	if created { // make dir's own entry durable too
		if err := syncDir(filepath.Dir(filepath.Clean(dir))); err != nil {
			return nil, err
		}
	}
	q.lock, err = os.OpenFile(filepath.Join(dir, lockName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			q.lock.Close()
		}
	}()
	if err := lockFile(q.lock); err != nil {
		return nil, err
	}
	if err := syncDir(dir); err != nil { // the subdirectories, the first time
		return nil, err
	}
	q.msgDir, err = os.Open(filepath.Join(dir, msgDir))
	if err != nil {
		return nil, err
	}
	q.com = newCommitter(q.msgDir)
	if err := q.recover(); err != nil {
		q.com.close()
		q.msgDir.Close()
		return nil, err
	}
	return q, nil
}

// Len returns the number of queued messages.
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.x.msgs)
}

// begin starts an operation that Close waits for; it fails if ctx has
// ended or the queue is closed. The caller calls q.ops.Done.
func (q *Queue) begin(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return queue.ErrClosed
	}
	q.ops.Add(1)
	return nil
}

// signal wakes waiting Lease calls. q.mu is held.
func (q *Queue) signal() {
	close(q.changed)
	q.changed = make(chan struct{})
}

func (q *Queue) emit(events ...queue.Event) {
	if q.opts.OnEvent == nil {
		return
	}
	for _, ev := range events {
		q.opts.OnEvent(ev)
	}
}

func event(kind queue.EventKind, id queue.ID, now time.Time) queue.Event {
	return queue.Event{Kind: kind, ID: id, Time: now, Recipient: -1}
}

// Enqueue implements [queue.Queue.Enqueue]. The content is streamed to a
// temporary file; the ID is returned once the message file is fsynced,
// renamed into the queue and the directory fsynced (shared with
// concurrent writers).
func (q *Queue) Enqueue(ctx context.Context, env *queue.Envelope, body io.Reader) (queue.ID, error) {
	if err := q.begin(ctx); err != nil {
		return "", err
	}
	id, ev, err := q.enqueue(ctx, env, body)
	q.ops.Done()
	if err != nil {
		return "", err
	}
	q.emit(ev)
	return id, nil
}

// enqueue is Enqueue within an operation that has begun; the caller
// emits the event.
func (q *Queue) enqueue(ctx context.Context, env *queue.Envelope, body io.Reader) (queue.ID, queue.Event, error) {
	if err := q.opts.CheckEnvelope(env); err != nil {
		return "", queue.Event{}, err
	}
	now := time.Now()
	q.mu.Lock()
	id := queue.NewID(now)
	for q.x.msgs[id] != nil || q.reserved[id] {
		id = queue.NewID(now)
	}
	q.reserved[id] = true
	q.mu.Unlock()

	h := &header{id: id, enqueued: now, env: env.Clone()}
	err := q.writeMessage(ctx, h, body)
	q.mu.Lock()
	delete(q.reserved, id)
	if err == nil {
		m := &queue.Message{ID: id, Envelope: h.env, Size: h.size, Enqueued: now, Recipients: make([]queue.RecipientStatus, len(env.Recipients)), Held: env.Hold}
		e := newEntry(m)
		q.x.add(e)
		q.x.keep(e, m) // the record as it is on disk, for the first Lease
		q.signal()
	}
	q.mu.Unlock()
	if err != nil {
		return "", queue.Event{}, err
	}
	return id, event(queue.EventEnqueued, id, now), nil
}

// Lease implements [queue.Queue.Lease]. Choosing the message costs
// O(log n); its record is then read from disk, unless it is cached
// (see index.keep).
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
		e, events, wake := q.x.next(now, o.Duration)
		var (
			ls       leaseState
			gen      uint32
			hasState bool
			m        *queue.Message
		)
		if e != nil {
			ls, gen, hasState = *e.lease, e.gen, e.hasState
			if e.rec != nil {
				m = e.rec.Clone() // the caller owns it
			} else {
				q.ops.Add(1)
			}
		}
		if len(events) > 0 {
			q.signal()
		}
		changed := q.changed
		q.mu.Unlock()
		q.emit(events...)
		if m != nil {
			m.LeaseExpires = ls.expires
			q.emit(event(queue.EventLeased, e.id, now))
			return &queue.Lease{Message: m, Recipients: slices.Clone(ls.rcpts), Expires: ls.expires, Token: ls.token}, nil
		}
		if e != nil {
			l, err := q.leaseRecord(e, &ls, gen, hasState)
			q.ops.Done()
			if l != nil {
				q.emit(event(queue.EventLeased, e.id, now))
				return l, nil
			}
			if err != nil {
				return nil, err
			}
			continue
		}
		if o.NoWait {
			return nil, queue.ErrNothingDue
		}
		if err := q.wait(ctx, changed, wake, now); err != nil {
			return nil, err
		}
	}
}

// wait blocks until changed is closed, the queue is closed, ctx ends, or
// wake (unless zero) comes.
func (q *Queue) wait(ctx context.Context, changed <-chan struct{}, wake, now time.Time) error {
	var timeout <-chan time.Time
	if !wake.IsZero() {
		t := time.NewTimer(wake.Sub(now))
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-q.done:
		return queue.ErrClosed
	case <-changed:
	case <-timeout:
	}
	return nil
}

// leaseRecord reads the record of e, just leased as ls when its record
// was at generation gen, and returns the Lease. A copy of the record is
// cached for Complete, unless the record changed meanwhile. If the
// files are gone (deleted meanwhile) or corrupt, it returns nil, nil,
// and the caller looks for another message.
func (q *Queue) leaseRecord(e *entry, ls *leaseState, gen uint32, hasState bool) (*queue.Lease, error) {
	m, err := q.readRecord(e.id, hasState)
	if err != nil {
		q.mu.Lock()
		if e.lease != nil && e.lease.token == ls.token {
			q.x.endLease(e, true)
			q.x.place(e)
			q.signal()
		}
		q.mu.Unlock()
		if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, ErrCorrupt) {
			return nil, err
		}
		q.drop(e, err)
		return nil, nil
	}
	m.LeaseExpires = ls.expires
	q.mu.Lock()
	if e.gen == gen && !e.gone {
		q.x.keep(e, m.Clone()) // the caller owns m
	}
	q.mu.Unlock()
	return &queue.Lease{Message: m, Recipients: slices.Clone(ls.rcpts), Expires: ls.expires, Token: ls.token}, nil
}

// drop takes a message whose files went missing or failed their checks
// out of the queue, moving what is left of them to the quarantine
// folder, unless it was removed meanwhile.
func (q *Queue) drop(e *entry, cause error) {
	e.wmu.Lock()
	defer e.wmu.Unlock()
	q.mu.Lock()
	gone := e.gone
	q.mu.Unlock()
	if gone {
		return
	}
	if _, err := os.Stat(q.msgPath(e.id)); errors.Is(err, fs.ErrNotExist) {
		q.opts.Logger.Error("filequeue: message file vanished", "queue_id", e.id, "err", cause)
	} else {
		q.opts.Logger.Error("filequeue: corrupt message", "queue_id", e.id, "err", cause)
	}
	if err := q.quarantine(string(e.id), string(e.id)+stateSuffix); err != nil {
		q.opts.Logger.Error("filequeue: cannot quarantine", "queue_id", e.id, "err", err)
	}
	q.mu.Lock()
	q.x.remove(e)
	q.mu.Unlock()
}

// leased returns the entry that l holds, or ErrLeaseLost (ending the
// lease if it has just expired). q.mu is held.
func (q *Queue) leased(l *queue.Lease, now time.Time) (*entry, []queue.Event, error) {
	e := q.x.msgs[l.ID()]
	if e == nil || e.lease == nil || e.lease.token != l.Token {
		return nil, nil, queue.ErrLeaseLost
	}
	if !now.Before(e.lease.expires) {
		ev := q.x.expire(e, now)
		q.signal()
		return nil, []queue.Event{ev}, queue.ErrLeaseLost
	}
	return e, nil, nil
}

// Renew implements [queue.Queue.Renew]; leases live in memory only.
func (q *Queue) Renew(ctx context.Context, l *queue.Lease, d time.Duration) error {
	if d <= 0 {
		d = q.opts.LeaseDuration
	}
	if err := q.begin(ctx); err != nil {
		return err
	}
	q.mu.Lock()
	now := time.Now()
	e, events, err := q.leased(l, now)
	if err == nil {
		e.lease.expires = now.Add(d)
		l.Expires = e.lease.expires
		q.x.place(e)
	}
	q.mu.Unlock()
	q.ops.Done()
	q.emit(events...)
	return err
}

// lookup begins an operation (the caller ends it with q.ops.Done) and
// returns the entry of id, or fails with ErrNotFound.
func (q *Queue) lookup(ctx context.Context, id queue.ID) (*entry, error) {
	if err := q.begin(ctx); err != nil {
		return nil, err
	}
	q.mu.Lock()
	e := q.x.msgs[id]
	q.mu.Unlock()
	if e == nil {
		q.ops.Done()
		return nil, queue.ErrNotFound
	}
	return e, nil
}

// acquire begins an operation on the message id: it locks the message's
// files and takes it off the heap while they change. The caller ends
// with release. It returns the cached record, if any (see index.keep),
// which the caller may change: the record counts as changed from now on.
func (q *Queue) acquire(ctx context.Context, id queue.ID) (*entry, *queue.Message, error) {
	e, err := q.lookup(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	e.wmu.Lock()
	q.mu.Lock()
	defer q.mu.Unlock()
	if e.gone {
		e.wmu.Unlock()
		q.ops.Done()
		return nil, nil, queue.ErrNotFound
	}
	e.busy = true
	rec := q.x.forget(e)
	e.gen++
	q.x.place(e)
	return e, rec, nil
}

// release ends acquire, calling f (if not nil) with q.mu held to update
// the index.
func (q *Queue) release(e *entry, f func()) {
	q.mu.Lock()
	e.busy = false
	if f != nil {
		f()
	}
	q.x.place(e)
	q.signal()
	q.mu.Unlock()
	e.wmu.Unlock()
	q.ops.Done()
}

// notFound maps a missing message file to queue.ErrNotFound.
func notFound(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return queue.ErrNotFound
	}
	return err
}

// Complete implements [queue.Queue.Complete]. The reports go into the
// queue first, then the message's new state file (or its removal) is
// made durable, then the events are emitted: a crash in between repeats
// a report but loses no outcome that Complete returned for.
func (q *Queue) Complete(ctx context.Context, l *queue.Lease, outcomes []queue.Outcome) error {
	e, m, err := q.acquire(ctx, l.ID())
	if errors.Is(err, queue.ErrNotFound) {
		return queue.ErrLeaseLost
	}
	if err != nil {
		return err
	}
	q.mu.Lock()
	now := time.Now()
	_, events, err := q.leased(l, now)
	var rcpts []int
	hasState := e.hasState
	if err == nil {
		rcpts = e.lease.rcpts
	}
	q.mu.Unlock()
	if err != nil {
		q.release(e, nil)
		q.emit(events...)
		return err
	}

	if m == nil {
		if m, err = q.readRecord(e.id, hasState); err != nil {
			q.release(e, nil)
			return err
		}
	}
	st, err := queue.Settle(m, rcpts, outcomes, now, q.opts.Schedule)
	if err != nil {
		q.release(e, nil)
		return err
	}
	open := func() (io.ReadCloser, error) { return openContent(q.msgPath(e.id)) }
	// The outcomes are final once recorded: the reports must go out even
	// if ctx ends.
	rep := &reporter{Queue: q}
	reported, rerr := queue.SendReports(context.WithoutCancel(ctx), rep, m, st.Notices, open, &q.opts, now)
	if rerr != nil {
		q.opts.Logger.Error("queue: cannot enqueue report", "queue_id", e.id, "err", rerr)
	}
	done := m.Done()
	if done {
		err = q.removeFiles(e.id, e, m.Size, hasState)
	} else {
		err = q.writeState(e, m)
	}
	if err != nil {
		q.release(e, nil)
		q.emit(append(rep.events, reported...)...) // the reports are queued
		return err
	}
	q.release(e, func() {
		q.x.settled(e, st.Destinations, now)
		if done {
			q.x.remove(e)
		} else {
			e.update(m, nil)
		}
	})
	events = append(append(rep.events, st.Events...), reported...)
	if done {
		events = append(events, event(queue.EventRemoved, e.id, now))
	}
	q.emit(events...)
	return rerr
}

// reporter is the queue as SendReports sees it: its Enqueue runs within
// the Complete that sends the reports, so that Close, which waits for
// that Complete, does not refuse them, and it keeps the events for
// Complete to emit.
type reporter struct {
	*Queue
	events []queue.Event
}

func (r *reporter) Enqueue(ctx context.Context, env *queue.Envelope, body io.Reader) (queue.ID, error) {
	id, ev, err := r.enqueue(ctx, env, body)
	if err == nil {
		r.events = append(r.events, ev)
	}
	return id, err
}

// modify applies f to the record of id, with the message's files locked,
// and if f reports a change writes the new state durably, updates the
// index (then calls after, if not nil, with q.mu held) and emits kind.
func (q *Queue) modify(ctx context.Context, id queue.ID, kind queue.EventKind, f func(m *queue.Message, now time.Time) bool, after func(e *entry)) error {
	e, m, err := q.acquire(ctx, id)
	if err != nil {
		return err
	}
	if m == nil {
		q.mu.Lock()
		hasState := e.hasState
		q.mu.Unlock()
		if m, err = q.readRecord(id, hasState); err != nil {
			q.release(e, nil)
			return notFound(err)
		}
	}
	now := time.Now()
	if !f(m, now) {
		q.release(e, nil)
		return nil
	}
	if err := q.writeState(e, m); err != nil {
		q.release(e, nil)
		return err
	}
	q.release(e, func() {
		e.update(m, nil)
		if after != nil {
			after(e)
		}
	})
	q.emit(event(kind, id, now))
	return nil
}

// Hold implements [queue.Queue.Hold]; the hold is durable.
func (q *Queue) Hold(ctx context.Context, id queue.ID) error {
	return q.setHeld(ctx, id, true, queue.EventHeld)
}

// Release implements [queue.Queue.Release].
func (q *Queue) Release(ctx context.Context, id queue.ID) error {
	return q.setHeld(ctx, id, false, queue.EventReleased)
}

func (q *Queue) setHeld(ctx context.Context, id queue.ID, held bool, kind queue.EventKind) error {
	return q.modify(ctx, id, kind, func(m *queue.Message, _ time.Time) bool {
		changed := m.Held != held
		m.Held = held
		return changed
	}, nil)
}

// RetryNow implements [queue.Queue.RetryNow]. The new NextAttempt times
// are durable; lifting the back-off is not (back-off is not kept across
// restarts anyway).
func (q *Queue) RetryNow(ctx context.Context, id queue.ID) error {
	return q.modify(ctx, id, queue.EventRetryNow, func(m *queue.Message, now time.Time) bool {
		for i := range m.Recipients {
			if rs := &m.Recipients[i]; rs.State == queue.RecipientPending {
				rs.NextAttempt = now
			}
		}
		return true
	}, func(e *entry) { e.force = true })
}

// Delete implements [queue.Queue.Delete]: the message file is removed
// and the removal made durable.
func (q *Queue) Delete(ctx context.Context, id queue.ID) error {
	e, _, err := q.acquire(ctx, id)
	if err != nil {
		return err
	}
	q.mu.Lock()
	hasState := e.hasState
	q.mu.Unlock()
	// The file is unlinked, not kept as a spare: Delete does not read the
	// record, so the size is unknown.
	if err := q.removeFiles(id, nil, 0, hasState); err != nil {
		q.release(e, nil)
		return err
	}
	now := time.Now()
	q.release(e, func() { q.x.remove(e) })
	q.emit(event(queue.EventDeleted, id, now))
	return nil
}

// Open implements [queue.Queue.Open]. The reader reads the message file
// (it stays valid if the message is removed meanwhile) and fails with an
// error wrapping [ErrCorrupt] at the end of content that is not what was
// enqueued.
func (q *Queue) Open(ctx context.Context, id queue.ID) (io.ReadCloser, error) {
	e, err := q.lookup(ctx, id)
	if err != nil {
		return nil, err
	}
	defer q.ops.Done()
	// While a reader is open, a removal unlinks the file instead of
	// keeping it as a spare to write over.
	q.mu.Lock()
	if e.noRead {
		q.mu.Unlock()
		return nil, queue.ErrNotFound
	}
	e.readers++
	q.mu.Unlock()
	done := func() {
		q.mu.Lock()
		e.readers--
		q.mu.Unlock()
	}
	rc, err := openContent(q.msgPath(id))
	if err != nil {
		done()
		return nil, notFound(err)
	}
	rc.done = done
	return rc, nil
}

// Inspect implements [queue.Queue.Inspect]; the record is read from
// disk.
func (q *Queue) Inspect(ctx context.Context, id queue.ID) (*queue.Message, error) {
	e, err := q.lookup(ctx, id)
	if err != nil {
		return nil, err
	}
	defer q.ops.Done()
	q.mu.Lock()
	hasState := e.hasState
	q.mu.Unlock()
	m, err := q.readRecord(id, hasState)
	if err != nil {
		return nil, notFound(err)
	}
	q.mu.Lock()
	if e.lease != nil {
		m.LeaseExpires = e.lease.expires
	}
	q.mu.Unlock()
	return m, nil
}

// List implements [queue.Queue.List]. Messages are yielded in enqueue
// order: the IDs are collected first, then each record is read from disk
// when its turn comes, so memory does not grow with the records.
func (q *Queue) List(ctx context.Context, f *queue.Filter) iter.Seq2[*queue.Message, error] {
	return func(yield func(*queue.Message, error) bool) {
		if err := q.begin(ctx); err != nil {
			yield(nil, err)
			return
		}
		type ref struct {
			id  queue.ID
			seq uint64
		}
		q.mu.Lock()
		refs := make([]ref, 0, len(q.x.msgs))
		for id, e := range q.x.msgs {
			refs = append(refs, ref{id, e.seq})
		}
		q.mu.Unlock()
		q.ops.Done()
		slices.SortFunc(refs, func(a, b ref) int { return cmp.Compare(a.seq, b.seq) })
		for _, r := range refs {
			m, err := q.Inspect(ctx, r.id)
			switch {
			case errors.Is(err, queue.ErrNotFound):
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

// Close implements [queue.Queue.Close]: it waits for the operations in
// progress, stops the group committer and releases the directory. The
// messages stay on disk.
func (q *Queue) Close() error {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return nil
	}
	q.closed = true
	close(q.done)
	q.mu.Unlock()
	q.ops.Wait()
	q.com.close()
	q.spares.close()
	return errors.Join(q.msgDir.Close(), q.lock.Close())
}
