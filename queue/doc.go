// Package queue defines the outbound mail queue: the [Queue] interface that
// delivery workers drain, the envelope and per-recipient state it keeps,
// the retry [Schedule], the [DeliveryError] that says whether a failure is
// permanent or temporary, and the builder of delivery status notifications
// (bounces, [Report]).
//
// A message enters with [Queue.Enqueue], which returns its [ID] only once
// the message is durable. A worker takes it with [Queue.Lease], which hands
// out the recipients that are due, delivers them (typically with
// smtp.Client through relay.Deliverer), and reports one [Outcome] per
// recipient with [Queue.Complete]. A lease that is not completed in time
// expires and the message becomes due again, so a crashed worker delays a
// message but never loses it. Recipients that fail temporarily are retried
// on the [Schedule] until they are delivered, fail permanently, or the
// message expires; the queue then sends the sender the reports it asked for
// and forgets the message.
//
// Implementations: queue/memqueue (in memory, for tests and harnesses) and
// queue/filequeue (crash-safe, on disk). queue/queuetest is the
// conformance suite both pass; it is the executable form of the rules
// written in the doc comments of this package. The rules shared by every
// implementation (how outcomes change recipient states, when reports are
// due, how the schedule and per-destination back-off work) are exported
// here ([Settle], [SendReports], [Schedule], [Backoff], [Filter.Match],
// [Options.Resolved], [Options.CheckEnvelope]) so that implementations
// differ only in storage and indexing.
//
// # Writing an implementation
//
// A Queue keeps, per message, the content (immutable once enqueued) and a
// [Message] record. Enqueue stores both (fsync for a durable queue) and
// then makes the message due. Lease picks the due message with the
// earliest key from an index (a heap: O(log n)), asks [Backoff.Allow] for
// each due recipient's [Destination], records the lease (not durably)
// and calls [Backoff.Begin]. Complete checks the lease, calls [Settle]
// on the record, feeds Settlement.Destinations to [Backoff.Succeeded] or
// [Backoff.Failed], persists the record (or removes the message if
// [Message.Done]), then, without its lock, calls [SendReports] and emits
// the events. A durable queue may persist the reports before the record
// so that a crash between the two repeats a report rather than losing it.
// On start, a durable queue loads every record, drops leases, and
// rebuilds its index.
//
// # Envelope types
//
// The envelope reuses the smtp package's types ([smtp.Path],
// [smtp.MailOptions], [smtp.RcptOptions]), so an smtp.Session can enqueue
// exactly what it was given by MAIL and RCPT, DSN parameters included.
//
// # Standards
//
//   - RFC 3461 (SMTP DSN extension): NOTIFY (§4.1) decides which reports
//     are sent, ORCPT (§4.2) becomes Original-Recipient, RET (§4.3)
//     decides how much of the message a failure report returns, ENVID
//     (§4.4) becomes Original-Envelope-Id; reports go to the reverse-path
//     and are sent with the null reverse-path (§6.2; RFC 5321 §4.5.5), and
//     no report is ever sent for a message with the null reverse-path.
//   - RFC 3464 (delivery status notifications): the message/delivery-status
//     body part, per-message fields (§2.2: Original-Envelope-Id,
//     Reporting-MTA, Arrival-Date) and per-recipient fields (§2.3:
//     Original-Recipient, Final-Recipient, Action, Status, Remote-MTA,
//     Diagnostic-Code, Last-Attempt-Date, Will-Retry-Until).
//   - RFC 6522 (multipart/report): the report's top-level structure, with
//     a human-readable first part, the machine-readable second part and the
//     returned message or its header third.
//   - RFC 6533 (internationalized DSNs): when the envelope used SMTPUTF8 or
//     an address is not ASCII, the report uses
//     message/global-delivery-status with "utf-8" address types, returns
//     message/global or message/global-headers, and is enqueued with
//     SMTPUTF8; ORCPT values of type "utf-8" are written in their
//     utf-8-addr-xtext form (§3) in an ASCII report.
//   - RFC 3463 (enhanced status codes) for the Status field; X.4.7 for
//     expired messages.
//   - RFC 3834 §5 (Auto-Submitted: auto-replied) on every report.
//   - RFC 8689 §5 (REQUIRETLS): a report about a REQUIRETLS message returns
//     the header only and is itself enqueued with REQUIRETLS.
//
// Not implemented: the "relayed" and "expanded" actions are representable
// ([ActionRelayed], [ActionExpanded]) but no queue generates them; reports
// are not localised; the queue does not merge reports about different
// messages.
package queue
