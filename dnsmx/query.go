package dnsmx

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// rrset is the outcome of one query after CNAMEs: the records of the type
// asked for, or a negative answer (err set). It is cached and shared, so it
// is never modified once made.
type rrset struct {
	name      string   // where the records are, after CNAMEs (lower case, no trailing dot)
	rrs       []dns.RR // of the type asked for, owned by name
	authentic bool     // every answer on the way (CNAMEs, records or denial) had AD
	expires   time.Time
	err       *Error // ErrNXDomain or ErrNoRecords
}

// query returns the records of qtype at name (normalized), following
// CNAMEs, from the cache or the nameservers. A negative answer comes back as
// both the rrset (for its authentic bit) and its error.
func (r *Resolver) query(ctx context.Context, name string, qtype uint16) (*rrset, error) {
	r.init()
	key := cacheKey{name, qtype}
	if v, ok := r.cache.get(key, time.Now()); ok {
		set := v.(*rrset)
		return set, set.errOrNil()
	}
	set, err := r.flights.do(ctx, key, func() (*rrset, error) {
		set, err := r.resolve(ctx, name, qtype)
		if err == nil {
			r.cache.add(key, set, time.Now(), set.expires)
		}
		return set, err
	})
	if err != nil {
		if isContextError(err) && !isDNSError(err) {
			err = newError(dns.TypeToString[qtype], name, ctx.Err(), nil)
		}
		return nil, err
	}
	return set, set.errOrNil()
}

// peek returns the cached outcome for name and qtype, if any.
func (r *Resolver) peek(name string, qtype uint16) (*rrset, bool) {
	r.init()
	v, ok := r.cache.get(cacheKey{name, qtype}, time.Now())
	if !ok {
		return nil, false
	}
	return v.(*rrset), true
}

func (s *rrset) errOrNil() error {
	if s.err == nil {
		return nil
	}
	return s.err
}

func isDNSError(err error) bool {
	_, ok := err.(*Error)
	return ok
}

// resolve asks the nameservers for qtype at name and follows CNAMEs, in the
// answer or with further queries when the server did not follow them (RFC
// 1034 §3.6.2, §4.3.2). It returns an error only for failures that are not
// answers (temporary ones, or a bad chain); a negative answer is an rrset
// with err set.
func (r *Resolver) resolve(ctx context.Context, name string, qtype uint16) (*rrset, error) {
	op := dns.TypeToString[qtype]
	maxCNAME := r.maxCNAME()
	var seen []string
	cur := name
	set := &rrset{authentic: true}
	ttl := uint32(MaxTTL / time.Second)
	for {
		resp, err := r.exchange(ctx, cur, qtype)
		if err != nil {
			return nil, err
		}
		set.authentic = set.authentic && resp.AuthenticatedData
		followed := false
		for {
			target, cnameTTL, ok := findCNAME(resp.Answer, cur, qtype)
			if !ok {
				break
			}
			seen = append(seen, cur)
			if len(seen) > maxCNAME {
				return nil, newError(op, name, ErrCNAMEChain, fmt.Errorf("more than %d CNAMEs", maxCNAME))
			}
			t, err := normalize(target)
			if err != nil {
				return nil, newError(op, name, ErrMalformed, fmt.Errorf("CNAME target %q: %w", target, err))
			}
			for _, s := range seen {
				if s == t {
					return nil, newError(op, name, ErrCNAMEChain, fmt.Errorf("loop at %s", t))
				}
			}
			cur, followed = t, true
			ttl = min(ttl, cnameTTL)
		}
		set.name = cur
		for _, rr := range resp.Answer {
			h := rr.Header()
			if h.Rrtype == qtype && h.Class == dns.ClassINET && sameName(h.Name, cur) {
				set.rrs = append(set.rrs, rr)
				ttl = min(ttl, h.Ttl)
			}
		}
		switch {
		case len(set.rrs) > 0:
			set.expires = expiry(ttl, MaxTTL)
			return set, nil
		case resp.Rcode == dns.RcodeNameError:
			set.err = newError(op, name, ErrNXDomain, nil)
		case followed && soa(resp.Ns) == nil:
			// An alias whose target the server did not look up (an
			// authoritative server out of its zone): ask for the target.
			continue
		default:
			set.err = newError(op, name, ErrNoRecords, nil)
		}
		// RFC 2308 §5: a negative answer lives for the SOA's TTL, at most
		// its MINIMUM; without a SOA it is not cached.
		if s := soa(resp.Ns); s != nil {
			set.expires = expiry(min(ttl, s.Hdr.Ttl, s.Minttl), MaxNegativeTTL)
		}
		return set, nil
	}
}

// findCNAME returns the target of the CNAME owned by name in rrs, unless
// qtype is CNAME itself.
func findCNAME(rrs []dns.RR, name string, qtype uint16) (target string, ttl uint32, ok bool) {
	if qtype == dns.TypeCNAME {
		return "", 0, false
	}
	for _, rr := range rrs {
		if c, isC := rr.(*dns.CNAME); isC && c.Hdr.Class == dns.ClassINET && sameName(c.Hdr.Name, name) {
			return c.Target, c.Hdr.Ttl, true
		}
	}
	return "", 0, false
}

// soa returns the SOA record in an authority section, if any.
func soa(ns []dns.RR) *dns.SOA {
	for _, rr := range ns {
		if s, ok := rr.(*dns.SOA); ok {
			return s
		}
	}
	return nil
}

// sameName compares an FQDN from a message with a normalized name.
func sameName(fqdn, name string) bool {
	fqdn = strings.TrimSuffix(fqdn, ".")
	return strings.EqualFold(fqdn, name)
}

// expiry returns when an answer with ttl seconds expires, capped at limit.
func expiry(ttl uint32, limit time.Duration) time.Time {
	return time.Now().Add(min(time.Duration(ttl)*time.Second, limit))
}
