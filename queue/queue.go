package queue

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"io"
	"iter"
	"log/slog"
	"os"
	"time"
)

// Queue is a durable outbound mail queue. All methods are safe for
// concurrent use and take ctx first; a method that returns because ctx
// ended returns ctx.Err(). After Close every method returns [ErrClosed].
//
// Rules every implementation follows (queuetest checks them):
//
//   - Enqueue returns an ID only once the message and its envelope are
//     durable; a file-backed queue has fsynced them. The message is then
//     due at once.
//   - At most one unexpired lease exists per message. A lease covers the
//     recipients in Lease.Recipients and nothing else.
//   - Messages are leased in order of when they became due (the earliest
//     NextAttempt of their pending recipients, or the enqueue time if
//     later), ties broken by order of enqueue; choosing the next one costs
//     O(log n) in the number of queued messages. A new message is due at
//     once.
//   - A lease that is not completed by its expiry ends by itself: the
//     message is due again at once, no attempt is counted, and a later
//     Complete or Renew with that lease fails with [ErrLeaseLost].
//   - Complete applies the outcomes as [Settle] says, enqueues the
//     reports Settle asks for (built with [Report], with the null
//     reverse-path) before it forgets the message, and removes a message
//     whose recipients are all final. It then emits the events.
//   - Per-destination back-off follows [Backoff]; a lease includes only
//     recipients whose destination allows an attempt, and a message none
//     of whose due recipients may be attempted is skipped (without
//     delaying the messages behind it). RetryNow lifts the back-off for
//     the next lease of that message.
//   - Leases, back-off and the lease token counter are not persistent:
//     after a restart every message that is not held is leasable and
//     every destination is healthy; a Lease from before the restart fails
//     with ErrLeaseLost (so lease tokens must not repeat across restarts).
//   - Held messages do not expire while held; the next attempt after
//     Release does it.
//   - Events go to Options.OnEvent after the change is made, never with
//     a lock held.
//   - Held messages are never leased; Hold, Release, Delete and RetryNow
//     apply to leased messages too (a deleted message's lease is lost).
//   - Messages in the queue are never changed by the queue except through
//     these methods; content is returned byte for byte.
type Queue interface {
	// Enqueue stores a message with content read from body (until EOF,
	// CRLF line endings, as it will be sent) and returns its ID once
	// durable. It reads body to the end or until it fails; it does not
	// close it. It fails with [ErrNoRecipients], [ErrTooManyRecipients]
	// or [ErrTooLarge] (the content exceeds Options.MaxSize; nothing is
	// stored), or with body's error.
	Enqueue(ctx context.Context, env *Envelope, body io.Reader) (ID, error)

	// Lease waits until a message is due and leases it to the caller: its
	// due recipients will not be handed to anyone else until the lease is
	// completed or expires. It returns ctx.Err() if ctx ends first, and
	// with opts.NoWait [ErrNothingDue] at once if nothing is due. opts
	// may be nil.
	Lease(ctx context.Context, opts *LeaseOptions) (*Lease, error)

	// Renew extends an unexpired lease to now+d (d <= 0 means the
	// queue's lease duration) and updates l.Expires. It fails with
	// [ErrLeaseLost] if the lease has expired or the message is gone.
	Renew(ctx context.Context, l *Lease, d time.Duration) error

	// Complete ends a lease with the outcomes of the attempt, at most one
	// per leased recipient. A leased recipient without an outcome is
	// deferred as if it had failed temporarily without an error. It fails
	// with [ErrLeaseLost] if the lease has expired, and with a
	// [*OutcomeError] (changing nothing) if an outcome names a recipient
	// that is not in the lease or one twice. Reports due are enqueued
	// before Complete returns.
	Complete(ctx context.Context, l *Lease, outcomes []Outcome) error

	// Open returns the content of a queued message, for a worker that
	// holds a lease or for an admin view. The caller closes the reader.
	// The reader stays valid if the message is deleted meanwhile. It
	// fails with [ErrNotFound].
	Open(ctx context.Context, id ID) (io.ReadCloser, error)

	// Hold puts a message on hold: it is not leased until released.
	// Holding a held message is not an error. A current lease continues.
	Hold(ctx context.Context, id ID) error
	// Release takes a message off hold; its recipients keep their
	// NextAttempt. Releasing a message not on hold is not an error.
	Release(ctx context.Context, id ID) error
	// Delete removes a message without sending any report. A current
	// lease is lost.
	Delete(ctx context.Context, id ID) error
	// RetryNow makes every pending recipient due at once, ignoring
	// per-destination back-off for the next lease of this message. It
	// does not release a held message.
	RetryNow(ctx context.Context, id ID) error

	// Inspect returns a copy of a message's record, or [ErrNotFound].
	Inspect(ctx context.Context, id ID) (*Message, error)
	// List yields a copy of each message that f matches (nil matches
	// all), in an order the implementation chooses, without holding the
	// whole queue in memory. Messages enqueued or removed during the
	// iteration may or may not be seen. Iteration stops at the first
	// error, which is yielded with a nil Message.
	List(ctx context.Context, f *Filter) iter.Seq2[*Message, error]

	// Close releases the queue's resources and stops every goroutine the
	// queue started. Pending Lease calls return [ErrClosed]. Messages stay
	// stored (for a durable queue). A second Close returns nil.
	Close() error
}

// ID identifies a queued message: 1 to 64 characters from [0-9A-Za-z],
// safe in file names and in "250 2.0.0 queued as ID". IDs are unique
// within a queue for its whole life.
type ID string

// Valid reports whether id has the form described at [ID].
func (id ID) Valid() bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('0' <= c && c <= '9' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z') {
			return false
		}
	}
	return true
}

var idEncoding = base32.NewEncoding("0123456789ABCDEFGHJKMNPQRSTVWXYZ").WithPadding(base32.NoPadding)

// NewID returns a new random ID of 26 characters that sorts by creation
// time at millisecond resolution: 48 bits of t in milliseconds then 80
// random bits, in Crockford's base 32. Implementations may use it or
// their own scheme.
func NewID(t time.Time) ID {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(t.UnixMilli())<<16)
	rand.Read(b[6:])
	return ID(idEncoding.EncodeToString(b[:]))
}

// Options configures a queue implementation; memqueue.New and
// filequeue.Open take a *Options, nil meaning all defaults. A queue reads
// the Options when it is created and does not keep the pointer.
type Options struct {
	// Schedule is the retry schedule; nil means the zero Schedule, all
	// defaults.
	Schedule *Schedule
	// LeaseDuration is how long a lease lasts unless renewed. Zero means
	// 10 minutes; it must be longer than one delivery attempt.
	LeaseDuration time.Duration
	// MaxSize is the largest content Enqueue accepts, in octets. Zero
	// means 32 MiB (the SMTP server's 25 MiB default plus the headers it
	// prepends); negative means unlimited.
	MaxSize int64
	// MaxRecipients is the most recipients per message. Zero means 1000;
	// negative means unlimited.
	MaxRecipients int
	// Hostname names this MTA in reports (Reporting-MTA, the report's
	// From: MAILER-DAEMON@Hostname). Empty means os.Hostname(), or
	// "localhost" if that fails.
	Hostname string
	// ReturnLimit is the largest message a failure report returns in
	// full; a larger one has only its header returned. Zero means 1 MiB;
	// negative means no limit.
	ReturnLimit int64
	// OnEvent, if set, is called for each [Event], synchronously, after
	// the change it describes is durable and without the queue's locks
	// held. It may be called from several goroutines at once and must not
	// block for long; it may call the queue.
	OnEvent func(Event)
	// Logger receives the queue's logs (queue_id attribute); nil means
	// slog.Default().
	Logger *slog.Logger
}

// Defaults of Options.
const (
	DefaultLeaseDuration = 10 * time.Minute
	DefaultMaxSize       = 32 << 20
	DefaultMaxRecipients = 1000
	DefaultReturnLimit   = 1 << 20
)

// Resolved returns a copy of o (nil allowed) with every zero field set to
// its default. Negative limits stay negative (unlimited).
func (o *Options) Resolved() Options {
	var r Options
	if o != nil {
		r = *o
	}
	if r.Schedule == nil {
		r.Schedule = new(Schedule)
	}
	if r.LeaseDuration <= 0 {
		r.LeaseDuration = DefaultLeaseDuration
	}
	if r.MaxSize == 0 {
		r.MaxSize = DefaultMaxSize
	}
	if r.MaxRecipients == 0 {
		r.MaxRecipients = DefaultMaxRecipients
	}
	if r.ReturnLimit == 0 {
		r.ReturnLimit = DefaultReturnLimit
	}
	if r.Hostname == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			h = "localhost"
		}
		r.Hostname = h
	}
	if r.Logger == nil {
		r.Logger = slog.Default()
	}
	return r
}

// CheckEnvelope checks env against the limits of o (resolved) as Enqueue
// must: [ErrNoRecipients], [ErrTooManyRecipients].
func (o *Options) CheckEnvelope(env *Envelope) error {
	if env == nil || len(env.Recipients) == 0 {
		return ErrNoRecipients
	}
	if o.MaxRecipients > 0 && len(env.Recipients) > o.MaxRecipients {
		return ErrTooManyRecipients
	}
	return nil
}

// LeaseOptions are the options of [Queue.Lease]. The zero value waits and
// uses the queue's lease duration.
type LeaseOptions struct {
	// Duration is how long the lease lasts; zero means
	// Options.LeaseDuration.
	Duration time.Duration
	// NoWait makes Lease return [ErrNothingDue] at once instead of
	// waiting when no message is due.
	NoWait bool
}

// Lease is a worker's claim on the due recipients of one message. The
// worker delivers Recipients (indexes into Message.Envelope.Recipients),
// reading the content with [Queue.Open], and ends the lease with
// [Queue.Complete]. The Lease must not be modified except through Renew.
type Lease struct {
	// Message is a copy of the message's record when it was leased.
	Message *Message
	// Recipients are the indexes of the recipients to attempt, in
	// increasing order: the pending recipients that were due and whose
	// destination's back-off allowed an attempt.
	Recipients []int
	// Expires is when the lease ends unless renewed or completed.
	Expires time.Time
	// Token identifies this lease among all leases of the message, for
	// the life of the queue's storage: a durable queue must not hand out
	// a token again after a restart (seed its counter at random or from
	// the clock).
	Token uint64
}

// ID returns the leased message's ID.
func (l *Lease) ID() ID { return l.Message.ID }

// Filter selects messages for [Queue.List]. The zero Filter matches all;
// the conditions that are set must all hold.
type Filter struct {
	// State is a set of states (bits); the message's State(now) must be
	// in it. Zero means any.
	State State
	// Domain matches a message with a pending recipient whose
	// [Destination] equals Destination(smtp.Path{Domain: Domain}).
	Domain string
	// Sender matches the reverse-path, compared case-insensitively as
	// String() forms; use "<>" for the null path.
	Sender string
	// OlderThan matches messages enqueued at least that long ago; zero
	// means no condition.
	OlderThan time.Duration
	// NewerThan matches messages enqueued less than that long ago; zero
	// means no condition.
	NewerThan time.Duration
}

// Errors of the Queue methods; test with [errors.Is].
var (
	// ErrNotFound: no message with that ID is queued.
	ErrNotFound = errors.New("queue: message not found")
	// ErrLeaseLost: the lease expired, or the message was deleted or
	// leased again. The worker's outcomes were not recorded; the message
	// will be (or was) attempted again.
	ErrLeaseLost = errors.New("queue: lease lost")
	// ErrNothingDue: Lease with NoWait found no due message.
	ErrNothingDue = errors.New("queue: nothing due")
	// ErrClosed: the queue was closed.
	ErrClosed = errors.New("queue: closed")
	// ErrNoRecipients: Enqueue without recipients. An SMTP backend never
	// sees it (DATA needs a recipient); answer 554 5.5.1.
	ErrNoRecipients = errors.New("queue: no recipients")
	// ErrTooManyRecipients: more than Options.MaxRecipients; answer
	// 452 4.5.3 (RFC 5321 §4.5.3.1.10).
	ErrTooManyRecipients = errors.New("queue: too many recipients")
	// ErrTooLarge: the content exceeds Options.MaxSize; answer 552 5.3.4.
	ErrTooLarge = errors.New("queue: message too large")
)
