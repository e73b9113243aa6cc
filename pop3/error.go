package pop3

import (
	"errors"
	"strings"
)

// Extended response codes (RFC 2449 §8, RFC 3206), sent in brackets after
// -ERR.
const (
	// CodeInUse: the maildrop is locked by another session
	// (RFC 2449 §8.1.1).
	CodeInUse = "IN-USE"
	// CodeLoginDelay: the user logged in too recently (RFC 2449 §8.1.2).
	CodeLoginDelay = "LOGIN-DELAY"
	// CodeSysTemp: a temporary problem on the server; retry later
	// (RFC 3206 §4).
	CodeSysTemp = "SYS/TEMP"
	// CodeSysPerm: a permanent problem on the server; retrying will not
	// help (RFC 3206 §4).
	CodeSysPerm = "SYS/PERM"
	// CodeAuth: the credentials are wrong (RFC 3206 §5).
	CodeAuth = "AUTH"
)

// Error is a -ERR response that UserPolicy returns to refuse a login. The
// server sends Code (an extended response code such as CodeSysPerm; "" for
// none) and Message. Err, if set, is the cause; it is logged, never sent.
//
// Any other error from UserPolicy, the Store or the Authenticator is logged
// and answered with a generic -ERR [SYS/TEMP], so internal error text never
// reaches the client.
type Error struct {
	Code    string
	Message string
	Err     error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("pop3: ")
	if e.Code != "" {
		b.WriteString("[" + e.Code + "] ")
	}
	b.WriteString(e.Message)
	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// asError returns err as an *Error, or nil if it is not one.
func asError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}

// Errors the server sends.
var (
	// errTemporary is the reply to errors that carry no wire meaning.
	errTemporary = &Error{Code: CodeSysTemp, Message: "Temporary failure, try again later"}
	errPanic     = &Error{Code: CodeSysTemp, Message: "Internal error, closing connection"}
)
