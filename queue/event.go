package queue

import "time"

// EventKind says what an [Event] reports.
type EventKind uint8

// Event kinds.
const (
	// EventEnqueued: a message was enqueued (reports included).
	EventEnqueued EventKind = iota + 1
	// EventLeased: a message was leased to a worker.
	EventLeased
	// EventLeaseExpired: a lease ended without Complete; the message is
	// due again.
	EventLeaseExpired
	// EventDelivered: a recipient was delivered (Recipient, Destination).
	EventDelivered
	// EventDeferred: a recipient failed temporarily and will be retried
	// (Recipient, Destination, Err).
	EventDeferred
	// EventFailed: a recipient failed permanently (Recipient,
	// Destination, Err).
	EventFailed
	// EventExpired: a recipient was still failing temporarily when the
	// message's lifetime ended, and has failed (Recipient, Destination,
	// Err).
	EventExpired
	// EventReported: a report (DSN) about the message was enqueued
	// (Report, Action).
	EventReported
	// EventRemoved: every recipient reached a final state and the message
	// was removed.
	EventRemoved
	// EventHeld, EventReleased, EventDeleted, EventRetryNow: the admin
	// operations of the same names.
	EventHeld
	EventReleased
	EventDeleted
	EventRetryNow
)

var eventNames = [...]string{
	EventEnqueued: "enqueued", EventLeased: "leased", EventLeaseExpired: "lease-expired",
	EventDelivered: "delivered", EventDeferred: "deferred", EventFailed: "failed",
	EventExpired: "expired", EventReported: "reported", EventRemoved: "removed",
	EventHeld: "held", EventReleased: "released", EventDeleted: "deleted", EventRetryNow: "retry-now",
}

func (k EventKind) String() string {
	if int(k) < len(eventNames) && eventNames[k] != "" {
		return eventNames[k]
	}
	return "EventKind(?)"
}

// Event is one change in a queue, passed to Options.OnEvent for metrics
// and logs.
type Event struct {
	Kind EventKind
	// ID is the message the event is about.
	ID ID
	// Time is when the change happened (time.Now() in the queue).
	Time time.Time
	// Recipient is the index of the recipient for per-recipient events,
	// -1 otherwise.
	Recipient int
	// Destination is the [Destination] of Recipient, "" otherwise.
	Destination string
	// Err is the failure for EventDeferred, EventFailed, EventExpired.
	Err *DeliveryError
	// Report is the ID of the report enqueued, for EventReported.
	Report ID
	// Action is the report's kind, for EventReported.
	Action Action
}
