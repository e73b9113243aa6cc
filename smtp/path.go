package smtp

import (
	"errors"
	"net/netip"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// Limits on paths, RFC 5321 §4.5.3.1.
const (
	pathMaxLocal  = 64  // local part, octets (§4.5.3.1.1)
	pathMaxDomain = 255 // domain or address literal, octets (§4.5.3.1.2)
	pathMaxLen    = 256 // whole path with "<", ">" and source route (§4.5.3.1.3)
	pathMaxLabel  = 63  // one label, in A-label form (RFC 1035 §2.3.4)
)

// Errors that [ParsePath] wraps in a [*PathError]; test for them with
// [errors.Is]. The reply a server sends for each is given with it; the
// enhanced code is X.1.7 for MAIL FROM and X.1.3 for RCPT TO (RFC 3463).
var (
	// ErrPathSyntax means the path does not follow RFC 5321 §4.1.2 (or
	// RFC 6531 §3.3): reply 501 5.1.7 (MAIL) or 501 5.1.3 (RCPT).
	ErrPathSyntax = errors.New("smtp: bad address syntax")
	// ErrPathTooLong means a length limit of RFC 5321 §4.5.3.1 was
	// exceeded: local part over 64 octets, domain over 255, label over 63
	// or path over 256. Reply 501 5.1.7 (MAIL) or 501 5.1.3 (RCPT); RFC
	// 5321 §4.5.3.1 gives "501 Path too long" as the example.
	ErrPathTooLong = errors.New("smtp: path too long")
	// ErrPathNonASCII means the path contains non-ASCII octets but
	// PathOptions.UTF8 was not set (the transaction did not use SMTPUTF8).
	// Reply 550 5.6.7 (MAIL) or 553 5.6.7 (RCPT), "Non-ASCII addresses
	// not permitted for that sender/recipient" (RFC 6531 §3.5).
	ErrPathNonASCII = errors.New("smtp: non-ASCII address without SMTPUTF8")
)

// PathError is the error [ParsePath] returns. Err is one of
// [ErrPathSyntax], [ErrPathTooLong] or [ErrPathNonASCII]; Msg is a short
// English phrase describing the problem. Msg never contains bytes of the
// input, so a server may put it in the reply text.
type PathError struct {
	Err error
	Msg string
}

// Error returns the sentinel's text followed by Msg.
func (e *PathError) Error() string { return e.Err.Error() + ": " + e.Msg }

// Unwrap returns Err, so that errors.Is(err, ErrPathSyntax) works.
func (e *PathError) Unwrap() error { return e.Err }

func pathErr(sentinel error, msg string) *PathError {
	return &PathError{Err: sentinel, Msg: msg}
}

// Path is a parsed reverse-path (MAIL FROM) or forward-path (RCPT TO), as
// defined in RFC 5321 §4.1.2, possibly with the internationalized syntax of
// RFC 6531 §3.3. The zero Path is the null reverse-path "<>".
//
// A Path is a plain value whose strings may share memory with the parsed
// input. It is safe for concurrent use as long as nobody modifies it;
// copies share SourceRoute.
type Path struct {
	// Local is the local part in its decoded form: a Quoted-string has its
	// quotes removed and its quoted-pairs resolved, so "a b"@example.org
	// has Local `a b` and "a\"b"@example.org has Local `a"b`. Characters
	// with routing meaning to some systems ("%", "!", and "@" from a
	// quoted local part) are kept as they are: Local is never split.
	Local string
	// Domain is the domain as received, not lower-cased and not converted
	// between A-labels and U-labels; or an address literal including its
	// brackets: "[192.0.2.1]", "[IPv6:2001:db8::1]" (RFC 5321 §4.1.3).
	// Domain is "" for the null path and for the special recipient
	// "<Postmaster>" (RFC 5321 §4.1.1.3, §4.5.1).
	Domain string
	// SourceRoute holds the domains of an obsolete source route
	// ("<@a.example,@b.example:user@c.example>"), in order and without
	// their "@". RFC 5321 §4.1.2 and Appendix C say a server MUST accept
	// and SHOULD ignore them; they are kept so that policy can see them.
	// String omits them.
	SourceRoute []string
}

// IsNull reports whether p is the null reverse-path "<>" (RFC 5321 §4.5.5),
// the sender of bounces.
func (p Path) IsNull() bool { return p.Local == "" && p.Domain == "" }

// String returns the mailbox in canonical form, without angle brackets and
// without the source route: the local part as a Dot-string when it is one,
// otherwise as a Quoted-string in which only `"` and `\` are escaped
// (RFC 5321 §4.1.2, which says a local part SHOULD be quoted only when
// needed), then "@" and Domain. It is "" for the null path and just the
// local part for "<Postmaster>". For a Path returned by ParsePath,
// ParsePath("<"+p.String()+">") with the same options gives back the same
// Local and Domain.
func (p Path) String() string {
	if p.IsNull() {
		return ""
	}
	var b strings.Builder
	b.Grow(len(p.Local) + len(p.Domain) + 3)
	if pathLocalNeedsQuotes(p.Local) {
		b.WriteByte('"')
		for i := 0; i < len(p.Local); i++ {
			c := p.Local[i]
			if c == '"' || c == '\\' {
				b.WriteByte('\\')
			}
			b.WriteByte(c)
		}
		b.WriteByte('"')
	} else {
		b.WriteString(p.Local)
	}
	if p.Domain != "" {
		b.WriteByte('@')
		b.WriteString(p.Domain)
	}
	return b.String()
}

// ASCIIDomain returns Domain with every U-label converted to its A-label
// (RFC 5890 §2.3.2.1) using the UTS #46 lookup profile of
// golang.org/x/net/idna, which also lower-cases those labels. ASCII labels
// and address literals are returned as they are. It fails only for a
// domain that ParsePath would not have accepted.
func (p Path) ASCIIDomain() (string, error) {
	if pathIsASCII(p.Domain) || strings.HasPrefix(p.Domain, "[") {
		return p.Domain, nil
	}
	labels := strings.Split(p.Domain, ".")
	for i, l := range labels {
		if pathIsASCII(l) {
			continue
		}
		a, err := pathALabel(l)
		if err != nil {
			return "", err
		}
		labels[i] = a
	}
	return strings.Join(labels, "."), nil
}

// IsASCII reports whether Local and Domain are all ASCII. A path that is
// not needs the SMTPUTF8 extension (RFC 6531 §3.2) to be sent.
func (p Path) IsASCII() bool { return pathIsASCII(p.Local) && pathIsASCII(p.Domain) }

// PathOptions says which forms [ParsePath] accepts. The zero value accepts
// only a strict RFC 5321 forward-path with an ASCII mailbox.
type PathOptions struct {
	// UTF8 allows non-ASCII UTF-8 in the local part and U-labels in the
	// domain (RFC 6531 §3.3). Set it when the MAIL command carried the
	// SMTPUTF8 parameter. Without it a non-ASCII octet fails with
	// ErrPathNonASCII.
	UTF8 bool
	// AllowNull accepts the null path "<>" (RFC 5321 §4.5.5). Set it for
	// MAIL FROM only.
	AllowNull bool
	// AllowPostmaster accepts "<Postmaster>" (any case) without a domain,
	// which RCPT TO must accept (RFC 5321 §4.1.1.3, §4.5.1). The result has
	// Local as sent and Domain "".
	AllowPostmaster bool
	// Lenient accepts a path without its angle brackets ("MAIL FROM:
	// user@example.org"), as some clients send, and ESMTP parameters
	// directly after ">" with no space. A bare path ends at the first
	// space outside a quoted local part.
	Lenient bool
}

// ParsePath parses the path at the start of s, which is what follows
// "MAIL FROM:" or "RCPT TO:" (RFC 5321 §4.1.1.2, §4.1.1.3, §4.1.2): "<",
// an optional source route, a Mailbox, ">". Spaces before the path are the
// caller's to skip. rest is what follows the path with leading spaces
// removed: the ESMTP parameters, for [ParseMailParams] or [ParseRcptParams].
//
// The local part is a Dot-string or a Quoted-string of at most 64 octets
// with no control characters; the domain is a sequence of LDH labels (or,
// with opts.UTF8, U-labels valid under IDNA) of at most 63 octets each and
// 255 in all, or an IPv4 or IPv6 address literal (RFC 5321 §4.1.3). IPv4
// literals must be in dotted decimal without leading zeros, and IPv6
// literals must not carry a zone. General address literals ("[tag:...]")
// are rejected as unsupported. The whole path may be at most 256 octets.
//
// The error is a [*PathError].
func ParsePath(s string, opts PathOptions) (p Path, rest string, err error) {
	pp := pathParser{s: s, utf8: opts.UTF8}
	bracketed := strings.HasPrefix(s, "<")
	switch {
	case bracketed:
		pp.i = 1
	case s == "":
		return Path{}, "", pathErr(ErrPathSyntax, "missing path")
	case !opts.Lenient:
		return Path{}, "", pathErr(ErrPathSyntax, "path must be enclosed in angle brackets")
	}

	if bracketed && pp.peek() == '>' {
		if !opts.AllowNull {
			return Path{}, "", pathErr(ErrPathSyntax, "null path not allowed here")
		}
		pp.i++
		rest, err = pathRest(s[pp.i:], opts.Lenient)
		return Path{}, rest, err
	}

	// A-d-l ":" (source route), RFC 5321 §4.1.2.
	if pp.peek() == '@' {
		for {
			pp.i++ // "@"
			d, err := pp.domain()
			if err != nil {
				return Path{}, "", err
			}
			p.SourceRoute = append(p.SourceRoute, d)
			if pp.peek() == ',' && pp.peekAt(1) == '@' {
				pp.i++
				continue
			}
			if pp.peek() == ':' {
				pp.i++
				break
			}
			return Path{}, "", pathErr(ErrPathSyntax, "malformed source route")
		}
	}

	local, quoted, err := pp.localPart()
	if err != nil {
		return Path{}, "", err
	}
	p.Local = local
	switch {
	case pp.peek() == '@':
		pp.i++
		if pp.peek() == '[' {
			p.Domain, err = pp.addressLiteral()
		} else {
			p.Domain, err = pp.domain()
		}
		if err != nil {
			return Path{}, "", err
		}
	case opts.AllowPostmaster && !quoted && p.SourceRoute == nil && strings.EqualFold(local, "postmaster"):
		// RFC 5321 §4.1.1.3: "<Postmaster>" without a domain.
	case pp.eof() || pp.peek() == '>' || pp.peek() == ' ' && !bracketed:
		return Path{}, "", pathErr(ErrPathSyntax, "missing @domain")
	default:
		return Path{}, "", pathErr(ErrPathSyntax, "invalid character in local part")
	}

	var length int // of the path as if bracketed
	if bracketed {
		if pp.peek() != '>' {
			if pp.eof() {
				return Path{}, "", pathErr(ErrPathSyntax, "missing closing angle bracket")
			}
			return Path{}, "", pathErr(ErrPathSyntax, "invalid character after domain")
		}
		pp.i++
		length = pp.i
	} else {
		if !pp.eof() && pp.peek() != ' ' {
			return Path{}, "", pathErr(ErrPathSyntax, "invalid character after domain")
		}
		length = pp.i + 2
	}
	if length > pathMaxLen {
		return Path{}, "", pathErr(ErrPathTooLong, "path longer than 256 octets")
	}
	rest, err = pathRest(s[pp.i:], opts.Lenient)
	if err != nil {
		return Path{}, "", err
	}
	return p, rest, nil
}

// pathRest checks what follows a path and trims its leading spaces.
func pathRest(rest string, lenient bool) (string, error) {
	if rest != "" && rest[0] != ' ' && !lenient {
		return "", pathErr(ErrPathSyntax, "invalid character after path")
	}
	return strings.TrimLeft(rest, " "), nil
}

// pathParser scans a path; i is the offset of the next byte in s.
type pathParser struct {
	s    string
	i    int
	utf8 bool
}

func (pp *pathParser) eof() bool { return pp.i >= len(pp.s) }

func (pp *pathParser) peek() byte { return pp.peekAt(0) }

func (pp *pathParser) peekAt(n int) byte {
	if pp.i+n >= len(pp.s) {
		return 0
	}
	return pp.s[pp.i+n]
}

// nonASCII consumes the UTF-8 sequence at pp.i, which starts with a byte
// >= 0x80, if UTF-8 is allowed and the sequence is valid and not a C1
// control character.
func (pp *pathParser) nonASCII() error {
	if !pp.utf8 {
		return pathErr(ErrPathNonASCII, "non-ASCII address requires SMTPUTF8")
	}
	r, size := utf8.DecodeRuneInString(pp.s[pp.i:])
	if r == utf8.RuneError && size <= 1 {
		return pathErr(ErrPathSyntax, "invalid UTF-8")
	}
	if r < 0xa0 {
		return pathErr(ErrPathSyntax, "control character in address")
	}
	pp.i += size
	return nil
}

// localPart parses Local-part = Dot-string / Quoted-string (RFC 5321
// §4.1.2, extended by RFC 6531 §3.3) and returns it decoded.
func (pp *pathParser) localPart() (local string, quoted bool, err error) {
	start := pp.i
	if pp.peek() == '"' {
		local, err = pp.quotedString()
		quoted = true
	} else {
		local, err = pp.dotString()
	}
	if err != nil {
		return "", false, err
	}
	if pp.i-start > pathMaxLocal {
		return "", false, pathErr(ErrPathTooLong, "local part longer than 64 octets")
	}
	if local == "" {
		if pp.eof() {
			return "", false, pathErr(ErrPathSyntax, "incomplete path")
		}
		return "", false, pathErr(ErrPathSyntax, "empty local part")
	}
	return local, quoted, nil
}

// dotString parses Dot-string = Atom *("." Atom).
func (pp *pathParser) dotString() (string, error) {
	start := pp.i
	atomStart := true
	for !pp.eof() {
		c := pp.s[pp.i]
		switch {
		case c >= 0x80:
			if err := pp.nonASCII(); err != nil {
				return "", err
			}
			atomStart = false
			continue
		case pathIsAtext(c):
			atomStart = false
		case c == '.':
			if atomStart {
				if pp.i == start {
					return "", pathErr(ErrPathSyntax, "local part starts with a dot")
				}
				return "", pathErr(ErrPathSyntax, "consecutive dots in local part")
			}
			atomStart = true
		case c < ' ' || c == 0x7f:
			return "", pathErr(ErrPathSyntax, "control character in address")
		default:
			if pp.i > start && atomStart {
				return "", pathErr(ErrPathSyntax, "local part ends with a dot")
			}
			return pp.s[start:pp.i], nil
		}
		pp.i++
	}
	if pp.i > start && atomStart {
		return "", pathErr(ErrPathSyntax, "local part ends with a dot")
	}
	return pp.s[start:pp.i], nil
}

// quotedString parses Quoted-string = DQUOTE *QcontentSMTP DQUOTE and
// returns its content with quoted-pairs resolved.
func (pp *pathParser) quotedString() (string, error) {
	pp.i++ // DQUOTE
	start := pp.i
	var b []byte // only allocated once a quoted-pair is seen
	for {
		if pp.eof() {
			return "", pathErr(ErrPathSyntax, "unterminated quoted string")
		}
		c := pp.s[pp.i]
		switch {
		case c == '"':
			var v string
			if b != nil {
				v = string(b)
			} else {
				v = pp.s[start:pp.i]
			}
			pp.i++
			return v, nil
		case c == '\\':
			// quoted-pairSMTP = %d92 %d32-126
			if b == nil {
				b = append(make([]byte, 0, pathMaxLocal), pp.s[start:pp.i]...)
			}
			pp.i++
			if pp.eof() {
				return "", pathErr(ErrPathSyntax, "unterminated quoted string")
			}
			c = pp.s[pp.i]
			if c < ' ' || c > '~' {
				return "", pathErr(ErrPathSyntax, "invalid quoted-pair in local part")
			}
			b = append(b, c)
			pp.i++
		case c >= 0x80:
			// qtextSMTP =/ UTF8-non-ascii (RFC 6531 §3.3)
			j := pp.i
			if err := pp.nonASCII(); err != nil {
				return "", err
			}
			if b != nil {
				b = append(b, pp.s[j:pp.i]...)
			}
		case c >= ' ' && c <= '~':
			// qtextSMTP = %d32-33 / %d35-91 / %d93-126
			if b != nil {
				b = append(b, c)
			}
			pp.i++
		default:
			return "", pathErr(ErrPathSyntax, "control character in address")
		}
	}
}

// domain parses Domain = sub-domain *("." sub-domain) (RFC 5321 §4.1.2),
// where a sub-domain may be a U-label with UTF-8 (RFC 6531 §3.3).
func (pp *pathParser) domain() (string, error) {
	start := pp.i
	alen := 0 // length of the domain in A-label form
	for {
		labelStart := pp.i
		ascii := true
		for !pp.eof() {
			c := pp.s[pp.i]
			if c >= 0x80 {
				if err := pp.nonASCII(); err != nil {
					return "", err
				}
				ascii = false
				continue
			}
			if !pathIsLetDig(c) && c != '-' {
				break
			}
			pp.i++
		}
		label := pp.s[labelStart:pp.i]
		switch {
		case label == "":
			next := pp.peek()
			switch {
			case next == '.':
				return "", pathErr(ErrPathSyntax, "empty label in domain")
			case !pp.eof() && strings.IndexByte(">,: ", next) < 0:
				return "", pathErr(ErrPathSyntax, "invalid character in domain")
			case pp.i == start:
				return "", pathErr(ErrPathSyntax, "missing domain")
			default:
				return "", pathErr(ErrPathSyntax, "domain ends with a dot")
			}
		case ascii:
			// sub-domain = Let-dig [Ldh-str]; Ldh-str ends with Let-dig.
			if label[0] == '-' || label[len(label)-1] == '-' {
				return "", pathErr(ErrPathSyntax, "label starts or ends with a hyphen")
			}
			if len(label) > pathMaxLabel {
				return "", pathErr(ErrPathTooLong, "domain label longer than 63 octets")
			}
			alen += len(label)
		default:
			a, err := pathALabel(label)
			if err != nil {
				return "", err
			}
			alen += len(a)
		}
		if pp.peek() != '.' {
			break
		}
		pp.i++
		alen++
	}
	if pp.i-start > pathMaxDomain || alen > pathMaxDomain {
		return "", pathErr(ErrPathTooLong, "domain longer than 255 octets")
	}
	return pp.s[start:pp.i], nil
}

// pathALabel converts one U-label to its A-label, requiring that it is
// valid under the IDNA lookup profile and stays a single Punycode label.
func pathALabel(label string) (string, error) {
	a, err := idna.Lookup.ToASCII(label)
	if err != nil || !strings.HasPrefix(a, "xn--") || strings.Contains(a, ".") {
		return "", pathErr(ErrPathSyntax, "invalid internationalized domain label")
	}
	if len(a) > pathMaxLabel {
		return "", pathErr(ErrPathTooLong, "domain label longer than 63 octets")
	}
	return a, nil
}

// addressLiteral parses an address-literal (RFC 5321 §4.1.3) and returns it
// with its brackets.
func (pp *pathParser) addressLiteral() (string, error) {
	start := pp.i
	end := strings.IndexByte(pp.s[start:], ']')
	if end < 0 {
		return "", pathErr(ErrPathSyntax, "unterminated address literal")
	}
	end += start
	lit := pp.s[start+1 : end]
	if end+1-start > pathMaxDomain {
		return "", pathErr(ErrPathTooLong, "address literal longer than 255 octets")
	}
	for i := 0; i < len(lit); i++ {
		if c := lit[i]; c >= 0x80 {
			return "", pathErr(ErrPathSyntax, "non-ASCII address literal")
		}
	}
	if len(lit) >= 5 && strings.EqualFold(lit[:5], "IPv6:") {
		// IPv6-address-literal = "IPv6:" IPv6-addr
		v6 := lit[5:]
		if !pathOnly(v6, "0123456789abcdefABCDEF:.") {
			return "", pathErr(ErrPathSyntax, "invalid IPv6 address literal")
		}
		ip, err := netip.ParseAddr(v6)
		if err != nil || !ip.Is6() {
			return "", pathErr(ErrPathSyntax, "invalid IPv6 address literal")
		}
	} else if strings.IndexByte(lit, ':') >= 0 {
		// General-address-literal = Standardized-tag ":" 1*dcontent
		return "", pathErr(ErrPathSyntax, "unsupported address literal")
	} else {
		// IPv4-address-literal = Snum 3("." Snum)
		if !pathOnly(lit, "0123456789.") {
			return "", pathErr(ErrPathSyntax, "invalid IPv4 address literal")
		}
		ip, err := netip.ParseAddr(lit)
		if err != nil || !ip.Is4() {
			return "", pathErr(ErrPathSyntax, "invalid IPv4 address literal")
		}
	}
	pp.i = end + 1
	return pp.s[start:pp.i], nil
}

// pathLocalNeedsQuotes reports whether local is not a Dot-string (RFC 5321
// §4.1.2) and must be sent as a Quoted-string. Non-ASCII octets count as
// atext (RFC 6531 §3.3).
func pathLocalNeedsQuotes(local string) bool {
	if local == "" || local[0] == '.' || local[len(local)-1] == '.' || strings.Contains(local, "..") {
		return true
	}
	for i := 0; i < len(local); i++ {
		c := local[i]
		if c < 0x80 && c != '.' && !pathIsAtext(c) {
			return true
		}
	}
	return false
}

// pathIsAtext reports whether c is an ASCII atext character (RFC 5322
// §3.2.3): letters, digits and !#$%&'*+-/=?^_`{|}~.
func pathIsAtext(c byte) bool {
	if pathIsLetDig(c) {
		return true
	}
	return c < 0x80 && strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

// pathIsLetDig reports whether c is Let-dig = ALPHA / DIGIT.
func pathIsLetDig(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

func pathIsASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// pathOnly reports whether s is non-empty and made only of bytes in set.
func pathOnly(s, set string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(set, s[i]) < 0 {
			return false
		}
	}
	return true
}
