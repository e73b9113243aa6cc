package dnstest_test

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/postyard/postyard/dnsmx/dnstest"
)

func exchange(t *testing.T, srv *dnstest.Server, network, name string, qtype uint16, edit func(*dns.Msg)) *dns.Msg {
	t.Helper()
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(name), qtype)
	if edit != nil {
		edit(q)
	}
	c := &dns.Client{Net: network, Timeout: 2 * time.Second}
	resp, _, err := c.Exchange(q, srv.Addr)
	if err != nil {
		t.Fatalf("%s %s over %s: %v", name, dns.TypeToString[qtype], network, err)
	}
	return resp
}

// The server answers like a recursive resolver: records, CNAMEs followed,
// NXDOMAIN and NODATA (with an empty non-terminal) with a SOA.
func TestAnswers(t *testing.T) {
	srv := dnstest.NewServer(t, `
$ORIGIN example.com.
@        300 MX 10 mx
mx           A  192.0.2.1
alias        CNAME mx
a.b.c        TXT "deep"
`)
	resp := exchange(t, srv, "udp", "example.com", dns.TypeMX, nil)
	if len(resp.Answer) != 1 || resp.Answer[0].(*dns.MX).Mx != "mx.example.com." || resp.Answer[0].Header().Ttl != 300 {
		t.Errorf("MX answer %v", resp.Answer)
	}
	resp = exchange(t, srv, "tcp", "ALIAS.example.com", dns.TypeA, nil)
	if len(resp.Answer) != 2 || resp.Answer[1].(*dns.A).A.String() != "192.0.2.1" || resp.Answer[1].Header().Ttl != 300 {
		t.Errorf("CNAME answer %v", resp.Answer)
	}
	for name, rcode := range map[string]int{
		"mx.example.com":    dns.RcodeSuccess, // NODATA
		"b.c.example.com":   dns.RcodeSuccess, // empty non-terminal
		"nx.example.com":    dns.RcodeNameError,
		"c.b.a.example.com": dns.RcodeNameError,
		"example.org":       dns.RcodeNameError,
	} {
		resp := exchange(t, srv, "udp", name, dns.TypeMX, nil)
		if resp.Rcode != rcode || len(resp.Answer) != 0 || len(resp.Ns) != 1 || resp.Ns[0].Header().Rrtype != dns.TypeSOA {
			t.Errorf("%s: rcode %s, answer %v, authority %v", name, dns.RcodeToString[resp.Rcode], resp.Answer, resp.Ns)
		}
	}
	srv.SetFollowCNAME(false)
	resp = exchange(t, srv, "udp", "alias.example.com", dns.TypeA, nil)
	if len(resp.Answer) != 1 || len(resp.Ns) != 0 {
		t.Errorf("not following: answer %v, authority %v", resp.Answer, resp.Ns)
	}

	srv.Remove("mx.example.com", "A")
	if resp := exchange(t, srv, "udp", "mx.example.com", dns.TypeA, nil); len(resp.Answer) != 0 {
		t.Errorf("after Remove: %v", resp.Answer)
	}
	if a, all := srv.Count("mx.example.com.", "a"), srv.Count("MX.example.com", ""); a != 1 || all != 2 {
		t.Errorf("Count = %d A, %d in all; want 1, 2", a, all)
	}
	if err := srv.Add("ttl.example. TXT x"); err != nil {
		t.Fatal(err)
	}
	if resp := exchange(t, srv, "udp", "ttl.example", dns.TypeTXT, nil); resp.Answer[0].Header().Ttl != dnstest.DefaultTTL {
		t.Errorf("TTL %d, want DefaultTTL", resp.Answer[0].Header().Ttl)
	}
	if err := srv.Add("bad zone line"); err == nil {
		t.Error("Add accepted a bad zone")
	}
}

// The AD bit only for secure zones and only when asked for (AD or DO).
func TestSecure(t *testing.T) {
	srv := dnstest.NewServer(t, `
signed.example.        A 192.0.2.1
sub.unsigned.signed.example. A 192.0.2.2
alias.signed.example.  CNAME other.example.
other.example.         A 192.0.2.3
`)
	srv.SetSecure("signed.example", true)
	srv.SetSecure("unsigned.signed.example", false)
	ad := func(q *dns.Msg) { q.AuthenticatedData = true }
	do := func(q *dns.Msg) { q.SetEdns0(1232, true) }
	for _, tc := range []struct {
		name string
		edit func(*dns.Msg)
		want bool
	}{
		{"signed.example", ad, true},
		{"signed.example", do, true},
		{"signed.example", nil, false},
		{"nx.signed.example", ad, true},
		{"sub.unsigned.signed.example", ad, false},
		{"alias.signed.example", ad, false}, // the chain leaves the signed zone
		{"other.example", ad, false},
	} {
		if resp := exchange(t, srv, "udp", tc.name, dns.TypeA, tc.edit); resp.AuthenticatedData != tc.want {
			t.Errorf("%s: AD = %v", tc.name, resp.AuthenticatedData)
		}
	}
}

func TestFaultsAndTruncation(t *testing.T) {
	var zone strings.Builder
	for i := range 40 {
		fmt.Fprintf(&zone, "big.example. A 192.0.2.%d\n", i+1)
	}
	zone.WriteString("small.example. A 192.0.2.1\n")
	srv := dnstest.NewServer(t, zone.String())

	if resp := exchange(t, srv, "udp", "big.example", dns.TypeA, nil); !resp.Truncated {
		t.Error("640-octet answer over UDP without EDNS0 not truncated")
	}
	if resp := exchange(t, srv, "udp", "big.example", dns.TypeA, func(q *dns.Msg) { q.SetEdns0(4096, false) }); resp.Truncated || len(resp.Answer) != 40 {
		t.Errorf("with EDNS0 4096: TC %v, %d records", resp.Truncated, len(resp.Answer))
	}
	srv.SetFault("small.example", dnstest.Truncate)
	if resp := exchange(t, srv, "udp", "small.example", dns.TypeA, nil); !resp.Truncated || len(resp.Answer) != 0 {
		t.Errorf("Truncate over UDP: %v", resp)
	}
	if resp := exchange(t, srv, "tcp", "small.example", dns.TypeA, nil); resp.Truncated || len(resp.Answer) != 1 {
		t.Errorf("Truncate over TCP: %v", resp)
	}
	for f, rcode := range map[dnstest.Fault]int{dnstest.ServFail: dns.RcodeServerFailure, dnstest.Refused: dns.RcodeRefused} {
		srv.SetFault("small.example", f)
		if resp := exchange(t, srv, "udp", "small.example", dns.TypeA, nil); resp.Rcode != rcode {
			t.Errorf("fault %d: rcode %s", f, dns.RcodeToString[resp.Rcode])
		}
	}
	srv.SetFault("small.example", dnstest.Drop)
	q := new(dns.Msg).SetQuestion("small.example.", dns.TypeA)
	if _, _, err := (&dns.Client{Timeout: 50 * time.Millisecond}).Exchange(q, srv.Addr); err == nil {
		t.Error("Drop: got an answer")
	}
	srv.SetFault("small.example", dnstest.NoFault)
	exchange(t, srv, "udp", "small.example", dns.TypeA, nil)
}

// Every goroutine the server started is gone after Close.
func TestCloseLeaksNothing(t *testing.T) {
	before := runtime.NumGoroutine()
	srv, err := dnstest.Start("example.com. A 192.0.2.1\n")
	if err != nil {
		t.Fatal(err)
	}
	exchange(t, srv, "udp", "example.com", dns.TypeA, nil)
	exchange(t, srv, "tcp", "example.com", dns.TypeA, nil)
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines before, %d after Close:\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
}
