package dnsmx

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"sync"

	"github.com/miekg/dns"
)

// MaxPTRNames bounds the names LookupPTR returns and LookupFCrDNS checks
// (RFC 7208 §4.6.4 uses the same limit for the "ptr" mechanism).
const MaxPTRNames = 10

// PTRResult is the answer to [Resolver.LookupPTR]. Results may be shared
// with other callers: do not modify Names.
type PTRResult struct {
	Addr      netip.Addr
	Names     []string // at most MaxPTRNames, lower case, no trailing dot
	Authentic bool     // the answer and any CNAMEs had the AD bit
}

// LookupPTR returns the names ip maps back to, from in-addr.arpa or
// ip6.arpa (RFC 1035 §3.5, RFC 3596 §2.5), for Received header fields
// (RFC 5321 §4.4) and FCrDNS checks ([LookupFCrDNS]). Targets that are not
// valid names are dropped.
func (r *Resolver) LookupPTR(ctx context.Context, ip netip.Addr) (*PTRResult, error) {
	if !ip.IsValid() {
		return nil, newError("PTR", "", ErrInvalidName, errors.New("invalid IP address"))
	}
	set, err := r.query(ctx, reverseName(ip), dns.TypePTR)
	if err != nil {
		return nil, err
	}
	res := &PTRResult{Addr: ip, Authentic: set.authentic}
	for _, rr := range set.rrs {
		if len(res.Names) == MaxPTRNames {
			break
		}
		if n, err := normalize(rr.(*dns.PTR).Ptr); err == nil {
			res.Names = append(res.Names, n)
		}
	}
	return res, nil
}

// LookupFCrDNS returns the forward-confirmed reverse DNS names of ip: the
// PTR names (at most MaxPTRNames) whose own A or AAAA records include ip.
// An empty result with a nil error means ip has none; the error is set only
// when that cannot be told (a temporary failure of the PTR query, or of a
// forward query when no name was confirmed).
func LookupFCrDNS(ctx context.Context, l Lookuper, ip netip.Addr) ([]string, error) {
	ptr, err := l.LookupPTR(ctx, ip)
	if err != nil {
		if isNegative(err) {
			return nil, nil
		}
		return nil, err
	}
	network := "ip6"
	if ip.Unmap().Is4() {
		network = "ip4"
	}
	ok := make([]bool, len(ptr.Names))
	errs := make([]error, len(ptr.Names))
	var wg sync.WaitGroup
	for i, name := range ptr.Names {
		wg.Go(func() {
			res, err := l.LookupIP(ctx, network, name)
			if err != nil {
				errs[i] = err
				return
			}
			for _, a := range res.Addrs {
				if a == ip.Unmap() {
					ok[i] = true
				}
			}
		})
	}
	wg.Wait()
	var names []string
	var temp error
	for i, name := range ptr.Names {
		if ok[i] {
			names = append(names, name)
		} else if errs[i] != nil && !IsPermanent(errs[i]) {
			temp = errs[i]
		}
	}
	if len(names) == 0 && temp != nil {
		return nil, temp
	}
	return names, nil
}

// IsListed reports whether ip is listed in the DNS blocklist zone
// ("zen.example.org"): whether the name of the reversed address under zone
// (RFC 5782 §2.1, §2.4 for IPv6) has an A record in 127.0.0.0/8 (§2.3).
// A-records elsewhere (a wildcarded or hijacked zone) do not count.
// NXDOMAIN or no records means not listed; a temporary failure is returned
// as the error, with false.
func IsListed(ctx context.Context, l Lookuper, ip netip.Addr, zone string) (bool, error) {
	if !ip.IsValid() {
		return false, newError("DNSBL", zone, ErrInvalidName, errors.New("invalid IP address"))
	}
	res, err := l.LookupIP(ctx, "ip4", reverseLabels(ip)+"."+strings.TrimSuffix(zone, "."))
	if err != nil {
		if isNegative(err) {
			return false, nil
		}
		return false, err
	}
	loopback := netip.PrefixFrom(netip.AddrFrom4([4]byte{127}), 8)
	for _, a := range res.Addrs {
		if loopback.Contains(a) {
			return true, nil
		}
	}
	return false, nil
}

// isNegative reports whether err is a negative answer: NXDOMAIN or NODATA.
func isNegative(err error) bool {
	return errors.Is(err, ErrNXDomain) || errors.Is(err, ErrNoRecords)
}
