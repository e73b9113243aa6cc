package dnstest_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/postyard/postyard/dnsmx"
	"github.com/postyard/postyard/dnsmx/dnstest"
)

// A zone with an MX record, served on loopback and resolved with
// dnsmx. A test would use NewServer(t, zone), which closes the server
// when the test ends.
func Example() {
	srv, err := dnstest.Start(`
$TTL 300
example.org.       MX   10 mail.example.org.
mail.example.org.  A    127.0.0.1
`)
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	r := &dnsmx.Resolver{Nameservers: []string{srv.Addr}}
	for range 2 { // the second lookup is answered from the Resolver's cache
		res, err := r.LookupMX(context.Background(), "example.org")
		if err != nil {
			log.Fatal(err)
		}
		for _, h := range res.Hosts {
			fmt.Println(h.Preference, h.Host, h.Addrs)
		}
	}
	fmt.Println("MX queries:", srv.Count("example.org", "MX"), "address queries:", srv.Count("mail.example.org", ""))
	// Output:
	// 10 mail.example.org [127.0.0.1]
	// 10 mail.example.org [127.0.0.1]
	// MX queries: 1 address queries: 2
}

// Faults make the server misbehave for one name, to test how callers
// handle temporary DNS failures and truncated answers.
func ExampleServer_SetFault() {
	srv, err := dnstest.Start(`
example.org.       MX   10 mail.example.org.
mail.example.org.  A    127.0.0.1
example.net.       MX   10 mail.example.net.
mail.example.net.  A    127.0.0.2
`)
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	srv.SetFault("example.org", dnstest.ServFail)
	srv.SetFault("example.net", dnstest.Truncate) // the full answer comes over TCP

	r := &dnsmx.Resolver{Nameservers: []string{srv.Addr}, Retries: -1} // no second round after the SERVFAIL
	for _, domain := range []string{"example.org", "example.net"} {
		res, err := r.LookupMX(context.Background(), domain)
		if err != nil {
			fmt.Println(domain, "SERVFAIL:", errors.Is(err, dnsmx.ErrServFail), "temporary:", !dnsmx.IsPermanent(err))
			continue
		}
		fmt.Println(domain, res.Hosts[0].Host, res.Hosts[0].Addrs)
	}
	for _, q := range srv.Queries() {
		if q.Type == "MX" {
			fmt.Println("query:", q.Net, q.Type, q.Name)
		}
	}
	// Output:
	// example.org SERVFAIL: true temporary: true
	// example.net mail.example.net [127.0.0.2]
	// query: udp MX example.org
	// query: udp MX example.net
	// query: tcp MX example.net
}
