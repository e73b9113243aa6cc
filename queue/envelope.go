package queue

import (
	"strings"
	"time"

	"github.com/postyard/postyard/smtp"
)

// Envelope is the SMTP envelope of a queued message: what MAIL and RCPT
// carried, so that an smtp.Session can fill it in without conversion:
//
//	func (s *session) Mail(ctx context.Context, from smtp.Path, opts *smtp.MailOptions) error {
//		s.env = queue.Envelope{From: from, Options: *opts}
//		return nil
//	}
//	func (s *session) Rcpt(ctx context.Context, to smtp.Path, opts *smtp.RcptOptions) error {
//		s.env.Recipients = append(s.env.Recipients, queue.Recipient{To: to, Options: *opts})
//		return nil
//	}
//
// The queue keeps a deep copy; the caller may reuse the Envelope after
// Enqueue returns.
type Envelope struct {
	// From is the reverse-path; the null path ("<>") marks a bounce or
	// other report, for which the queue never sends a report (RFC 3461
	// §6.2, RFC 5321 §4.5.5).
	From smtp.Path
	// Options are the MAIL parameters: RET and ENVID for reports
	// (RFC 3461 §4.3, §4.4), SMTPUTF8 (RFC 6531), BODY, REQUIRETLS
	// (RFC 8689) and AUTH (RFC 4954 §5) for the next hop. Size is
	// ignored: the queue measures the content.
	Options smtp.MailOptions
	// Recipients are the forward-paths with their RCPT parameters, in RCPT
	// order. A recipient is identified by its index in this slice
	// throughout the queue's API. Duplicates are kept as given.
	Recipients []Recipient
	// Hold enqueues the message on hold, as if Queue.Hold had been called
	// in the same step: it is never leased until released. For mail that
	// must wait for an administrator (a quarantined message, a data-loss
	// rule's hold). Only Enqueue reads it; Message.Held is the state.
	Hold bool
}

// Recipient is one forward-path and its RCPT parameters: NOTIFY
// (RFC 3461 §4.1) and ORCPT (RFC 3461 §4.2, RFC 6533 §3).
type Recipient struct {
	To      smtp.Path
	Options smtp.RcptOptions
}

// Clone returns a deep copy of e.
func (e Envelope) Clone() Envelope {
	e.From.SourceRoute = cloneStrings(e.From.SourceRoute)
	rs := make([]Recipient, len(e.Recipients))
	for i, r := range e.Recipients {
		r.To.SourceRoute = cloneStrings(r.To.SourceRoute)
		rs[i] = r
	}
	e.Recipients = rs
	return e
}

func cloneStrings(s []string) []string {
	if s == nil {
		return nil
	}
	return append([]string(nil), s...)
}

// UTF8 reports whether the envelope needs SMTPUTF8 (RFC 6531): the MAIL
// command had it, or an address is not ASCII.
func (e *Envelope) UTF8() bool {
	if e.Options.UTF8 || !e.From.IsASCII() {
		return true
	}
	for _, r := range e.Recipients {
		if !r.To.IsASCII() || !isASCII(r.Options.OriginalRcpt) {
			return true
		}
	}
	return false
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// Destination returns the key under which the queue keeps per-destination
// back-off for a recipient: its domain in A-label form (see
// [smtp.Path.ASCIIDomain]), lower-cased; an address literal as it is,
// lower-cased; "" for "<Postmaster>". Relay code that groups recipients
// per next hop should use the same key.
func Destination(to smtp.Path) string {
	d, err := to.ASCIIDomain()
	if err != nil {
		d = to.Domain
	}
	return strings.ToLower(d)
}

// RecipientState is where one recipient of a queued message stands.
type RecipientState uint8

// Recipient states. Only RecipientPending is not final.
const (
	// RecipientPending: not yet delivered; due at NextAttempt.
	RecipientPending RecipientState = iota
	// RecipientDelivered: the next hop accepted it (Outcome Delivered).
	RecipientDelivered
	// RecipientFailed: failed permanently, or temporarily until the
	// message expired.
	RecipientFailed
)

func (s RecipientState) String() string {
	switch s {
	case RecipientPending:
		return "pending"
	case RecipientDelivered:
		return "delivered"
	case RecipientFailed:
		return "failed"
	}
	return "RecipientState(?)"
}

// RecipientStatus is the delivery state of one recipient. A Message holds
// one per recipient, at the recipient's index in Envelope.Recipients.
type RecipientStatus struct {
	State RecipientState
	// Attempts counts the completed delivery attempts (outcomes reported
	// for this recipient, including those that deferred it).
	Attempts int
	// LastAttempt is when the last outcome was reported; zero before the
	// first.
	LastAttempt time.Time
	// NextAttempt is when a pending recipient is next due; zero means at
	// once. Per-destination back-off ([Backoff]) may hold it longer.
	NextAttempt time.Time
	// Err is the error of the last failed attempt, nil if none. Its public
	// fields may appear in reports; its cause never does.
	Err *DeliveryError
	// RemoteMTA is the host that accepted a delivered recipient, if the
	// worker said (Outcome.RemoteMTA).
	RemoteMTA string
	// DelayReported is set once a delay report was sent (or would have
	// been, had the sender asked), so that at most one is sent per
	// recipient.
	DelayReported bool
}

// State is the state of a queued message as a whole. The values are bits,
// so that a [Filter] can select several.
type State uint8

// Message states.
const (
	// StateReady: at least one pending recipient is due now.
	StateReady State = 1 << iota
	// StateDeferred: waiting for the next attempt of its recipients (or
	// for their destinations' back-off).
	StateDeferred
	// StateLeased: a worker holds an unexpired lease on it.
	StateLeased
	// StateHeld: put on hold by [Queue.Hold]; never leased until released.
	StateHeld
)

func (s State) String() string {
	var b []string
	for _, f := range [...]struct {
		bit  State
		name string
	}{{StateReady, "ready"}, {StateDeferred, "deferred"}, {StateLeased, "leased"}, {StateHeld, "held"}} {
		if s&f.bit != 0 {
			b = append(b, f.name)
		}
	}
	return strings.Join(b, "|")
}

// Message is the queue's record of one message, everything but its
// content: what [Queue.Inspect] and [Queue.List] return, and what a
// file-backed queue keeps in its metadata record. Values returned by a
// Queue are copies owned by the caller.
type Message struct {
	ID       ID
	Envelope Envelope
	// Size is the length of the content in octets.
	Size int64
	// Enqueued is when Enqueue accepted the message: the Arrival-Date of
	// its reports (RFC 3464 §2.2.5) and the start of its lifetime
	// (Schedule.Expire).
	Enqueued time.Time
	// Recipients holds the status of Envelope.Recipients[i] at index i.
	Recipients []RecipientStatus
	// Held is set by Hold and cleared by Release.
	Held bool
	// LeaseExpires is when the current lease ends; zero if the message is
	// not leased. It is not persistent: a queue that restarts drops all
	// leases.
	LeaseExpires time.Time
}

// Clone returns a deep copy of m.
func (m *Message) Clone() *Message {
	c := *m
	c.Envelope = m.Envelope.Clone()
	c.Recipients = append([]RecipientStatus(nil), m.Recipients...)
	return &c
}

// Done reports whether every recipient is in a final state; the queue
// then removes the message.
func (m *Message) Done() bool {
	for i := range m.Recipients {
		if m.Recipients[i].State == RecipientPending {
			return false
		}
	}
	return true
}

// NextAttempt returns the earliest NextAttempt of the pending recipients
// (zero means now), and false if none is pending. It ignores
// per-destination back-off.
func (m *Message) NextAttempt() (time.Time, bool) {
	var next time.Time
	found := false
	for i := range m.Recipients {
		r := &m.Recipients[i]
		if r.State != RecipientPending {
			continue
		}
		if !found || r.NextAttempt.Before(next) {
			next, found = r.NextAttempt, true
		}
	}
	return next, found
}

// State returns the state of m at now: StateHeld if held, else
// StateLeased if under an unexpired lease, else StateReady if a pending
// recipient is due, else StateDeferred. Per-destination back-off is not
// considered.
func (m *Message) State(now time.Time) State {
	switch {
	case m.Held:
		return StateHeld
	case !m.LeaseExpires.IsZero() && now.Before(m.LeaseExpires):
		return StateLeased
	}
	if next, ok := m.NextAttempt(); ok && !next.After(now) {
		return StateReady
	}
	return StateDeferred
}

// Match reports whether m, at now, satisfies f (nil matches all).
// Implementations of [Queue.List] use it so that filters mean the same
// everywhere.
func (f *Filter) Match(m *Message, now time.Time) bool {
	if f == nil {
		return true
	}
	if f.State != 0 && m.State(now)&f.State == 0 {
		return false
	}
	age := now.Sub(m.Enqueued)
	if f.OlderThan > 0 && age < f.OlderThan || f.NewerThan > 0 && age >= f.NewerThan {
		return false
	}
	if f.Sender != "" {
		s := "<>"
		if !m.Envelope.From.IsNull() {
			s = m.Envelope.From.String()
		}
		if !strings.EqualFold(strings.Trim(f.Sender, "<>"), strings.Trim(s, "<>")) {
			return false
		}
	}
	if f.Domain != "" {
		want := Destination(smtp.Path{Domain: f.Domain})
		found := false
		for i, r := range m.Envelope.Recipients {
			if i < len(m.Recipients) && m.Recipients[i].State == RecipientPending && Destination(r.To) == want {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}
