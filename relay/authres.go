package relay

import (
	"bufio"
	"io"
	"strings"
)

// AuthValue is the result of one authentication method as RFC 8601 §2.7
// names it ("pass", "fail", ...).
type AuthValue string

// The results SPF (RFC 7208 §2.6), DKIM (RFC 6376 §3.9 / RFC 8601
// §2.7.1) and DMARC (RFC 7489 §11.2) report.
const (
	AuthNone      AuthValue = "none"
	AuthPass      AuthValue = "pass"
	AuthFail      AuthValue = "fail"
	AuthSoftFail  AuthValue = "softfail" // SPF only
	AuthNeutral   AuthValue = "neutral"  // SPF, DKIM
	AuthPolicy    AuthValue = "policy"   // DKIM: valid but unacceptable (l= tag)
	AuthTempError AuthValue = "temperror"
	AuthPermError AuthValue = "permerror"
)

// SPFCheck is the outcome of the SPF check of one identity (RFC 7208).
type SPFCheck struct {
	Result AuthValue
	// Identity is "mailfrom" or "helo" (RFC 7208 §2.3, §2.4): the MAIL
	// FROM address is checked, or the HELO name when the reverse-path is
	// null.
	Identity string
	// Sender is the identity checked: the MAIL FROM address, or the HELO
	// name.
	Sender string
	// Domain is the domain whose record was evaluated.
	Domain string
	// Err says why, for logs: not for the wire or the message header.
	Err error
}

// DKIMCheck is the verification of one DKIM-Signature field (RFC 6376 §6).
type DKIMCheck struct {
	Result     AuthValue
	Domain     string // d=, the SDID
	Selector   string // s=
	Identifier string // i=, the AUID; "@" + Domain when absent
	Algorithm  string // a=, e.g. "rsa-sha256", "ed25519-sha256"
	Signature  string // the first characters of b= (RFC 6008 §4)
	Err        error  // why it did not pass, for logs
}

// DMARCCheck is the DMARC evaluation of the RFC5322.From domain (RFC 7489).
type DMARCCheck struct {
	Result AuthValue
	// From is the domain of the From field; "" if the message has none,
	// or several addresses (Result is then permerror).
	From string
	// Policy is the policy in effect for From: "none", "quarantine" or
	// "reject" (the sp= policy for a subdomain of the record's domain);
	// "" without a record.
	Policy string
	// SPFAligned and DKIMAligned say which passing identifier was aligned
	// with From (RFC 7489 §3.1).
	SPFAligned, DKIMAligned bool
	// Err says why, for logs.
	Err error
}

// AuthResults collects the checks made on one message and their verdict.
type AuthResults struct {
	// AuthServID names the host that made the checks (RFC 8601 §2.5).
	AuthServID string
	SPF        SPFCheck
	DKIM       []DKIMCheck // one per signature, in header order
	DMARC      DMARCCheck
	// Action is what the Verifier's configuration says to do with the
	// message given the DMARC result.
	Action Action
}

// Header returns the Authentication-Results field (RFC 8601 §2.2) for r,
// folded one method a line and ending in CRLF, to prepend to the message.
func (r *AuthResults) Header() string {
	var b strings.Builder
	b.WriteString("Authentication-Results: ")
	b.WriteString(r.AuthServID)
	n := 0
	add := func(method string, v AuthValue, props ...string) {
		n++
		b.WriteString(";\r\n\t")
		b.WriteString(method)
		b.WriteByte('=')
		b.WriteString(string(v))
		for i := 0; i+1 < len(props); i += 2 {
			if props[i+1] == "" {
				continue
			}
			b.WriteByte(' ')
			b.WriteString(props[i])
			b.WriteByte('=')
			b.WriteString(pvalue(props[i+1]))
		}
	}
	if r.SPF.Result != "" {
		add("spf", r.SPF.Result, "smtp."+r.SPF.Identity, r.SPF.Sender)
	}
	for _, d := range r.DKIM {
		add("dkim", d.Result, "header.d", d.Domain, "header.s", d.Selector, "header.a", d.Algorithm, "header.b", d.Signature)
	}
	if r.DMARC.Result != "" {
		add("dmarc", r.DMARC.Result, "header.from", r.DMARC.From)
		if r.DMARC.Policy != "" {
			// RFC 7489 §11.2 has no property for it: a comment.
			b.WriteString(" (p=" + r.DMARC.Policy + ")")
		}
	}
	if n == 0 {
		b.WriteString("; none") // RFC 8601 §2.2: no-result
	}
	b.WriteString("\r\n")
	return b.String()
}

// pvalue returns s as an RFC 8601 §2.2 pvalue: as it is when it is a
// token or an addr-spec made of atext, else a quoted-string.
func pvalue(s string) string {
	plain := s != ""
	for i := 0; i < len(s) && plain; i++ {
		c := s[i]
		plain = c > ' ' && c < 0x7f && !strings.ContainsRune("()<>,;:\\\"[]?=", rune(c))
	}
	if plain {
		return s
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == '\r' || c == '\n':
			b.WriteByte(' ')
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// AuthServID returns the authserv-id of an Authentication-Results field
// value (RFC 8601 §2.2): the first word after any comments and white
// space, up to white space, a comment or ";". It returns "" when there is
// none. Comments nest and may contain quoted-pairs (RFC 5322 §3.2.2).
func AuthServID(value string) string {
	i := skipCFWS(value, 0)
	if i < len(value) && value[i] == '"' {
		// A quoted-string authserv-id (value = token / quoted-string).
		var b strings.Builder
		for i++; i < len(value); i++ {
			switch value[i] {
			case '\\':
				if i+1 < len(value) {
					i++
					b.WriteByte(value[i])
				}
			case '"':
				return b.String()
			default:
				b.WriteByte(value[i])
			}
		}
		return "" // unterminated
	}
	j := i
	for j < len(value) && !strings.ContainsRune(" \t\r\n(;", rune(value[j])) {
		j++
	}
	return value[i:j]
}

// skipCFWS returns the index of the first octet at or after i that is not
// white space or inside a comment.
func skipCFWS(s string, i int) int {
	depth := 0
	for ; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && depth > 0:
			i++
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case depth > 0, c == ' ', c == '\t', c == '\r', c == '\n':
		default:
			return i
		}
	}
	return min(i, len(s)) // a trailing backslash in a comment
}

// StripAuthResults copies the message r to w without the
// Authentication-Results fields whose authserv-id is authservID (compared
// without regard to case): RFC 8601 §5 says a border MTA must remove such
// fields, which only a forger could have added. Other fields, their order
// and the body are copied unchanged. maxHeader bounds the header section
// (zero means DefaultMaxHeaderBytes, negative unlimited). The caller keeps
// ownership of r and w.
func StripAuthResults(w io.Writer, r io.Reader, authservID string, maxHeader int) error {
	br := bufio.NewReader(r)
	hdr, err := readHeaderSection(br, orDefaultInt(maxHeader, DefaultMaxHeaderBytes))
	if err != nil {
		return err
	}
	if _, err := w.Write(stripAuthResults(hdr, authservID)); err != nil {
		return err
	}
	_, err = io.Copy(w, br)
	return err
}

// stripAuthResults returns hdr, a header section, without the
// Authentication-Results fields claiming authservID.
func stripAuthResults(hdr []byte, authservID string) []byte {
	out := make([]byte, 0, len(hdr))
	for len(hdr) > 0 {
		// One field: its first line and the continuation lines after it.
		end := fieldEnd(hdr)
		field := hdr[:end]
		hdr = hdr[end:]
		name, value, ok := strings.Cut(string(field), ":")
		if ok && strings.EqualFold(strings.TrimRight(name, " \t"), "Authentication-Results") &&
			strings.EqualFold(AuthServID(value), authservID) {
			continue
		}
		out = append(out, field...)
	}
	return out
}

// fieldEnd returns the length of the first field of hdr with its folded
// continuation lines (RFC 5322 §2.2.3).
func fieldEnd(hdr []byte) int {
	i := 0
	for {
		nl := strings.IndexByte(string(hdr[i:]), '\n')
		if nl < 0 {
			return len(hdr)
		}
		i += nl + 1
		if i >= len(hdr) || (hdr[i] != ' ' && hdr[i] != '\t') {
			return i
		}
	}
}
