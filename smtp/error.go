package smtp

import (
	"errors"
	"fmt"
)

// Error is an SMTP reply that a [Session] returns to refuse or defer a
// command. The server sends it as is: Code (RFC 5321 §4.2), EnhancedCode
// (RFC 3463, e.g. "5.1.1"; "" for a default chosen from Code) and Message.
// Err, if set, is the cause; it is logged, never sent.
//
// Any other error returned by a Session is logged and answered with a
// generic temporary failure (451 4.3.0), so internal error text never
// reaches the client.
type Error struct {
	Code         int
	EnhancedCode string
	Message      string
	Err          error
}

func (e *Error) Error() string {
	s := fmt.Sprintf("smtp: %d %s %s", e.Code, e.EnhancedCode, e.Message)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Temporary reports whether the reply is a transient (4xx) failure.
func (e *Error) Temporary() bool { return e.Code/100 == 4 }

// enhanced returns the enhanced status code to send with the reply.
func (e *Error) enhanced() string {
	if e.EnhancedCode != "" {
		return e.EnhancedCode
	}
	switch e.Code / 100 {
	case 2:
		return "2.0.0"
	case 4:
		return "4.0.0"
	default:
		return "5.0.0"
	}
}

// asError returns err as an *Error, or nil if it is not one.
func asError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}

// Errors that servers and backends commonly return.
var (
	// ErrAuthRequired: the command needs authentication (RFC 4954 §6).
	ErrAuthRequired = &Error{Code: 530, EnhancedCode: "5.7.0", Message: "Authentication required"}
	// ErrNoSuchUser: the mailbox does not exist (RFC 3463 X.1.1).
	ErrNoSuchUser = &Error{Code: 550, EnhancedCode: "5.1.1", Message: "No such user here"}
	// ErrRelayDenied: the server does not relay for this client.
	ErrRelayDenied = &Error{Code: 554, EnhancedCode: "5.7.1", Message: "Relay access denied"}
	// ErrTemporary is the generic reply for errors that are not an *Error.
	ErrTemporary = &Error{Code: 451, EnhancedCode: "4.3.0", Message: "Temporary local problem, try again later"}
)
