package mailbox

import (
	"io"
	"math"
	"slices"
	"strings"
	"time"
)

// UID identifies a message within one UIDVALIDITY of a mailbox
// (RFC 9051 §2.3.1.1). UIDs are assigned in strictly ascending order and
// never reused; 0 is never a valid UID.
type UID uint32

// MaxUID is the largest UID; UIDSet{{1, MaxUID}} stands for IMAP "1:*".
const MaxUID UID = math.MaxUint32

// ModSeq is a modification sequence (RFC 7162 §3.1.1): every change to a
// mailbox (append, flag or keyword change, expunge) gets a value greater
// than all earlier ones in that mailbox. Valid values start at 1.
type ModSeq uint64

// Flags is a set of the system flags of RFC 9051 §2.3.2. \Recent is not
// kept (IMAP4rev2 removed it; an IMAP4rev1 layer reports it as never set),
// and keywords are kept as strings beside Flags.
type Flags uint8

// The system flags.
const (
	FlagSeen Flags = 1 << iota
	FlagAnswered
	FlagFlagged
	FlagDeleted
	FlagDraft

	// AllFlags is the set of all system flags.
	AllFlags = FlagSeen | FlagAnswered | FlagFlagged | FlagDeleted | FlagDraft
)

var flagNames = [...]string{`\Seen`, `\Answered`, `\Flagged`, `\Deleted`, `\Draft`}

// Names returns the IMAP names of the flags in f, in the order \Seen,
// \Answered, \Flagged, \Deleted, \Draft.
func (f Flags) Names() []string {
	var names []string
	for i, n := range flagNames {
		if f&(1<<i) != 0 {
			names = append(names, n)
		}
	}
	return names
}

// String returns the IMAP names of the flags separated by spaces.
func (f Flags) String() string { return strings.Join(f.Names(), " ") }

// ParseFlag returns the system flag named name (case-insensitively, with
// its backslash, e.g. `\Seen`). ok is false for anything else, including
// `\Recent` and keywords.
func ParseFlag(name string) (f Flags, ok bool) {
	for i, n := range flagNames {
		if strings.EqualFold(name, n) {
			return 1 << i, true
		}
	}
	return 0, false
}

// Message is the state of one message as a Mailbox reports it. The caller
// owns the struct and its Keywords slice; Metadata is shared and must not
// be modified.
type Message struct {
	UID    UID
	ModSeq ModSeq // of the message's last change (RFC 7162 §3.1)
	Flags  Flags
	// Keywords are the message's keywords (RFC 9051 §2.3.2), sorted
	// case-insensitively, no two equal under ASCII case folding.
	Keywords []string
	// InternalDate is the date the message was received or the date given
	// to Append (RFC 9051 §2.3.3).
	InternalDate time.Time
	// Size is the exact number of bytes Open serves (RFC 9051 §2.3.4,
	// RFC 1939 LIST).
	Size int64
	// Metadata is the cached header and MIME metadata; set only when
	// FetchOptions.Metadata asked for some of it, and then with at least
	// the parts asked for.
	Metadata *Metadata
}

// Content is the raw bytes of a message as stored (CRLF line endings,
// including prepended trace headers): exactly Message.Size bytes. The
// caller must Close it. A Content is not safe for concurrent use, except
// ReadAt, which may be called concurrently; it stays readable after the
// message is expunged.
type Content interface {
	io.ReadSeekCloser
	io.ReaderAt
}

// maxKeywordLen bounds the length of a keyword.
const maxKeywordLen = 255

// ValidKeyword reports whether kw can be a keyword: an IMAP atom
// (RFC 9051 §9 flag-keyword) of at most 255 bytes, not starting with a
// backslash.
func ValidKeyword(kw string) bool {
	if kw == "" || len(kw) > maxKeywordLen || kw[0] == '\\' {
		return false
	}
	for i := 0; i < len(kw); i++ {
		c := kw[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`(){%*"\]`, c) >= 0 {
			return false
		}
	}
	return true
}

// compareKeywords orders keywords ASCII case-insensitively.
func compareKeywords(a, b string) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		ca, cb := lower(a[i]), lower(b[i])
		if ca != cb {
			return int(ca) - int(cb)
		}
	}
	return len(a) - len(b)
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// NormalizeKeywords checks each keyword with ValidKeyword and returns them
// sorted case-insensitively with duplicates (under ASCII case folding)
// removed, keeping the first spelling. It returns ErrInvalidName for an
// invalid keyword. kws is not modified.
func NormalizeKeywords(kws []string) ([]string, error) {
	if len(kws) == 0 {
		return nil, nil
	}
	out := make([]string, 0, len(kws))
	for _, kw := range kws {
		if !ValidKeyword(kw) {
			return nil, ErrInvalidName
		}
		out = append(out, kw)
	}
	slices.SortStableFunc(out, compareKeywords)
	return slices.CompactFunc(out, strings.EqualFold), nil
}

// FlagOp says how FlagUpdate changes a message's flags and keywords
// (RFC 9051 §6.4.6).
type FlagOp uint8

const (
	// FlagsAdd adds the flags and keywords (STORE +FLAGS).
	FlagsAdd FlagOp = iota
	// FlagsRemove removes them (STORE -FLAGS).
	FlagsRemove
	// FlagsReplace sets them, removing all others (STORE FLAGS).
	FlagsReplace
)

// Apply returns the flags and keywords of a message that had cur and
// curKw after op with flags and kws, and whether anything changed. curKw
// and kws must be normalized (NormalizeKeywords); so is the result, which
// may share memory with curKw or kws. Stores use it to give every
// implementation the same semantics.
func (op FlagOp) Apply(cur Flags, curKw []string, flags Flags, kws []string) (Flags, []string, bool) {
	var nf Flags
	var nk []string
	switch op {
	case FlagsAdd:
		nf = cur | flags
		nk = curKw
		for _, kw := range kws {
			if _, found := slices.BinarySearchFunc(nk, kw, compareKeywords); !found {
				nk = mergeKeywords(curKw, kws)
				break
			}
		}
	case FlagsRemove:
		nf = cur &^ flags
		nk = curKw
		for _, kw := range kws {
			if _, found := slices.BinarySearchFunc(nk, kw, compareKeywords); found {
				nk = slices.DeleteFunc(slices.Clone(curKw), func(k string) bool {
					_, found := slices.BinarySearchFunc(kws, k, compareKeywords)
					return found
				})
				break
			}
		}
	default:
		nf = flags
		nk = kws
	}
	nf &= AllFlags
	if len(nk) == 0 {
		nk = nil
	}
	changed := nf != cur || !slices.EqualFunc(nk, curKw, func(a, b string) bool { return a == b })
	return nf, nk, changed
}

// mergeKeywords returns the normalized union of two normalized lists,
// keeping a's spelling.
func mergeKeywords(a, b []string) []string {
	out := make([]string, 0, len(a)+len(b))
	out = append(out, a...)
	out = append(out, b...)
	slices.SortStableFunc(out, compareKeywords)
	return slices.CompactFunc(out, strings.EqualFold)
}
