// Package dnstest runs a DNS server on loopback, answering from a zone
// given as text, for tests of code that resolves mail routes: package dnsmx
// itself, relay, mailtest and applications.
//
// The server answers like a recursive resolver would: it follows CNAMEs
// within its data, answers NXDOMAIN or NODATA with a SOA in the authority
// section (RFC 2308), sets the AD bit (RFC 4035 §3.2.3) on answers from
// zones marked secure when the query asks for it with AD or DO (RFC 6840
// §5.7), truncates UDP answers larger than the client's EDNS0 size (RFC
// 6891 §7), and serves TCP on the same port. Faults (SERVFAIL, REFUSED,
// silence, forced truncation) can be set per name.
//
//	srv := dnstest.NewServer(t, `
//	example.com.    MX 10 mx.example.com.
//	mx.example.com. A  192.0.2.1
//	`)
//	r := &dnsmx.Resolver{Nameservers: []string{srv.Addr}}
package dnstest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Fault is a misbehaviour of the server for a name.
type Fault int

const (
	// NoFault answers normally.
	NoFault Fault = iota
	// ServFail answers SERVFAIL (RCODE 2), as a resolver does when it
	// cannot reach the zone or validation fails.
	ServFail
	// Refused answers REFUSED (RCODE 5).
	Refused
	// Drop never answers, so the client times out.
	Drop
	// Truncate answers over UDP with no records and the TC bit, so the
	// client must retry over TCP, where it gets the full answer.
	Truncate
)

// maxChase bounds the CNAMEs the server follows for one answer.
const maxChase = 16

// DefaultTTL is the TTL of zone records that give none.
const DefaultTTL = 3600

// Query is one query the server received.
type Query struct {
	Name string // lower case, no trailing dot
	Type string // "MX", "A", ...
	Net  string // "udp" or "tcp"
}

// Server is a DNS server on 127.0.0.1, UDP and TCP on one port. Its methods
// are safe for concurrent use, also while it serves.
type Server struct {
	// Addr is "127.0.0.1:port", for UDP and TCP.
	Addr string

	mu       sync.Mutex
	records  map[string][]dns.RR // by lower-case FQDN owner
	faults   map[string]Fault
	secure   map[string]bool
	noFollow bool
	queries  []Query
	hook     func(Query)

	servers []*dns.Server
	done    chan error
}

// NewServer starts a server with the records of zone (see [Start]) and
// closes it when the test ends. It fails the test if the server cannot
// start.
func NewServer(tb testing.TB, zone string) *Server {
	tb.Helper()
	s, err := Start(zone)
	if err != nil {
		tb.Fatalf("dnstest: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// Start starts a server answering from zone, text in master file format
// (RFC 1035 §5): one record a line, "name [ttl] [class] type data". Names
// without a trailing dot are relative to the root, so "mx.example.com" and
// "mx.example.com." are the same; $ORIGIN and $TTL work. A record without
// a TTL gets the TTL of the record before it (RFC 1035 §5.1), or $TTL, or
// DefaultTTL. The caller must Close the server.
func Start(zone string) (*Server, error) {
	s := &Server{
		records: make(map[string][]dns.RR),
		faults:  make(map[string]Fault),
		secure:  make(map[string]bool),
	}
	if err := s.Add(zone); err != nil {
		return nil, err
	}
	pc, l, err := listen()
	if err != nil {
		return nil, err
	}
	s.Addr = pc.LocalAddr().String()
	started := make(chan struct{}, 2)
	notify := func() { started <- struct{}{} }
	s.servers = []*dns.Server{
		{PacketConn: pc, Handler: s, NotifyStartedFunc: notify},
		{Listener: l, Handler: s, NotifyStartedFunc: notify},
	}
	s.done = make(chan error, len(s.servers))
	for _, srv := range s.servers {
		go func() { s.done <- srv.ActivateAndServe() }()
	}
	for range s.servers {
		select {
		case <-started:
		case err := <-s.done:
			s.Close()
			return nil, fmt.Errorf("dnstest: serve: %w", err)
		}
	}
	return s, nil
}

// listen binds UDP and TCP on one loopback port.
func listen() (net.PacketConn, net.Listener, error) {
	var last error
	for range 20 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return nil, nil, err
		}
		l, err := net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			return pc, l, nil
		}
		pc.Close()
		last = err
	}
	return nil, nil, fmt.Errorf("dnstest: no port free for both UDP and TCP: %w", last)
}

// Close stops the server and waits for its goroutines to end.
func (s *Server) Close() error {
	var errs []error
	running := 0
	for _, srv := range s.servers {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := srv.ShutdownContext(ctx); err == nil {
			running++
		} else {
			errs = append(errs, err)
		}
		cancel()
	}
	for range running {
		<-s.done
	}
	s.servers = nil
	return errors.Join(errs...)
}

// Add adds the records of zone (as for [Start]).
func (s *Server) Add(zone string) error {
	zp := dns.NewZoneParser(strings.NewReader(zone), ".", "")
	zp.SetDefaultTTL(DefaultTTL)
	s.mu.Lock()
	defer s.mu.Unlock()
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		name := strings.ToLower(rr.Header().Name)
		s.records[name] = append(s.records[name], rr)
	}
	if err := zp.Err(); err != nil {
		return fmt.Errorf("dnstest: zone: %w", err)
	}
	return nil
}

// Remove removes the records of type typ ("MX", "TXT", ...) at name, or
// all its records if typ is "".
func (s *Server) Remove(name, typ string) {
	key := fqdn(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	if typ == "" {
		delete(s.records, key)
		return
	}
	t := dns.StringToType[strings.ToUpper(typ)]
	kept := s.records[key][:0]
	for _, rr := range s.records[key] {
		if rr.Header().Rrtype != t {
			kept = append(kept, rr)
		}
	}
	s.records[key] = kept
}

// SetFault makes the server misbehave for queries of any type for name;
// NoFault restores it.
func (s *Server) SetFault(name string, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f == NoFault {
		delete(s.faults, fqdn(name))
	} else {
		s.faults[fqdn(name)] = f
	}
}

// SetSecure marks zone, and the names below it, as DNSSEC-signed (or not):
// answers about them get the AD bit. The closest enclosing mark counts, so
// an unsigned zone can sit below a signed one. An answer that follows
// CNAMEs is secure only if every name on the way is.
func (s *Server) SetSecure(zone string, secure bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.secure[fqdn(zone)] = secure
}

// SetFollowCNAME says whether the server follows CNAMEs (true, the
// default) or answers with the CNAME alone, as an authoritative server
// does for a target outside its zones.
func (s *Server) SetFollowCNAME(follow bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.noFollow = !follow
}

// SetHook sets a function called with each query before it is answered,
// on the goroutine serving it (nil removes it). The hook may block, to hold
// the answer back, and may change the server (SetFault, Add, ...) to
// change this answer.
func (s *Server) SetHook(hook func(Query)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hook = hook
}

// Queries returns the queries received so far, oldest first.
func (s *Server) Queries() []Query {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Query(nil), s.queries...)
}

// Count returns how many queries for name and typ were received; typ ""
// counts every type.
func (s *Server) Count(name, typ string) int {
	name = strings.TrimSuffix(strings.ToLower(name), ".")
	n := 0
	for _, q := range s.Queries() {
		if q.Name == name && (typ == "" || strings.EqualFold(q.Type, typ)) {
			n++
		}
	}
	return n
}

// ServeDNS answers one query; it implements dns.Handler.
func (s *Server) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	if len(req.Question) != 1 {
		m := new(dns.Msg)
		m.SetRcodeFormatError(req)
		w.WriteMsg(m)
		return
	}
	q := req.Question[0]
	name := strings.ToLower(q.Name)
	network := w.LocalAddr().Network()

	query := Query{Name: strings.TrimSuffix(name, "."), Type: dns.TypeToString[q.Qtype], Net: network}
	s.mu.Lock()
	s.queries = append(s.queries, query)
	hook := s.hook
	s.mu.Unlock()
	if hook != nil {
		hook(query)
	}

	s.mu.Lock()
	fault := s.faults[name]
	m := new(dns.Msg)
	m.SetReply(req)
	m.RecursionAvailable = true
	secure := s.answer(m, name, q.Qtype)
	s.mu.Unlock()

	switch {
	case fault == Drop:
		return
	case fault == ServFail:
		m = new(dns.Msg).SetRcode(req, dns.RcodeServerFailure)
	case fault == Refused:
		m = new(dns.Msg).SetRcode(req, dns.RcodeRefused)
	case fault == Truncate && network == "udp":
		m = new(dns.Msg).SetReply(req)
		m.Truncated = true
	}
	size, do := dns.MinMsgSize, false
	if opt := req.IsEdns0(); opt != nil {
		size, do = max(size, int(opt.UDPSize())), opt.Do()
		m.SetEdns0(4096, do)
	}
	answered := m.Rcode == dns.RcodeSuccess || m.Rcode == dns.RcodeNameError
	m.AuthenticatedData = secure && answered && (req.AuthenticatedData || do)
	if network == "udp" {
		m.Truncate(size)
	}
	w.WriteMsg(m)
}

// answer fills m for qtype at name and reports whether the answer is
// secure. s.mu is held.
func (s *Server) answer(m *dns.Msg, name string, qtype uint16) (secure bool) {
	cur := name
	secure = s.isSecure(cur)
	seen := map[string]bool{cur: true}
	for range maxChase {
		c := s.cname(cur)
		if c == nil || qtype == dns.TypeCNAME {
			break
		}
		m.Answer = append(m.Answer, dns.Copy(c))
		t := strings.ToLower(c.(*dns.CNAME).Target)
		if s.noFollow || seen[t] {
			return secure // the chain alone: the client asks on, or sees the loop
		}
		seen[t] = true
		cur = t
		secure = secure && s.isSecure(cur)
	}
	found := false
	for _, rr := range s.records[cur] {
		if rr.Header().Rrtype == qtype {
			m.Answer = append(m.Answer, dns.Copy(rr))
			found = true
		}
	}
	if found {
		return secure
	}
	if !s.exists(cur) {
		m.Rcode = dns.RcodeNameError
	}
	m.Ns = append(m.Ns, s.soa(cur))
	return secure
}

// cname returns the CNAME record at name, if any.
func (s *Server) cname(name string) dns.RR {
	for _, rr := range s.records[name] {
		if rr.Header().Rrtype == dns.TypeCNAME {
			return rr
		}
	}
	return nil
}

// exists reports whether name has records or names below it (an empty
// non-terminal, RFC 8020).
func (s *Server) exists(name string) bool {
	if len(s.records[name]) > 0 {
		return true
	}
	for k, rrs := range s.records {
		if len(rrs) > 0 && strings.HasSuffix(k, "."+name) {
			return true
		}
	}
	return false
}

// soa returns the SOA of the closest enclosing zone in the data, or one
// made up for the name's top-level domain, TTL and MINIMUM 60.
func (s *Server) soa(name string) dns.RR {
	for n := name; ; {
		for _, rr := range s.records[n] {
			if rr.Header().Rrtype == dns.TypeSOA {
				return dns.Copy(rr)
			}
		}
		i := strings.IndexByte(n, '.')
		if i < 0 || i == len(n)-1 {
			break
		}
		n = n[i+1:]
	}
	labels := dns.SplitDomainName(name)
	zone := "."
	if len(labels) > 0 {
		zone = labels[len(labels)-1] + "."
	}
	return &dns.SOA{
		Hdr:     dns.RR_Header{Name: zone, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 60},
		Ns:      "ns.invalid.",
		Mbox:    "hostmaster.invalid.",
		Serial:  1,
		Refresh: 3600,
		Retry:   600,
		Expire:  86400,
		Minttl:  60,
	}
}

// isSecure reports whether the closest enclosing SetSecure mark of name is
// true.
func (s *Server) isSecure(name string) bool {
	for n := name; ; {
		if v, ok := s.secure[n]; ok {
			return v
		}
		i := strings.IndexByte(n, '.')
		if i < 0 || i == len(n)-1 {
			return s.secure["."]
		}
		n = n[i+1:]
	}
}

func fqdn(name string) string {
	return dns.Fqdn(strings.ToLower(name))
}
