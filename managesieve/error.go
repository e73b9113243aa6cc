package managesieve

import (
	"errors"
	"strings"
)

// Response codes (RFC 5804 §1.3), sent in parentheses after OK, NO or BYE.
// TAG, SASL and REFERRAL take an argument and are written by the server
// itself.
const (
	// CodeAuthTooWeak: the mechanism is too weak for this user or now
	// (RFC 5804 §1.3).
	CodeAuthTooWeak = "AUTH-TOO-WEAK"
	// CodeEncryptNeeded: authentication needs TLS first; use STARTTLS.
	CodeEncryptNeeded = "ENCRYPT-NEEDED"
	// CodeQuota: the user's storage quota would be exceeded.
	CodeQuota = "QUOTA"
	// CodeQuotaMaxScripts: the user has as many scripts as allowed.
	CodeQuotaMaxScripts = "QUOTA/MAXSCRIPTS"
	// CodeQuotaMaxSize: the script is larger than one script may be.
	CodeQuotaMaxSize = "QUOTA/MAXSIZE"
	// CodeTransitionNeeded: the user must log in with a plaintext
	// mechanism once so the server can convert the password.
	CodeTransitionNeeded = "TRANSITION-NEEDED"
	// CodeTryLater: a temporary failure; the same command may work later.
	CodeTryLater = "TRYLATER"
	// CodeActive: the command cannot act on the active script.
	CodeActive = "ACTIVE"
	// CodeNonexistent: there is no script by that name.
	CodeNonexistent = "NONEXISTENT"
	// CodeAlreadyExists: a script by the new name already exists.
	CodeAlreadyExists = "ALREADYEXISTS"
	// CodeWarnings: the script was accepted, with warnings in the text.
	CodeWarnings = "WARNINGS"
)

// Errors a [Store] returns. The server answers each with its response
// code; errors.Is finds them through wrapping.
var (
	// ErrNoSuchScript: the named script does not exist (NONEXISTENT).
	ErrNoSuchScript = errors.New("managesieve: no such script")
	// ErrActiveScript: the active script cannot be deleted (ACTIVE,
	// RFC 5804 §2.10).
	ErrActiveScript = errors.New("managesieve: script is active")
	// ErrScriptExists: a script by the new name already exists
	// (ALREADYEXISTS, RFC 5804 §2.11).
	ErrScriptExists = errors.New("managesieve: script already exists")
	// ErrInvalidName: the script name is not allowed (see [ValidName]).
	ErrInvalidName = errors.New("managesieve: invalid script name")
	// ErrTooManyScripts: storing one more script would exceed
	// Quota.MaxScripts (QUOTA/MAXSCRIPTS).
	ErrTooManyScripts = errors.New("managesieve: too many scripts")
	// ErrScriptTooLarge: the script is larger than Quota.MaxScriptSize
	// (QUOTA/MAXSIZE).
	ErrScriptTooLarge = errors.New("managesieve: script too large")
	// ErrQuotaExceeded: storing the script would exceed
	// Quota.MaxTotalSize (QUOTA).
	ErrQuotaExceeded = errors.New("managesieve: storage quota exceeded")
)

// Error is a NO response with a response code, for a Store or
// [Server.Check] to refuse an operation in its own words. The server sends
// Code (one of the Code constants, "" for none) and Message. Err, if set,
// is the cause; it is logged, never sent.
//
// Any error that is neither an *Error nor one of the ErrXxx values of this
// package is logged and answered with a generic NO (TRYLATER), so internal
// error text never reaches the client.
type Error struct {
	Code    string
	Message string
	Err     error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("managesieve: ")
	if e.Code != "" {
		b.WriteString("(" + e.Code + ") ")
	}
	b.WriteString(e.Message)
	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Warnings is what [Server.Check] returns to accept a script with
// warnings: PUTSCRIPT stores it and, like CHECKSCRIPT, answers
// OK (WARNINGS) with the warnings, one a line (RFC 5804 §2.6).
type Warnings []string

func (w Warnings) Error() string { return "managesieve: warnings: " + strings.Join(w, "; ") }

// storeErrors maps the sentinel errors to their response code and text.
var storeErrors = []struct {
	err  error
	code string
	text string
}{
	{ErrNoSuchScript, CodeNonexistent, "There is no script by that name"},
	{ErrActiveScript, CodeActive, "You may not delete an active script"},
	{ErrScriptExists, CodeAlreadyExists, "A script with that name already exists"},
	{ErrInvalidName, "", "Invalid script name"},
	{ErrTooManyScripts, CodeQuotaMaxScripts, "Too many scripts"},
	{ErrScriptTooLarge, CodeQuotaMaxSize, "Script too large"},
	{ErrQuotaExceeded, CodeQuota, "Storage quota exceeded"},
}

// wireError returns the response code and text for err, and whether err
// has a wire meaning at all.
func wireError(err error) (code, text string, ok bool) {
	var e *Error
	if errors.As(err, &e) {
		return e.Code, e.Message, true
	}
	for _, s := range storeErrors {
		if errors.Is(err, s.err) {
			return s.code, s.text, true
		}
	}
	return "", "", false
}
