package imap

import (
	"encoding/base64"
	"errors"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Modified UTF-7 (RFC 3501 §5.1.3), the mailbox name encoding of
// IMAP4rev1 clients. IMAP4rev2 and UTF8=ACCEPT clients use UTF-8.

var utf7Enc = base64.NewEncoding("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,").WithPadding(base64.NoPadding)

var errBadUTF7 = errors.New("imap: malformed modified UTF-7")

// EncodeUTF7 encodes a UTF-8 mailbox name in modified UTF-7.
func EncodeUTF7(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c <= 0x7e {
			b.WriteByte(c)
			if c == '&' {
				b.WriteByte('-')
			}
			i++
			continue
		}
		j := i
		for j < len(s) && (s[j] < 0x20 || s[j] > 0x7e) {
			j++
		}
		var units []uint16
		for _, r := range s[i:j] {
			units = utf16.AppendRune(units, r)
		}
		raw := make([]byte, 0, 2*len(units))
		for _, u := range units {
			raw = append(raw, byte(u>>8), byte(u))
		}
		b.WriteByte('&')
		b.WriteString(utf7Enc.EncodeToString(raw))
		b.WriteByte('-')
		i = j
	}
	return b.String()
}

// DecodeUTF7 decodes a modified UTF-7 mailbox name to UTF-8. It rejects
// what RFC 3501 §5.1.3 forbids: 8-bit and control octets, encoded
// printable ASCII, unterminated or adjacent shifts, bad padding, and
// unpaired surrogates.
func DecodeUTF7(s string) (string, error) {
	var b strings.Builder
	lastShiftEnd := -1
	for i := 0; i < len(s); {
		c := s[i]
		if c < 0x20 || c > 0x7e {
			return "", errBadUTF7
		}
		if c != '&' {
			b.WriteByte(c)
			i++
			continue
		}
		end := strings.IndexByte(s[i+1:], '-')
		if end < 0 {
			return "", errBadUTF7
		}
		enc := s[i+1 : i+1+end]
		if enc == "" {
			b.WriteByte('&')
			i += 2
			continue
		}
		if lastShiftEnd == i {
			return "", errBadUTF7 // "&AGE-&AGE-" must be one shift
		}
		raw, err := utf7Enc.DecodeString(enc)
		if err != nil || len(raw)%2 != 0 || len(raw) == 0 {
			return "", errBadUTF7
		}
		units := make([]uint16, len(raw)/2)
		for k := range units {
			units[k] = uint16(raw[2*k])<<8 | uint16(raw[2*k+1])
		}
		for k := 0; k < len(units); k++ {
			u := units[k]
			var r rune
			switch {
			case utf16.IsSurrogate(rune(u)):
				if k+1 >= len(units) {
					return "", errBadUTF7
				}
				r = utf16.DecodeRune(rune(u), rune(units[k+1]))
				if r == utf8.RuneError {
					return "", errBadUTF7
				}
				k++
			default:
				r = rune(u)
				if r >= 0x20 && r <= 0x7e {
					return "", errBadUTF7 // must be written directly
				}
			}
			b.WriteRune(r)
		}
		// The encoder emits no partial bits: re-encoding must give the
		// same text.
		if utf7Enc.EncodeToString(raw) != enc {
			return "", errBadUTF7
		}
		i += 1 + end + 1
		lastShiftEnd = i
	}
	return b.String(), nil
}
