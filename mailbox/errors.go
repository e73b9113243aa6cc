package mailbox

import "errors"

// Error is a storage failure with a meaning on the wire. Stores return the
// sentinel values below, usually wrapped with context
// (fmt.Errorf("...: %w", mailbox.ErrOverQuota)); protocol servers find the
// *Error with errors.As and answer with its codes, and compare with
// errors.Is. Any other error from a Store is an internal failure: it is
// logged and answered with a generic temporary reply, never echoed.
//
// Error values are shared and must not be modified.
type Error struct {
	// Message is a short human-readable text that may be sent to a client.
	Message string
	// IMAP is the response code (RFC 5530, RFC 9051 §7.1) sent in
	// brackets with a tagged NO, e.g. "OVERQUOTA"; "" for none.
	IMAP string
	// SMTPCode and SMTPEnhanced are the reply for local delivery
	// (RFC 5321 §4.2, RFC 3463), e.g. 552 and "5.2.2"; 0 if the error
	// cannot happen during delivery.
	SMTPCode     int
	SMTPEnhanced string
	// POP3 is the extended response code (RFC 2449 §8, RFC 3206) sent in
	// brackets with -ERR, e.g. "IN-USE"; "" for none.
	POP3 string
	// Temporary reports whether retrying later may succeed.
	Temporary bool
}

func (e *Error) Error() string { return "mailbox: " + e.Message }

// The errors a Store returns. Operations not listed under an error never
// return it.
var (
	// ErrNoSuchUser: the store does not know the user (stores that create
	// users on first use never return it). SMTP 550 5.1.1.
	ErrNoSuchUser = &Error{Message: "no such user", SMTPCode: 550, SMTPEnhanced: "5.1.1"}
	// ErrNoSuchMailbox: the mailbox does not exist, or an open Mailbox was
	// deleted (or its UIDVALIDITY changed) since. IMAP NO [NONEXISTENT];
	// the IMAP layer sends [TRYCREATE] instead for APPEND, COPY and MOVE
	// targets (RFC 9051 §6.3.12, §6.4.7).
	ErrNoSuchMailbox = &Error{Message: "no such mailbox", IMAP: "NONEXISTENT", SMTPCode: 550, SMTPEnhanced: "5.1.1"}
	// ErrMailboxExists: Create or Rename to a name that is taken.
	// IMAP NO [ALREADYEXISTS].
	ErrMailboxExists = &Error{Message: "mailbox already exists", IMAP: "ALREADYEXISTS"}
	// ErrInvalidName: a mailbox name, user name or keyword is malformed or
	// too long (see CleanName, ValidUserName, ValidKeyword). IMAP NO
	// [CANNOT].
	ErrInvalidName = &Error{Message: "invalid name", IMAP: "CANNOT", SMTPCode: 550, SMTPEnhanced: "5.1.3"}
	// ErrNotAllowed: the operation violates an invariant of the model,
	// e.g. deleting INBOX or renaming a mailbox into its own subtree.
	// IMAP NO [CANNOT].
	ErrNotAllowed = &Error{Message: "operation not allowed", IMAP: "CANNOT"}
	// ErrNoSuchMessage: the UID is not (or no longer) in the mailbox.
	// IMAP NO [EXPUNGEISSUED] when another session expunged it.
	ErrNoSuchMessage = &Error{Message: "no such message", IMAP: "EXPUNGEISSUED"}
	// ErrOverQuota: the change would take the user over their Quota.
	// SMTP 552 5.2.2 (RFC 3463 "mailbox full"), IMAP NO [OVERQUOTA]
	// (RFC 9208 §4.3), POP3 is never over quota.
	ErrOverQuota = &Error{Message: "over quota", IMAP: "OVERQUOTA", SMTPCode: 552, SMTPEnhanced: "5.2.2"}
	// ErrTooBig: the message exceeds the store's size limit. SMTP 552
	// 5.3.4, IMAP NO [TOOBIG] (RFC 7889 §4).
	ErrTooBig = &Error{Message: "message too big", IMAP: "TOOBIG", SMTPCode: 552, SMTPEnhanced: "5.3.4"}
	// ErrLimit: a store limit other than quota or size was hit (too many
	// keywords, mailboxes, nesting levels). IMAP NO [LIMIT] (RFC 5530).
	ErrLimit = &Error{Message: "limit reached", IMAP: "LIMIT"}
	// ErrLocked: another session holds the exclusive (maildrop) lock of
	// the mailbox (RFC 1939 §8). POP3 -ERR [IN-USE] (RFC 2449 §8.1.1),
	// IMAP NO [INUSE], SMTP 450 4.2.0.
	ErrLocked = &Error{Message: "mailbox in use", IMAP: "INUSE", POP3: "IN-USE", SMTPCode: 450, SMTPEnhanced: "4.2.0", Temporary: true}
	// ErrReadOnly: a change through a Mailbox opened read-only (IMAP
	// EXAMINE). IMAP NO [CANNOT] ([READ-ONLY] is a SELECT response code,
	// RFC 9051 §7.1).
	ErrReadOnly = &Error{Message: "mailbox is read-only", IMAP: "CANNOT"}
	// ErrClosed: the Store or Mailbox was closed. Temporary: a new
	// session will succeed once the store is back. IMAP NO [UNAVAILABLE],
	// POP3 -ERR [SYS/TEMP], SMTP 451 4.3.0.
	ErrClosed = &Error{Message: "store closed", IMAP: "UNAVAILABLE", POP3: "SYS/TEMP", SMTPCode: 451, SMTPEnhanced: "4.3.0", Temporary: true}
)

// AsError returns the *Error in err's chain, or nil if there is none (an
// internal failure, to be answered with a generic temporary reply).
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}
