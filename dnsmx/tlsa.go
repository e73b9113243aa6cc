package dnsmx

import (
	"context"
	"encoding/hex"
	"fmt"
	"strconv"

	"github.com/miekg/dns"
)

// TLSA certificate usages (RFC 6698 §2.1.1, names from RFC 7218 §2.1).
const (
	PKIXTA = 0 // CA constraint
	PKIXEE = 1 // service certificate constraint
	DANETA = 2 // trust anchor assertion
	DANEEE = 3 // domain-issued certificate
)

// TLSA selectors (RFC 6698 §2.1.2) and matching types (§2.1.3).
const (
	SelectorCert = 0 // the full certificate
	SelectorSPKI = 1 // the SubjectPublicKeyInfo

	MatchFull   = 0 // the data itself
	MatchSHA256 = 1
	MatchSHA512 = 2
)

// TLSA is one TLSA record (RFC 6698 §2.1).
type TLSA struct {
	Usage        uint8
	Selector     uint8
	MatchingType uint8
	Data         []byte // certificate association data
}

// Usable reports whether an SMTP client may use the record for DANE:
// usage DANE-TA or DANE-EE (RFC 7672 §3.1, PKIX usages are unusable for
// SMTP), and a known selector and matching type (RFC 6698 §2.1.2-3).
func (t TLSA) Usable() bool {
	return (t.Usage == DANETA || t.Usage == DANEEE) &&
		t.Selector <= SelectorSPKI && t.MatchingType <= MatchSHA512
}

// TLSAResult is an authenticated TLSA RRset: the answer to
// [Resolver.LookupTLSA]. Results may be shared with other callers: do not
// modify Records.
type TLSAResult struct {
	Name    string // the query name, "_25._tcp.mx.example.com"
	Records []TLSA // every record (see TLSA.Usable), all DNSSEC-authenticated
}

// Usable returns the records an SMTP client may use. When Records is not
// empty but Usable is, RFC 7672 §2.2 says to use TLS without authenticating
// the server.
func (res *TLSAResult) Usable() []TLSA {
	var u []TLSA
	for _, t := range res.Records {
		if t.Usable() {
			u = append(u, t)
		}
	}
	return u
}

// LookupTLSA returns the TLSA records for TCP port on host
// ("_port._tcp.host", RFC 6698 §3), only if they are DNSSEC-authenticated.
// RFC 7672 §2.2.2 asks for TLSA records only when the host's address
// records were authenticated (NextHop.Authentic); the caller decides.
//
// The outcomes (RFC 7672 §2.2):
//   - records, authenticated: a result, nil error; DANE applies.
//   - ErrNoRecords (permanent): authenticated denial (NXDOMAIN or NODATA);
//     no DANE.
//   - ErrInsecure (permanent): records or denial without the AD bit; no
//     DANE, the records are dropped.
//   - a temporary error (ErrServFail, ErrTimeout, ...): a validating
//     resolver's SERVFAIL may mean a bogus answer, so RFC 7672 §2.2.1
//     says not to deliver: queue and retry.
func (r *Resolver) LookupTLSA(ctx context.Context, host string, port int) (*TLSAResult, error) {
	if port <= 0 || port > 65535 {
		return nil, newError("TLSA", host, ErrInvalidName, fmt.Errorf("port %d out of range", port))
	}
	h, err := normalizeOp("TLSA", host)
	if err != nil {
		return nil, err
	}
	name, err := normalizeOp("TLSA", "_"+strconv.Itoa(port)+"._tcp."+h)
	if err != nil {
		return nil, err
	}
	set, err := r.query(ctx, name, dns.TypeTLSA)
	switch {
	case set == nil:
		return nil, err // temporary
	case !set.authentic:
		return nil, newError("TLSA", name, ErrInsecure, nil)
	case err != nil:
		return nil, newError("TLSA", name, ErrNoRecords, set.err.Kind) // NXDOMAIN or NODATA
	}
	res := &TLSAResult{Name: name}
	for _, rr := range set.rrs {
		t := rr.(*dns.TLSA)
		data, err := hex.DecodeString(t.Certificate)
		if err != nil {
			continue
		}
		res.Records = append(res.Records, TLSA{Usage: t.Usage, Selector: t.Selector, MatchingType: t.MatchingType, Data: data})
	}
	return res, nil
}
