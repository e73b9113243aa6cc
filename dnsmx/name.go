package dnsmx

import (
	"errors"
	"net/netip"
	"strconv"
	"strings"

	"golang.org/x/net/idna"
)

// Name limits of RFC 1035 §2.3.4, in presentation form without the
// trailing dot.
const (
	maxNameLen  = 253
	maxLabelLen = 63
	// maxInputLen bounds a name before IDNA conversion: at most 4 octets
	// of UTF-8 for each octet of the A-label form, and some slack for
	// characters UTS #46 maps away.
	maxInputLen = 4 * (maxNameLen + 3)
)

// idnaProfile converts U-labels to A-labels (RFC 5891 §5) without the STD3
// host name rules, so that names such as "_dmarc.bücher.example" convert.
// It is never modified.
var idnaProfile = idna.New(idna.MapForLookup(), idna.BidiRule(), idna.Transitional(false), idna.StrictDomainName(false))

var (
	errEmptyLabel = errors.New("empty label")
	errLabelLen   = errors.New("label longer than 63 octets")
	errNameLen    = errors.New("name longer than 253 octets")
	errNameChar   = errors.New("character not allowed in a domain name")
)

// normalize returns name in the form used everywhere in this package:
// A-labels, lower case, no trailing dot. Underscores are allowed (service
// labels such as "_25._tcp"); other characters outside letters, digits and
// hyphens are not. A name already in that form is returned without copying.
func normalize(name string) (string, error) {
	name = strings.TrimSuffix(name, ".")
	if len(name) > maxInputLen {
		return "", errNameLen // not worth converting
	}
	if ok, ascii := checkASCII(name); ok {
		return name, nil
	} else if ascii {
		// ASCII, with upper-case letters or bad characters: fold, then check.
		name = strings.ToLower(name)
	} else {
		a, err := idnaProfile.ToASCII(name)
		if err != nil {
			return "", err
		}
		name = strings.ToLower(strings.TrimSuffix(a, "."))
	}
	if ok, _ := checkASCII(name); !ok {
		return "", nameError(name)
	}
	return name, nil
}

// checkASCII reports whether name is a valid normalized name, and whether
// it is all ASCII (so lower-casing alone may make it valid).
func checkASCII(name string) (ok, ascii bool) {
	ascii = true
	ok = len(name) > 0 && len(name) <= maxNameLen
	label := 0
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 0x80:
			return false, false
		case c == '.':
			if label == 0 {
				ok = false
			}
			label = 0
			continue
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_':
		default:
			ok = false
		}
		label++
		if label > maxLabelLen {
			ok = false
		}
	}
	return ok && label > 0, ascii
}

// nameError says what is wrong with a name that checkASCII refused.
func nameError(name string) error {
	if name == "" {
		return errEmptyLabel
	}
	if len(name) > maxNameLen {
		return errNameLen
	}
	for label := range strings.SplitSeq(name, ".") {
		switch {
		case label == "":
			return errEmptyLabel
		case len(label) > maxLabelLen:
			return errLabelLen
		}
	}
	return errNameChar
}

// normalizeOp is normalize with the failure as an *Error for op.
func normalizeOp(op, name string) (string, error) {
	n, err := normalize(name)
	if err != nil {
		return "", newError(op, name, ErrInvalidName, err)
	}
	return n, nil
}

// isIPLiteral reports whether a host name is really an IP address (an MX
// target of "192.0.2.1." or "[192.0.2.1]"), which RFC 5321 §5.1 and
// RFC 1123 §2.1 do not allow where a domain name is required.
func isIPLiteral(host string) bool {
	host = strings.TrimSuffix(host, ".")
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		return true
	}
	_, ok := parseIP(host)
	return ok
}

// parseIP parses an IP address, without the cost of netip.ParseAddr's error
// for the names that cannot be one (IPv4 is digits and dots; IPv6 has a
// colon).
func parseIP(s string) (netip.Addr, bool) {
	if strings.IndexByte(s, ':') < 0 && strings.Trim(s, "0123456789.") != "" {
		return netip.Addr{}, false
	}
	ip, err := netip.ParseAddr(s)
	return ip, err == nil
}

// reverseLabels returns the labels for ip under in-addr.arpa or ip6.arpa
// (RFC 1035 §3.5, RFC 3596 §2.5), which DNSBLs use too (RFC 5782 §2.1,
// §2.4): "4.3.2.1" for 1.2.3.4, 32 nibbles for IPv6.
func reverseLabels(ip netip.Addr) string {
	ip = ip.Unmap()
	var b strings.Builder
	if ip.Is4() {
		a := ip.As4()
		for i := 3; i >= 0; i-- {
			b.WriteString(strconv.Itoa(int(a[i])))
			if i > 0 {
				b.WriteByte('.')
			}
		}
		return b.String()
	}
	const hex = "0123456789abcdef"
	a := ip.As16()
	for i := 15; i >= 0; i-- {
		b.WriteByte(hex[a[i]&0xf])
		b.WriteByte('.')
		b.WriteByte(hex[a[i]>>4])
		if i > 0 {
			b.WriteByte('.')
		}
	}
	return b.String()
}

// reverseName returns the PTR query name for ip, without the trailing dot.
func reverseName(ip netip.Addr) string {
	if ip.Unmap().Is4() {
		return reverseLabels(ip) + ".in-addr.arpa"
	}
	return reverseLabels(ip) + ".ip6.arpa"
}
