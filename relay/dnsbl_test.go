package relay_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/postyard/postyard/dnsmx"
	"github.com/postyard/postyard/dnsmx/dnstest"
	"github.com/postyard/postyard/relay"
	"github.com/postyard/postyard/smtp"
)

// The lists: bl.example (a block list with TXT reasons), pbl.example (a
// policy list that only quarantines), half1/half2.example (two lists of
// weight 0.5), wl.example (an allow list).
const dnsblZone = `
99.2.0.192.bl.example.     A   127.0.0.2
99.2.0.192.bl.example.     TXT "Listed: see https://bl.example/q?ip=192.0.2.99"
97.2.0.192.bl.example.     A   127.0.0.12
96.2.0.192.bl.example.     A   127.0.0.2
96.2.0.192.wl.example.     A   127.0.10.2
94.2.0.192.bl.example.     A   127.255.255.254
93.2.0.192.bl.example.     A   192.0.2.1
92.2.0.192.pbl.example.    A   127.0.0.10
91.2.0.192.half1.example.  A   127.0.0.2
90.2.0.192.half1.example.  A   127.0.0.2
90.2.0.192.half2.example.  A   127.0.0.2
1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.bl.example. A 127.0.0.4
3.0.0.127.bl.example.      A   127.0.0.2
`

// logBuffer is a slog handler's output, safe for concurrent use.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newDNSBL(t *testing.T, srv *dnstest.Server, zones ...relay.DNSBLZone) (*relay.DNSBL, *logBuffer) {
	logs := &logBuffer{}
	return &relay.DNSBL{
		Zones:    zones,
		Resolver: &dnsmx.Resolver{Nameservers: []string{srv.Addr}, CacheSize: -1},
		Logger:   slog.New(slog.NewTextHandler(logs, nil)),
	}, logs
}

// mailVerdict runs the filter's MAIL stage for a client at ip.
func mailVerdict(t *testing.T, f relay.Filter, ip, user string, submission bool) relay.Verdict {
	t.Helper()
	ctx := context.Background()
	c := &smtp.ConnInfo{RemoteAddr: &net.TCPAddr{IP: net.ParseIP(ip), Port: 40000}, User: user}
	s, err := f.NewSession(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	v, err := s.Mail(ctx, &relay.Transaction{Conn: c, From: smtp.Path{Local: "s", Domain: "remote.example"}, Options: &smtp.MailOptions{}, Submission: submission})
	if err != nil {
		t.Fatalf("Mail: %v", err)
	}
	return v
}

func TestDNSBL(t *testing.T) {
	srv := dnstest.NewServer(t, dnsblZone)
	srv.SetFault("95.2.0.192.bl.example", dnstest.ServFail)
	bl, logs := newDNSBL(t, srv,
		relay.DNSBLZone{Zone: "wl.example.", Allow: true},
		relay.DNSBLZone{Zone: "bl.example"},
	)
	for _, tc := range []struct {
		name, ip string
		want     relay.Action
		reply    string
	}{
		{"listed", "192.0.2.99", relay.ActionReject,
			"554 5.7.1 Service unavailable; client [192.0.2.99] blocked using bl.example; Listed: see https://bl.example/q?ip=192.0.2.99"},
		{"listed without TXT", "192.0.2.97", relay.ActionReject, "554 5.7.1 Service unavailable; client [192.0.2.97] blocked using bl.example"},
		{"IPv6, nibbles", "2001:db8::1", relay.ActionReject, "554 5.7.1 Service unavailable; client [2001:db8::1] blocked using bl.example"},
		{"IPv4-mapped IPv6", "::ffff:192.0.2.97", relay.ActionReject, "554 5.7.1 Service unavailable; client [192.0.2.97] blocked using bl.example"},
		{"allow list wins", "192.0.2.96", relay.ActionAccept, ""},
		{"not listed", "192.0.2.1", relay.ActionDefault, ""},
		{"query refused by the list", "192.0.2.94", relay.ActionDefault, ""},
		{"answer outside 127/8", "192.0.2.93", relay.ActionDefault, ""},
		{"SERVFAIL", "192.0.2.95", relay.ActionDefault, ""},
	} {
		v := mailVerdict(t, bl, tc.ip, "", false)
		got := ""
		if v.Reply != nil {
			got = fmt.Sprintf("%d %s %s", v.Reply.Code, v.Reply.EnhancedCode, v.Reply.Message)
		}
		if v.Action != tc.want || got != tc.reply {
			t.Errorf("%s: %v %q, want %v %q (reason %q)", tc.name, v.Action, got, tc.want, tc.reply, v.Reason)
		}
	}
	for _, want := range []string{"DNSBL refused the query", "code=127.255.255.254", "DNSBL lookup failed", "zone=bl.example"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
}

func TestDNSBLCodes(t *testing.T) {
	srv := dnstest.NewServer(t, dnsblZone)
	r := func(s string) relay.AddrRange {
		a, err := relay.ParseAddrRange(s)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	bl, _ := newDNSBL(t, srv, relay.DNSBLZone{Zone: "bl.example", Codes: []relay.AddrRange{r("127.0.0.2-127.0.0.11")}})
	if v := mailVerdict(t, bl, "192.0.2.99", "", false); v.Action != relay.ActionReject {
		t.Errorf("127.0.0.2 in 127.0.0.2-127.0.0.11: %v", v.Action)
	}
	if v := mailVerdict(t, bl, "192.0.2.97", "", false); v.Action != relay.ActionDefault {
		t.Errorf("127.0.0.12 outside 127.0.0.2-127.0.0.11: %v", v.Action)
	}
	// Even when the codes say so, 127.255.255.254 is a refusal.
	bl, _ = newDNSBL(t, srv, relay.DNSBLZone{Zone: "bl.example", Codes: []relay.AddrRange{r("127.0.0.0/8")}})
	if v := mailVerdict(t, bl, "192.0.2.94", "", false); v.Action != relay.ActionDefault {
		t.Errorf("refusal code counted: %v", v.Action)
	}
}

func TestDNSBLScoreAndZoneActions(t *testing.T) {
	srv := dnstest.NewServer(t, dnsblZone)
	bl, _ := newDNSBL(t, srv,
		relay.DNSBLZone{Zone: "half1.example", Weight: 0.5},
		relay.DNSBLZone{Zone: "half2.example", Weight: 0.5},
		relay.DNSBLZone{Zone: "pbl.example", Action: relay.ActionQuarantine},
		relay.DNSBLZone{Zone: "bl.example", Weight: 0.5, Action: relay.ActionTempfail},
	)
	if v := mailVerdict(t, bl, "192.0.2.91", "", false); v.Action != relay.ActionDefault {
		t.Errorf("one list of weight 0.5: %v (%s)", v.Action, v.Reason)
	}
	if v := mailVerdict(t, bl, "192.0.2.90", "", false); v.Action != relay.ActionReject || !strings.Contains(v.Reply.Message, "blocked using half1.example, half2.example") {
		t.Errorf("two lists of weight 0.5: %v %+v", v.Action, v.Reply)
	}
	if v := mailVerdict(t, bl, "192.0.2.92", "", false); v.Action != relay.ActionQuarantine || v.Reply != nil {
		t.Errorf("zone action quarantine: %v %+v", v.Action, v.Reply)
	}
	if v := mailVerdict(t, bl, "192.0.2.99", "", false); v.Action != relay.ActionTempfail || v.Reply.Code != 451 {
		t.Errorf("zone action tempfail: %v %+v", v.Action, v.Reply)
	}
	bl.Threshold = -1
	if v := mailVerdict(t, bl, "192.0.2.90", "", false); v.Action != relay.ActionDefault {
		t.Errorf("scoring off: %v", v.Action)
	}
}

func TestDNSBLSkips(t *testing.T) {
	srv := dnstest.NewServer(t, dnsblZone)
	bl, _ := newDNSBL(t, srv, relay.DNSBLZone{Zone: "bl.example"})
	for _, tc := range []struct {
		name, ip, user string
		submission     bool
	}{
		{"authenticated", "192.0.2.99", "alice", false},
		{"submission", "192.0.2.99", "", true},
		{"private", "10.1.2.3", "", false},
		{"loopback", "127.0.0.3", "", false},
		{"link-local", "fe80::1", "", false},
	} {
		if v := mailVerdict(t, bl, tc.ip, tc.user, tc.submission); v.Action != relay.ActionDefault {
			t.Errorf("%s: %v", tc.name, v.Action)
		}
	}
	if q := srv.Queries(); len(q) != 0 {
		t.Errorf("queries for skipped clients: %v", q)
	}

	// One lookup per connection, however many transactions.
	ctx := context.Background()
	c := &smtp.ConnInfo{RemoteAddr: &net.TCPAddr{IP: net.ParseIP("192.0.2.99"), Port: 1}}
	s, _ := bl.NewSession(ctx, c)
	for range 3 {
		if v, _ := s.Mail(ctx, &relay.Transaction{Conn: c}); v.Action != relay.ActionReject {
			t.Fatalf("repeated MAIL: %v", v.Action)
		}
		s.Reset(ctx)
	}
	if n := srv.Count("99.2.0.192.bl.example", "A"); n != 1 {
		t.Errorf("%d A queries for one connection", n)
	}
}

// TestDNSBLInbound runs the filter in an Inbound: a listed client is
// refused at MAIL FROM, an allow-listed one skips the filters after it.
func TestDNSBLInbound(t *testing.T) {
	srv := dnstest.NewServer(t, dnsblZone+"4.0.0.127.wl.example. A 127.0.10.1\n")
	bl, _ := newDNSBL(t, srv, relay.DNSBLZone{Zone: "wl.example", Allow: true}, relay.DNSBLZone{Zone: "bl.example"})
	bl.Exempt = []netip.Prefix{} // check loopback clients too
	var mu sync.Mutex
	later := 0
	count := &relay.FilterFuncs{Mail: func(ctx context.Context, tx *relay.Transaction) (relay.Verdict, error) {
		mu.Lock()
		later++
		mu.Unlock()
		return relay.Verdict{}, nil
	}}
	f := newFixture(t, withFilters(bl, count))
	if got := mailFromIP(t, f.addr, "127.0.0.3", "s@remote.example"); got != "554 5.7.1 Service unavailable; client [127.0.0.3] blocked using bl.example" {
		t.Errorf("listed client: %q", got)
	}
	if got := mailFromIP(t, f.addr, "127.0.0.4", "s@remote.example"); !strings.HasPrefix(got, "250") {
		t.Errorf("allow-listed client: %q", got)
	}
	if got := mailFromIP(t, f.addr, "127.0.0.1", "s@remote.example"); !strings.HasPrefix(got, "250") {
		t.Errorf("unlisted client: %q", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if later != 1 {
		t.Errorf("the filter after DNSBL ran %d times, want once (unlisted client only)", later)
	}
}

// mailFromIP connects from ip, sends EHLO and MAIL FROM and returns the
// reply to MAIL.
func mailFromIP(t *testing.T, addr, ip, from string) string {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	reply := func() string {
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("reply: %v", err)
			}
			if len(line) < 4 || line[3] == ' ' {
				return strings.TrimSpace(line)
			}
		}
	}
	reply()
	io.WriteString(c, "EHLO client.example\r\n")
	reply()
	io.WriteString(c, "MAIL FROM:<"+from+">\r\n")
	got := reply()
	io.WriteString(c, "QUIT\r\n")
	reply()
	return got
}

func TestParseAddrRange(t *testing.T) {
	for _, tc := range []struct {
		in, first, last string
	}{
		{"127.0.0.2-127.0.0.11", "127.0.0.2", "127.0.0.11"},
		{" 127.0.0.2 - 127.0.0.2 ", "127.0.0.2", "127.0.0.2"},
		{"127.0.0.10/31", "127.0.0.10", "127.0.0.11"},
		{"127.0.1.7/24", "127.0.1.0", "127.0.1.255"},
		{"127.0.0.5", "127.0.0.5", "127.0.0.5"},
		{"2001:db8::/126", "2001:db8::", "2001:db8::3"},
	} {
		r, err := relay.ParseAddrRange(tc.in)
		if err != nil || r.First.String() != tc.first || r.Last.String() != tc.last {
			t.Errorf("ParseAddrRange(%q) = %v, %v", tc.in, r, err)
		}
	}
	for _, bad := range []string{"", "127.0.0.11-127.0.0.2", "127.0.0.1-::1", "x", "127.0.0.1/33", "fe80::1%eth0"} {
		if r, err := relay.ParseAddrRange(bad); err == nil {
			t.Errorf("ParseAddrRange(%q) = %v", bad, r)
		}
	}
	r, _ := relay.ParseAddrRange("127.0.0.2-127.0.0.11")
	for ip, want := range map[string]bool{"127.0.0.2": true, "127.0.0.11": true, "127.0.0.12": false, "::ffff:127.0.0.3": false} {
		if got := r.Contains(netip.MustParseAddr(ip)); got != want {
			t.Errorf("Contains(%s) = %v", ip, got)
		}
	}
}

func FuzzParseAddrRange(f *testing.F) {
	for _, s := range []string{"127.0.0.2-127.0.0.11", "127.0.0.0/8", "::1", "1.2.3.4 - 1.2.3.5", "-", "/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := relay.ParseAddrRange(s)
		if err != nil {
			return
		}
		if !r.First.IsValid() || r.Last.Less(r.First) || !r.Contains(r.First) || !r.Contains(r.Last) {
			t.Fatalf("ParseAddrRange(%q) = %v", s, r)
		}
	})
}

// A client listed in a block list is refused at MAIL FROM, with the
// list's reason.
func ExampleDNSBL() {
	// The lists' zones, here on a loopback test server.
	srv, _ := dnstest.Start(`
99.2.0.192.bl.example. A   127.0.0.2
99.2.0.192.bl.example. TXT "Listed: see https://bl.example/lookup"
`)
	defer srv.Close()

	bl := &relay.DNSBL{
		Zones: []relay.DNSBLZone{
			{Zone: "wl.example", Allow: true}, // a hit skips the later filters
			{Zone: "bl.example"},
		},
		Resolver: &dnsmx.Resolver{Nameservers: []string{srv.Addr}},
	}
	in := &relay.Inbound{Filters: []relay.Filter{bl, &relay.AttachmentRule{}}}
	_ = in // an Inbound with its Policy, Deliverer and Queue serves port 25

	ctx := context.Background()
	c := &smtp.ConnInfo{RemoteAddr: &net.TCPAddr{IP: net.ParseIP("192.0.2.99"), Port: 40000}}
	s, _ := bl.NewSession(ctx, c)
	v, _ := s.Mail(ctx, &relay.Transaction{Conn: c})
	fmt.Println(v.Action, v.Reply.Code, v.Reply.EnhancedCode, v.Reply.Message)
	// Output: reject 554 5.7.1 Service unavailable; client [192.0.2.99] blocked using bl.example; Listed: see https://bl.example/lookup
}
