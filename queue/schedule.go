package queue

import (
	"math"
	"math/rand/v2"
	"time"
)

// Schedule is a retry schedule: when a recipient that failed temporarily
// is tried again, when a message expires, and when a delay report is
// due. The zero Schedule is the default: 1 minute after the first
// failure, doubling up to 1 hour, up to 20% less at random, expiring 5
// days after enqueue (Postfix's maximal_queue_lifetime), delay warning
// after 4 hours; a destination that fails backs off the same way, but
// for 5 minutes at most. A Schedule is read-only once a queue uses it and is safe
// for concurrent use.
type Schedule struct {
	// Initial is the delay after the first failed attempt. Zero means 1
	// minute.
	Initial time.Duration
	// Max is the longest delay between attempts. Zero means 1 hour.
	Max time.Duration
	// Factor multiplies the delay after each further failure. Zero (or
	// less than 1) means 2.
	Factor float64
	// Jitter is the largest fraction taken off each delay at random, so
	// that messages deferred together spread out. Zero means 0.2;
	// negative means none; at most 1.
	Jitter float64
	// DestinationMax is the longest a destination backs off ([Backoff]):
	// the waits follow Initial, Factor and Jitter but stop growing here,
	// so a dead destination is probed at least this often while its
	// messages wait on their own, longer, schedule. Zero means 5 minutes.
	DestinationMax time.Duration
	// Expire is the lifetime of a message, from enqueue: a recipient still
	// failing temporarily after that fails (RFC 3463 X.4.7). Zero means 5
	// days; negative means never.
	Expire time.Duration
	// DelayWarning is the age after which a temporary failure sends a
	// delay report (RFC 3461 §4.1 NOTIFY=DELAY; also sent when NOTIFY was
	// not given). Zero means 4 hours; negative means never.
	DelayWarning time.Duration
}

// Default values of Schedule's fields.
const (
	DefaultInitialDelay   = time.Minute
	DefaultMaxDelay       = time.Hour
	DefaultFactor         = 2
	DefaultJitter         = 0.2
	DefaultDestinationMax = 5 * time.Minute
	DefaultExpire         = 5 * 24 * time.Hour
	DefaultDelayWarning   = 4 * time.Hour
)

// Resolved returns a copy of s (nil allowed) with zero fields set to their
// defaults.
func (s *Schedule) Resolved() Schedule {
	var r Schedule
	if s != nil {
		r = *s
	}
	if r.Initial <= 0 {
		r.Initial = DefaultInitialDelay
	}
	if r.Max <= 0 {
		r.Max = DefaultMaxDelay
	}
	if r.Max < r.Initial {
		r.Max = r.Initial
	}
	if r.Factor < 1 {
		r.Factor = DefaultFactor
	}
	switch {
	case r.Jitter == 0:
		r.Jitter = DefaultJitter
	case r.Jitter < 0:
		r.Jitter = -1 // stays "none" if resolved again
	case r.Jitter > 1:
		r.Jitter = 1
	}
	if r.DestinationMax <= 0 {
		r.DestinationMax = DefaultDestinationMax
	}
	if r.Expire == 0 {
		r.Expire = DefaultExpire
	}
	if r.DelayWarning == 0 {
		r.DelayWarning = DefaultDelayWarning
	}
	return r
}

// Delay returns how long to wait after the failures-th consecutive failed
// attempt (failures >= 1): Initial × Factor^(failures-1), at most Max,
// minus a random part of up to Jitter of it. It never returns less than
// a millisecond.
func (s *Schedule) Delay(failures int) time.Duration {
	r := s.Resolved()
	return r.delay(failures, r.Max)
}

// DestinationDelay is like Delay, with DestinationMax in place of Max:
// how long a destination backs off after its failures-th consecutive
// failure.
func (s *Schedule) DestinationDelay(failures int) time.Duration {
	r := s.Resolved()
	return r.delay(failures, r.DestinationMax)
}

// delay computes a resolved schedule's delay with the given maximum.
func (s *Schedule) delay(failures int, maxDelay time.Duration) time.Duration {
	d := float64(s.Initial) * math.Pow(s.Factor, float64(max(failures, 1)-1))
	d = min(d, float64(maxDelay))
	d -= d * max(s.Jitter, 0) * rand.Float64()
	return max(time.Duration(d), time.Millisecond)
}

// Deadline returns when a message enqueued at t expires, and false if
// messages never expire.
func (s *Schedule) Deadline(enqueued time.Time) (time.Time, bool) {
	r := s.Resolved()
	if r.Expire < 0 {
		return time.Time{}, false
	}
	return enqueued.Add(r.Expire), true
}

// Backoff is per-destination back-off: after a failed attempt on a
// destination (see [Destination]), its other recipients wait, so that one
// dead domain does not keep workers busy while the rest of the queue
// waits.
//
// A destination is healthy until an attempt fails there: a completed
// lease in which every leased recipient of that destination was deferred
// or expired (none delivered, none failed permanently, which would show
// the next hop answering). It then waits [Schedule.DestinationDelay] of
// its count of consecutive failures. When the wait is over, a single lease (the probe)
// may include the destination's recipients; its result either makes the
// destination healthy again (any recipient delivered or failed
// permanently) or extends the wait. Leases that do not include the
// destination are unaffected.
//
// Back-off state is not persistent: a queue that restarts starts with
// every destination healthy. A Backoff is not safe for concurrent use; a
// queue guards it with its own lock. The zero Backoff uses the default
// Schedule.
type Backoff struct {
	Schedule *Schedule
	dests    map[string]*destState
}

type destState struct {
	failures int
	retry    time.Time // no attempt before
	probing  bool      // a lease holds this destination's probe
}

// Allow reports whether a recipient for dest may be included in a lease
// at now. If not, wait is when to ask again, or zero if a probe is in
// flight and the answer changes only when it ends ([Backoff.End]).
func (b *Backoff) Allow(dest string, now time.Time) (ok bool, wait time.Time) {
	d := b.dests[dest]
	switch {
	case d == nil:
		return true, time.Time{}
	case d.probing:
		return false, time.Time{}
	case now.Before(d.retry):
		return false, d.retry
	}
	return true, time.Time{}
}

// Begin records that a lease includes recipients for dest, and reports
// whether it is the destination's probe (dest was backing off). The
// lease's end must be recorded with [Backoff.Succeeded],
// [Backoff.Failed] or [Backoff.Aborted].
func (b *Backoff) Begin(dest string) (probe bool) {
	if d := b.dests[dest]; d != nil {
		d.probing = true
		return true
	}
	return false
}

// Succeeded records that a lease reached dest: a recipient was delivered
// or failed permanently. dest is healthy again.
func (b *Backoff) Succeeded(dest string) { delete(b.dests, dest) }

// Failed records that a lease failed on dest: every leased recipient of
// dest was deferred or expired. It returns when dest may next be tried.
func (b *Backoff) Failed(dest string, now time.Time) time.Time {
	d := b.dests[dest]
	if d == nil {
		if b.dests == nil {
			b.dests = make(map[string]*destState)
		}
		d = new(destState)
		b.dests[dest] = d
	}
	d.failures++
	d.probing = false
	d.retry = now.Add(b.Schedule.DestinationDelay(d.failures))
	return d.retry
}

// Aborted records that a lease including dest ended without a result
// (it expired, or the message was deleted). If it was the probe, another
// lease may probe dest at once.
func (b *Backoff) Aborted(dest string, probe bool) {
	if d := b.dests[dest]; d != nil && probe {
		d.probing = false
	}
}

// Reset forgets the back-off of dest, as if it were healthy.
func (b *Backoff) Reset(dest string) { delete(b.dests, dest) }

// Len returns the number of destinations backing off.
func (b *Backoff) Len() int { return len(b.dests) }
