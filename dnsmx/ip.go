package dnsmx

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/miekg/dns"
)

// IPResult is the answer to [Resolver.LookupIP]. Results may be shared with
// other callers: do not modify Addrs.
type IPResult struct {
	Name      string       // the name looked up (A-labels, lower case, no trailing dot)
	Canonical string       // the name after CNAMEs; Name if there were none
	Addrs     []netip.Addr // IPv6 addresses first, then IPv4, each in the order received
	Authentic bool         // every answer (CNAMEs, records, and the denial for a family with none) had the AD bit
}

// addrs is what the A and AAAA queries for one host gave.
type addrs struct {
	canonical string
	addrs     []netip.Addr
	authentic bool
	expires   time.Time // the earliest expiry; zero if not cacheable
	err       error     // set when addrs is empty
}

// LookupIP returns the addresses of host. Network "ip" asks for AAAA and A
// in parallel, "ip4" for A only, "ip6" for AAAA only. An IP address given as
// host is returned as is. When both families are asked and one fails
// temporarily, the other's addresses are returned without an error; the
// error comes only when there are no addresses: the temporary one if any,
// else ErrNXDomain or ErrNoRecords.
func (r *Resolver) LookupIP(ctx context.Context, network, host string) (*IPResult, error) {
	var v4, v6 bool
	switch network {
	case "ip":
		v4, v6 = true, true
	case "ip4":
		v4 = true
	case "ip6":
		v6 = true
	default:
		return nil, newError("LookupIP", host, ErrInvalidName, fmt.Errorf("unknown network %q", network))
	}
	if ip, ok := parseIP(host); ok {
		return &IPResult{Name: host, Canonical: host, Addrs: []netip.Addr{ip}}, nil
	}
	name, err := normalizeOp("A", host)
	if err != nil {
		return nil, err
	}
	a := r.lookupAddrs(ctx, name, v4, v6)
	if a.err != nil {
		return nil, a.err
	}
	return &IPResult{Name: name, Canonical: a.canonical, Addrs: a.addrs, Authentic: a.authentic}, nil
}

// outcome is what one query gave: the rrset (nil on failure) and error.
type outcome struct {
	set *rrset
	err error
}

// lookupAddrs runs the AAAA and A queries for name (normalized) in
// parallel, or only the families asked for.
func (r *Resolver) lookupAddrs(ctx context.Context, name string, v4, v6 bool) addrs {
	var res6, res4 outcome
	switch {
	case v4 && v6:
		s6, ok6 := r.peek(name, dns.TypeAAAA)
		s4, ok4 := r.peek(name, dns.TypeA)
		if ok6 && ok4 {
			res6, res4 = outcome{s6, s6.errOrNil()}, outcome{s4, s4.errOrNil()}
		} else {
			res6, res4 = r.queryBoth(ctx, name)
		}
	case v6:
		res6.set, res6.err = r.query(ctx, name, dns.TypeAAAA)
	default:
		res4.set, res4.err = r.query(ctx, name, dns.TypeA)
	}

	a := addrs{canonical: name, authentic: true}
	var errs []error
	cacheable := true
	results := [...]outcome{res6, res4}
	n := 0
	for _, res := range results {
		if res.set != nil {
			n += len(res.set.rrs)
		}
	}
	if n > 0 {
		a.addrs = make([]netip.Addr, 0, n)
	}
	for _, res := range results {
		switch {
		case res.set == nil && res.err == nil:
			continue // family not asked for
		case res.set == nil:
			a.authentic, cacheable = false, false
			errs = append(errs, res.err)
			continue
		}
		a.canonical = res.set.name
		a.authentic = a.authentic && res.set.authentic
		a.expires = minExpiry(a.expires, res.set.expires)
		cacheable = cacheable && !res.set.expires.IsZero()
		if res.err != nil {
			errs = append(errs, res.err)
			continue
		}
		for _, rr := range res.set.rrs {
			switch rr := rr.(type) {
			case *dns.AAAA:
				if ip, ok := netip.AddrFromSlice(rr.AAAA); ok {
					a.addrs = append(a.addrs, ip)
				}
			case *dns.A:
				if ip, ok := netip.AddrFromSlice(rr.A.To4()); ok {
					a.addrs = append(a.addrs, ip)
				}
			}
		}
	}
	if !cacheable {
		a.expires = time.Time{}
	}
	if len(a.addrs) == 0 {
		a.err = worstError(errs)
		if a.err == nil {
			a.err = newError("A", name, ErrNoRecords, nil)
		}
	}
	return a
}

// queryBoth asks for AAAA and A at once.
func (r *Resolver) queryBoth(ctx context.Context, name string) (res6, res4 outcome) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		res6.set, res6.err = r.query(ctx, name, dns.TypeAAAA)
	}()
	res4.set, res4.err = r.query(ctx, name, dns.TypeA)
	<-done
	return res6, res4
}

// minExpiry returns the earlier of two expiries, where zero means unset.
func minExpiry(a, b time.Time) time.Time {
	if a.IsZero() || !b.IsZero() && b.Before(a) {
		return b
	}
	return a
}

// worstError picks the error to report among failures for one name: a
// temporary one first (so the caller retries), then NXDOMAIN, then the
// first.
func worstError(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	for _, err := range errs {
		if !IsPermanent(err) {
			return err
		}
	}
	for _, err := range errs {
		if errors.Is(err, ErrNXDomain) {
			return err
		}
	}
	return errs[0]
}
