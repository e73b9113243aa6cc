package maildir

import (
	"strconv"
	"strings"

	"github.com/postyard/postyard/mailbox"
)

// Maildir file names (https://cr.yp.to/proto/maildir.html, Maildir++):
//
//	<unique>[,Z=<crc>][,S=<size>][,U=<uid>][:2,<flags>]
//
// The unique part is what never changes; the info after ":2," holds the
// system flags as letters in ASCII order: D (\Draft), F (\Flagged),
// R (\Answered), S (\Seen), T (\Deleted). This store writes
// "<sec>.M<usec>P<pid>Q<n>.<host>,Z=<crc>,S=<size>,U=<uid>:2,<flags>": the
// size is the Maildir++ quota convention, the UID lets a lost index be
// rebuilt without changing UIDs, and the CRC-32C of the content (8
// lowercase hex digits) lets recovery tell a file whose data a power loss
// kept from the disk (see doc.go, "Durability"). Dovecot and mutt ignore
// comma fields they do not know.

// flagLetters maps info letters to flags, in the ASCII order the Maildir
// specification requires.
var flagLetters = [...]struct {
	c byte
	f mailbox.Flags
}{
	{'D', mailbox.FlagDraft},
	{'F', mailbox.FlagFlagged},
	{'R', mailbox.FlagAnswered},
	{'S', mailbox.FlagSeen},
	{'T', mailbox.FlagDeleted},
}

// fileName is a parsed Maildir file name.
type fileName struct {
	// Base is the name without the info part (":2,..."): the key that
	// survives flag changes.
	Base string
	// Size is the ",S=" value, -1 if absent.
	Size int64
	// UID is the ",U=" value, 0 if absent.
	UID mailbox.UID
	// Sum is the ",Z=" value, the CRC-32C of the content, if HasSum.
	Sum    uint32
	HasSum bool
	// Flags are the system flags of the info part.
	Flags mailbox.Flags
	// Info reports whether the name had a ":2," info part; Extra reports
	// whether that part had letters other than DFRST (other programs'
	// flags and keywords), or a second info form (":1,").
	Info, Extra bool
}

// parseFileName parses a Maildir file name leniently: any name that is
// not empty, does not start with '.' and has no '/' is a message. ok is
// false for names that are not messages.
func parseFileName(name string) (fn fileName, ok bool) {
	if name == "" || name[0] == '.' || strings.IndexByte(name, '/') >= 0 || strings.IndexByte(name, 0) >= 0 {
		return fn, false
	}
	fn.Size = -1
	base, info, hasInfo := strings.Cut(name, ":")
	fn.Base = base
	if hasInfo {
		fn.Info = true
		rest, ok := strings.CutPrefix(info, "2,")
		if !ok {
			fn.Extra = true
		} else {
			for i := 0; i < len(rest); i++ {
				found := false
				for _, fl := range flagLetters {
					if rest[i] == fl.c {
						fn.Flags |= fl.f
						found = true
					}
				}
				if !found {
					fn.Extra = true
				}
			}
		}
	}
	// ,S=, ,U= and ,Z= fields after the first comma of the base.
	_, fields, _ := strings.Cut(base, ",")
	for fields != "" {
		var f string
		f, fields, _ = strings.Cut(fields, ",")
		key, val, ok := strings.Cut(f, "=")
		if !ok {
			continue
		}
		switch key {
		case "S":
			if n, err := strconv.ParseInt(val, 10, 64); err == nil && n >= 0 {
				fn.Size = n
			}
		case "U":
			if n, err := strconv.ParseUint(val, 10, 32); err == nil && n > 0 {
				fn.UID = mailbox.UID(n)
			}
		case "Z":
			fn.Sum, fn.HasSum = parseSum(val)
		}
	}
	return fn, true
}

// parseSum parses the value of a ",Z=" field: exactly 8 hex digits.
func parseSum(val string) (uint32, bool) {
	if len(val) != 8 {
		return 0, false
	}
	n, err := strconv.ParseUint(val, 16, 32)
	return uint32(n), err == nil
}

// appendSum appends the ",Z=" field of sum to b.
func appendSum(b []byte, sum uint32) []byte {
	const hex = "0123456789abcdef"
	b = append(b, ",Z="...)
	for shift := 28; shift >= 0; shift -= 4 {
		b = append(b, hex[sum>>shift&15])
	}
	return b
}

// appendInfo appends ":2," followed by the letters of flags to b.
func appendInfo(b []byte, flags mailbox.Flags) []byte {
	b = append(b, ":2,"...)
	for _, fl := range flagLetters {
		if flags&fl.f != 0 {
			b = append(b, fl.c)
		}
	}
	return b
}

// fullName returns the file name of a message with base and flags.
func fullName(base string, flags mailbox.Flags) string {
	var buf [128]byte
	return string(appendInfo(append(buf[:0], base...), flags))
}

// folderDir returns the Maildir++ directory name of a mailbox: "" for
// INBOX (the Maildir itself), otherwise "." followed by the levels joined
// with "." (the Maildir++ hierarchy separator). In each level, '.', '%'
// and bytes below 0x20 are escaped as %XX, so that names with dots
// survive. ok is false if the result is longer than a file name may be.
func folderDir(name string) (dir string, ok bool) {
	if name == mailbox.Inbox {
		return "", true
	}
	b := make([]byte, 0, len(name)+8)
	b = append(b, '.')
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == mailbox.Delimiter:
			b = append(b, '.')
		case c == '.' || c == '%' || c < 0x20:
			b = append(b, '%', "0123456789ABCDEF"[c>>4], "0123456789ABCDEF"[c&15])
		default:
			b = append(b, c)
		}
	}
	return string(b), len(b) <= 255
}

// folderName is the inverse of folderDir for a directory entry starting
// with '.'; ok is false for entries that are not mailboxes of this
// layout.
func folderName(dir string) (name string, ok bool) {
	if len(dir) < 2 || dir[0] != '.' || dir == ".." {
		return "", false
	}
	b := make([]byte, 0, len(dir))
	for i := 1; i < len(dir); i++ {
		c := dir[i]
		switch c {
		case '.':
			b = append(b, mailbox.Delimiter)
		case '%':
			if i+2 >= len(dir) {
				return "", false
			}
			v, err := strconv.ParseUint(dir[i+1:i+3], 16, 8)
			if err != nil {
				return "", false
			}
			b = append(b, byte(v))
			i += 2
		default:
			b = append(b, c)
		}
	}
	n, err := mailbox.CleanName(string(b))
	if err != nil || n == mailbox.Inbox {
		return "", false
	}
	if d, ok := folderDir(n); !ok || d != dir {
		return "", false // not canonical: another program's folder with odd escapes
	}
	return n, true
}
