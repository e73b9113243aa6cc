package sieve

import (
	"fmt"
	"strings"
	"time"
)

// Action is one thing a script asks for: *Keep, *FileInto, *Redirect,
// *Discard, *Reject or *Vacation.
type Action interface {
	// String describes the action in one line, for logs and tests.
	String() string
	action()
}

// Keep stores the message in the default mailbox (RFC 5228 §4.3).
type Keep struct {
	// Flags are the IMAP flags to set (RFC 5232), nil for none.
	Flags []string
	// Header is the message header to store with, when editheader changed
	// it before this action; nil means the message as received.
	Header Header
	// Implicit is true for the implicit keep (RFC 5228 §2.10.2).
	Implicit bool
}

// FileInto stores the message in a mailbox (RFC 5228 §4.1).
type FileInto struct {
	Mailbox string
	Flags   []string
	// Create asks for the mailbox to be created if it does not exist
	// (RFC 5490 §3.2).
	Create bool
	// Copy is set for ":copy" (RFC 3894): the action did not cancel the
	// implicit keep.
	Copy   bool
	Header Header
}

// Redirect forwards the message (RFC 5228 §4.2). Address is an addr-spec
// (local@domain).
type Redirect struct {
	Address string
	Copy    bool
	Header  Header
}

// Discard silently drops the message (RFC 5228 §4.4). It is listed for
// completeness: it only cancels the implicit keep.
type Discard struct{}

// Reject refuses the message with a reason (RFC 5429): Extended is true
// for ereject, which asks for a protocol-level refusal where possible.
type Reject struct {
	Reason   string
	Extended bool
}

// Vacation asks for an auto-reply (RFC 5230, RFC 6131). Deciding whether
// to send it (RFC 5230 §4.5–4.6, RFC 3834) and tracking Period per Handle
// and sender is the caller's job.
type Vacation struct {
	// Reason is the reply body, or with MIME a whole MIME entity.
	Reason string
	// Subject is the :subject argument, "" for the default
	// ("Auto: " + the original subject).
	Subject string
	// From is the :from address, "" for the recipient's address.
	From string
	// Addresses are the :addresses: the user's other addresses.
	Addresses []string
	MIME      bool
	// Handle identifies the reply for tracking: the :handle argument, or
	// derived from the other arguments as Pigeonhole does.
	Handle string
	// Period is how long not to reply again to the same sender, after the
	// EvalOptions' minimum and maximum are applied.
	Period time.Duration
}

func (*Keep) action()     {}
func (*FileInto) action() {}
func (*Redirect) action() {}
func (*Discard) action()  {}
func (*Reject) action()   {}
func (*Vacation) action() {}

func flagString(f []string) string {
	if len(f) == 0 {
		return ""
	}
	return " flags=" + strings.Join(f, " ")
}

func (a *Keep) String() string {
	s := "keep"
	if a.Implicit {
		s = "implicit keep"
	}
	return s + flagString(a.Flags)
}

func (a *FileInto) String() string {
	s := fmt.Sprintf("fileinto %q", a.Mailbox)
	if a.Create {
		s += " create"
	}
	if a.Copy {
		s += " copy"
	}
	return s + flagString(a.Flags)
}

func (a *Redirect) String() string {
	s := "redirect " + a.Address
	if a.Copy {
		s += " copy"
	}
	return s
}

func (*Discard) String() string { return "discard" }

func (a *Reject) String() string {
	if a.Extended {
		return fmt.Sprintf("ereject %q", a.Reason)
	}
	return fmt.Sprintf("reject %q", a.Reason)
}

func (a *Vacation) String() string {
	return fmt.Sprintf("vacation period=%s handle=%q subject=%q from=%q", a.Period, a.Handle, a.Subject, a.From)
}

// DuplicateMark is an identifier the duplicate test (RFC 7352) checked
// and that the caller must record with its DuplicateTracker once the
// message has been delivered (RFC 7352 §3: only a successful delivery
// counts).
type DuplicateMark struct {
	// ID is the tracking key: a hash of the handle and the unique value.
	ID string
	// Period is how long to remember it.
	Period time.Duration
	// Refresh is true when the ID was already seen and :last asked for its
	// period to start again; false means record it only if new.
	Refresh bool
}

// Result is what an evaluation decided.
type Result struct {
	// Actions are the explicit actions in the order the script took them,
	// with duplicates merged (RFC 5228 §2.10.3).
	Actions []Action
	// ImplicitKeep is true when no action cancelled the implicit keep
	// (RFC 5228 §2.10.2), or when the evaluation failed.
	ImplicitKeep bool
	// Flags is the imap4flags internal variable at the end: the flags the
	// implicit keep stores the message with.
	Flags []string
	// Header is the message header after editheader changes (RFC 5293),
	// nil when unchanged: the implicit keep stores the message with it.
	Header Header
	// Duplicates lists what to record in the DuplicateTracker after
	// delivery.
	Duplicates []DuplicateMark
}

// All returns Actions followed by a Keep with Implicit set when
// ImplicitKeep is true: every delivery to perform.
func (r *Result) All() []Action {
	out := append([]Action(nil), r.Actions...)
	if r.ImplicitKeep {
		out = append(out, &Keep{Flags: r.Flags, Header: r.Header, Implicit: true})
	}
	return out
}

// fallback is the Result of a failed evaluation: keep the message as
// received (a filter error never loses a message).
func fallback() *Result { return &Result{ImplicitKeep: true} }
