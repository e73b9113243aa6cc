package mailtest

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postyard/postyard/dnsmx"
	"github.com/postyard/postyard/dnsmx/dnstest"
)

// Resolver is a DNS resolver for tests of outbound mail: a dnsmx.Resolver
// (so a dnsmx.Lookuper) asking a dnstest server on loopback, whose MX
// records MX points at test Servers.
//
// MX records cannot carry a port, so each test Server gets an address of
// its own in 127.0.0.0/8 (127.0.1.2, 127.0.1.3, ...) as its MX host's A
// record. Where the system lets it (Linux routes all of 127.0.0.0/8 to the
// loopback interface), the Server also listens there, on the port that
// Port returns, the same for every Server of the Resolver: an application
// that connects to the MX addresses on a configurable port (such as
// relay.Deliverer with Port set) reaches it unchanged. Elsewhere, or for
// a WithInMemory Server, the application must dial through DialContext,
// which routes those addresses (any port) to the Server.
//
// Its methods are safe for concurrent use.
type Resolver struct {
	*dnsmx.Resolver
	// DNS is the DNS server, for records and faults of any kind
	// (DNS.Add, DNS.SetFault, DNS.Queries).
	DNS *dnstest.Server

	mu     sync.Mutex
	routes map[netip.Addr]*Server
	hosts  int    // MX hosts made so far
	port   string // the port Servers listen on at their addresses, "" if none yet
}

// NewResolver starts a DNS server on loopback, closed when the test ends,
// and returns a Resolver that asks it, with caching off (records added
// later are seen at once) and a 1-second query timeout.
func NewResolver(tb testing.TB) *Resolver {
	tb.Helper()
	dns := dnstest.NewServer(tb, "")
	return &Resolver{
		Resolver: &dnsmx.Resolver{
			Nameservers: []string{dns.Addr},
			CacheSize:   -1,
			Timeout:     time.Second,
		},
		DNS:    dns,
		routes: make(map[netip.Addr]*Server),
	}
}

// MX makes the Servers the mail exchangers of domain, in order of
// preference (10, 20, ...): each gets an MX host "mxN.domain" with a
// made-up address that DialContext routes to it. It panics if domain is
// not a valid name. It returns r, so that calls can be chained.
func (r *Resolver) MX(domain string, srvs ...*Server) *Resolver {
	domain = strings.TrimSuffix(strings.ToLower(domain), ".")
	var zone strings.Builder
	r.mu.Lock()
	for i, srv := range srvs {
		r.hosts++
		ip := netip.AddrFrom4([4]byte{127, 0, byte(1 + r.hosts/250), byte(1 + r.hosts%250)})
		host := fmt.Sprintf("mx%d.%s.", r.hosts, domain)
		fmt.Fprintf(&zone, "%s. MX %d %s\n%s A %s\n", domain, 10*(i+1), host, host, ip)
		r.routes[ip] = srv
		r.listen(srv, ip)
	}
	r.mu.Unlock()
	if err := r.DNS.Add(zone.String()); err != nil {
		panic("mailtest: " + err.Error())
	}
	return r
}

// listen makes srv listen at ip on r.port (choosing it the first time),
// if it can. r.mu is held.
func (r *Resolver) listen(srv *Server, ip netip.Addr) {
	port := r.port
	if port == "" {
		port = "0"
	}
	addr, err := srv.listenAt(net.JoinHostPort(ip.String(), port))
	if err != nil {
		return // DialContext still routes to srv
	}
	_, r.port, _ = net.SplitHostPort(addr)
}

// Port returns the TCP port on which the Servers given to MX listen at
// their MX addresses, 0 if none could (see Resolver).
func (r *Resolver) Port() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, _ := strconv.Atoi(r.port)
	return p
}

// NullMX publishes a null MX for domain (RFC 7505): it accepts no mail.
func (r *Resolver) NullMX(domain string) *Resolver {
	domain = strings.TrimSuffix(strings.ToLower(domain), ".")
	if err := r.DNS.Add(domain + ". MX 0 .\n"); err != nil {
		panic("mailtest: " + err.Error())
	}
	return r
}

// Zone adds records in master file format (see dnstest.Start), e.g. SPF
// TXT records or an A record for an implicit MX.
func (r *Resolver) Zone(zone string) error { return r.DNS.Add(zone) }

// DialContext connects to the Server whose made-up address addr names
// (host:port; the port is ignored), over loopback TCP, or over net.Pipe for
// a WithInMemory Server. Other addresses fail: a test never reaches the
// network by mistake. Its signature is that of net.Dialer.DialContext.
func (r *Resolver) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return nil, fmt.Errorf("mailtest: dial %s: not an address from Resolver.MX", addr)
	}
	r.mu.Lock()
	srv := r.routes[ip.Unmap()]
	r.mu.Unlock()
	if srv == nil {
		return nil, fmt.Errorf("mailtest: dial %s: no test server has this address", addr)
	}
	if srv.cfg.inMemory {
		return srv.DialContext(ctx, network, srv.Addr())
	}
	var d net.Dialer
	return d.DialContext(ctx, "tcp", srv.Addr())
}
