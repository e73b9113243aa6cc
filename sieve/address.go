package sieve

import "strings"

// A lenient reader of RFC 5322 §3.4 address lists for the address test:
// display names, comments, quoted strings, groups and routes are
// understood; what does not parse as an address is kept as raw text, which
// only ":all" can match (RFC 5228 §5.1).

type mailAddr struct {
	local, domain string
	raw           string // set when the address did not parse
}

func (a mailAddr) valid() bool { return a.raw == "" }

func (a mailAddr) all() string {
	if !a.valid() {
		return a.raw
	}
	if a.domain == "" {
		return a.local
	}
	return quoteLocal(a.local) + "@" + a.domain
}

// quoteLocal quotes a local part that is not a dot-atom (RFC 5322 §3.4.1).
func quoteLocal(l string) string {
	atom := l != "" && l[0] != '.' && l[len(l)-1] != '.' && !strings.Contains(l, "..")
	for i := 0; atom && i < len(l); i++ {
		c := l[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("()<>[]:;@\\,\"", c) >= 0 {
			atom = false
		}
	}
	if atom {
		return l
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(l); i++ {
		if l[i] == '"' || l[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(l[i])
	}
	b.WriteByte('"')
	return b.String()
}

// stripComments removes RFC 5322 comments, honouring quoted strings and
// nesting.
func stripComments(s string) string {
	if !strings.Contains(s, "(") {
		return s
	}
	var b strings.Builder
	depth := 0
	inQuote := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case inQuote:
			b.WriteByte(c)
			if c == '\\' && i+1 < len(s) {
				i++
				b.WriteByte(s[i])
			} else if c == '"' {
				inQuote = false
			}
		case depth > 0:
			if c == '\\' {
				i++
			} else if c == '(' {
				depth++
			} else if c == ')' {
				depth--
				if depth == 0 {
					b.WriteByte(' ')
				}
			}
		case c == '"':
			inQuote = true
			b.WriteByte(c)
		case c == '(':
			depth++
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// parseAddressList splits an address-list header value into addresses.
func parseAddressList(v string) []mailAddr {
	s := stripComments(v)
	var out []mailAddr
	var cur strings.Builder
	inQuote, inAngle := false, false
	flush := func() {
		e := strings.TrimSpace(cur.String())
		cur.Reset()
		if e == "" {
			return
		}
		out = append(out, parseMailbox(e))
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case inQuote:
			cur.WriteByte(c)
			if c == '\\' && i+1 < len(s) {
				i++
				cur.WriteByte(s[i])
			} else if c == '"' {
				inQuote = false
			}
			continue
		case c == '"':
			inQuote = true
		case c == '<':
			inAngle = true
		case c == '>':
			inAngle = false
		case inAngle:
		case c == ',' || c == ';':
			flush()
			continue
		case c == ':':
			// A group: what came before is its display name.
			cur.Reset()
			continue
		}
		cur.WriteByte(c)
	}
	flush()
	// Pigeonhole's reading: invalid entries are skipped, and a value
	// without any valid address is one invalid address, the whole value.
	valid := out[:0]
	for _, a := range out {
		if a.valid() {
			valid = append(valid, a)
		}
	}
	if len(valid) == 0 {
		if raw := strings.TrimSpace(v); raw != "" {
			return []mailAddr{{raw: raw}}
		}
		return nil
	}
	return valid
}

// parseMailbox reads one name-addr or addr-spec.
func parseMailbox(e string) mailAddr {
	spec := e
	if lt := lastUnquoted(e, '<'); lt >= 0 {
		gt := strings.IndexByte(e[lt:], '>')
		if gt < 0 {
			return mailAddr{raw: e}
		}
		spec = strings.TrimSpace(e[lt+1 : lt+gt])
		// Drop an obsolete route (RFC 5322 §4.4).
		if strings.HasPrefix(spec, "@") {
			if colon := strings.IndexByte(spec, ':'); colon >= 0 {
				spec = spec[colon+1:]
			}
		}
		if spec == "" {
			return mailAddr{raw: e}
		}
	}
	a, ok := parseAddrSpec(spec)
	if !ok {
		return mailAddr{raw: e}
	}
	return a
}

func lastUnquoted(s string, c byte) int {
	inQuote := false
	last := -1
	for i := 0; i < len(s); i++ {
		switch {
		case inQuote && s[i] == '\\':
			i++
		case s[i] == '"':
			inQuote = !inQuote
		case !inQuote && s[i] == c:
			last = i
		}
	}
	return last
}

// parseAddrSpec reads local@domain; the local part may be quoted (the
// quotes are removed).
func parseAddrSpec(s string) (mailAddr, bool) {
	s = strings.TrimSpace(s)
	at := lastUnquoted(s, '@')
	if at < 0 {
		return mailAddr{}, false
	}
	local := strings.TrimSpace(s[:at])
	domain := strings.TrimSpace(s[at+1:])
	if local == "" || domain == "" {
		return mailAddr{}, false
	}
	if strings.HasPrefix(local, "\"") {
		if len(local) < 2 || !strings.HasSuffix(local, "\"") {
			return mailAddr{}, false
		}
		var b strings.Builder
		for i := 1; i < len(local)-1; i++ {
			if local[i] == '\\' && i+1 < len(local)-1 {
				i++
			}
			b.WriteByte(local[i])
		}
		local = b.String()
	} else if strings.ContainsAny(local, " \t\"<>()[],;:") {
		return mailAddr{}, false
	}
	if strings.ContainsAny(domain, " \t\"<>(),;:@") && !strings.HasPrefix(domain, "[") {
		return mailAddr{}, false
	}
	return mailAddr{local: local, domain: domain}, true
}

// parseRedirectAddress checks a redirect or :from address and returns it
// as local@domain; the second result is a reason when it is invalid.
func parseRedirectAddress(s string) (string, string) {
	if strings.TrimSpace(s) == "" {
		return "", "empty address"
	}
	a := parseMailbox(strings.TrimSpace(stripComments(s)))
	if !a.valid() {
		if !strings.Contains(s, "@") {
			return "", "missing '@' and domain"
		}
		return "", "invalid address syntax"
	}
	if strings.ContainsAny(a.domain, "[]") && !(strings.HasPrefix(a.domain, "[") && strings.HasSuffix(a.domain, "]")) {
		return "", "invalid domain"
	}
	return a.all(), ""
}

// addressPart extracts an address part (RFC 5228 §2.7.4, RFC 5233 §4).
// ok is false when the part does not exist (an invalid address for
// :localpart or :domain, no separator for :detail).
func addressPart(a mailAddr, part addrPart, sep string) (string, bool) {
	if part == apAll {
		return a.all(), true
	}
	if !a.valid() {
		return "", false
	}
	switch part {
	case apLocal:
		return a.local, true
	case apDomain:
		return a.domain, true
	case apUser, apDetail:
		i := -1
		if sep != "" {
			i = strings.Index(a.local, sep)
		}
		if part == apUser {
			if i < 0 {
				return a.local, true
			}
			return a.local[:i], true
		}
		if i < 0 {
			return "", false
		}
		return a.local[i+len(sep):], true
	}
	return "", false
}
