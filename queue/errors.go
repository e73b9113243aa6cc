package queue

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/postyard/postyard/smtp"
)

// DeliveryError is the failure of one delivery attempt for one recipient:
// what a worker reports in an [Outcome] and what the queue keeps in
// RecipientStatus.Err and writes into reports. Code, EnhancedCode, Message
// and RemoteMTA may reach the sender in a report (Diagnostic-Code, Status,
// Remote-MTA, RFC 3464 §2.3); Err never does.
type DeliveryError struct {
	// Permanent is true for a failure that retrying will not fix (an SMTP
	// 5yz reply, a null MX); false for a temporary one (4yz, timeout,
	// connection refused, DNS failure).
	Permanent bool
	// Code is the SMTP reply code from RemoteMTA (RFC 5321 §4.2), 0 if the
	// failure was not a reply.
	Code int
	// EnhancedCode is the RFC 3463 status, such as "5.1.1"; "" means
	// derived from Permanent ("5.0.0" or "4.0.0").
	EnhancedCode string
	// Message is the reply text from RemoteMTA or a short explanation by
	// the worker ("connection refused"), one line of printable text.
	Message string
	// RemoteMTA is the host name of the next hop that answered, "" if
	// none did.
	RemoteMTA string
	// Err is the cause, for logs; never shown to the sender.
	Err error
}

// Error describes the failure, including the cause.
func (e *DeliveryError) Error() string {
	kind := "temporary"
	if e.Permanent {
		kind = "permanent"
	}
	s := "queue: " + kind + " delivery failure"
	if e.RemoteMTA != "" {
		s += " at " + e.RemoteMTA
	}
	if e.Code != 0 {
		s += ": " + strconv.Itoa(e.Code) + " " + e.Status()
	}
	if e.Message != "" {
		s += " " + e.Message
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the cause.
func (e *DeliveryError) Unwrap() error { return e.Err }

// Temporary reports whether the failure is temporary.
func (e *DeliveryError) Temporary() bool { return !e.Permanent }

// Status returns the RFC 3463 status for a report: EnhancedCode if it is
// well formed and agrees with Permanent, otherwise "5.0.0" or "4.0.0".
func (e *DeliveryError) Status() string {
	if validStatus(e.EnhancedCode) && (e.EnhancedCode[0] == '5') == e.Permanent {
		return e.EnhancedCode
	}
	if e.Permanent {
		return "5.0.0"
	}
	return "4.0.0"
}

// validStatus reports whether s is status-code = class "." subject "."
// detail with class 2, 4 or 5, subject 1-3 digits, detail 1-3 digits
// (RFC 3463 §2).
func validStatus(s string) bool {
	if len(s) < 5 || s[1] != '.' || (s[0] != '2' && s[0] != '4' && s[0] != '5') {
		return false
	}
	n, digits := 0, 0
	for i := 2; i < len(s); i++ {
		switch c := s[i]; {
		case c == '.':
			if digits == 0 || n == 1 {
				return false
			}
			n, digits = 1, 0
		case '0' <= c && c <= '9' && digits < 3:
			digits++
		default:
			return false
		}
	}
	return n == 1 && digits > 0
}

// AsDeliveryError returns err as a *DeliveryError: err itself if it is
// one (found with errors.As); an [*smtp.Error] reply converted, permanent
// for 5yz; nil for nil; and any other error as a temporary failure with no
// text that may reach the sender, err being the cause.
func AsDeliveryError(err error) *DeliveryError {
	if err == nil {
		return nil
	}
	var de *DeliveryError
	if errors.As(err, &de) {
		return de
	}
	var se *smtp.Error
	if errors.As(err, &se) {
		return &DeliveryError{
			Permanent:    se.Code/100 == 5,
			Code:         se.Code,
			EnhancedCode: se.EnhancedCode,
			Message:      se.Message,
			Err:          err,
		}
	}
	return &DeliveryError{Err: err}
}

// OutcomeError is returned by [Queue.Complete] (and [Settle]) when the
// outcomes do not fit the lease; nothing was changed.
type OutcomeError struct {
	Recipient int    // the offending Outcome.Recipient
	Reason    string // "not leased", "duplicate outcome", "unknown result"
}

func (e *OutcomeError) Error() string {
	return fmt.Sprintf("queue: outcome for recipient %d: %s", e.Recipient, e.Reason)
}
