package dnsmx

import (
	"context"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// Lookuper is what mail delivery needs from DNS. [*Resolver] implements it;
// callers substitute their own (a wrapper that counts, a fake) where a
// Lookuper is accepted, and the record helpers ([LookupSPF], [LookupDMARC],
// [LookupMTASTS], [LookupTLSRPT], [LookupFCrDNS], [IsListed], [STS]) work
// over any implementation. Implementations must be safe for concurrent use
// and return [*Error] values.
type Lookuper interface {
	// LookupMX returns the hosts that take mail for domain, in the order
	// to try them (RFC 5321 §5.1).
	LookupMX(ctx context.Context, domain string) (*MXResult, error)
	// LookupIP returns the addresses of host; network is "ip", "ip4" or
	// "ip6".
	LookupIP(ctx context.Context, network, host string) (*IPResult, error)
	// LookupTLSA returns the DANE records for a TCP service (RFC 6698,
	// RFC 7672).
	LookupTLSA(ctx context.Context, host string, port int) (*TLSAResult, error)
	// LookupTXT returns the TXT records at name.
	LookupTXT(ctx context.Context, name string) (*TXTResult, error)
	// LookupPTR returns the names that ip maps back to.
	LookupPTR(ctx context.Context, ip netip.Addr) (*PTRResult, error)
}

var _ Lookuper = (*Resolver)(nil)

// Defaults for the [Resolver] fields.
const (
	DefaultTimeout   = 2 * time.Second
	DefaultRetries   = 1
	DefaultUDPSize   = 1232 // DNS flag day 2020: no IP fragmentation on common paths
	DefaultCacheSize = 4096
	DefaultMaxCNAME  = 8
	DefaultMaxHosts  = 10
	// MaxTTL caps how long a positive answer is cached, and MaxNegativeTTL
	// a negative one (RFC 2308 §5 suggests one to three hours).
	MaxTTL         = 24 * time.Hour
	MaxNegativeTTL = time.Hour
)

// Resolver looks up mail-related records through recursive nameservers, with
// miekg/dns: UDP with EDNS0 (RFC 6891), TCP when the answer is truncated
// (RFC 7766 §5), retries over the configured servers, a size-bounded cache
// that honours TTLs (RFC 1035 §3.2.1, RFC 2181 §8, negative caching per
// RFC 2308 §5), and concurrent identical queries merged into one.
//
// The zero Resolver is ready to use. Configure it before the first lookup;
// its fields must not change afterwards. A Resolver is safe for concurrent
// use and must not be copied after first use.
//
// The AD bit (RFC 4035 §3.2.3) is trusted as given: DNSSEC authentication
// ([MXResult.Authentic], [TLSAResult]) is only as good as the path to the
// validating resolver, so use one on the same host or a trusted network.
type Resolver struct {
	// Nameservers are the recursive resolvers to ask, in order, as
	// "host:port" or "host" (port 53). Nil means the "nameserver" lines of
	// /etc/resolv.conf, read once, or 127.0.0.1 and ::1 if it has none.
	Nameservers []string

	// Timeout bounds one query to one server (UDP exchange, or the TCP
	// retry after truncation). Zero means DefaultTimeout (2s); negative
	// means no per-query timeout (only the context's deadline).
	Timeout time.Duration

	// Retries is how many more rounds through Nameservers follow a first
	// round that got no usable answer. Zero means DefaultRetries (1);
	// negative means none.
	Retries int

	// UDPSize is the EDNS0 UDP payload size advertised, and so the largest
	// UDP answer read; larger answers come truncated and are fetched again
	// over TCP (at most 65535 octets, RFC 1035 §4.2.2). Zero means
	// DefaultUDPSize (1232); negative means no EDNS0 (512 octets).
	UDPSize int

	// CacheSize bounds the number of cached answers (one per name and
	// type, plus one per assembled MX result). Zero means DefaultCacheSize
	// (4096); negative disables caching. TTLs are capped at MaxTTL and
	// MaxNegativeTTL; temporary failures are never cached.
	CacheSize int

	// MaxCNAME bounds the CNAME chain followed from a name (RFC 1034
	// §3.6.2). Zero means DefaultMaxCNAME (8); negative means CNAMEs are
	// not followed (any alias is an ErrCNAMEChain).
	MaxCNAME int

	// MaxHosts bounds the MX hosts a lookup considers (and resolves), the
	// most preferred first. Zero means DefaultMaxHosts (10); negative means
	// unlimited (only the message size bounds it).
	MaxHosts int

	// Logger gets a Debug line per query sent. Nil means slog.Default().
	Logger *slog.Logger

	once    sync.Once
	servers []string
	cache   *lru[cacheKey, any]
	flights flight[cacheKey, *rrset]
}

// cacheKey is a normalized name and a query type. typeMXHosts stands for the
// assembled result of LookupMX.
type cacheKey struct {
	name  string
	qtype uint16
}

// typeMXHosts is not a DNS type (0 is reserved, RFC 6895 §3.1): it keys the
// cached *mxEntry.
const typeMXHosts uint16 = 0

func (r *Resolver) init() {
	r.once.Do(func() {
		r.servers = r.Nameservers
		if len(r.servers) == 0 {
			r.servers = systemNameservers()
		}
		r.servers = withPorts(r.servers)
		r.cache = newLRU[cacheKey, any](orDefault(r.CacheSize, DefaultCacheSize, 0))
	})
}

// systemNameservers reads /etc/resolv.conf.
func systemNameservers() []string {
	cfg, err := dns.ClientConfigFromFile("/etc/resolv.conf")
	if err != nil || len(cfg.Servers) == 0 {
		return []string{"127.0.0.1:53", "[::1]:53"}
	}
	s := make([]string, len(cfg.Servers))
	for i, h := range cfg.Servers {
		s[i] = net.JoinHostPort(h, cfg.Port)
	}
	return s
}

// withPorts adds port 53 to addresses without one.
func withPorts(servers []string) []string {
	out := make([]string, len(servers))
	for i, s := range servers {
		if _, _, err := net.SplitHostPort(s); err != nil {
			s = net.JoinHostPort(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"), "53")
		}
		out[i] = s
	}
	return out
}

func (r *Resolver) logger() *slog.Logger {
	if r.Logger != nil {
		return r.Logger
	}
	return slog.Default()
}

// orDefault applies the convention of every limit: zero means def,
// negative means neg (none or unlimited), anything else is itself.
func orDefault[T int | time.Duration](v, def, neg T) T {
	switch {
	case v == 0:
		return def
	case v < 0:
		return neg
	}
	return v
}

func (r *Resolver) timeout() time.Duration { return orDefault(r.Timeout, DefaultTimeout, 0) }
func (r *Resolver) rounds() int            { return 1 + orDefault(r.Retries, DefaultRetries, 0) }
func (r *Resolver) maxCNAME() int          { return orDefault(r.MaxCNAME, DefaultMaxCNAME, 0) }
func (r *Resolver) maxHosts() int          { return orDefault(r.MaxHosts, DefaultMaxHosts, math.MaxInt) }

func (r *Resolver) udpSize() int {
	return min(orDefault(r.UDPSize, DefaultUDPSize, 0), dns.MaxMsgSize)
}
