package mailbox

import (
	"context"
	"sync"
)

// EventKind says what changed.
type EventKind uint8

const (
	// EventNew: a message was added (append, copy, move, delivery). UID,
	// ModSeq, Flags and Keywords describe it.
	EventNew EventKind = iota + 1
	// EventFlags: a message's flags or keywords changed; UID, ModSeq,
	// Flags and Keywords are its new state.
	EventFlags
	// EventExpunge: the message UID was expunged (or moved away) at ModSeq.
	EventExpunge
	// EventOverflow: the subscriber fell behind and events were dropped.
	// It resyncs from the last ModSeq it knows: Messages with ChangedSince
	// and Expunged (the CONDSTORE/QRESYNC machinery, RFC 7162).
	EventOverflow
	// EventGone: the mailbox was deleted, its UIDVALIDITY changed, or the
	// store closed. It is the last event; an IMAP session sends * BYE or
	// reselects.
	EventGone
)

var eventNames = [...]string{"", "new", "flags", "expunge", "overflow", "gone"}

func (k EventKind) String() string {
	if int(k) < len(eventNames) && k != 0 {
		return eventNames[k]
	}
	return "unknown"
}

// Event is one change of a mailbox, as delivered to a Subscription.
// Events of one mailbox arrive in the order of their ModSeq. A subscriber
// also gets the events of its own changes; it ignores those it already
// knows (EventNew for a UID in its view, EventExpunge for one not in it,
// EventFlags with a ModSeq not above what it has). Keywords is shared and
// must not be modified.
type Event struct {
	Kind     EventKind
	UID      UID
	ModSeq   ModSeq
	Flags    Flags
	Keywords []string
}

// DefaultMaxPending is the number of undelivered events a Subscription
// holds before it overflows (Hub.MaxPending zero).
const DefaultMaxPending = 4096

// Hub fans the events of one mailbox out to its subscriptions. Store
// implementations keep one per mailbox, shared by all Mailboxes open on
// it, and publish while holding the lock that orders their changes, so
// that events arrive in ModSeq order. Publishing never blocks: each
// subscription queues up to MaxPending events and then collapses its
// queue into one EventOverflow. The zero Hub is ready to use; a Hub must
// not be copied after first use. Methods are safe for concurrent use.
type Hub struct {
	// MaxPending bounds each subscription's queue; zero means
	// DefaultMaxPending, negative means unlimited. Set before first use.
	MaxPending int

	mu     sync.Mutex
	subs   map[*Subscription]struct{}
	closed bool
}

// Subscribe returns a new subscription. On a closed Hub the subscription
// holds only EventGone.
func (h *Hub) Subscribe() *Subscription {
	s := &Subscription{hub: h, ready: make(chan struct{}, 1)}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		s.pending = []Event{{Kind: EventGone}}
		s.ended = true
		s.signal()
		return s
	}
	if h.subs == nil {
		h.subs = make(map[*Subscription]struct{})
	}
	h.subs[s] = struct{}{}
	return s
}

// Publish queues events for every subscription.
func (h *Hub) Publish(events ...Event) {
	if len(events) == 0 {
		return
	}
	limit := h.MaxPending
	if limit == 0 {
		limit = DefaultMaxPending
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		switch {
		case len(s.pending) > 0 && s.pending[0].Kind == EventOverflow:
			// Dropped: the resync after the overflow covers them.
		case limit > 0 && len(s.pending)+len(events) > limit:
			s.pending = append(s.pending[:0], Event{Kind: EventOverflow})
		default:
			s.pending = append(s.pending, events...)
		}
		s.signal()
	}
}

// Len returns the number of open subscriptions.
func (h *Hub) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

// Close ends every subscription with EventGone (the mailbox was deleted
// or the store closed); later subscriptions get only EventGone.
func (h *Hub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for s := range h.subs {
		s.end(true)
	}
	h.subs = nil
}

// Subscription receives the events of one mailbox (Mailbox.Watch). Its
// methods are safe for concurrent use; typically one goroutine (an IMAP
// session, in IDLE or between commands) takes the events.
type Subscription struct {
	hub     *Hub
	ready   chan struct{}
	pending []Event // guarded by hub.mu
	ended   bool    // guarded by hub.mu
}

// signal wakes a waiter; hub.mu is held.
func (s *Subscription) signal() {
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

// end ends s, with a final EventGone if gone; hub.mu is held.
func (s *Subscription) end(gone bool) {
	if s.ended {
		return
	}
	s.ended = true
	if gone {
		s.pending = append(s.pending, Event{Kind: EventGone})
	}
	s.signal()
}

// Ready returns a channel that receives a value when events may be
// pending or the subscription has ended; the receiver then calls Events.
// It is for select loops such as IDLE that also wait for client input.
func (s *Subscription) Ready() <-chan struct{} { return s.ready }

// Events takes and returns the pending events, nil if there are none. It
// never blocks.
func (s *Subscription) Events() []Event {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	ev := s.pending
	s.pending = nil
	return ev
}

// Err returns ErrClosed once the subscription has ended and its last
// events were taken, nil before.
func (s *Subscription) Err() error {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	if s.ended && len(s.pending) == 0 {
		return ErrClosed
	}
	return nil
}

// Wait blocks until there are events, and takes them. It returns
// ErrClosed when the subscription has ended and its events were taken,
// and ctx.Err() when ctx is done.
func (s *Subscription) Wait(ctx context.Context) ([]Event, error) {
	for {
		if ev := s.Events(); ev != nil {
			return ev, nil
		}
		if err := s.Err(); err != nil {
			return nil, err
		}
		select {
		case <-s.ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Close ends the subscription; pending events are discarded. Close is
// idempotent.
func (s *Subscription) Close() {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	delete(s.hub.subs, s)
	s.end(false)
	s.pending = nil
}
