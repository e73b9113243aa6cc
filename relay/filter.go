package relay

import (
	"context"

	"github.com/postyard/postyard/smtp"
)

// Filter examines mail as it arrives, for spam, malware or data-loss rules.
// Inbound and Submission run their Filters in order at MAIL FROM, at each
// RCPT TO (after Policy accepted the recipient) and at the end of DATA; the
// filters' Verdicts decide what happens to the transaction. A Filter is
// shared by all connections and must be safe for concurrent use; the
// FilterSession it makes serves one connection, from one goroutine.
//
// The adapters in this package speak to the tools people run: [Milter]
// (rspamd, spamass-milter, clamav-milter, OpenDKIM), [Spamd] (SpamAssassin)
// and [Clamd] (ClamAV). Built-in rules: [DNSBL], [SizeRule],
// [AttachmentRule] and [DLP].
type Filter interface {
	// NewSession starts the filter for a connection described by c. An
	// *smtp.Error refuses the connection with that reply; any other error
	// refuses it with 421 4.3.0.
	NewSession(ctx context.Context, c *smtp.ConnInfo) (FilterSession, error)
}

// FilterSession is a Filter's state for one connection. A returned error
// (a tool that cannot be reached, say) makes the stage fail with 451 4.7.1
// and is logged; an adapter that should let mail through when its tool is
// down says so with a Verdict instead.
type FilterSession interface {
	// Mail is called after MAIL FROM was accepted.
	Mail(ctx context.Context, tx *Transaction) (Verdict, error)
	// Rcpt is called for each RCPT TO that Policy accepted; to is not yet
	// in tx.Rcpts. ActionReject and ActionTempfail refuse this recipient
	// only; ActionQuarantine and ActionDiscard apply to the message.
	Rcpt(ctx context.Context, tx *Transaction, to smtp.Path) (Verdict, error)
	// Data is called with the whole message once it is received, before
	// anything is stored.
	Data(ctx context.Context, tx *Transaction, msg *Message) (Verdict, error)
	// Reset ends the transaction (after DATA, RSET, or a new MAIL).
	Reset(ctx context.Context)
	// Close ends the connection.
	Close() error
}

// Transaction is the envelope the filters see. It is owned by the session
// and valid during the call only.
type Transaction struct {
	Conn    *smtp.ConnInfo
	From    smtp.Path
	Options *smtp.MailOptions
	// Rcpts are the recipients accepted so far, in RCPT order.
	Rcpts []smtp.Path
	// Submission is true for mail an authenticated user submitted
	// (Submission backend): outgoing mail, for data-loss rules.
	Submission bool
}

// Verdict is a filter's decision at one stage.
type Verdict struct {
	// Action: ActionDefault lets the next filter run; ActionAccept accepts
	// the transaction and skips the filters after this one for the rest of
	// the transaction (a DNSWL hit, say); ActionReject and ActionTempfail
	// refuse; ActionQuarantine marks the message so that local copies go to
	// the Junk mailbox and queued copies are held; ActionDiscard accepts
	// the message and drops it.
	Action Action
	// Reply is sent for ActionReject (a 5xx) and ActionTempfail (a 4xx).
	// Nil, or a code of the wrong class, means 550 5.7.1 or 451 4.7.1.
	Reply *smtp.Error
	// Headers are added at the top of the message, in order, after those
	// of the filters before. Names and values must be valid header field
	// text; values may be folded with CRLF and white space.
	Headers []Field
	// Reason is logged.
	Reason string
}

// Field is one header field.
type Field struct {
	Name, Value string
}

// FilterFuncs adapts functions to a stateless Filter: each nil function
// lets the next filter run.
type FilterFuncs struct {
	Mail func(ctx context.Context, tx *Transaction) (Verdict, error)
	Rcpt func(ctx context.Context, tx *Transaction, to smtp.Path) (Verdict, error)
	Data func(ctx context.Context, tx *Transaction, msg *Message) (Verdict, error)
}

// NewSession implements Filter: f is its own session.
func (f *FilterFuncs) NewSession(ctx context.Context, c *smtp.ConnInfo) (FilterSession, error) {
	return funcSession{f}, nil
}

type funcSession struct{ f *FilterFuncs }

func (s funcSession) Mail(ctx context.Context, tx *Transaction) (Verdict, error) {
	if s.f.Mail == nil {
		return Verdict{}, nil
	}
	return s.f.Mail(ctx, tx)
}

func (s funcSession) Rcpt(ctx context.Context, tx *Transaction, to smtp.Path) (Verdict, error) {
	if s.f.Rcpt == nil {
		return Verdict{}, nil
	}
	return s.f.Rcpt(ctx, tx, to)
}

func (s funcSession) Data(ctx context.Context, tx *Transaction, msg *Message) (Verdict, error) {
	if s.f.Data == nil {
		return Verdict{}, nil
	}
	return s.f.Data(ctx, tx, msg)
}

func (funcSession) Reset(ctx context.Context) {}
func (funcSession) Close() error              { return nil }

// Action is what to do with a message after its checks (the Verifier's
// DMARC outcome, a filter's Verdict).
type Action int

const (
	// ActionDefault, in a Verifier field, means that field's default; in a
	// Verdict it lets the next filter decide.
	ActionDefault Action = iota
	// ActionAccept delivers the message as usual.
	ActionAccept
	// ActionQuarantine delivers the message to the recipient's Junk
	// folder (or holds it), as RFC 7489 §6.3 p=quarantine asks.
	ActionQuarantine
	// ActionReject refuses the message at the end of DATA with 550 5.7.1
	// (RFC 7489 §6.7, §10.3), or the RCPT or MAIL it is given for.
	ActionReject
	// ActionTempfail refuses with a temporary failure (451 4.7.1): the
	// client tries again later.
	ActionTempfail
	// ActionDiscard accepts the message and drops it.
	ActionDiscard
)

func (a Action) String() string {
	switch a {
	case ActionAccept:
		return "accept"
	case ActionQuarantine:
		return "quarantine"
	case ActionReject:
		return "reject"
	case ActionTempfail:
		return "tempfail"
	case ActionDiscard:
		return "discard"
	}
	return "default"
}
