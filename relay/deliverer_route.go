package relay

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/postyard/postyard/dnsmx"
	"github.com/postyard/postyard/queue"
)

// hopRoute is where the recipients of one destination go.
type hopRoute struct {
	key   string // pool key: the destination, "smarthost" or "lmtp:" + address
	dest  string
	lmtp  bool
	smart *Smarthost
	base  TLSMode          // from TLSPolicies or the Smarthost
	mx    *dnsmx.MXResult  // nil unless routed by MX
	sts   *dnsmx.STSPolicy // enforce or testing; nil if none
	hosts []routeHost
}

// routeHost is one next hop of a route, with the addresses to dial in
// order.
type routeHost struct {
	name      string // for TLS, MTA-STS, TLSA and reports
	network   string // "tcp" or "unix"
	addrs     []string
	authentic bool  // address records DNSSEC-authenticated
	err       error // why there are no addresses
}

// findRoute decides how to reach dest for message m.
func (d *Deliverer) findRoute(ctx context.Context, m *queue.Message, dest string, log *slog.Logger) (*hopRoute, *queue.DeliveryError) {
	if a, ok := d.LMTP[dest]; ok {
		h := routeHost{name: a, network: "tcp", addrs: []string{a}}
		if strings.HasPrefix(a, "/") {
			h.network = "unix"
		} else if host, _, err := net.SplitHostPort(a); err == nil {
			h.name = host
		}
		return &hopRoute{key: d.hopKey(dest), dest: dest, lmtp: true, base: TLSDisabled, hosts: []routeHost{h}}, nil
	}
	if s := d.Smarthost; s != nil {
		host, _, err := net.SplitHostPort(s.Addr)
		if err != nil {
			return nil, &queue.DeliveryError{EnhancedCode: "4.3.5", Message: "smarthost misconfigured", Err: err}
		}
		base := s.TLS
		if base == TLSOpportunistic {
			base = TLSVerified
		}
		if s.ImplicitTLS && base == TLSDisabled {
			base = TLSRequired
		}
		return &hopRoute{key: d.hopKey(dest), dest: dest, smart: s, base: base,
			hosts: []routeHost{{name: host, network: "tcp", addrs: []string{s.Addr}}}}, nil
	}
	r := &hopRoute{key: dest, dest: dest, base: d.TLSPolicies[dest]}
	port := strconv.Itoa(d.port())
	switch {
	case dest == "":
		return nil, &queue.DeliveryError{Permanent: true, EnhancedCode: "5.1.3", Message: "recipient has no domain"}
	case strings.HasPrefix(dest, "["):
		// An address literal (RFC 5321 §4.1.3): that host, no DNS.
		ip, ok := parseAddressLiteral(dest)
		if !ok {
			return nil, &queue.DeliveryError{Permanent: true, EnhancedCode: "5.1.2", Message: "invalid address literal " + dest}
		}
		r.hosts = []routeHost{{name: ip.String(), network: "tcp", addrs: []string{net.JoinHostPort(ip.String(), port)}}}
		return r, nil
	}
	mx, err := d.res.LookupMX(ctx, dest)
	switch {
	case errors.Is(err, dnsmx.ErrNullMX):
		// RFC 7505 §4.1.
		return nil, &queue.DeliveryError{Permanent: true, EnhancedCode: "5.1.10", Message: "domain " + dest + " accepts no mail (null MX)", Err: err}
	case err != nil && dnsmx.IsPermanent(err):
		return nil, &queue.DeliveryError{Permanent: true, EnhancedCode: "5.1.2", Message: "no mail host for domain " + dest, Err: err}
	case err != nil:
		return nil, &queue.DeliveryError{EnhancedCode: "4.4.3", Message: "DNS lookup for domain " + dest + " failed", Err: err}
	}
	r.mx = mx
	for _, h := range mx.Hosts {
		rh := routeHost{name: h.Host, network: "tcp", authentic: h.Authentic, err: h.Err}
		for _, a := range h.Addrs {
			rh.addrs = append(rh.addrs, net.JoinHostPort(a.String(), port))
		}
		r.hosts = append(r.hosts, rh)
	}
	if d.sts != nil {
		p, err := d.sts.Lookup(ctx, dest)
		switch {
		case err != nil:
			if !errors.Is(err, dnsmx.ErrNoRecords) {
				log.Debug("no MTA-STS policy", "domain", dest, "err", err)
			}
		case p.Mode == dnsmx.STSEnforce || p.Mode == dnsmx.STSTesting:
			r.sts = p
		}
	}
	return r, nil
}

// parseAddressLiteral parses an address literal (RFC 5321 §4.1.3) as a
// domain: "[192.0.2.1]", or "[IPv6:2001:db8::1]" with the tag in any
// case (RFC 5234 §2.3; [queue.Destination] lower-cases it). An
// IPv4-mapped IPv6 address is returned as IPv4. Zones, and an IPv6
// address without the tag or an IPv4 one with it, are refused.
func parseAddressLiteral(s string) (netip.Addr, bool) {
	lit, open := strings.CutPrefix(s, "[")
	lit, closed := strings.CutSuffix(lit, "]")
	if !open || !closed {
		return netip.Addr{}, false
	}
	v6 := len(lit) >= 5 && strings.EqualFold(lit[:5], "IPv6:")
	if v6 {
		lit = lit[5:]
	}
	ip, err := netip.ParseAddr(lit)
	if err != nil || ip.Zone() != "" || ip.Is6() != v6 {
		return netip.Addr{}, false
	}
	return ip.Unmap(), true
}

// hopTLS is the TLS a connection to one host needs.
type hopTLS struct {
	mode       TLSMode
	name       string       // the name the certificate must match
	dane       []dnsmx.TLSA // usable DANE records: they decide, not PKIX
	stsTesting bool         // log when the certificate would fail MTA-STS
}

// strict reports whether the connection must not fall back to plaintext.
func (t *hopTLS) strict() bool { return t.mode >= TLSRequired || len(t.dane) > 0 }

// hostTLS works out the TLS requirements for host h of route r, for
// message m: the route's base mode, raised by MTA-STS, DANE and
// REQUIRETLS. An error means h must not be used for m.
func (d *Deliverer) hostTLS(ctx context.Context, r *hopRoute, h *routeHost, m *queue.Message) (*hopTLS, *queue.DeliveryError) {
	t := &hopTLS{mode: r.base, name: h.name}
	if r.smart != nil && r.smart.TLSConfig != nil && r.smart.TLSConfig.ServerName != "" {
		t.name = r.smart.TLSConfig.ServerName
	}
	if r.lmtp {
		if m.Envelope.Options.RequireTLS {
			return nil, &queue.DeliveryError{Permanent: true, EnhancedCode: "5.7.30", Message: "REQUIRETLS message cannot be handed over LMTP without TLS", RemoteMTA: h.name}
		}
		return t, nil
	}
	stsOK := false
	if p := r.sts; p != nil {
		stsOK = p.Match(h.name)
		switch {
		case p.Mode == dnsmx.STSEnforce && !stsOK:
			// RFC 8461 §4.1: skip MX hosts the policy does not name.
			return nil, &queue.DeliveryError{EnhancedCode: "4.7.5", Message: "MX host " + h.name + " not allowed by the MTA-STS policy of " + r.dest, RemoteMTA: h.name}
		case p.Mode == dnsmx.STSEnforce:
			t.mode = max(t.mode, TLSVerified)
		case t.mode < TLSVerified:
			t.stsTesting = true
		}
	}
	if r.mx != nil && r.mx.Authentic && h.authentic && !d.DisableDANE {
		// RFC 7672 §2.2: TLSA only when the MX and address records are
		// authenticated.
		res, err := d.res.LookupTLSA(ctx, h.name, d.port())
		switch {
		case err == nil:
			if u := res.Usable(); len(u) > 0 {
				t.dane = u // RFC 8461 §2: DANE takes precedence over MTA-STS
				t.mode = max(t.mode, TLSVerified)
			} else {
				t.mode = max(t.mode, TLSRequired) // RFC 7672 §2.2: TLS, unauthenticated
			}
		case dnsmx.IsPermanent(err):
			// Authenticated denial or insecure: no DANE.
		default:
			// RFC 7672 §2.2.1: a TLSA lookup failure may hide an attack.
			return nil, &queue.DeliveryError{EnhancedCode: "4.7.5", Message: "TLSA lookup for " + h.name + " failed", RemoteMTA: h.name, Err: err}
		}
	}
	if m.Envelope.Options.RequireTLS {
		// RFC 8689 §4.2.1: the MX must come from DNSSEC or match an
		// MTA-STS policy, and TLS must be verified (PKIX or DANE).
		if r.mx != nil && !r.mx.Authentic && !stsOK {
			return nil, &queue.DeliveryError{Permanent: true, EnhancedCode: "5.7.30", Message: "REQUIRETLS: MX host " + h.name + " is authenticated neither by DNSSEC nor by MTA-STS", RemoteMTA: h.name}
		}
		t.mode = max(t.mode, TLSVerified)
	}
	return t, nil
}

// deliverGroup delivers message m to the recipients rcpts, which share
// the destination dest, and returns an outcome for each.
func (d *Deliverer) deliverGroup(ctx context.Context, m *queue.Message, dest string, rcpts []int, log *slog.Logger) []queue.Outcome {
	if t := d.attemptTimeout(); t > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t)
		defer cancel()
	}
	log = log.With("domain", dest)
	if d.isLocal(dest) {
		return d.deliverLocal(ctx, m, rcpts, log)
	}
	r, de := d.findRoute(ctx, m, dest, log)
	if de != nil {
		log.Warn("delivery failed", "err", de, "permanent", de.Permanent)
		return failAll(rcpts, de)
	}
	requireTLS := m.Envelope.Options.RequireTLS

	// A connection kept from an earlier message first, then a new one.
	cancelled := func(err error) []queue.Outcome {
		return failAll(rcpts, &queue.DeliveryError{EnhancedCode: "4.4.1", Message: "delivery cancelled or timed out", Err: err})
	}
	var pc *pconn
	for tries := 0; ; tries++ {
		var err error
		pc, err = d.pool.acquire(ctx, r.key, tries < 3, requireTLS)
		if err != nil {
			return cancelled(err)
		}
		if pc == nil {
			break // a slot for a new connection
		}
		out, fail := d.transact(ctx, pc, m, rcpts, log)
		if out != nil {
			return out
		}
		log.Debug("reused connection failed", "host", pc.host, "err", fail)
	}
	slot := true
	defer func() {
		if slot {
			d.pool.release(r.key)
		}
	}()
	var last *queue.DeliveryError
	for i := range r.hosts {
		h := &r.hosts[i]
		if h.err != nil {
			last = &queue.DeliveryError{EnhancedCode: "4.4.3", Message: "no address for " + h.name, RemoteMTA: h.name, Err: h.err}
			continue
		}
		t, de := d.hostTLS(ctx, r, h, m)
		if de != nil {
			log.Warn("skipping host", "host", h.name, "err", de)
			last = de
			continue
		}
		for _, addr := range h.addrs {
			if ctx.Err() != nil {
				return cancelled(ctx.Err())
			}
			pc, de := d.connect(ctx, r, h, addr, t, log)
			if de != nil {
				log.Warn("connection failed", "host", h.name, "addr", addr, "err", de)
				last = de
				continue
			}
			slot = false // the connection owns it now
			out, fail := d.transact(ctx, pc, m, rcpts, log)
			if out != nil {
				return out
			}
			log.Warn("delivery attempt failed", "host", h.name, "addr", addr, "err", fail)
			last = fail
			if _, err := d.pool.acquire(ctx, r.key, false, false); err != nil {
				return cancelled(err)
			}
			slot = true
		}
	}
	if last == nil {
		last = &queue.DeliveryError{EnhancedCode: "4.4.4", Message: "no usable mail host for " + dest}
	}
	log.Warn("delivery deferred", "err", last, "permanent", last.Permanent)
	return failAll(rcpts, last)
}
