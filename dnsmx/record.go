package dnsmx

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// field is one "name=value" of a tag record.
type field struct{ name, value string }

// parseFields parses the TXT record grammar that MTA-STS (RFC 8461 §3.1)
// and TLS-RPT (RFC 8460 §3) share:
//
//	record     = version 1*(field-delim field) [field-delim]
//	field-delim = *WSP ";" *WSP
//	field      = name "=" value
//	name       = (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".")
//	value      = 1*(%x21-3A / %x3C / %x3E-7E)
//
// version is the literal first field ("v=STSv1"). Values are checked
// against the generic rule only; callers check their own fields.
func parseFields(txt, version string) ([]field, error) {
	rest, ok := strings.CutPrefix(txt, version)
	if !ok {
		return nil, fmt.Errorf("does not start with %q", version)
	}
	parts := strings.Split(rest, ";")
	if strings.Trim(parts[0], " \t") != "" {
		return nil, fmt.Errorf("junk after %q", version)
	}
	parts = parts[1:]
	if n := len(parts); n > 0 && strings.Trim(parts[n-1], " \t") == "" {
		parts = parts[:n-1] // a trailing delimiter
	}
	if len(parts) == 0 {
		return nil, errors.New("no fields")
	}
	fields := make([]field, 0, len(parts))
	for _, p := range parts {
		p = strings.Trim(p, " \t")
		name, value, ok := strings.Cut(p, "=")
		if !ok || !validFieldName(name) || !validFieldValue(value) {
			return nil, fmt.Errorf("bad field %q", p)
		}
		fields = append(fields, field{name, value})
	}
	return fields, nil
}

// validFieldName checks name = (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".").
func validFieldName(s string) bool {
	if len(s) == 0 || len(s) > 32 || !isAlnum(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '_' && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

// validFieldValue checks value = 1*(%x21-3A / %x3C / %x3E-7E).
func validFieldValue(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c > 0x7e || c == ';' || c == '=' {
			return false
		}
	}
	return true
}

func allAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isAlnum(s[i]) {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// startsRecord reports whether txt begins with version followed by a
// field delimiter or its end, the test RFC 8461 §3.1 and RFC 8460 §3 use to
// pick records before parsing them.
func startsRecord(txt, version string) bool {
	rest, ok := strings.CutPrefix(txt, version)
	return ok && (rest == "" || rest[0] == ';' || rest[0] == ' ' || rest[0] == '\t')
}

// STSRecord is an MTA-STS TXT record (RFC 8461 §3.1).
type STSRecord struct {
	// ID identifies the policy version: 1 to 32 letters and digits. A
	// changed ID means a new policy to fetch.
	ID string
}

// ParseSTSRecord parses an MTA-STS TXT record ("v=STSv1; id=20160831085700Z;").
// Unknown fields are ignored; of repeated fields the first counts.
func ParseSTSRecord(txt string) (*STSRecord, error) {
	id, err := recordField("MTA-STS record", txt, "v=STSv1", "id")
	if err != nil {
		return nil, err
	}
	if len(id) > 32 || !allAlnum(id) {
		return nil, malformed("MTA-STS record", fmt.Errorf("bad id %q", id))
	}
	return &STSRecord{ID: id}, nil
}

// recordField parses txt as a record of version and returns the value of
// its first field called name.
func recordField(op, txt, version, name string) (string, error) {
	fields, err := parseFields(txt, version)
	if err != nil {
		return "", malformed(op, err)
	}
	for _, f := range fields {
		if f.name == name {
			return f.value, nil
		}
	}
	return "", malformed(op, fmt.Errorf("no %s", name))
}

// LookupMTASTS returns the MTA-STS record at "_mta-sts." + domain (RFC 8461
// §3.1): of the TXT records, those that start with "v=STSv1" are kept, and
// there must be exactly one, and it must parse. ErrNXDomain, ErrNoRecords,
// ErrMultipleRecords and ErrMalformed (all permanent) mean the domain has no
// MTA-STS policy available.
func LookupMTASTS(ctx context.Context, l Lookuper, domain string) (*STSRecord, error) {
	return lookupRecord(ctx, l, "MTA-STS", "_mta-sts."+domain, "v=STSv1", ParseSTSRecord)
}

// TLSRPTRecord is an SMTP TLS Reporting record (RFC 8460 §3).
type TLSRPTRecord struct {
	// RUA are where reports go: mailto: and https: URIs, in the order
	// given. Other schemes are dropped.
	RUA []*url.URL
}

// ParseTLSRPTRecord parses a TLS-RPT TXT record
// ("v=TLSRPTv1; rua=mailto:tlsrpt@example.com"). It needs at least one
// mailto: or https: URI in the first rua field; unknown fields are ignored.
func ParseTLSRPTRecord(txt string) (*TLSRPTRecord, error) {
	rua, err := recordField("TLS-RPT record", txt, "v=TLSRPTv1", "rua")
	if err != nil {
		return nil, err
	}
	rec := &TLSRPTRecord{}
	for s := range strings.SplitSeq(rua, ",") {
		u, err := url.Parse(s)
		if err != nil {
			continue
		}
		switch {
		case u.Scheme == "mailto" && u.Opaque != "",
			u.Scheme == "https" && u.Host != "":
			rec.RUA = append(rec.RUA, u)
		}
	}
	if len(rec.RUA) == 0 {
		return nil, malformed("TLS-RPT record", fmt.Errorf("no mailto: or https: URI in %q", rua))
	}
	return rec, nil
}

// LookupTLSRPT returns the TLS reporting record at "_smtp._tls." + domain
// (RFC 8460 §3), where to send reports about TLS failures delivering to
// domain (MTA-STS and DANE). Exactly one record starting with "v=TLSRPTv1"
// must exist and parse; otherwise the domain does not do TLS reporting.
func LookupTLSRPT(ctx context.Context, l Lookuper, domain string) (*TLSRPTRecord, error) {
	return lookupRecord(ctx, l, "TLS-RPT", "_smtp._tls."+domain, "v=TLSRPTv1", ParseTLSRPTRecord)
}

// lookupRecord selects the one TXT record at name that starts with version
// (RFC 8461 §3.1, RFC 8460 §3) and parses it.
func lookupRecord[T any](ctx context.Context, l Lookuper, op, name, version string, parse func(string) (*T, error)) (*T, error) {
	txt, err := selectTXT(ctx, l, op, name, func(s string) bool { return startsRecord(s, version) })
	if err != nil {
		return nil, err
	}
	return parse(txt)
}

// malformed is the permanent error for a record or policy that does not
// parse.
func malformed(op string, err error) *Error {
	return &Error{Op: op, Kind: ErrMalformed, Permanent: true, Err: err}
}
