package imap

import (
	"errors"

	"github.com/postyard/postyard/internal/wire"
	"github.com/postyard/postyard/mailbox"
)

// Error is a command failure with a meaning on the wire: a tagged NO, or
// BAD when Bad is set, with an optional response code (RFC 9051 §7.1,
// RFC 5530). It unwraps to its cause, which is logged, never sent.
type Error struct {
	Bad  bool
	Code string // e.g. "TRYCREATE"; "" for none
	Text string
	Err  error
}

func (e *Error) Error() string {
	s := "imap: " + e.Text
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

func bad(text string) error        { return &Error{Bad: true, Text: text} }
func no(code, text string) error   { return &Error{Code: code, Text: text} }
func badCode(code, t string) error { return &Error{Bad: true, Code: code, Text: t} }
func isBad(err error) bool         { e, ok := asError(err); return ok && e.Bad }
func asError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// errClose ends the session after the response has been flushed.
var errClose = errors.New("close connection")

// errServerBug answers unknown errors (never echoed: ARCHITECTURE.md).
var errServerBug = &Error{Code: "SERVERBUG", Text: "Internal server error, try again later"}

// toWire turns any error into the status, code and text to send, and
// reports whether the cause should be logged as an internal failure.
func toWire(err error) (status, code, text string, internal bool) {
	if e, ok := asError(err); ok {
		status = "NO"
		if e.Bad {
			status = "BAD"
		}
		return status, e.Code, e.Text, false
	}
	if e, ok := wire.IsIMAPError(err); ok {
		if e.Code == "TOOBIG" && !e.Fatal {
			return "NO", e.Code, capitalize(e.Msg), false
		}
		return "BAD", e.Code, capitalize(e.Msg), false
	}
	if e := mailbox.AsError(err); e != nil {
		return "NO", e.IMAP, capitalize(e.Message), false
	}
	return "NO", errServerBug.Code, errServerBug.Text, true
}

func capitalize(s string) string {
	if s != "" && 'a' <= s[0] && s[0] <= 'z' {
		return string(s[0]-'a'+'A') + s[1:]
	}
	return s
}
