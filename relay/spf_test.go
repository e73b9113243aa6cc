package relay_test

import (
	"context"
	"net/netip"
	"testing"

	"github.com/postyard/postyard/dnsmx"
	"github.com/postyard/postyard/dnsmx/dnstest"
	"github.com/postyard/postyard/relay"
)

const spfZone = `
pass.example.     TXT "v=spf1 ip4:192.0.2.0/24 -all"
fail.example.     TXT "v=spf1 ip4:198.51.100.1 -all"
softfail.example. TXT "v=spf1 ~all"
neutral.example.  TXT "v=spf1 ?all"
none.example.     TXT "just some text"
temp.example.     TXT "v=spf1 -all"
perm.example.     TXT "v=spf1 bogus:mechanism -all"
multi.example.    TXT "v=spf1 -all"
multi.example.    TXT "v=spf1 +all"
mx.example.       TXT "v=spf1 mx -all"
mx.example.       MX  10 mail.mx.example.
mail.mx.example.  A   192.0.2.25
implicit.example. TXT "v=spf1 mx -all"
implicit.example. A   192.0.2.1
inc.example.      TXT "v=spf1 include:pass.example -all"
loop.example.     TXT "v=spf1 include:loop.example -all"
many.example.     TXT "v=spf1 a:a1.example a:a2.example a:a3.example a:a4.example a:a5.example a:a6.example a:a7.example a:a8.example a:a9.example a:a10.example a:a11.example -all"
void.example.     TXT "v=spf1 a:nx1.example a:nx2.example a:nx3.example -all"
helo.example.     TXT "v=spf1 ip4:192.0.2.1 -all"
`

func TestSPFResults(t *testing.T) {
	srv := dnstest.NewServer(t, spfZone)
	srv.SetFault("temp.example", dnstest.ServFail)
	ip := netip.MustParseAddr("192.0.2.1")
	for _, tc := range []struct {
		from string
		ip   netip.Addr
		want relay.AuthValue
	}{
		{"a@pass.example", ip, relay.AuthPass},
		{"a@fail.example", ip, relay.AuthFail},
		{"a@softfail.example", ip, relay.AuthSoftFail},
		{"a@neutral.example", ip, relay.AuthNeutral},
		{"a@none.example", ip, relay.AuthNone},
		{"a@nx.example", ip, relay.AuthNone},
		{"a@temp.example", ip, relay.AuthTempError},
		{"a@perm.example", ip, relay.AuthPermError},
		{"a@multi.example", ip, relay.AuthPermError},
		{"a@mx.example", netip.MustParseAddr("192.0.2.25"), relay.AuthPass},
		{"a@mx.example", ip, relay.AuthFail},
		// RFC 7208 §5.4: no implicit MX for the mx mechanism.
		{"a@implicit.example", ip, relay.AuthFail},
		{"a@inc.example", ip, relay.AuthPass},
		{"a@loop.example", ip, relay.AuthPermError},
		// RFC 7208 §4.6.4: 10 DNS mechanisms, 2 void lookups.
		{"a@many.example", ip, relay.AuthPermError},
		{"a@void.example", ip, relay.AuthPermError},
	} {
		r := &dnsmx.Resolver{Nameservers: []string{srv.Addr}, Retries: -1}
		c := relay.CheckSPF(context.Background(), r, tc.ip, "helo.example", tc.from)
		if c.Result != tc.want {
			t.Errorf("%s from %s: %s (%v), want %s", tc.from, tc.ip, c.Result, c.Err, tc.want)
		}
		if c.Identity != "mailfrom" || c.Sender != tc.from {
			t.Errorf("%s: identity %q %q", tc.from, c.Identity, c.Sender)
		}
	}
	// Null reverse-path: the HELO identity (RFC 7208 §2.4).
	r := &dnsmx.Resolver{Nameservers: []string{srv.Addr}}
	c := relay.CheckSPF(context.Background(), r, ip, "helo.example", "")
	if c.Result != relay.AuthPass || c.Identity != "helo" || c.Domain != "helo.example" {
		t.Errorf("HELO check: %+v", c)
	}
}
