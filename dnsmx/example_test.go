package dnsmx_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/netip"

	"github.com/postyard/postyard/dnsmx"
	"github.com/postyard/postyard/dnsmx/dnstest"
)

func ExampleResolver_LookupMX() {
	srv, err := dnstest.Start(`
example.com.      MX 10 mx1.example.com.
example.com.      MX 20 mx2.example.com.
mx1.example.com.  A    192.0.2.1
mx1.example.com.  AAAA 2001:db8::1
mx2.example.com.  A    192.0.2.2
nomail.example.   MX 0 .
`)
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	r := &dnsmx.Resolver{Nameservers: []string{srv.Addr}}
	ctx := context.Background()

	res, err := r.LookupMX(ctx, "example.com")
	if err != nil {
		log.Fatal(err)
	}
	for _, h := range res.Hosts {
		fmt.Println(h.Preference, h.Host, h.Addrs)
	}

	for _, domain := range []string{"nomail.example", "nonexistent.example"} {
		_, err = r.LookupMX(ctx, domain)
		fmt.Println(errors.Is(err, dnsmx.ErrNullMX), dnsmx.IsPermanent(err), err)
	}
	// Output:
	// 10 mx1.example.com [2001:db8::1 192.0.2.1]
	// 20 mx2.example.com [192.0.2.2]
	// true true dnsmx: MX nomail.example: domain accepts no mail (null MX)
	// false true dnsmx: MX nonexistent.example: domain does not exist
}

func ExampleResolver_LookupTLSA() {
	srv, err := dnstest.Start(`
mx.example.com.           A    192.0.2.1
_25._tcp.mx.example.com.  TLSA 3 1 1 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
mx.example.net.           A    192.0.2.2
_25._tcp.mx.example.net.  TLSA 3 1 1 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
`)
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	srv.SetSecure("example.com", true) // a DNSSEC-signed zone: answers get the AD bit
	r := &dnsmx.Resolver{Nameservers: []string{srv.Addr}}

	for _, host := range []string{"mx.example.com", "mx.example.net"} {
		res, err := r.LookupTLSA(context.Background(), host, 25)
		switch {
		case err == nil:
			fmt.Println(host, "DANE:", len(res.Usable()), "usable record(s)")
		case errors.Is(err, dnsmx.ErrInsecure), errors.Is(err, dnsmx.ErrNoRecords):
			fmt.Println(host, "no DANE:", err)
		default:
			fmt.Println(host, "try later:", err)
		}
	}
	// Output:
	// mx.example.com DANE: 1 usable record(s)
	// mx.example.net no DANE: dnsmx: TLSA _25._tcp.mx.example.net: answer not DNSSEC-authenticated
}

func ExampleParseSTSPolicy() {
	p, err := dnsmx.ParseSTSPolicy([]byte("version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmax_age: 604800\r\n"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(p.Mode, p.MaxAge)
	for _, host := range []string{"mail.example.com", "mx1.example.net", "a.b.example.net"} {
		fmt.Println(host, p.Match(host))
	}
	// Output:
	// enforce 168h0m0s
	// mail.example.com true
	// mx1.example.net true
	// a.b.example.net false
}

func ExampleIsListed() {
	srv, err := dnstest.Start(`
2.0.0.127.zen.example.  A 127.0.0.2
`)
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	r := &dnsmx.Resolver{Nameservers: []string{srv.Addr}}
	for _, ip := range []string{"127.0.0.2", "192.0.2.1"} {
		listed, err := dnsmx.IsListed(context.Background(), r, netip.MustParseAddr(ip), "zen.example")
		fmt.Println(ip, listed, err)
	}
	// Output:
	// 127.0.0.2 true <nil>
	// 192.0.2.1 false <nil>
}

func ExampleSTS_Lookup() {
	srv, err := dnstest.Start(`_mta-sts.example.com. TXT "v=STSv1; id=20240101T000000;"`)
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	sts := &dnsmx.STS{
		Resolver: &dnsmx.Resolver{Nameservers: []string{srv.Addr}},
		// In production the zero Fetcher fetches over HTTPS.
		Fetcher: dnsmx.PolicyFetcherFunc(func(ctx context.Context, domain string) ([]byte, error) {
			return []byte("version: STSv1\nmode: enforce\nmx: *.example.com\nmax_age: 86400\n"), nil
		}),
	}
	p, err := sts.Lookup(context.Background(), "example.com")
	if err != nil {
		log.Fatal(err) // per RFC 8461 §5: deliver as without MTA-STS
	}
	fmt.Println(p.ID, p.Mode, p.Match("mx1.example.com"), p.Match("mx.attacker.example"))
	// Output:
	// 20240101T000000 enforce true false
}
