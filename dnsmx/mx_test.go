package dnsmx_test

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/postyard/postyard/dnsmx"
	"github.com/postyard/postyard/dnsmx/dnstest"
)

func hostNames(res *dnsmx.MXResult) []string {
	var s []string
	for _, h := range res.Hosts {
		s = append(s, h.Host)
	}
	return s
}

// RFC 5321 §5.1: preference order, random among equal preferences, and
// the addresses of each host, IPv6 first.
func TestLookupMXOrder(t *testing.T) {
	srv := dnstest.NewServer(t, `
example.com.     MX 30 mx3.example.com.
example.com.     MX 10 mx1.example.com.
example.com.     MX 20 mx2a.example.com.
example.com.     MX 20 mx2b.example.com.
mx1.example.com.  A    192.0.2.1
mx1.example.com.  AAAA 2001:db8::1
mx2a.example.com. A    192.0.2.2
mx2b.example.com. A    192.0.2.3
mx3.example.com.  A    192.0.2.4
`)
	r := newResolver(srv)
	orders := map[string]bool{}
	for range 100 {
		res, err := r.LookupMX(context.Background(), "example.com")
		if err != nil {
			t.Fatal(err)
		}
		hosts := hostNames(res)
		if hosts[0] != "mx1.example.com" || hosts[3] != "mx3.example.com" {
			t.Fatalf("order %v", hosts)
		}
		orders[strings.Join(hosts[1:3], " ")] = true
		if res.Implicit || res.Domain != "example.com" || res.Canonical != "example.com" {
			t.Fatalf("result %+v", res)
		}
		want := []netip.Addr{netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("192.0.2.1")}
		if h := res.Hosts[0]; !slices.Equal(h.Addrs, want) || h.Preference != 10 || h.Err != nil || h.Canonical != h.Host {
			t.Fatalf("first hop %+v", h)
		}
	}
	if !orders["mx2a.example.com mx2b.example.com"] || !orders["mx2b.example.com mx2a.example.com"] {
		t.Errorf("equal preferences always in one order: %v", orders)
	}
	if n := srv.Count("example.com", "MX"); n != 1 {
		t.Errorf("%d MX queries for 100 lookups, want 1 (cached)", n)
	}
}

// RFC 7505: a null MX is a permanent "accepts no mail"; among other MX
// records it is ignored.
func TestLookupMXNull(t *testing.T) {
	srv := dnstest.NewServer(t, `
null.example.   MX 0 .
mixed.example.  MX 0 .
mixed.example.  MX 10 mx.mixed.example.
mx.mixed.example. A 192.0.2.1
null.example.   A 192.0.2.9
`)
	r := newResolver(srv)
	_, err := r.LookupMX(context.Background(), "null.example")
	wantError(t, err, dnsmx.ErrNullMX, true)

	res, err := r.LookupMX(context.Background(), "mixed.example")
	if err != nil {
		t.Fatal(err)
	}
	if got := hostNames(res); !slices.Equal(got, []string{"mx.mixed.example"}) {
		t.Errorf("hosts %v", got)
	}
}

// RFC 5321 §5.1: no MX but an address is an implicit MX; no MX and no
// address is permanent; NXDOMAIN is permanent.
func TestLookupMXImplicitAndNoData(t *testing.T) {
	srv := dnstest.NewServer(t, `
implicit.example. AAAA 2001:db8::25
nodata.example.   TXT "no mail here"
`)
	r := newResolver(srv)
	res, err := r.LookupMX(context.Background(), "implicit.example")
	if err != nil {
		t.Fatal(err)
	}
	if !res.Implicit || len(res.Hosts) != 1 || res.Hosts[0].Host != "implicit.example" || res.Hosts[0].Preference != 0 ||
		!slices.Equal(res.Hosts[0].Addrs, []netip.Addr{netip.MustParseAddr("2001:db8::25")}) {
		t.Errorf("implicit MX result %+v", res)
	}

	_, err = r.LookupMX(context.Background(), "nodata.example")
	wantError(t, err, dnsmx.ErrNoMailHost, true)
	wantError(t, err, dnsmx.ErrNoRecords, true)

	_, err = r.LookupMX(context.Background(), "nxdomain.example")
	wantError(t, err, dnsmx.ErrNXDomain, true)
}

// SERVFAIL and timeouts are temporary, for the MX query and for the hosts.
func TestLookupMXTemporary(t *testing.T) {
	srv := dnstest.NewServer(t, `
broken.example.  MX 10 mx.broken.example.
mx.broken.example. A 192.0.2.1
hostfail.example. MX 10 mx.hostfail.example.
hostfail.example. MX 20 gone.hostfail.example.
mx.hostfail.example. A 192.0.2.2
slow.example. MX 10 mx.slow.example.
`)
	srv.SetFault("broken.example", dnstest.ServFail)
	srv.SetFault("mx.hostfail.example", dnstest.ServFail)
	srv.SetFault("mx.slow.example", dnstest.Drop)
	r := quickResolver(srv)

	_, err := r.LookupMX(context.Background(), "broken.example")
	wantError(t, err, dnsmx.ErrServFail, false)

	// One host temporarily failing, the other not existing: temporary.
	_, err = r.LookupMX(context.Background(), "hostfail.example")
	wantError(t, err, dnsmx.ErrNoMailHost, false)
	wantError(t, err, dnsmx.ErrServFail, false)

	_, err = r.LookupMX(context.Background(), "slow.example")
	wantError(t, err, dnsmx.ErrNoMailHost, false)
	wantError(t, err, dnsmx.ErrTimeout, false)

	// Temporary failures are not cached: fixed, it works.
	srv.SetFault("broken.example", dnstest.NoFault)
	if _, err := r.LookupMX(context.Background(), "broken.example"); err != nil {
		t.Fatal(err)
	}
}

// Hosts without addresses stay in the result with Err; when none has an
// address the error is permanent only if every host failed permanently.
func TestLookupMXHostErrors(t *testing.T) {
	srv := dnstest.NewServer(t, `
partial.example. MX 10 gone.partial.example.
partial.example. MX 20 mx.partial.example.
partial.example. MX 30 192.0.2.7.
mx.partial.example. A 192.0.2.1
dead.example. MX 10 gone.dead.example.
dead.example. MX 20 192.0.2.8.
literal.example. MX 10 [192.0.2.9].
`)
	r := newResolver(srv)
	res, err := r.LookupMX(context.Background(), "partial.example")
	if err != nil {
		t.Fatal(err)
	}
	if got := hostNames(res); !slices.Equal(got, []string{"gone.partial.example", "mx.partial.example", "192.0.2.7"}) {
		t.Fatalf("hosts %v", got)
	}
	wantError(t, res.Hosts[0].Err, dnsmx.ErrNXDomain, true)
	if res.Hosts[1].Err != nil || len(res.Hosts[1].Addrs) != 1 {
		t.Errorf("good host %+v", res.Hosts[1])
	}
	wantError(t, res.Hosts[2].Err, dnsmx.ErrInvalidName, true) // an IP address is not an MX target
	if srv.Count("192.0.2.7", "A") != 0 {
		t.Error("IP-address MX target was looked up")
	}

	_, err = r.LookupMX(context.Background(), "dead.example")
	wantError(t, err, dnsmx.ErrNoMailHost, true)

	_, err = r.LookupMX(context.Background(), "literal.example")
	wantError(t, err, dnsmx.ErrNoMailHost, true)
}

// A CNAME at the domain is followed (RFC 5321 §5.1), whether the server
// follows it or answers with the alias alone; so is a CNAME MX target.
func TestLookupMXCNAME(t *testing.T) {
	zone := `
alias.example.   CNAME real.example.
real.example.    MX 10 mx.real.example.
mx.real.example. CNAME host.provider.example.
host.provider.example. A 192.0.2.1
implicit-alias.example. CNAME web.example.
web.example. A 192.0.2.80
`
	for _, follow := range []bool{true, false} {
		t.Run(fmt.Sprint("follow=", follow), func(t *testing.T) {
			srv := dnstest.NewServer(t, zone)
			srv.SetFollowCNAME(follow)
			r := newResolver(srv)
			res, err := r.LookupMX(context.Background(), "alias.example")
			if err != nil {
				t.Fatal(err)
			}
			h := res.Hosts[0]
			if res.Canonical != "real.example" || h.Host != "mx.real.example" || h.Canonical != "host.provider.example" ||
				len(h.Addrs) != 1 || h.Addrs[0] != netip.MustParseAddr("192.0.2.1") {
				t.Errorf("result %+v, hop %+v", res, h)
			}
			res, err = r.LookupMX(context.Background(), "implicit-alias.example")
			if err != nil {
				t.Fatal(err)
			}
			if !res.Implicit || res.Hosts[0].Host != "web.example" {
				t.Errorf("implicit MX through CNAME: %+v", res)
			}
		})
	}
}

// CNAME loops and chains longer than MaxCNAME are temporary errors; a chain
// of exactly MaxCNAME works.
func TestLookupMXCNAMEChains(t *testing.T) {
	var zone strings.Builder
	zone.WriteString("loop1.example. CNAME loop2.example.\nloop2.example. CNAME loop1.example.\n")
	zone.WriteString("self.example. CNAME self.example.\n")
	for i := range 9 {
		fmt.Fprintf(&zone, "c%d.example. CNAME c%d.example.\n", i, i+1)
	}
	zone.WriteString("c9.example. MX 10 mx.example.\nmx.example. A 192.0.2.1\n")
	for _, follow := range []bool{true, false} {
		t.Run(fmt.Sprint("follow=", follow), func(t *testing.T) {
			srv := dnstest.NewServer(t, zone.String())
			srv.SetFollowCNAME(follow)
			r := newResolver(srv)
			for _, name := range []string{"loop1.example", "self.example", "c0.example"} {
				_, err := r.LookupMX(context.Background(), name)
				wantError(t, err, dnsmx.ErrCNAMEChain, false)
			}
			if _, err := r.LookupMX(context.Background(), "c1.example"); err != nil { // 8 CNAMEs
				t.Fatal(err)
			}
			r = newResolver(srv)
			r.MaxCNAME = -1
			_, err := r.LookupMX(context.Background(), "c8.example")
			wantError(t, err, dnsmx.ErrCNAMEChain, false)
		})
	}
}

// U-label domains are looked up as A-labels; names are case-insensitive.
func TestLookupMXIDN(t *testing.T) {
	srv := dnstest.NewServer(t, `
xn--bcher-kva.example. MX 10 mx.xn--bcher-kva.example.
mx.xn--bcher-kva.example. A 192.0.2.1
`)
	r := newResolver(srv)
	for _, name := range []string{"bücher.example", "BÜCHER.example.", "xn--bcher-kva.example", "XN--BCHER-KVA.EXAMPLE"} {
		res, err := r.LookupMX(context.Background(), name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if res.Domain != "xn--bcher-kva.example" || res.Hosts[0].Host != "mx.xn--bcher-kva.example" {
			t.Errorf("%s: %+v", name, res)
		}
	}
	for _, name := range []string{"", ".", "a..b", "exa mple.com", strings.Repeat("a", 64) + ".example", "-\u00ad\u200d.example"} {
		_, err := r.LookupMX(context.Background(), name)
		wantError(t, err, dnsmx.ErrInvalidName, true)
	}
}

// The AD bit: MXResult.Authentic for the MX answer, NextHop.Authentic for
// each host's addresses.
func TestLookupMXAuthentic(t *testing.T) {
	srv := dnstest.NewServer(t, `
signed.example.    MX 10 mx.signed.example.
signed.example.    MX 20 mx.unsigned.example.
mx.signed.example. A 192.0.2.1
mx.unsigned.example. A 192.0.2.2
unsigned.example.  MX 10 mx.signed.example.
`)
	srv.SetSecure("signed.example", true)
	r := newResolver(srv)
	res, err := r.LookupMX(context.Background(), "signed.example")
	if err != nil {
		t.Fatal(err)
	}
	if !res.Authentic || !res.Hosts[0].Authentic || res.Hosts[1].Authentic {
		t.Errorf("authentic: MX %v, hosts %v %v", res.Authentic, res.Hosts[0].Authentic, res.Hosts[1].Authentic)
	}
	res, err = r.LookupMX(context.Background(), "unsigned.example")
	if err != nil {
		t.Fatal(err)
	}
	if res.Authentic || !res.Hosts[0].Authentic {
		t.Errorf("authentic: MX %v, host %v", res.Authentic, res.Hosts[0].Authentic)
	}
}

// MaxHosts bounds the hosts considered and resolved, the most preferred
// first.
func TestLookupMXMaxHosts(t *testing.T) {
	var zone strings.Builder
	for i := range 15 {
		fmt.Fprintf(&zone, "many.example. MX %d mx%d.many.example.\nmx%d.many.example. A 192.0.2.%d\n", i, i, i, i+1)
	}
	srv := dnstest.NewServer(t, zone.String())
	r := newResolver(srv)
	r.MaxHosts = 3
	res, err := r.LookupMX(context.Background(), "many.example")
	if err != nil {
		t.Fatal(err)
	}
	if got := hostNames(res); !slices.Equal(got, []string{"mx0.many.example", "mx1.many.example", "mx2.many.example"}) {
		t.Errorf("hosts %v", got)
	}
	if n := srv.Count("mx3.many.example", ""); n != 0 {
		t.Errorf("host beyond MaxHosts queried %d times", n)
	}

	r = newResolver(srv)
	r.MaxHosts = -1
	res, err = r.LookupMX(context.Background(), "many.example")
	if err != nil || len(res.Hosts) != 15 {
		t.Fatalf("unlimited: %d hosts, %v", len(res.Hosts), err)
	}
}

// A cold lookup sends the address queries of all hosts at once: the
// server holds every answer until all 2×N AAAA and A queries have arrived,
// which never happens if they are sent one after another.
func TestLookupMXAddressQueriesParallel(t *testing.T) {
	srv := dnstest.NewServer(t, `
par.example. MX 10 a.par.example.
par.example. MX 20 b.par.example.
par.example. MX 30 c.par.example.
a.par.example. A 192.0.2.1
b.par.example. A 192.0.2.2
c.par.example. AAAA 2001:db8::3
`)
	const want = 6
	var mu sync.Mutex
	arrived := 0
	all := make(chan struct{})
	srv.SetHook(func(q dnstest.Query) {
		if q.Type != "A" && q.Type != "AAAA" {
			return
		}
		mu.Lock()
		arrived++
		if arrived == want {
			close(all)
		}
		mu.Unlock()
		<-all
	})
	r := newResolver(srv) // 2s timeout: a sequential resolver would fail here
	r.Retries = -1
	res, err := r.LookupMX(context.Background(), "par.example")
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range res.Hosts {
		if len(h.Addrs) != 1 {
			t.Errorf("hop %+v", h)
		}
	}
	if n := len(srv.Queries()); n != 1+want {
		t.Errorf("%d queries, want %d", n, 1+want)
	}
}
