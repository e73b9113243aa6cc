package mailbox

import "strings"

// parseAddressList parses an address list header value (RFC 5322 §3.4)
// into envelope addresses, leniently: it never fails, and what it cannot
// make sense of becomes an address with an empty Host or is dropped.
func parseAddressList(s string) []Address {
	var out []Address
	a := addrScanner{s: s}
	for !a.done() {
		switch a.s[a.i] {
		case ',', ';', '>':
			a.i++
			continue
		}
		out = a.item(out)
	}
	return out
}

// addrScanner walks an address list.
type addrScanner struct {
	s string
	i int
}

func (a *addrScanner) done() bool { return a.i >= len(a.s) }

// item parses a mailbox or a group and appends it to out.
func (a *addrScanner) item(out []Address) []Address {
	phrase, comment, stop := a.text(",;<:")
	switch stop {
	case ':':
		a.i++
		out = append(out, Address{GroupStart: true, Mailbox: phrase})
		for !a.done() && a.s[a.i] != ';' {
			if a.s[a.i] == ',' {
				a.i++
				continue
			}
			out = a.mailbox(out)
		}
		if !a.done() {
			a.i++ // ';'
		}
		return append(out, Address{GroupEnd: true})
	case '<':
		return a.angle(out, phrase)
	}
	return appendSpec(out, phrase, comment)
}

// mailbox parses one mailbox inside a group.
func (a *addrScanner) mailbox(out []Address) []Address {
	phrase, comment, stop := a.text(",;<")
	if stop == '<' {
		return a.angle(out, phrase)
	}
	return appendSpec(out, phrase, comment)
}

// angle parses "<[route:]addr-spec>" after the display name.
func (a *addrScanner) angle(out []Address, name string) []Address {
	a.i++ // '<'
	spec, _, _ := a.text(">")
	if !a.done() {
		a.i++
	}
	if i := strings.LastIndexByte(spec, ':'); i >= 0 && strings.HasPrefix(spec, "@") {
		spec = spec[i+1:] // obsolete source route, RFC 5322 §4.4
	}
	if spec == "" && name == "" {
		return out
	}
	mbox, host := splitSpec(spec)
	return append(out, Address{Name: name, Mailbox: mbox, Host: host})
}

// appendSpec appends a bare addr-spec, named by a trailing comment if
// there is one ("alice@example.com (Alice)").
func appendSpec(out []Address, spec, comment string) []Address {
	if spec == "" {
		return out
	}
	mbox, host := splitSpec(spec)
	return append(out, Address{Name: comment, Mailbox: mbox, Host: host})
}

func splitSpec(spec string) (mbox, host string) {
	if i := strings.LastIndexByte(spec, '@'); i >= 0 && !strings.Contains(spec[i:], `"`) {
		return spec[:i], spec[i+1:]
	}
	return spec, ""
}

// text reads up to one of the stop characters outside quotes, comments
// and domain literals, and returns the text read with comments removed,
// quoted strings unquoted (in phrases) and white space collapsed, the
// first comment's content, and the stop character (0 at the end).
func (a *addrScanner) text(stops string) (text, comment string, stop byte) {
	var b strings.Builder
	space := false
	emit := func(s string) {
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteString(s)
	}
	for !a.done() {
		c := a.s[a.i]
		switch {
		case strings.IndexByte(stops, c) >= 0:
			return b.String(), comment, c
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			space = true
			a.i++
		case c == '(':
			if cm := a.comment(); comment == "" {
				comment = cm
			}
			space = true
		case c == '"':
			emit(a.quoted())
		case c == '[':
			end := strings.IndexByte(a.s[a.i:], ']')
			if end < 0 {
				end = len(a.s) - a.i - 1
			}
			emit(a.s[a.i : a.i+end+1])
			a.i += end + 1
		default:
			j := a.i
			for j < len(a.s) && strings.IndexByte(stops, a.s[j]) < 0 && strings.IndexByte(" \"([\t\r\n", a.s[j]) < 0 {
				j++
			}
			emit(a.s[a.i:j])
			a.i = j
		}
	}
	return b.String(), comment, 0
}

// quoted reads a quoted string and returns its content without escapes.
func (a *addrScanner) quoted() string {
	var b strings.Builder
	a.i++ // '"'
	for !a.done() {
		c := a.s[a.i]
		a.i++
		switch {
		case c == '"':
			return b.String()
		case c == '\\' && !a.done():
			b.WriteByte(a.s[a.i])
			a.i++
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// comment reads a (possibly nested) comment and returns its content.
func (a *addrScanner) comment() string {
	depth := 0
	start := a.i + 1
	for !a.done() {
		c := a.s[a.i]
		a.i++
		switch c {
		case '\\':
			a.i++
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return strings.TrimSpace(a.s[start : a.i-1])
			}
		}
	}
	a.i = len(a.s)
	return strings.TrimSpace(a.s[start:])
}
