package smtp

import (
	"errors"
	"unicode/utf8"
)

// This file implements two encodings of ESMTP parameter values:
//
//   - xtext (RFC 3461 §4), used by ENVID, ORCPT with the "rfc822" address
//     type, and AUTH (RFC 4954 §5): printable ASCII except "+" and "=" as
//     itself, any other octet as "+" and two hexadecimal digits.
//   - utf-8-addr-xtext and utf-8-addr-unitext (RFC 6533 §3), used by ORCPT
//     with the "utf-8" address type: QCHARs as themselves, other characters
//     as "\x{HEX}" with the Unicode code point in hexadecimal; unitext also
//     allows non-ASCII UTF-8 as itself.

var (
	errXtextSyntax = errors.New("malformed xtext")
	errXtextUTF8   = errors.New("invalid UTF-8 in xtext")
)

const xtextHexDigits = "0123456789ABCDEF"

// xtextIsXchar reports whether c stands for itself in xtext: xchar is any
// ASCII character from "!" to "~" except "+" and "=" (RFC 3461 §4).
func xtextIsXchar(c byte) bool {
	return c >= '!' && c <= '~' && c != '+' && c != '='
}

// xtextAppend appends the xtext encoding of s to dst. Every string has
// one; xtextDecode of the result is s.
func xtextAppend(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if xtextIsXchar(c) {
			dst = append(dst, c)
		} else {
			dst = append(dst, '+', xtextHexDigits[c>>4], xtextHexDigits[c&0xf])
		}
	}
	return dst
}

// xtextDecode decodes xtext (RFC 3461 §4). It also accepts lower-case
// hexadecimal digits after "+", which the RFC does not allow but which is
// unambiguous. With utf8ok, non-ASCII UTF-8 is accepted as itself, as
// RFC 6531 §3.3 allows in esmtp-value under SMTPUTF8; raw invalid UTF-8
// is always an error. A "+HH" may stand for any octet, so the result may
// contain control characters and invalid UTF-8; callers check what their
// parameter allows.
func xtextDecode(s string, utf8ok bool) (string, error) {
	i := 0
	for i < len(s) && xtextIsXchar(s[i]) {
		i++
	}
	if i == len(s) {
		return s, nil // common case: nothing to decode
	}
	b := make([]byte, i, len(s))
	copy(b, s)
	for i < len(s) {
		c := s[i]
		switch {
		case xtextIsXchar(c):
			b = append(b, c)
			i++
		case c == '+':
			if i+2 >= len(s) {
				return "", errXtextSyntax
			}
			hi, ok1 := xtextUnhex(s[i+1])
			lo, ok2 := xtextUnhex(s[i+2])
			if !ok1 || !ok2 {
				return "", errXtextSyntax
			}
			b = append(b, hi<<4|lo)
			i += 3
		case c >= 0x80 && utf8ok:
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size <= 1 {
				return "", errXtextUTF8
			}
			b = append(b, s[i:i+size]...)
			i += size
		default:
			return "", errXtextSyntax
		}
	}
	return string(b), nil
}

func xtextUnhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// utf8AddrIsQchar reports whether c stands for itself in
// utf-8-addr-xtext: QCHAR = %x21-2a / %x2c-3c / %x3e-5b / %x5d-7e, that is
// printable ASCII except "+", "=" and "\" (RFC 6533 §3).
func utf8AddrIsQchar(c byte) bool {
	return c >= '!' && c <= '~' && c != '+' && c != '=' && c != '\\'
}

// utf8AddrAppend appends the utf-8-addr-xtext encoding (RFC 6533 §3) of s
// to dst: QCHARs as themselves, every other character as "\x{HEX}", so
// the result is ASCII and may be sent without SMTPUTF8. For s valid UTF-8
// without NUL, utf8AddrDecode of the result is s; invalid UTF-8 is encoded
// as U+FFFD.
func utf8AddrAppend(dst []byte, s string) []byte {
	for _, r := range s {
		if r < utf8.RuneSelf && utf8AddrIsQchar(byte(r)) {
			dst = append(dst, byte(r))
			continue
		}
		dst = append(dst, '\\', 'x', '{')
		// HEXPOINT: two digits below 0x100, otherwise no leading zeros.
		n := 2
		for v := r >> 8; v > 0; v >>= 4 {
			n++
		}
		for k := n - 1; k >= 0; k-- {
			dst = append(dst, xtextHexDigits[(r>>(4*k))&0xf])
		}
		dst = append(dst, '}')
	}
	return dst
}

// utf8AddrDecode decodes utf-8-addr-xtext, or with unitext also
// utf-8-addr-unitext, which allows non-ASCII UTF-8 as itself (RFC 6533 §3).
//
// An EmbeddedUnicodeChar "\x{HEX}" must be the shortest form of its code
// point: two hexadecimal digits below U+0100, otherwise no leading zero;
// the digits may be in either case. It must stand for a character that
// cannot appear as itself: a non-ASCII code point that is not a surrogate,
// or an ASCII character other than a QCHAR and NUL. This is slightly more
// permissive than the HEXPOINT rule, which leaves out some C0 controls;
// callers reject control characters where they matter.
func utf8AddrDecode(s string, unitext bool) (string, error) {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case utf8AddrIsQchar(c):
			b = append(b, c)
			i++
		case c == '\\':
			r, n, ok := utf8AddrEmbedded(s[i:])
			if !ok {
				return "", errXtextSyntax
			}
			b = utf8.AppendRune(b, r)
			i += n
		case c >= 0x80 && unitext:
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size <= 1 {
				return "", errXtextUTF8
			}
			b = append(b, s[i:i+size]...)
			i += size
		default:
			return "", errXtextSyntax
		}
	}
	return string(b), nil
}

// utf8AddrEmbedded parses an EmbeddedUnicodeChar at the start of s and
// returns the code point and the number of bytes it took.
func utf8AddrEmbedded(s string) (r rune, n int, ok bool) {
	if len(s) < 6 || s[0] != '\\' || s[1] != 'x' || s[2] != '{' {
		return 0, 0, false
	}
	digits := 0
	for 3+digits < len(s) && s[3+digits] != '}' {
		d, isHex := xtextUnhex(s[3+digits])
		if !isHex || digits == 6 {
			return 0, 0, false
		}
		r = r<<4 | rune(d)
		digits++
	}
	if digits < 2 || 3+digits >= len(s) {
		return 0, 0, false // too short, or no "}"
	}
	// Shortest form: two digits below 0x100, no leading zero above.
	if (r < 0x100) != (digits == 2) || (digits > 2 && s[3] == '0') {
		return 0, 0, false
	}
	switch {
	case r == 0, r > utf8.MaxRune, 0xd800 <= r && r <= 0xdfff:
		return 0, 0, false
	case r < utf8.RuneSelf && utf8AddrIsQchar(byte(r)):
		return 0, 0, false
	}
	return r, 3 + digits + 1, true
}
