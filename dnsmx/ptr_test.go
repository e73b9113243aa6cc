package dnsmx_test

import (
	"context"
	"net/netip"
	"slices"
	"testing"

	"github.com/postyard/postyard/dnsmx"
	"github.com/postyard/postyard/dnsmx/dnstest"
)

// PTR names for IPv4 and IPv6, and FCrDNS: only names whose addresses
// include the IP count.
func TestLookupPTRAndFCrDNS(t *testing.T) {
	srv := dnstest.NewServer(t, `
1.2.0.192.in-addr.arpa. PTR mail.example.com.
1.2.0.192.in-addr.arpa. PTR liar.example.net.
1.2.0.192.in-addr.arpa. PTR gone.example.org.
mail.example.com. A 192.0.2.1
liar.example.net. A 198.51.100.1
1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa. PTR v6.example.com.
v6.example.com. AAAA 2001:db8::1
v6.example.com. A 192.0.2.1
`)
	r := newResolver(srv)
	ctx := context.Background()
	ip := netip.MustParseAddr("192.0.2.1")

	res, err := r.LookupPTR(ctx, ip)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(res.Names)
	if !slices.Equal(res.Names, []string{"gone.example.org", "liar.example.net", "mail.example.com"}) {
		t.Errorf("PTR names %v", res.Names)
	}
	names, err := dnsmx.LookupFCrDNS(ctx, r, ip)
	if err != nil || !slices.Equal(names, []string{"mail.example.com"}) {
		t.Errorf("FCrDNS %v, %v", names, err)
	}
	// An IPv4-mapped IPv6 address is the IPv4 address.
	if names, err := dnsmx.LookupFCrDNS(ctx, r, netip.MustParseAddr("::ffff:192.0.2.1")); err != nil || len(names) != 1 {
		t.Errorf("mapped FCrDNS %v, %v", names, err)
	}

	v6 := netip.MustParseAddr("2001:db8::1")
	names, err = dnsmx.LookupFCrDNS(ctx, r, v6)
	if err != nil || !slices.Equal(names, []string{"v6.example.com"}) {
		t.Errorf("IPv6 FCrDNS %v, %v", names, err)
	}

	none := netip.MustParseAddr("192.0.2.99")
	_, err = r.LookupPTR(ctx, none)
	wantError(t, err, dnsmx.ErrNXDomain, true)
	if names, err := dnsmx.LookupFCrDNS(ctx, r, none); err != nil || len(names) != 0 {
		t.Errorf("no PTR: FCrDNS %v, %v", names, err)
	}

	srv.SetFault("99.2.0.192.in-addr.arpa", dnstest.ServFail)
	r = newResolver(srv)
	if _, err := dnsmx.LookupFCrDNS(ctx, r, none); err == nil || dnsmx.IsPermanent(err) {
		t.Errorf("SERVFAIL: FCrDNS error %v, want temporary", err)
	}
	_, err = r.LookupPTR(ctx, netip.Addr{})
	wantError(t, err, dnsmx.ErrInvalidName, true)
}

// RFC 5782: the reversed address under the zone, listed if it has an A
// record in 127.0.0.0/8.
func TestIsListed(t *testing.T) {
	srv := dnstest.NewServer(t, `
2.0.0.127.bl.example.  A 127.0.0.2
2.0.0.127.bl.example.  TXT "test entry"
5.2.0.192.bl.example.  A 127.0.0.4
6.2.0.192.bl.example.  A 192.0.2.200
1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.bl.example. A 127.0.0.2
`)
	srv.SetFault("7.2.0.192.bl.example", dnstest.ServFail)
	r := newResolver(srv)
	ctx := context.Background()
	for ip, want := range map[string]bool{
		"127.0.0.2":   true,
		"192.0.2.5":   true,
		"192.0.2.6":   false, // outside 127/8: a wildcard, not a listing
		"192.0.2.8":   false,
		"2001:db8::1": true,
		"2001:db8::2": false,
	} {
		got, err := dnsmx.IsListed(ctx, r, netip.MustParseAddr(ip), "bl.example.")
		if err != nil || got != want {
			t.Errorf("%s: %v, %v; want %v", ip, got, err, want)
		}
	}
	listed, err := dnsmx.IsListed(ctx, r, netip.MustParseAddr("192.0.2.7"), "bl.example")
	if listed || err == nil || dnsmx.IsPermanent(err) {
		t.Errorf("SERVFAIL: %v, %v", listed, err)
	}
	_, err = dnsmx.IsListed(ctx, r, netip.MustParseAddr("192.0.2.1"), "bad zone")
	wantError(t, err, dnsmx.ErrInvalidName, true)
}
