package dnsmx

import (
	"context"
	"strings"

	"github.com/miekg/dns"
)

// TXTResult is the answer to [Resolver.LookupTXT]. Results may be shared
// with other callers: do not modify Records.
type TXTResult struct {
	Name      string   // the name looked up (A-labels, lower case, no trailing dot)
	Records   []string // one per TXT record, its strings joined without spaces (RFC 7208 §3.3)
	Authentic bool     // the answer and any CNAMEs had the AD bit
}

// LookupTXT returns the TXT records at name (RFC 1035 §3.3.14), each as
// one string: the record's character-strings concatenated, as SPF (RFC 7208
// §3.3), DKIM (RFC 6376 §3.6.2.2), DMARC, MTA-STS and TLS-RPT all read
// them. Names with service labels ("_dmarc.example.com") are fine.
func (r *Resolver) LookupTXT(ctx context.Context, name string) (*TXTResult, error) {
	n, err := normalizeOp("TXT", name)
	if err != nil {
		return nil, err
	}
	set, err := r.query(ctx, n, dns.TypeTXT)
	if err != nil {
		return nil, err
	}
	res := &TXTResult{Name: n, Records: make([]string, 0, len(set.rrs)), Authentic: set.authentic}
	for _, rr := range set.rrs {
		var b strings.Builder
		for _, s := range rr.(*dns.TXT).Txt {
			unescapeTo(&b, s)
		}
		res.Records = append(res.Records, b.String())
	}
	return res, nil
}

// unescapeTo writes s to b with miekg/dns's presentation escapes ("\\",
// "\"", "\DDD") undone, giving the record's bytes.
func unescapeTo(b *strings.Builder, s string) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 >= len(s) {
			b.WriteByte(c)
			continue
		}
		if i+3 < len(s) && isDigit(s[i+1]) && isDigit(s[i+2]) && isDigit(s[i+3]) {
			b.WriteByte((s[i+1]-'0')*100 + (s[i+2]-'0')*10 + (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i+1])
		i++
	}
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// LookupSPF returns the SPF record of domain: the one TXT record that
// starts with "v=spf1" followed by a space or the end (RFC 7208 §4.5).
// Evaluating it is the caller's business.
//
// For check_host() (RFC 7208 §4.3-4.5): ErrNXDomain and ErrNoRecords mean
// "none", ErrMultipleRecords means "permerror", and a temporary error means
// "temperror".
func LookupSPF(ctx context.Context, l Lookuper, domain string) (string, error) {
	return selectTXT(ctx, l, "SPF", domain, func(txt string) bool {
		return len(txt) >= 6 && strings.EqualFold(txt[:6], "v=spf1") && (len(txt) == 6 || txt[6] == ' ')
	})
}

// LookupDMARC returns the DMARC record published at "_dmarc." + domain:
// the one TXT record whose first tag is "v=DMARC1" (RFC 7489 §6.4, §6.6.3).
// It does not fall back to the organizational domain: that needs the
// Public Suffix List, and is the caller's.
//
// ErrNXDomain, ErrNoRecords and ErrMultipleRecords all mean "no DMARC
// policy here" (RFC 7489 §6.6.3); a temporary error means try later.
func LookupDMARC(ctx context.Context, l Lookuper, domain string) (string, error) {
	return selectTXT(ctx, l, "DMARC", "_dmarc."+domain, func(txt string) bool {
		rest, ok := tagValue(txt, "v")
		if !ok || !strings.HasPrefix(rest, "DMARC1") {
			return false
		}
		rest = strings.TrimLeft(rest[len("DMARC1"):], " \t")
		return rest == "" || rest[0] == ';'
	})
}

// tagValue returns what follows `tag *WSP "=" *WSP` at the start of s.
func tagValue(s, tag string) (string, bool) {
	if !strings.HasPrefix(s, tag) {
		return "", false
	}
	s = strings.TrimLeft(s[len(tag):], " \t")
	if !strings.HasPrefix(s, "=") {
		return "", false
	}
	return strings.TrimLeft(s[1:], " \t"), true
}

// selectTXT returns the one TXT record at name for which match is true.
// None is ErrNoRecords, more than one ErrMultipleRecords; both permanent.
func selectTXT(ctx context.Context, l Lookuper, op, name string, match func(string) bool) (string, error) {
	res, err := l.LookupTXT(ctx, name)
	if err != nil {
		return "", err
	}
	found, n := "", 0
	for _, txt := range res.Records {
		if match(txt) {
			found = txt
			n++
		}
	}
	switch n {
	case 0:
		return "", newError(op, res.Name, ErrNoRecords, nil)
	case 1:
		return found, nil
	}
	return "", newError(op, res.Name, ErrMultipleRecords, nil)
}
