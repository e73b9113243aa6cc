package mailbox

import (
	"strings"
	"unicode/utf8"
)

// Inbox is the name of the primary mailbox. Every user has one: a Store
// creates it on first use, and it cannot be deleted (RFC 9051 §5.1).
const Inbox = "INBOX"

// Delimiter separates the levels of the mailbox hierarchy
// (RFC 9051 §5.1.1). Names are UTF-8; converting to and from modified
// UTF-7 (RFC 3501 §5.1.3) is the IMAP layer's job.
const Delimiter = '/'

// Name limits: a mailbox name is at most MaxNameLen bytes and
// MaxNameDepth levels.
const (
	MaxNameLen   = 512
	MaxNameDepth = 32
)

// CleanName checks a mailbox name and returns its canonical form: "INBOX"
// in any case becomes Inbox (other names are case-sensitive). A valid name
// is valid UTF-8 of at most MaxNameLen bytes and MaxNameDepth levels, has
// no control characters, and none of its levels is empty, "." or "..".
// Otherwise CleanName returns ErrInvalidName.
func CleanName(name string) (string, error) {
	if strings.EqualFold(name, Inbox) {
		return Inbox, nil
	}
	if name == "" || len(name) > MaxNameLen || !utf8.ValidString(name) {
		return "", ErrInvalidName
	}
	depth := 0
	for level := range strings.SplitSeq(name, string(Delimiter)) {
		depth++
		if level == "" || level == "." || level == ".." || depth > MaxNameDepth {
			return "", ErrInvalidName
		}
	}
	for _, r := range name {
		if r < ' ' || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return "", ErrInvalidName
		}
	}
	return name, nil
}

// IsInferior reports whether name is below parent in the hierarchy
// ("a/b" is below "a", "ab" is not).
func IsInferior(name, parent string) bool {
	return len(name) > len(parent) && name[len(parent)] == Delimiter && strings.HasPrefix(name, parent)
}

// ValidUserName reports whether a Store accepts name as a user: valid
// UTF-8 of 1 to 255 bytes, no control characters, no '/' or '\', and not
// "." or "..", so that file-backed stores can use it as a directory name.
func ValidUserName(name string) bool {
	if name == "" || len(name) > 255 || name == "." || name == ".." || !utf8.ValidString(name) {
		return false
	}
	for _, r := range name {
		if r < ' ' || r == 0x7f || r == '/' || r == '\\' {
			return false
		}
	}
	return true
}

// SpecialUse is a special-use attribute of a mailbox (RFC 6154 §2), e.g.
// `\Sent`; "" for none. \All and \Flagged denote virtual mailboxes, which
// the stores do not implement; CreateOptions refuses them.
type SpecialUse string

// The special-use attributes a Store keeps.
const (
	Archive SpecialUse = `\Archive`
	Drafts  SpecialUse = `\Drafts`
	Junk    SpecialUse = `\Junk`
	Sent    SpecialUse = `\Sent`
	Trash   SpecialUse = `\Trash`
)

// ParseSpecialUse returns the attribute named s (case-insensitively, with
// its backslash). ok is false for unknown and virtual attributes.
func ParseSpecialUse(s string) (u SpecialUse, ok bool) {
	for _, u := range [...]SpecialUse{Archive, Drafts, Junk, Sent, Trash} {
		if strings.EqualFold(s, string(u)) {
			return u, true
		}
	}
	return "", false
}
