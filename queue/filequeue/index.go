package filequeue

import (
	"container/heap"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/postyard/postyard/queue"
)

// entry is what the queue keeps in memory about a message: enough to
// choose the next due message and to build a lease, and nothing that
// only Inspect, Lease or Complete need (those read the record from
// disk, unless it is cached: see index.keep). With the map and heap that
// index it, a message with one recipient takes about 270 octets.
type entry struct {
	id      queue.ID
	seq     uint64 // enqueue order, breaks ties
	pending []pend // the pending recipients, in increasing order

	// Scheduling, guarded by Queue.mu.
	key    int64 // in Queue.due: when due, or when the lease expires (nanos)
	index  int   // in Queue.due, -1 if not there
	parked string
	lease  *leaseState
	held   bool
	isPark bool // waiting on the back-off of destination parked
	force  bool // RetryNow: ignore back-off for the next lease
	busy   bool // a change is being written: not leasable meanwhile
	gone   bool // removed from the queue

	// Files, guarded by Queue.mu; they change with wmu held.
	hasState bool           // the state file exists, or is being written
	noRead   bool           // the message file is being removed: Open must not open it
	readers  int32          // readers from Queue.Open not yet closed
	gen      uint32         // bumped by every change of the record (see Queue.acquire)
	rec      *queue.Message // the current record, if cached (see index.keep); never modified

	// wmu serialises the changes to the message's files (and so its
	// record); it is taken before Queue.mu.
	wmu sync.Mutex
}

// pend is a pending recipient.
type pend struct {
	next int64 // nanos of NextAttempt, or of the enqueue if that is later
	rcpt int32
	dest string // queue.Destination of the recipient
}

// nanos returns t as Unix nanoseconds for the index, clamped to what an
// int64 holds (years 1678 to 2262); the zero time is the earliest.
func nanos(t time.Time) int64 {
	switch {
	case t.IsZero() || t.Year() < 1678:
		return math.MinInt64
	case t.Year() > 2261:
		return math.MaxInt64
	}
	return t.UnixNano()
}

// leaseState is the current lease of a message; leases are not
// persistent.
type leaseState struct {
	token   uint64
	rcpts   []int
	expires time.Time
	probes  map[string]bool // destinations of the lease → it is their probe
}

// newEntry returns the entry for a message record.
func newEntry(m *queue.Message) *entry {
	e := &entry{id: m.ID, index: -1}
	e.update(m, nil)
	return e
}

// update copies the scheduling fields of m, the message's new record.
// dests, if not nil, interns the destinations; without it each is
// copied (a decoded record's strings share one allocation, which the
// entry must not keep).
func (e *entry) update(m *queue.Message, dests map[string]string) {
	e.held = m.Held
	e.pending = e.pending[:0]
	enqueued := nanos(m.Enqueued)
	for i := range m.Recipients {
		rs := &m.Recipients[i]
		if rs.State != queue.RecipientPending {
			continue
		}
		dest := queue.Destination(m.Envelope.Recipients[i].To)
		if d, ok := dests[dest]; ok {
			dest = d
		} else {
			dest = strings.Clone(dest)
			if dests != nil {
				dests[dest] = dest
			}
		}
		e.pending = append(e.pending, pend{next: max(nanos(rs.NextAttempt), enqueued), rcpt: int32(i), dest: dest})
	}
}

// dueKey returns when the message is next due, ignoring back-off: the
// earliest next attempt of its pending recipients.
func (e *entry) dueKey() int64 {
	key := int64(math.MaxInt64)
	for _, p := range e.pending {
		key = min(key, p.next)
	}
	return key
}

// dueHeap is a heap.Interface of entries, earliest key first, then
// enqueue order; entries keep their index so that they can be re-keyed
// or removed in O(log n).
type dueHeap []*entry

func (h dueHeap) Len() int { return len(h) }

func (h dueHeap) Less(i, j int) bool {
	if h[i].key != h[j].key {
		return h[i].key < h[j].key
	}
	return h[i].seq < h[j].seq
}

func (h dueHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}

func (h *dueHeap) Push(x any) {
	e := x.(*entry)
	e.index = len(*h)
	*h = append(*h, e)
}

func (h *dueHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	e.index = -1
	return e
}

// wakeup says when a destination's back-off ends.
type wakeup struct {
	at   time.Time
	dest string
}

// wakeHeap is a heap.Interface of wakeups, earliest first.
type wakeHeap []wakeup

func (h wakeHeap) Len() int           { return len(h) }
func (h wakeHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h wakeHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *wakeHeap) Push(x any)        { *h = append(*h, x.(wakeup)) }

func (h *wakeHeap) Pop() any {
	old := *h
	w := old[len(old)-1]
	*h = old[:len(old)-1]
	return w
}

// index holds the entries and decides which message is due next. It is
// guarded by Queue.mu.
type index struct {
	msgs    map[queue.ID]*entry
	due     dueHeap // neither held, busy nor parked; or leased
	wake    wakeHeap
	parked  map[string]map[*entry]struct{} // destination → messages waiting on it
	backoff queue.Backoff
	seq     uint64
	token   uint64
	cached  int // entries with a cached record
}

// maxCached bounds the records the index keeps in memory (entry.rec):
// those of messages just enqueued or leased, so that their Lease and
// Complete need not read them from disk again. A message with a few
// recipients takes a few hundred octets.
const maxCached = 256

// keep caches m as the current record of e, if there is room. m must
// not be modified afterwards.
func (x *index) keep(e *entry, m *queue.Message) {
	if e.rec == nil {
		if x.cached >= maxCached {
			return
		}
		x.cached++
	}
	e.rec = m
}

// forget drops the cached record of e and returns it (nil if none).
func (x *index) forget(e *entry) *queue.Message {
	m := e.rec
	if m != nil {
		e.rec = nil
		x.cached--
	}
	return m
}

// place puts e where it belongs after a change: in the heap under its
// due time or lease expiry, or out of it while held (and not leased),
// busy or gone. It unparks e.
func (x *index) place(e *entry) {
	x.unpark(e)
	switch {
	case e.busy || e.gone || e.lease == nil && (e.held || len(e.pending) == 0):
		if e.index >= 0 {
			heap.Remove(&x.due, e.index)
		}
		return
	case e.lease != nil:
		e.key = nanos(e.lease.expires)
	default:
		e.key = e.dueKey()
	}
	if e.index >= 0 {
		heap.Fix(&x.due, e.index)
	} else {
		heap.Push(&x.due, e)
	}
}

// add indexes a new entry.
func (x *index) add(e *entry) {
	x.seq++
	e.seq = x.seq
	x.msgs[e.id] = e
	x.place(e)
}

// remove takes e out of the index; its lease, if any, is lost.
func (x *index) remove(e *entry) {
	if e.lease != nil {
		x.endLease(e, true)
	}
	e.gone = true
	x.forget(e)
	x.place(e)
	delete(x.msgs, e.id)
}

func (x *index) park(e *entry, dest string, until time.Time) {
	if e.index >= 0 {
		heap.Remove(&x.due, e.index)
	}
	set := x.parked[dest]
	if set == nil {
		set = make(map[*entry]struct{})
		x.parked[dest] = set
		if !until.IsZero() {
			heap.Push(&x.wake, wakeup{at: until, dest: dest})
		}
	}
	set[e] = struct{}{}
	e.parked, e.isPark = dest, true
}

func (x *index) unpark(e *entry) {
	if !e.isPark {
		return
	}
	set := x.parked[e.parked]
	delete(set, e)
	if len(set) == 0 {
		delete(x.parked, e.parked)
	}
	e.parked, e.isPark = "", false
}

// unparkDest puts every message waiting on dest back on the heap.
func (x *index) unparkDest(dest string) {
	set := x.parked[dest]
	delete(x.parked, dest)
	for e := range set {
		e.parked, e.isPark = "", false
		x.place(e)
	}
}

// next leases the first due message, if any, for d: it returns the entry
// (with e.lease set) and the events of leases that expired on the way.
// If nothing is due it returns when to look again (zero: only after a
// change). Cost: O(log n) per message looked at; a message is looked at
// again only after it changes or a lease or back-off ends.
func (x *index) next(now time.Time, d time.Duration) (*entry, []queue.Event, time.Time) {
	var events []queue.Event
	tnow := nanos(now)
	for x.wake.Len() > 0 && !x.wake[0].at.After(now) {
		x.unparkDest(heap.Pop(&x.wake).(wakeup).dest)
	}
	for x.due.Len() > 0 {
		e := x.due[0]
		if e.key > tnow {
			break
		}
		if e.lease != nil {
			events = append(events, x.expire(e, now))
			continue
		}
		var leased []pend
		var gated string
		var gatedUntil time.Time
		for _, p := range e.pending {
			if p.next > tnow {
				continue
			}
			if !e.force {
				if ok, until := x.backoff.Allow(p.dest, now); !ok {
					if gated == "" {
						gated, gatedUntil = p.dest, until
					}
					continue
				}
			}
			leased = append(leased, p)
		}
		switch {
		case len(leased) > 0:
			x.grant(e, leased, now.Add(d))
			return e, events, time.Time{}
		case gated != "":
			x.park(e, gated, gatedUntil)
		default:
			x.place(e) // its key was stale
		}
	}
	var wake time.Time
	if x.due.Len() > 0 {
		wake = time.Unix(0, x.due[0].key)
	}
	if x.wake.Len() > 0 && (wake.IsZero() || x.wake[0].at.Before(wake)) {
		wake = x.wake[0].at
	}
	return nil, events, wake
}

// grant leases the recipients leased of e until expires.
func (x *index) grant(e *entry, leased []pend, expires time.Time) {
	x.token++
	l := &leaseState{token: x.token, rcpts: make([]int, len(leased)), expires: expires, probes: make(map[string]bool)}
	for i, p := range leased {
		l.rcpts[i] = int(p.rcpt)
		if _, seen := l.probes[p.dest]; !seen {
			l.probes[p.dest] = x.backoff.Begin(p.dest)
		}
	}
	e.lease = l
	e.force = false
	x.place(e)
}

// endLease forgets e's lease; aborted says it ended without a result.
func (x *index) endLease(e *entry, aborted bool) {
	if aborted {
		for dest, probe := range e.lease.probes {
			x.backoff.Aborted(dest, probe)
			if probe {
				x.unparkDest(dest)
			}
		}
	}
	e.lease = nil
}

// expire ends e's expired lease.
func (x *index) expire(e *entry, now time.Time) queue.Event {
	x.endLease(e, true)
	x.place(e)
	return queue.Event{Kind: queue.EventLeaseExpired, ID: e.id, Time: now, Recipient: -1}
}

// settled records the end of e's lease by Complete: the back-off of the
// destinations the attempt reached or failed on, and of those it
// included but settled nothing for.
func (x *index) settled(e *entry, dests map[string]bool, now time.Time) {
	for dest, ok := range dests {
		if ok {
			x.backoff.Succeeded(dest)
		} else {
			x.backoff.Failed(dest, now)
		}
		x.unparkDest(dest)
	}
	for dest, probe := range e.lease.probes {
		if _, done := dests[dest]; !done {
			x.backoff.Aborted(dest, probe)
			x.unparkDest(dest)
		}
	}
	x.endLease(e, false)
}
