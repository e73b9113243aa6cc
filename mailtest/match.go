package mailtest

import (
	"bytes"
	"fmt"
	"strings"
)

// A Matcher selects messages, for WaitOne, WaitN, AssertNone and Faults.
// Several matchers given together must all match.
type Matcher struct {
	desc string
	fn   func(*Message) bool
}

// Match returns a Matcher that calls fn; desc describes it in failure
// reports. fn must be safe for concurrent use and not keep m.
func Match(desc string, fn func(m *Message) bool) Matcher {
	return Matcher{desc: desc, fn: fn}
}

// Match reports whether m matches.
func (mt Matcher) Match(m *Message) bool { return mt.fn == nil || mt.fn(m) }

// String returns the description.
func (mt Matcher) String() string { return mt.desc }

// To matches messages with addr among the envelope recipients (RCPT TO),
// compared case-insensitively.
func To(addr string) Matcher {
	return Match(fmt.Sprintf("To(%q)", addr), func(m *Message) bool {
		for _, to := range m.To {
			if strings.EqualFold(to, addr) {
				return true
			}
		}
		return false
	})
}

// From matches messages whose envelope sender (MAIL FROM) is addr,
// compared case-insensitively; "" matches the null sender.
func From(addr string) Matcher {
	return Match(fmt.Sprintf("From(%q)", addr), func(m *Message) bool {
		return strings.EqualFold(m.From, addr)
	})
}

// Subject matches messages whose decoded Subject contains s.
func Subject(s string) Matcher {
	return Match(fmt.Sprintf("Subject(%q)", s), func(m *Message) bool {
		return m.Header != nil && strings.Contains(m.Subject(), s)
	})
}

// Header matches messages with a header field name (any case) one of
// whose values, decoded, contains value; "" matches any message with
// the field.
func Header(name, value string) Matcher {
	return Match(fmt.Sprintf("Header(%q, %q)", name, value), func(m *Message) bool {
		for _, v := range m.Header[textprotoKey(name)] {
			if strings.Contains(decodeWords(v), value) {
				return true
			}
		}
		return false
	})
}

// BodyContains matches messages whose body contains s: the raw body, or
// the decoded content of one of its parts (so that base64 and
// quoted-printable text matches).
func BodyContains(s string) Matcher {
	return Match(fmt.Sprintf("BodyContains(%q)", s), func(m *Message) bool {
		if bytes.Contains(m.body, []byte(s)) {
			return true
		}
		parts, _ := m.Parts()
		for _, p := range parts {
			if bytes.Contains(p.Body, []byte(s)) {
				return true
			}
		}
		return false
	})
}

func matchAll(ms []Matcher, m *Message) bool {
	for _, mt := range ms {
		if !mt.Match(m) {
			return false
		}
	}
	return true
}

// describe joins matcher descriptions.
func describe(ms []Matcher) string {
	d := make([]string, len(ms))
	for i, mt := range ms {
		d[i] = mt.desc
	}
	return strings.Join(d, ", ")
}
