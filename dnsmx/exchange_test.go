package dnsmx_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/postyard/postyard/dnsmx"
	"github.com/postyard/postyard/dnsmx/dnstest"
)

// bigTXT is a zone with n TXT records of about 110 octets at name.
func bigTXT(name string, n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "%s TXT \"record %02d %s\"\n", name, i, strings.Repeat("x", 100))
	}
	return b.String()
}

func nets(srv *dnstest.Server, name string) []string {
	var s []string
	for _, q := range srv.Queries() {
		if q.Name == name {
			s = append(s, q.Net)
		}
	}
	return s
}

// A truncated UDP answer is asked again over TCP (RFC 7766 §5), whether it
// is too large for the advertised EDNS0 size or the server just sets TC.
func TestTruncationFallsBackToTCP(t *testing.T) {
	srv := dnstest.NewServer(t, bigTXT("big.example.", 20)+`small.example. TXT "small"`+"\n")
	r := newResolver(srv)
	res, err := r.LookupTXT(context.Background(), "big.example")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Records) != 20 {
		t.Errorf("%d records, want 20", len(res.Records))
	}
	if got := nets(srv, "big.example"); strings.Join(got, " ") != "udp tcp" {
		t.Errorf("transports %v, want udp then tcp", got)
	}

	srv.SetFault("small.example", dnstest.Truncate)
	res, err = r.LookupTXT(context.Background(), "small.example")
	if err != nil || len(res.Records) != 1 || res.Records[0] != "small" {
		t.Fatalf("forced truncation: %v, %v", res, err)
	}
	if got := nets(srv, "small.example"); strings.Join(got, " ") != "udp tcp" {
		t.Errorf("transports %v, want udp then tcp", got)
	}

	// Without EDNS0 the limit is 512 octets: a medium answer goes to TCP.
	if err := srv.Add(bigTXT("medium.example.", 5)); err != nil { // > 512, < 1232 octets
		t.Fatal(err)
	}
	r = newResolver(srv)
	r.UDPSize = -1
	if _, err := r.LookupTXT(context.Background(), "medium.example"); err != nil {
		t.Fatal(err)
	}
	if got := nets(srv, "medium.example"); strings.Join(got, " ") != "udp tcp" {
		t.Errorf("without EDNS0: transports %v, want udp then tcp", got)
	}
}

// A server that never answers times out (temporary), and the next server
// is asked; SERVFAIL and REFUSED also move on to the next server.
func TestNameserverFailover(t *testing.T) {
	zone := `example.com. MX 10 mx.example.com.
mx.example.com. A 192.0.2.1
`
	good := dnstest.NewServer(t, zone)
	for _, f := range []dnstest.Fault{dnstest.Drop, dnstest.ServFail, dnstest.Refused} {
		bad := dnstest.NewServer(t, zone)
		bad.SetFault("example.com", f)
		r := quickResolver(bad, good)
		if _, err := r.LookupMX(context.Background(), "example.com"); err != nil {
			t.Errorf("fault %d: %v", f, err)
		}
		if bad.Count("example.com", "MX") != 1 {
			t.Errorf("fault %d: the first server was not asked", f)
		}
	}

	slow := dnstest.NewServer(t, zone)
	slow.SetFault("example.com", dnstest.Drop)
	_, err := quickResolver(slow).LookupMX(context.Background(), "example.com")
	wantError(t, err, dnsmx.ErrTimeout, false)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("cause of %v is not a net timeout", err)
	}

	refusing := dnstest.NewServer(t, zone)
	refusing.SetFault("example.com", dnstest.Refused)
	_, err = quickResolver(refusing).LookupMX(context.Background(), "example.com")
	wantError(t, err, dnsmx.ErrServFail, false)

	// Nothing listening: a network error, temporary.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := pc.LocalAddr().String()
	pc.Close()
	r := &dnsmx.Resolver{Nameservers: []string{closed}, Timeout: 200 * time.Millisecond, Retries: -1}
	_, err = r.LookupMX(context.Background(), "example.com")
	if err == nil || dnsmx.IsPermanent(err) {
		t.Errorf("closed port: %v", err)
	}
}

// Retries: after a round without an answer, the servers are asked again.
func TestRetries(t *testing.T) {
	srv := dnstest.NewServer(t, "example.com. A 192.0.2.1\n")
	var n atomic.Int32
	srv.SetHook(func(q dnstest.Query) {
		if n.Add(1) == 1 {
			srv.SetFault("example.com", dnstest.Drop)
		} else {
			srv.SetFault("example.com", dnstest.NoFault)
		}
	})
	r := quickResolver(srv)
	_, err := r.LookupIP(context.Background(), "ip4", "example.com")
	wantError(t, err, dnsmx.ErrTimeout, false)

	n.Store(0)
	r = quickResolver(srv)
	r.Retries = 1
	if _, err := r.LookupIP(context.Background(), "ip4", "example.com"); err != nil {
		t.Fatalf("with a retry: %v", err)
	}
}

// A query blocked on a silent server ends when its context does, even
// without a timeout.
func TestContextCancel(t *testing.T) {
	srv := dnstest.NewServer(t, "example.com. A 192.0.2.1\n")
	srv.SetFault("example.com", dnstest.Drop)
	ctx, cancel := context.WithCancel(context.Background())
	srv.SetHook(func(dnstest.Query) { cancel() })
	r := newResolver(srv)
	r.Timeout = -1
	_, err := r.LookupIP(ctx, "ip4", "example.com")
	wantError(t, err, context.Canceled, false)
}

// A datagram with the wrong ID, or answering another question, is ignored
// and the real answer awaited (RFC 5452 §9.1).
func TestSpoofedAnswersIgnored(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	spoof := mustRR(t, "example.com. 60 A 198.51.100.66")
	evil := mustRR(t, "evil.example. 60 A 198.51.100.66")
	real := mustRR(t, "example.com. 60 A 192.0.2.1")
	go func() {
		buf := make([]byte, 512)
		for {
			n, addr, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			q := new(dns.Msg)
			if q.Unpack(buf[:n]) != nil {
				continue
			}
			send := func(m *dns.Msg) {
				b, _ := m.Pack()
				pc.WriteTo(b, addr)
			}
			pc.WriteTo([]byte("junk"), addr)
			wrongID := new(dns.Msg).SetReply(q)
			wrongID.Id++
			wrongID.Answer = []dns.RR{spoof}
			send(wrongID)
			wrongQ := new(dns.Msg).SetReply(q)
			wrongQ.Question[0].Name = "evil.example."
			wrongQ.Answer = []dns.RR{evil}
			send(wrongQ)
			good := new(dns.Msg).SetReply(q)
			good.Answer = []dns.RR{real}
			send(good)
		}
	}()
	r := &dnsmx.Resolver{Nameservers: []string{pc.LocalAddr().String()}}
	res, err := r.LookupIP(context.Background(), "ip4", "example.com")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Addrs) != 1 || res.Addrs[0].String() != "192.0.2.1" {
		t.Errorf("addresses %v", res.Addrs)
	}
}

func mustRR(t *testing.T, s string) dns.RR {
	t.Helper()
	rr, err := dns.NewRR(s)
	if err != nil {
		t.Fatal(err)
	}
	return rr
}
