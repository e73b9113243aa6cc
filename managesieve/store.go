package managesieve

import (
	"context"
	"slices"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Store keeps each user's Sieve scripts and which one is active. The
// ManageSieve server changes it; local delivery reads it with
// [Store.Active]. [MemStore] and [DirStore] are the reference
// implementations.
//
// user is the canonical user name the Authenticator returned. Script names
// are valid ([ValidName]); a Store returns [ErrInvalidName] for others
// (the server never passes them). Errors with wire meaning are the ErrXxx
// values of this package (wrapped or not) and [*Error]; any other error is
// taken for a temporary failure. Methods must be safe for concurrent use,
// also by several sessions of one user: each call is atomic.
type Store interface {
	// List returns the user's scripts, sorted by name; none (and no error)
	// for a user who has never stored one.
	List(ctx context.Context, user string) ([]ScriptInfo, error)
	// Get returns a script's content, which the caller may keep and
	// modify, or ErrNoSuchScript.
	Get(ctx context.Context, user, name string) ([]byte, error)
	// Put stores a script, creating it or replacing it atomically (the
	// active script stays active, and a concurrent Active sees either
	// version, never a mix). It enforces the store's quota with
	// ErrTooManyScripts, ErrScriptTooLarge and ErrQuotaExceeded. The
	// script is durable when Put returns. Put does not keep script.
	Put(ctx context.Context, user, name string, script []byte) error
	// Delete removes a script: ErrNoSuchScript if there is none,
	// ErrActiveScript if it is the active one (RFC 5804 §2.10).
	Delete(ctx context.Context, user, name string) error
	// Rename renames a script, which stays active if it was:
	// ErrNoSuchScript if oldName does not exist, ErrScriptExists if newName
	// does (RFC 5804 §2.11). Renaming a script to its own name does
	// nothing.
	Rename(ctx context.Context, user, oldName, newName string) error
	// SetActive makes the named script the active one, or deactivates
	// scripts altogether when name is "" (RFC 5804 §2.8). It returns
	// ErrNoSuchScript if there is no script by that name.
	SetActive(ctx context.Context, user, name string) error
	// Active returns the active script's name and content, which the
	// caller may keep; "", nil and no error when the user has no active
	// script. This is what local delivery runs.
	Active(ctx context.Context, user string) (name string, script []byte, err error)
	// HaveSpace reports whether a script of size octets could be stored
	// under name (replacing the script by that name, if any) without
	// exceeding the quota: nil, or the error Put would return
	// (RFC 5804 §2.5).
	HaveSpace(ctx context.Context, user, name string, size int64) error
}

// ScriptInfo describes one stored script.
type ScriptInfo struct {
	Name   string
	Size   int64 // octets
	Active bool
}

// MaxNameLength is the longest script name accepted, in characters: the
// least RFC 5804 §1.6 requires servers to accept.
const MaxNameLength = 128

// ValidName reports whether name may name a script: valid UTF-8 in
// Unicode normalization form C, 1 to [MaxNameLength] characters, without
// the control characters U+0000–U+001F and U+007F–U+009F or the line and
// paragraph separators U+2028 and U+2029 (RFC 5804 §1.6), and, so that a
// name is always usable as a file name, without "/".
func ValidName(name string) bool {
	if name == "" || len(name) > 4*MaxNameLength || !utf8.ValidString(name) {
		return false
	}
	n := 0
	for _, r := range name {
		n++
		if r < 0x20 || (r >= 0x7f && r <= 0x9f) || r == 0x2028 || r == 0x2029 || r == '/' {
			return false
		}
	}
	return n <= MaxNameLength && norm.NFC.IsNormalString(name)
}

// cleanName returns name in normalization form C if that makes a valid
// name, and whether it does. Names are compared after normalization, so a
// client sending a decomposed "é" finds the script stored as "é"
// (RFC 5198 §3, which RFC 5804 §1.6 refers to).
func cleanName(name string) (string, bool) {
	if utf8.ValidString(name) && len(name) <= 8*MaxNameLength {
		name = norm.NFC.String(name)
	}
	return name, ValidName(name)
}

// Quota bounds one user's scripts. For each field zero means the default
// and a negative value means unlimited.
type Quota struct {
	// MaxScripts is how many scripts a user may have. Default 100.
	MaxScripts int
	// MaxScriptSize is the size of one script, in octets. Default 1 MiB,
	// the largest script package sieve compiles by default.
	MaxScriptSize int64
	// MaxTotalSize is the size of all of a user's scripts together, in
	// octets. Default 10 MiB.
	MaxTotalSize int64
}

// Defaults of Quota.
const (
	DefaultMaxScripts    = 100
	DefaultMaxScriptSize = 1 << 20
	DefaultMaxTotalSize  = 10 << 20
)

// check returns the error storing a script of size octets under name
// would give, with scripts the user's current ones.
func (q Quota) check(scripts []ScriptInfo, name string, size int64) error {
	maxScripts := int64(q.MaxScripts)
	if maxScripts == 0 {
		maxScripts = DefaultMaxScripts
	}
	maxSize := orDefault64(q.MaxScriptSize, DefaultMaxScriptSize)
	maxTotal := orDefault64(q.MaxTotalSize, DefaultMaxTotalSize)
	if maxSize >= 0 && size > maxSize {
		return ErrScriptTooLarge
	}
	total, count, exists := size, int64(0), false
	for _, s := range scripts {
		if s.Name == name {
			exists = true
			continue
		}
		count++
		total += s.Size
	}
	if !exists && maxScripts >= 0 && count+1 > maxScripts {
		return ErrTooManyScripts
	}
	if maxTotal >= 0 && total > maxTotal {
		return ErrQuotaExceeded
	}
	return nil
}

func orDefault64(v, def int64) int64 {
	switch {
	case v == 0:
		return def
	case v < 0:
		return -1
	}
	return v
}

// sortScripts sorts by name, as List returns them.
func sortScripts(s []ScriptInfo) {
	slices.SortFunc(s, func(a, b ScriptInfo) int { return strings.Compare(a.Name, b.Name) })
}
