package relay

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"time"

	"blitiri.com.ar/go/spf"

	"github.com/postyard/postyard/dnsmx"
)

// DefaultSPFTimeout bounds one SPF evaluation: RFC 7208 §4.6.4 asks for at
// least 20 seconds.
const DefaultSPFTimeout = 20 * time.Second

// CheckSPF evaluates check_host() (RFC 7208 §4) for a client at ip that
// said HELO helo and MAIL FROM from, with DNS answered by l. With a null
// reverse-path, the HELO identity is checked instead (§2.4). The
// evaluation is bounded by ctx, by the 10 DNS-querying mechanisms and the
// 2 void lookups of §4.6.4, and by l's own limits (timeouts, CNAME chains,
// MX host count: with a [dnsmx.Resolver] whose MaxHosts is at most 10, a
// domain with more than 10 MX records is cut to 10 rather than a
// permerror).
func CheckSPF(ctx context.Context, l dnsmx.Lookuper, ip netip.Addr, helo, from string) SPFCheck {
	c := SPFCheck{Identity: "mailfrom", Sender: from}
	domain := ""
	if i := strings.LastIndexByte(from, '@'); i >= 0 {
		domain = from[i+1:]
	}
	if from == "" || domain == "" {
		// RFC 7208 §2.4: check "postmaster@" + the HELO name.
		c.Identity, c.Sender, domain = "helo", helo, helo
		from = "postmaster@" + helo
	}
	c.Domain = strings.TrimSuffix(strings.ToLower(domain), ".")
	if c.Domain == "" || !ip.IsValid() {
		c.Result = AuthNone // no identity to check (RFC 7208 §4.3)
		return c
	}
	res, err := spf.CheckHostWithSender(net.IP(ip.Unmap().AsSlice()), helo, from,
		spf.WithContext(ctx), spf.WithResolver(&spfResolver{l}))
	c.Result, c.Err = AuthValue(res), err
	if c.Result == AuthPass || errors.Is(err, spf.ErrNoResult) {
		c.Err = nil
	}
	return c
}

// spfResolver adapts a dnsmx.Lookuper to what the SPF library asks for,
// turning dnsmx errors into the *net.DNSError values it classifies:
// NXDOMAIN and NODATA are "not found" (a void lookup, RFC 7208 §4.6.4),
// temporary failures "temporary" (temperror), anything else permanent
// (permerror).
type spfResolver struct{ l dnsmx.Lookuper }

func (r *spfResolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	res, err := r.l.LookupTXT(ctx, name)
	if err != nil {
		return nil, netDNSError(name, err)
	}
	return res.Records, nil
}

// LookupMX returns the MX targets of name. RFC 7208 §5.4: no implicit MX,
// so a domain without MX records has none here; a null MX (RFC 7505) has
// one target that has no addresses.
func (r *spfResolver) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	res, err := r.l.LookupMX(ctx, name)
	switch {
	case errors.Is(err, dnsmx.ErrNullMX):
		return []*net.MX{{Host: "."}}, nil
	case err != nil:
		return nil, netDNSError(name, err)
	case res.Implicit:
		return nil, &net.DNSError{Err: "no MX records", Name: name, IsNotFound: true}
	}
	mxs := make([]*net.MX, 0, len(res.Hosts))
	for _, h := range res.Hosts {
		mxs = append(mxs, &net.MX{Host: h.Host, Pref: h.Preference})
	}
	return mxs, nil
}

func (r *spfResolver) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	if host == "." || host == "" {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	res, err := r.l.LookupIP(ctx, "ip", host)
	if err != nil {
		return nil, netDNSError(host, err)
	}
	out := make([]net.IPAddr, 0, len(res.Addrs))
	for _, a := range res.Addrs {
		out = append(out, net.IPAddr{IP: net.IP(a.Unmap().AsSlice()), Zone: a.Zone()})
	}
	return out, nil
}

func (r *spfResolver) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return nil, &net.DNSError{Err: "invalid address", Name: addr}
	}
	res, err := r.l.LookupPTR(ctx, ip)
	if err != nil {
		return nil, netDNSError(addr, err)
	}
	names := make([]string, len(res.Names))
	for i, n := range res.Names {
		names[i] = n + "."
	}
	return names, nil
}

// netDNSError turns a dnsmx error into the *net.DNSError the SPF and DKIM
// libraries classify with Temporary() and IsNotFound.
func netDNSError(name string, err error) error {
	e := &net.DNSError{Err: err.Error(), Name: name}
	switch {
	case errors.Is(err, dnsmx.ErrNXDomain), errors.Is(err, dnsmx.ErrNoRecords):
		e.IsNotFound = true
	case errors.Is(err, dnsmx.ErrNoMailHost) && dnsmx.IsPermanent(err):
		e.IsNotFound = true // MX hosts without addresses match nothing
	case errors.Is(err, dnsmx.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		e.IsTimeout, e.IsTemporary = true, true
	case !dnsmx.IsPermanent(err):
		e.IsTemporary = true
	}
	return e
}
