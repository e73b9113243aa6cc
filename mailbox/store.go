package mailbox

import (
	"context"
	"io"
	"iter"
	"time"
)

// Store holds the mailboxes of many users. It is the storage that local
// delivery writes and IMAP and POP3 sessions read and change. All methods
// are safe for concurrent use. Implementations: package memstore (in
// memory) and package maildir (on disk); package mailboxtest checks that
// an implementation follows the rules of this package.
type Store interface {
	Deliverer

	// User returns the view of one user's mailboxes. Stores that create
	// users on first use create the user and its INBOX here; others return
	// ErrNoSuchUser. name must pass ValidUserName (ErrInvalidName);
	// authentication and name normalisation happen before, in package
	// auth. A User is cheap and needs no closing.
	User(ctx context.Context, name string) (User, error)

	// Close releases the store. Users and open Mailboxes return ErrClosed
	// afterwards, every subscription ends with EventGone, and nothing
	// acknowledged is lost. Contents already open may stop working. Close
	// is idempotent; it waits for no session, and stops every goroutine
	// the store started.
	Close() error
}

// User is one user's mailboxes: the namespace IMAP LIST, CREATE, DELETE,
// RENAME and (UN)SUBSCRIBE work on (RFC 9051 §6.3). Names are checked and
// canonicalised with CleanName; a bad name gives ErrInvalidName. Methods
// are safe for concurrent use.
type User interface {
	// Name returns the user name given to Store.User.
	Name() string

	// List returns every existing mailbox, sorted by name (byte order),
	// INBOX included. Parents that do not exist themselves (a/b exists, a
	// does not) are not listed: LIST's \NonExistent and \HasChildren are
	// the IMAP layer's to derive (RFC 9051 §6.3.9, RFC 5258).
	List(ctx context.Context) ([]MailboxInfo, error)

	// Create creates a mailbox, and any missing parents, as RFC 9051
	// §6.3.4 suggests. It returns ErrMailboxExists if name exists (INBOX
	// always does). A new mailbox gets a UIDVALIDITY different from every
	// mailbox that ever had the same name in this store (RFC 9051
	// §2.3.1.1), UIDNEXT 1 and HIGHESTMODSEQ 1. opts may be nil.
	Create(ctx context.Context, name string, opts *CreateOptions) error

	// Delete deletes a mailbox and its messages (RFC 9051 §6.3.5); its
	// inferiors remain. Deleting INBOX gives ErrNotAllowed. Open Mailboxes
	// for it get EventGone, then ErrNoSuchMailbox. Subscriptions stay.
	Delete(ctx context.Context, name string) error

	// Rename renames a mailbox and all its inferiors (RFC 9051 §6.3.6),
	// keeping UIDVALIDITY, UIDs, MODSEQs and special use; open Mailboxes
	// follow it. Subscriptions are not changed. Renaming to an existing
	// name gives ErrMailboxExists; into its own subtree, ErrNotAllowed.
	// Renaming INBOX moves all its messages to a new mailbox newName (new
	// UIDVALIDITY, new UIDs) and leaves INBOX empty and in place; INBOX's
	// inferiors do not move.
	Rename(ctx context.Context, oldName, newName string) error

	// Subscribe and Unsubscribe change the subscription list (RFC 9051
	// §6.3.7, §6.3.8). Names need not exist. Both are idempotent.
	Subscribe(ctx context.Context, name string) error
	Unsubscribe(ctx context.Context, name string) error
	// Subscriptions returns the subscribed names, sorted.
	Subscriptions(ctx context.Context) ([]string, error)

	// Status returns the state of a mailbox without opening it (IMAP
	// STATUS, RFC 9051 §6.3.11).
	Status(ctx context.Context, name string) (*Status, error)

	// Open opens a mailbox (IMAP SELECT/EXAMINE, POP3 maildrop). opts may
	// be nil. The caller must Close the Mailbox. Open returns ErrLocked if
	// opts.Exclusive is set and another exclusive Mailbox is open on it.
	Open(ctx context.Context, name string, opts *OpenOptions) (Mailbox, error)

	// Quota returns the user's limits and usage (RFC 9208 GETQUOTAROOT).
	Quota(ctx context.Context) (QuotaUsage, error)
	// SetQuota sets the user's limits (RFC 9208 SETQUOTA). Lowering a
	// limit below the usage deletes nothing: further appends, copies and
	// deliveries fail with ErrOverQuota until usage is below it again.
	SetQuota(ctx context.Context, q Quota) error
}

// MailboxInfo describes a mailbox in a User.List result.
type MailboxInfo struct {
	Name       string
	SpecialUse SpecialUse
	Subscribed bool
}

// CreateOptions are the options of User.Create.
type CreateOptions struct {
	// SpecialUse is the special-use attribute of the new mailbox
	// (RFC 6154 §3, CREATE-SPECIAL-USE); "" for none. Unknown attributes
	// give ErrNotAllowed (IMAP NO [USEATTR]).
	SpecialUse SpecialUse
}

// OpenOptions are the options of User.Open.
type OpenOptions struct {
	// ReadOnly opens the mailbox for reading only (IMAP EXAMINE): changes
	// through it fail with ErrReadOnly. Copying from it is allowed.
	ReadOnly bool
	// Exclusive takes the mailbox's maildrop lock (RFC 1939 §8) until
	// Close: another Exclusive Open of the same mailbox fails with
	// ErrLocked, in this process and, for file-backed stores, in others.
	// Non-exclusive Mailboxes (IMAP sessions) are not affected.
	Exclusive bool
}

// Status is the state of a mailbox (RFC 9051 §6.3.11, §7.3; RFC 7162
// HIGHESTMODSEQ; RFC 8438 STATUS=SIZE).
type Status struct {
	Name       string
	SpecialUse SpecialUse
	// UIDValidity is never 0 and is fixed for the life of an open Mailbox.
	UIDValidity uint32
	// UIDNext is the UID the next message will get (at least 1). It only
	// grows, also across expunges and reopening the store.
	UIDNext UID
	// HighestModSeq is at least 1 and at least every message's ModSeq;
	// it grows with every change, expunges included.
	HighestModSeq ModSeq
	// Messages, Unseen (without \Seen) and Deleted (with \Deleted) count
	// messages; Size is the sum of their sizes in bytes.
	Messages, Unseen, Deleted int
	Size                      int64
	// Keywords is every keyword set on some message in the mailbox,
	// normalized (IMAP FLAGS, RFC 9051 §7.3.5). Stores may list keywords
	// no message carries any more.
	Keywords []string
}

// Mailbox is an open mailbox. Messages are addressed by UID within its
// UIDVALIDITY; sequence numbers are the protocol layer's view. All methods
// are safe for concurrent use; every change is visible to all Mailboxes
// open on the same mailbox as soon as the method returns, and is durable
// by then for file-backed stores.
//
// After the mailbox is deleted (or its UIDVALIDITY changes) every method
// returns ErrNoSuchMailbox; after Close, ErrClosed. UID sets may name
// UIDs that do not exist: those are skipped, as IMAP UID commands require
// (RFC 9051 §6.4.9).
type Mailbox interface {
	// Name returns the mailbox's current name (it follows renames).
	Name() string
	// UIDValidity returns the UIDVALIDITY, fixed for the life of the
	// Mailbox.
	UIDValidity() uint32
	// Status returns the current state.
	Status(ctx context.Context) (*Status, error)

	// Messages yields the messages in uids that changed after
	// opts.ChangedSince, in ascending UID order, streamed: the store holds
	// no lock while the caller handles a message, and a large mailbox is
	// never copied whole. Changes made while iterating may or may not be
	// seen, but each message is yielded at most once. opts may be nil.
	Messages(ctx context.Context, uids UIDSet, opts *FetchOptions) iter.Seq2[*Message, error]

	// Expunged returns the UIDs in uids expunged after since (QRESYNC
	// VANISHED, RFC 7162 §3.2.5, §3.2.10). A store may return more UIDs
	// than were expunged after since (at worst every UID below UIDNEXT not
	// in the mailbox), never fewer.
	Expunged(ctx context.Context, uids UIDSet, since ModSeq) (UIDSet, error)

	// Open returns the raw bytes of a message: exactly Message.Size
	// bytes. It returns ErrNoSuchMessage for a UID not in the mailbox. The
	// caller must Close the Content.
	Open(ctx context.Context, uid UID) (Content, error)

	// Append stores a message read from r to EOF (IMAP APPEND). It
	// returns the new message (UID, ModSeq, Size, ...; no Metadata). r is
	// streamed: a file-backed store does not hold the message in memory.
	// If reading r fails, nothing is stored and the error is returned.
	// Errors: ErrOverQuota, ErrTooBig, ErrInvalidName (keyword). opts may
	// be nil.
	Append(ctx context.Context, r io.Reader, opts *AppendOptions) (*Message, error)

	// UpdateFlags changes the flags and keywords of the messages in uids
	// (IMAP STORE, RFC 9051 §6.4.6; UNCHANGEDSINCE, RFC 7162 §3.1.3).
	// Every message whose flags or keywords change gets a new ModSeq; one
	// call may give all of them the same value. Messages already in the
	// requested state keep their ModSeq.
	UpdateFlags(ctx context.Context, uids UIDSet, u *FlagUpdate) (*UpdateResult, error)

	// Copy copies the messages in uids to the mailbox dest of the same
	// user, keeping flags, keywords and internal dates (IMAP COPY,
	// RFC 9051 §6.4.7; UIDPLUS COPYUID, RFC 4315). The copies get
	// ascending UIDs in ascending source UID order. dest may be this
	// mailbox. Errors: ErrNoSuchMailbox for dest (IMAP [TRYCREATE]),
	// ErrOverQuota. Either all messages are copied or none.
	Copy(ctx context.Context, uids UIDSet, dest string) (*CopyResult, error)

	// Move is Copy followed by expunging the copied messages from this
	// mailbox, atomically as seen by other sessions (RFC 6851 §3.3). It
	// never fails for quota within one user.
	Move(ctx context.Context, uids UIDSet, dest string) (*CopyResult, error)

	// Expunge permanently removes the messages in uids that have the
	// \Deleted flag (IMAP EXPUNGE with AllUIDs, UID EXPUNGE with a set,
	// RFC 4315 §2.1; POP3 UPDATE state), and returns the removed UIDs.
	// Each removal gets a new MODSEQ (one per call is enough).
	Expunge(ctx context.Context, uids UIDSet) (UIDSet, error)

	// Watch subscribes to the changes of the mailbox made through any
	// Mailbox of this Store, the caller's own included, and deliveries:
	// see Event. A change's events are queued for every subscription
	// before the method that made it returns. The subscription ends when
	// it is closed, the Mailbox is closed, the mailbox is deleted (with
	// EventGone) or the store is closed (EventGone).
	Watch(ctx context.Context) (*Subscription, error)

	// Close closes the Mailbox: it releases the exclusive lock, ends the
	// Mailbox's subscriptions, and makes its methods return ErrClosed.
	// Contents already open stay readable. Close is idempotent.
	Close() error
}

// FetchOptions are the options of Mailbox.Messages.
type FetchOptions struct {
	// ChangedSince limits the result to messages whose ModSeq is greater
	// (RFC 7162 §3.1.4 CHANGEDSINCE); 0 for all.
	ChangedSince ModSeq
	// Metadata says which parts of Message.Metadata the caller needs:
	// MetadataAll for all of it, 0 (the default) for none, in which case
	// Message.Metadata is nil. A store may decode each part separately,
	// so asking for less makes a listing cheaper: IMAP FETCH ENVELOPE
	// needs MetadataEnvelope, SEARCH on header fields MetadataFields.
	// Parts not asked for may be missing (nil or zero) or present.
	Metadata MetadataParts
	// Reuse lets the store reuse the memory of a yielded Message, and of
	// all its Metadata and Keywords hold, strings included, for later
	// messages of the same iteration: each is valid only until the loop
	// body for it returns, and the caller copies what it keeps (the UID
	// and other plain values are copies already). A listing then
	// allocates little or nothing a message. IMAP FETCH and SEARCH,
	// which answer or test each message and move on, use it. Stores may
	// ignore it.
	Reuse bool
}

// MetadataParts is a set of the parts of Metadata, for
// FetchOptions.Metadata.
type MetadataParts uint8

// The parts of Metadata.
const (
	MetadataEnvelope MetadataParts = 1 << iota // Metadata.Envelope
	MetadataBody                               // Metadata.Body (MIME structure and offsets)
	MetadataDate                               // Metadata.Date
	MetadataFields                             // Metadata.Fields

	// MetadataAll is every part.
	MetadataAll = MetadataEnvelope | MetadataBody | MetadataDate | MetadataFields
)

// AppendOptions are the options of Mailbox.Append and of Recipient.
type AppendOptions struct {
	Flags Flags
	// Keywords are normalized by the store (NormalizeKeywords).
	Keywords []string
	// InternalDate is the message's internal date; zero means now.
	InternalDate time.Time
}

// FlagUpdate is a change of flags and keywords (Mailbox.UpdateFlags).
type FlagUpdate struct {
	Op       FlagOp
	Flags    Flags
	Keywords []string
	// If Conditional is set, a message whose ModSeq is greater than
	// UnchangedSince is left alone and reported in UpdateResult.Modified
	// (RFC 7162 §3.1.3; UNCHANGEDSINCE 0 fails for every message).
	Conditional    bool
	UnchangedSince ModSeq
}

// UpdateResult is the result of Mailbox.UpdateFlags.
type UpdateResult struct {
	// Messages is the state, after the change, of every message in the set
	// that was not left alone (changed or already in the requested state),
	// ascending by UID, without InternalDate, Size or Metadata. The IMAP
	// layer sends them as FETCH (FLAGS MODSEQ) responses.
	Messages []Message
	// Modified is the set of messages left alone because of
	// UnchangedSince (RFC 7162 [MODIFIED] response code).
	Modified UIDSet
}

// CopyResult maps source UIDs to destination UIDs (RFC 4315 COPYUID).
type CopyResult struct {
	// UIDValidity is the destination mailbox's.
	UIDValidity uint32
	// Source and Dest are parallel: Source[i] was copied to Dest[i]. Both
	// ascend, so UIDSetOf(Source...) and UIDSetOf(Dest...) correspond.
	Source, Dest []UID
}

// Quota is a user's storage limit (RFC 9208 STORAGE and MESSAGE
// resources). A field of zero or less means no limit, the default.
type Quota struct {
	// MaxBytes limits the total size of all messages in all mailboxes.
	MaxBytes int64
	// MaxMessages limits the number of messages in all mailboxes.
	MaxMessages int64
}

// QuotaUsage is a user's usage and limits.
type QuotaUsage struct {
	Quota
	Bytes    int64
	Messages int64
}

// Allows reports whether adding n messages of size bytes in total keeps u
// within its limits. Stores call it to decide ErrOverQuota.
func (u QuotaUsage) Allows(n, bytes int64) bool {
	if u.MaxBytes > 0 && u.Bytes+bytes > u.MaxBytes {
		return false
	}
	if u.MaxMessages > 0 && u.Messages+n > u.MaxMessages {
		return false
	}
	return true
}

// Deliverer is local delivery: what relay and the SMTP/LMTP server use to
// put a received message in users' mailboxes.
type Deliverer interface {
	// Deliver reads one message from r to EOF and stores a copy for each
	// recipient. It returns once every copy reported as delivered is
	// durable, with one error per recipient (nil for delivered; the
	// *Error codes say what to answer, e.g. 552 5.2.2 for ErrOverQuota).
	// A crash never leaves a recipient with a partial message: after
	// restart each copy is there whole or not at all. If r fails, nothing
	// is delivered and that error is returned.
	Deliver(ctx context.Context, r io.Reader, rcpts []Recipient) ([]error, error)
}

// Recipient is one destination of Deliverer.Deliver.
type Recipient struct {
	User string
	// Mailbox is the destination mailbox; "" means INBOX. A mailbox that
	// does not exist gives ErrNoSuchMailbox (a Sieve fileinto falls back
	// to INBOX).
	Mailbox string
	// Options set flags, keywords and the internal date; nil for none and
	// now.
	Options *AppendOptions
}
