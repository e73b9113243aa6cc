package queue

import (
	"time"

	"github.com/postyard/postyard/smtp"
)

// Result is the result of one delivery attempt for one recipient.
type Result uint8

// Results.
const (
	// ResultDelivered: the next hop accepted the recipient (2yz after the
	// content).
	ResultDelivered Result = iota + 1
	// ResultTempFail: try again later.
	ResultTempFail
	// ResultPermFail: do not try again; the sender gets a failure report.
	ResultPermFail
)

func (r Result) String() string {
	switch r {
	case ResultDelivered:
		return "delivered"
	case ResultTempFail:
		return "tempfail"
	case ResultPermFail:
		return "permfail"
	}
	return "Result(?)"
}

// Outcome is a worker's report on one leased recipient, for
// [Queue.Complete]. Build it with [Delivered], [TempFail] or [PermFail].
type Outcome struct {
	// Recipient is the index in Envelope.Recipients.
	Recipient int
	Result    Result
	// Err is the failure; for ResultTempFail and ResultPermFail. See
	// [AsDeliveryError] for how it is recorded. May be nil.
	Err error
	// NextAttempt, for ResultTempFail, is when to try again (for example
	// what the remote asked for); zero means per the Schedule. It is
	// moved back to the message's expiry if later.
	NextAttempt time.Time
	// RemoteMTA, for ResultDelivered, names the host that accepted it.
	RemoteMTA string
}

// Delivered is the Outcome of a recipient the next hop accepted.
func Delivered(rcpt int, remoteMTA string) Outcome {
	return Outcome{Recipient: rcpt, Result: ResultDelivered, RemoteMTA: remoteMTA}
}

// TempFail is the Outcome of a recipient to try again at next (zero: per
// the Schedule) because of err.
func TempFail(rcpt int, err error, next time.Time) Outcome {
	return Outcome{Recipient: rcpt, Result: ResultTempFail, Err: err, NextAttempt: next}
}

// PermFail is the Outcome of a recipient that failed for good because of
// err.
func PermFail(rcpt int, err error) Outcome {
	return Outcome{Recipient: rcpt, Result: ResultPermFail, Err: err}
}

// Action is the Action field of a report (RFC 3464 §2.3.3).
type Action string

// Actions. Queues generate failed, delayed and delivered reports.
const (
	ActionFailed    Action = "failed"
	ActionDelayed   Action = "delayed"
	ActionDelivered Action = "delivered"
	ActionRelayed   Action = "relayed"
	ActionExpanded  Action = "expanded"
)

// Notice asks for one report: the recipients (indexes) it is about, all
// with the same Action.
type Notice struct {
	Action     Action
	Recipients []int
}

// Settlement is what [Settle] decided.
type Settlement struct {
	// Notices are the reports to enqueue, at most one per Action, in the
	// order failed, delayed, delivered. Empty for a message with the null
	// reverse-path.
	Notices []Notice
	// Events are the per-recipient events (EventDelivered, EventDeferred,
	// EventFailed, EventExpired), in the order of the leased recipients.
	Events []Event
	// Destinations maps the [Destination] of every leased recipient to
	// whether the attempt reached it (for [Backoff]: true means
	// Succeeded, false Failed).
	Destinations map[string]bool
}

// Settle applies the outcomes of an attempt on the leased recipients of
// m, made at now, on schedule s (nil: defaults). It is the one
// definition of what Complete does to a message's record; a Queue calls
// it with its lock held, then persists m, enqueues the reports in
// Notices, removes m if m.Done(), and emits Events.
//
// Outcomes must name leased recipients, each at most once, with a valid
// Result; otherwise Settle returns an [*OutcomeError] and changes
// nothing. For each leased recipient, Attempts is incremented and
// LastAttempt set to now, then:
//
//   - Delivered: the recipient is RecipientDelivered, with RemoteMTA; a
//     delivered report is asked for if its NOTIFY has SUCCESS.
//   - PermFail: RecipientFailed with Err (made permanent); a failed report
//     is asked for unless NOTIFY lacks FAILURE (a recipient without NOTIFY
//     gets one).
//   - TempFail, or no outcome (as TempFail with a nil error): if now is at
//     or past the message's deadline ([Schedule.Deadline]) the recipient
//     has expired: RecipientFailed, with Err the last error (temporary) or
//     "delivery time expired", reported like PermFail. Otherwise it stays
//     pending with Err recorded and NextAttempt set to the Outcome's if it
//     is after now, else now + s.Delay(Attempts), in both cases at most
//     the deadline (so the last attempt is made when the message expires;
//     per-destination back-off may postpone it by up to
//     Schedule.DestinationMax).
//     If the message is at least DelayWarning old and no delay report was
//     sent for the recipient, one is asked for unless NOTIFY lacks DELAY
//     (no NOTIFY gets one), and DelayReported is set.
//
// No report is asked for a recipient with NOTIFY=NEVER, nor for any
// recipient when the reverse-path is null.
func Settle(m *Message, leased []int, outcomes []Outcome, now time.Time, s *Schedule) (*Settlement, error) {
	byRcpt := make(map[int]*Outcome, len(outcomes))
	isLeased := make(map[int]bool, len(leased))
	for _, i := range leased {
		isLeased[i] = true
	}
	for k := range outcomes {
		o := &outcomes[k]
		switch {
		case !isLeased[o.Recipient] || o.Recipient < 0 || o.Recipient >= len(m.Recipients):
			return nil, &OutcomeError{Recipient: o.Recipient, Reason: "not leased"}
		case byRcpt[o.Recipient] != nil:
			return nil, &OutcomeError{Recipient: o.Recipient, Reason: "duplicate outcome"}
		case o.Result < ResultDelivered || o.Result > ResultPermFail:
			return nil, &OutcomeError{Recipient: o.Recipient, Reason: "unknown result"}
		}
		byRcpt[o.Recipient] = o
	}

	sched := s.Resolved()
	deadline, expires := s.Deadline(m.Enqueued)
	wantReports := !m.Envelope.From.IsNull()
	st := &Settlement{Destinations: make(map[string]bool)}
	var failed, delayed, delivered []int
	for _, i := range leased {
		if i < 0 || i >= len(m.Recipients) || m.Recipients[i].State != RecipientPending {
			continue
		}
		rs := &m.Recipients[i]
		rcpt := &m.Envelope.Recipients[i]
		dest := Destination(rcpt.To)
		o := byRcpt[i]
		if o == nil {
			o = &Outcome{Recipient: i, Result: ResultTempFail}
		}
		rs.Attempts++
		rs.LastAttempt = now
		ev := Event{ID: m.ID, Time: now, Recipient: i, Destination: dest}
		reached := false
		switch o.Result {
		case ResultDelivered:
			rs.State = RecipientDelivered
			rs.RemoteMTA = o.RemoteMTA
			rs.NextAttempt = time.Time{}
			ev.Kind = EventDelivered
			reached = true
			if wants(rcpt.Options.Notify, smtp.NotifySuccess, false) {
				delivered = append(delivered, i)
			}
		case ResultPermFail:
			rs.Err = recordErr(o.Err, true)
			rs.State = RecipientFailed
			rs.NextAttempt = time.Time{}
			ev.Kind, ev.Err = EventFailed, rs.Err
			reached = true
			if wants(rcpt.Options.Notify, smtp.NotifyFailure, true) {
				failed = append(failed, i)
			}
		default:
			if o.Err != nil {
				rs.Err = recordErr(o.Err, false)
			}
			if expires && !now.Before(deadline) {
				if rs.Err == nil {
					rs.Err = &DeliveryError{EnhancedCode: "4.4.7", Message: "delivery time expired"}
				}
				rs.State = RecipientFailed
				rs.NextAttempt = time.Time{}
				ev.Kind, ev.Err = EventExpired, rs.Err
				if wants(rcpt.Options.Notify, smtp.NotifyFailure, true) {
					failed = append(failed, i)
				}
				break
			}
			next := o.NextAttempt
			if !next.After(now) {
				next = now.Add(sched.Delay(rs.Attempts))
			}
			if expires && next.After(deadline) {
				next = deadline
			}
			rs.NextAttempt = next
			ev.Kind, ev.Err = EventDeferred, rs.Err
			if sched.DelayWarning > 0 && !rs.DelayReported && now.Sub(m.Enqueued) >= sched.DelayWarning {
				rs.DelayReported = true
				if wants(rcpt.Options.Notify, smtp.NotifyDelay, true) {
					delayed = append(delayed, i)
				}
			}
		}
		st.Destinations[dest] = st.Destinations[dest] || reached
		st.Events = append(st.Events, ev)
	}
	if wantReports {
		for _, n := range []Notice{{ActionFailed, failed}, {ActionDelayed, delayed}, {ActionDelivered, delivered}} {
			if len(n.Recipients) > 0 {
				st.Notices = append(st.Notices, n)
			}
		}
	}
	return st, nil
}

// wants reports whether NOTIFY value n asks for a report on condition c;
// byDefault is the answer when NOTIFY was not given (RFC 3461 §4.1).
func wants(n, c smtp.Notify, byDefault bool) bool {
	if n == 0 {
		return byDefault
	}
	return n&c != 0
}

// recordErr converts err for RecipientStatus.Err: a copy, so that the
// worker's value is not shared, with Permanent set to match the Result.
func recordErr(err error, permanent bool) *DeliveryError {
	de := AsDeliveryError(err)
	if de == nil {
		de = &DeliveryError{}
	}
	c := *de
	c.Permanent = permanent
	return &c
}

// Expired reports whether a failed recipient failed because the message
// expired rather than permanently.
func (rs *RecipientStatus) Expired() bool {
	return rs.State == RecipientFailed && (rs.Err == nil || !rs.Err.Permanent)
}
