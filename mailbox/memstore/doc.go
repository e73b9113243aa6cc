// Package memstore is an in-memory [mailbox.Store]: the reference
// implementation of the mailbox model and the fixture the protocol
// servers' tests use.
//
// It keeps everything in memory and nothing survives Close; "durable" in
// the mailbox contracts means "stored" here. Message bytes are shared
// between copies of a message, so COPY and delivery to many users cost
// one buffer. Users are created on first use, each with INBOX.
//
// All of a user's mailboxes share one lock, which makes Copy, Move,
// Rename and quota accounting atomic; different users never contend.
// Message contents are read without the lock. Change events are
// published under the lock through a [mailbox.Hub] per mailbox, so they
// arrive in MODSEQ order.
//
// The store passes the mailboxtest conformance suite. It keeps the UIDs of
// the last [Options.MaxTombstones] expunges per mailbox for QRESYNC;
// older questions are answered with a superset, as RFC 7162 §3.2.10
// permits.
package memstore
