package dnsmx

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// MXResult says where a domain takes mail: the answer to
// [Resolver.LookupMX]. Each call returns a new MXResult, but the Addrs
// slices of its hosts may be shared with other callers: do not modify them.
type MXResult struct {
	// Domain is the domain looked up: A-labels (RFC 5890), lower case,
	// no trailing dot.
	Domain string

	// Canonical is Domain after CNAMEs, which RFC 5321 §5.1 says to
	// process "as if it were the initial name"; Domain if there were none.
	Canonical string

	// Hosts are the next hops in the order to try: by preference, and in
	// random order among equal preferences (RFC 5321 §5.1). Hosts whose
	// addresses could not be found are included, with Err set.
	Hosts []NextHop

	// Implicit is set when the domain has no MX records but has
	// addresses: Hosts is then the domain itself with preference 0
	// (RFC 5321 §5.1, "implicit MX").
	Implicit bool

	// Authentic is set when the MX answer (for an implicit MX, its
	// denial) and any CNAMEs on the way had the AD bit. DANE needs it
	// (RFC 7672 §2.2.1), and NextHop.Authentic too.
	Authentic bool
}

// NextHop is one mail exchanger of an [MXResult].
type NextHop struct {
	// Host is the MX target (A-labels, lower case, no trailing dot): the
	// name to match in the server's certificate, the MTA-STS policy, and
	// the TLSA base domain (RFC 7672 §2.2.2).
	Host string

	// Preference is the MX preference (lower first); 0 for an implicit
	// MX.
	Preference uint16

	// Canonical is Host after CNAMEs (outside RFC 5321 §5.1, which wants
	// none, but followed as every MTA does); Host if there were none.
	Canonical string

	// Addrs are the host's addresses: IPv6 first, then IPv4.
	Addrs []netip.Addr

	// Authentic is set when the address answers had the AD bit; only then
	// may TLSA records be looked up for the host (RFC 7672 §2.2.2).
	Authentic bool

	// Err says why Addrs is empty: an *Error, temporary or permanent.
	Err error
}

// LookupMX returns the mail exchangers for domain (RFC 5321 §5.1), with the
// addresses of each (AAAA and A queried in parallel for all hosts at once,
// so a cold lookup costs the MX round trip plus one). domain may be a
// U-label name; it is converted with IDNA (RFC 5891 §5).
//
// Errors, all [*Error]:
//   - ErrNullMX (permanent): the domain accepts no mail (RFC 7505). A
//     "." target among other MX records is ignored instead.
//   - ErrNXDomain (permanent): the domain does not exist.
//   - ErrNoMailHost: the domain has no MX and no address records
//     (permanent), or no MX host has an address (permanent if every host
//     failed permanently, else temporary). An MX target that is an IP
//     address (RFC 5321 §5.1 requires a domain name) counts as a failed
//     host.
//   - ErrServFail, ErrTimeout, ErrCNAMEChain, ... (temporary): queue and
//     retry (RFC 5321 §4.5.4.1).
//
// At most [Resolver.MaxHosts] hosts are considered, the most preferred
// first. A CNAME at domain is followed (RFC 5321 §5.1).
func (r *Resolver) LookupMX(ctx context.Context, domain string) (*MXResult, error) {
	name, err := normalizeOp("MX", domain)
	if err != nil {
		return nil, err
	}
	r.init()
	key := cacheKey{name, typeMXHosts}
	if v, ok := r.cache.get(key, time.Now()); ok {
		return v.(*MXResult).shuffled(), nil
	}
	set, err := r.query(ctx, name, dns.TypeMX)
	var (
		res     *MXResult
		expires time.Time
	)
	switch {
	case err == nil:
		res, expires, err = r.explicitMX(ctx, name, set)
	case set != nil && errors.Is(err, ErrNoRecords):
		res, expires, err = r.implicitMX(ctx, name, set)
	}
	if err != nil {
		return nil, err
	}
	r.cache.add(key, res, time.Now(), expires)
	return res.shuffled(), nil
}

// explicitMX builds the result for a domain with MX records. The expiry is
// zero when the result must not be cached.
func (r *Resolver) explicitMX(ctx context.Context, name string, set *rrset) (*MXResult, time.Time, error) {
	hosts := make([]NextHop, 0, len(set.rrs))
	null := true
	for _, rr := range set.rrs {
		mx := rr.(*dns.MX)
		if mx.Mx == "." {
			continue // RFC 7505 §3: a null MX must be alone; alone, it is one
		}
		null = false
		hop := NextHop{Host: strings.TrimSuffix(mx.Mx, "."), Preference: mx.Preference}
		if isIPLiteral(hop.Host) {
			hop.Err = newError("MX", name, ErrInvalidName, fmt.Errorf("MX target %s is an IP address, not a domain name", hop.Host))
		} else if host, err := normalize(hop.Host); err != nil {
			hop.Err = newError("MX", name, ErrInvalidName, fmt.Errorf("MX target %q: %w", hop.Host, err))
		} else {
			hop.Host = host
		}
		hop.Canonical = hop.Host
		if i := slices.IndexFunc(hosts, func(h NextHop) bool { return h.Host == hop.Host }); i >= 0 {
			hosts[i].Preference = min(hosts[i].Preference, hop.Preference)
			continue
		}
		hosts = append(hosts, hop)
	}
	if null {
		return nil, time.Time{}, newError("MX", name, ErrNullMX, nil)
	}
	// Random among equal preferences also decides which survive the cut.
	rand.Shuffle(len(hosts), func(i, j int) { hosts[i], hosts[j] = hosts[j], hosts[i] })
	slices.SortStableFunc(hosts, func(a, b NextHop) int { return cmp.Compare(a.Preference, b.Preference) })
	hosts = hosts[:min(len(hosts), r.maxHosts())]

	found := make([]addrs, len(hosts))
	var wg sync.WaitGroup
	for i := range hosts {
		if hosts[i].Err == nil {
			wg.Go(func() { found[i] = r.lookupAddrs(ctx, hosts[i].Host, true, true) })
		}
	}
	wg.Wait()

	expires, cacheable := set.expires, true
	var errs []error
	usable := false
	for i := range hosts {
		h := &hosts[i]
		if h.Err == nil {
			a := found[i]
			h.Canonical, h.Addrs, h.Authentic, h.Err = a.canonical, a.addrs, a.authentic, a.err
			expires = minExpiry(expires, a.expires)
			cacheable = cacheable && !a.expires.IsZero()
		}
		if h.Err != nil {
			errs = append(errs, h.Err)
		} else {
			usable = true
		}
	}
	if !usable {
		return nil, time.Time{}, noMailHost(name, errs)
	}
	if !cacheable {
		expires = time.Time{}
	}
	return &MXResult{Domain: name, Canonical: set.name, Hosts: hosts, Authentic: set.authentic}, expires, nil
}

// implicitMX builds the result for a domain without MX records: the domain
// itself, if it has addresses (RFC 5321 §5.1).
func (r *Resolver) implicitMX(ctx context.Context, name string, set *rrset) (*MXResult, time.Time, error) {
	a := r.lookupAddrs(ctx, set.name, true, true)
	if a.err != nil {
		return nil, time.Time{}, noMailHost(name, []error{a.err})
	}
	hop := NextHop{Host: set.name, Canonical: a.canonical, Addrs: a.addrs, Authentic: a.authentic}
	res := &MXResult{Domain: name, Canonical: set.name, Hosts: []NextHop{hop}, Implicit: true, Authentic: set.authentic}
	expires := minExpiry(set.expires, a.expires)
	if a.expires.IsZero() {
		expires = time.Time{}
	}
	return res, expires, nil
}

// noMailHost is the error for a domain none of whose hosts has an address:
// permanent only if every host failed permanently.
func noMailHost(name string, errs []error) error {
	perm := true
	for _, err := range errs {
		perm = perm && IsPermanent(err)
	}
	return &Error{Op: "MX", Name: name, Kind: ErrNoMailHost, Permanent: perm, Err: errors.Join(errs...)}
}

// shuffled returns a copy of res, its hosts in random order among equal
// preferences (RFC 5321 §5.1). res.Hosts is sorted by preference.
func (res *MXResult) shuffled() *MXResult {
	out := *res
	out.Hosts = slices.Clone(res.Hosts)
	h := out.Hosts
	for i := 0; i < len(h); {
		j := i + 1
		for j < len(h) && h[j].Preference == h[i].Preference {
			j++
		}
		for k := j - 1; k > i; k-- {
			n := i + rand.IntN(k-i+1)
			h[k], h[n] = h[n], h[k]
		}
		i = j
	}
	return &out
}
