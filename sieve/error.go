package sieve

import (
	"errors"
	"fmt"
	"strings"
)

// Pos is a position in a script: 1-based line and column (the column counts
// characters, not bytes).
type Pos struct {
	Line, Col int
}

func (p Pos) String() string { return fmt.Sprintf("%d:%d", p.Line, p.Col) }

// Error is a compile-time or run-time error in a script. Line and Col are
// 1-based; they are zero when the error has no position (a limit that
// applies to the whole script, for example). Script names the script the
// error is in when it is not the main one (an included script).
type Error struct {
	Script    string
	Line, Col int
	Msg       string
	// Err is the underlying cause, if any (a Loader or DuplicateTracker
	// error, context cancellation, ErrLimit).
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("sieve: ")
	if e.Script != "" {
		b.WriteString(e.Script)
		b.WriteString(": ")
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, "line %d:%d: ", e.Line, e.Col)
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// ErrorList is the error Compile returns: every problem found, in script
// order, at most Limits.MaxErrors of them. errors.As(err, &e) with e a
// *Error finds the first.
type ErrorList []*Error

func (l ErrorList) Error() string {
	if len(l) == 1 {
		return l[0].Error()
	}
	var b strings.Builder
	for i, e := range l {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// Unwrap returns the errors in the list.
func (l ErrorList) Unwrap() []error {
	out := make([]error, len(l))
	for i, e := range l {
		out[i] = e
	}
	return out
}

// ErrLimit is the cause (errors.Is) of every error reported because a bound
// in Limits was reached.
var ErrLimit = errors.New("sieve: limit exceeded")

func errorf(p Pos, format string, args ...any) *Error {
	return &Error{Line: p.Line, Col: p.Col, Msg: fmt.Sprintf(format, args...)}
}

func limitf(p Pos, format string, args ...any) *Error {
	e := errorf(p, format, args...)
	e.Err = ErrLimit
	return e
}
