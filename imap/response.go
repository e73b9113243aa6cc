package imap

import (
	"bufio"
	"strconv"
	"unicode/utf8"
)

// resp builds IMAP response data (RFC 9051 §7, §9) in a byte slice, so
// that a FETCH response line is written in one piece.
type resp struct {
	b    []byte
	utf8 bool // the client accepts UTF-8 in quoted strings
}

func (r *resp) raw(s string) *resp { r.b = append(r.b, s...); return r }
func (r *resp) byte_(c byte) *resp { r.b = append(r.b, c); return r }
func (r *resp) num(n uint64) *resp { r.b = strconv.AppendUint(r.b, n, 10); return r }
func (r *resp) sp() *resp          { return r.byte_(' ') }
func (r *resp) nilOr(s string) *resp {
	if s == "" {
		return r.raw("NIL")
	}
	return r.str(s)
}

// str writes s as a quoted string when it can be one, and as a literal
// otherwise (RFC 9051 §4.3).
func (r *resp) str(s string) *resp {
	if quotable(s, r.utf8) {
		r.b = append(r.b, '"')
		for i := 0; i < len(s); i++ {
			if s[i] == '"' || s[i] == '\\' {
				r.b = append(r.b, '\\')
			}
			r.b = append(r.b, s[i])
		}
		r.b = append(r.b, '"')
		return r
	}
	return r.literal(s)
}

func (r *resp) literal(s string) *resp {
	r.b = append(r.b, '{')
	r.b = strconv.AppendInt(r.b, int64(len(s)), 10)
	r.b = append(r.b, "}\r\n"...)
	r.b = append(r.b, s...)
	return r
}

// astr writes s as an atom when it is one, else as a string.
func (r *resp) astr(s string) *resp {
	if isAtom(s) && s != "NIL" {
		return r.raw(s)
	}
	return r.str(s)
}

func quotable(s string, utf8OK bool) bool {
	if len(s) > 1024 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\r' || c == '\n' || c == 0 {
			return false
		}
		if c >= 0x80 && !utf8OK {
			return false
		}
	}
	return !utf8OK || utf8.ValidString(s)
}

func isAtom(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isAtomChar(s[i]) {
			return false
		}
	}
	return true
}

func (r *resp) flush(w *bufio.Writer) {
	w.Write(r.b)
	r.b = r.b[:0]
}
