package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/postyard/postyard/dnsmx"
	"github.com/postyard/postyard/smtp"
)

// DefaultDNSBLTimeout bounds the lookups DNSBL makes for one client.
const DefaultDNSBLTimeout = 5 * time.Second

// DNSBL is a [Filter] that looks the client's IP address up in DNS block
// lists and allow lists (DNSBL and DNSWL, RFC 5782) and decides at MAIL
// FROM: a hit on an allow list accepts the transaction and skips the
// filters after this one (ActionAccept); hits on block lists add their
// zone's Weight to a score, and a score of Threshold or more refuses the
// transaction with 554 5.7.1 "Service unavailable; client [ip] blocked
// using zone", followed by the list's TXT record (RFC 5782 §2.1); a zone
// with its own Action decides by itself on a hit. Of several decisions
// the most severe wins (reject, then tempfail, discard, quarantine).
//
// The address is looked up as RFC 5782 §2.1 and §2.4 say: the octets of
// an IPv4 address reversed ("2.0.0.127.zone"), the 32 nibbles of an IPv6
// address reversed, under each zone, for A records. An answer counts as a
// hit when it is one of the zone's Codes; answers outside 127.0.0.0/8 (a
// wildcarded or hijacked zone, §2.3) never do, and answers in
// 127.255.255.0/24 mean the list refused the query (too many queries, or
// a public resolver) and are logged, not counted. A zone that cannot be
// queried (timeout, SERVFAIL) does not block: the failure is logged and
// the other zones decide.
//
// Authenticated clients (smtp.ConnInfo.User set), submitted mail
// ([Transaction].Submission) and addresses in Exempt are not looked up.
// The lookups are made once per connection, at the first MAIL FROM, the
// zones in parallel, within Timeout.
//
// Configure it before first use; it is then safe for concurrent use.
type DNSBL struct {
	// Zones are the lists to query.
	Zones []DNSBLZone
	// Threshold is the score at which the block lists' hits refuse the
	// client with Action. Zero means 1 (one hit on a zone of weight 1);
	// negative means the score never refuses (only per-zone Actions do).
	Threshold float64
	// Action is what a score at Threshold does: ActionReject (the
	// default), ActionTempfail, ActionQuarantine or ActionDiscard.
	Action Action
	// Resolver answers the queries. Nil means a [dnsmx.Resolver] with its
	// defaults (the nameservers of /etc/resolv.conf), made on first use.
	// Many lists refuse queries that come through public resolvers: use
	// a resolver of your own.
	Resolver dnsmx.Lookuper
	// Exempt are networks never looked up: your own, trusted relays (the
	// Policy's TrustedNetworks). Nil means DefaultDNSBLExempt; an empty
	// slice means none. To add to the defaults, append to a copy of
	// DefaultDNSBLExempt.
	Exempt []netip.Prefix
	// Timeout bounds the lookups for one client. Zero means
	// DefaultDNSBLTimeout (5s); negative means only the connection's
	// context bounds them.
	Timeout time.Duration
	// Logger; nil means slog.Default().
	Logger *slog.Logger

	once     sync.Once
	resolver dnsmx.Lookuper
}

// DNSBLZone is one list DNSBL queries. The same Zone may appear more than
// once with different Codes, Weights or Actions (Spamhaus ZEN's
// 127.0.0.2-127.0.0.3 SBL codes refusing, its 127.0.0.10-127.0.0.11 PBL
// codes only quarantining, say); it is queried once.
type DNSBLZone struct {
	// Zone is the list's DNS zone ("zen.spamhaus.org").
	Zone string
	// Allow makes the zone an allow list (DNSWL): a hit accepts the
	// transaction and skips the filters after DNSBL.
	Allow bool
	// Codes are the answers that count as a hit. Nil means any address in
	// 127.0.0.2-127.255.254.255 (RFC 5782 §2.3: 127.0.0.1 and the
	// 127.255.255.0/24 error codes are not listings).
	Codes []AddrRange
	// Weight is added to the score on a hit of a block list. Zero means 1
	// for a zone without its own Action, 0 for one with.
	Weight float64
	// Action, if set, is applied on a hit of this block list whatever the
	// score: ActionReject, ActionTempfail, ActionQuarantine or
	// ActionDiscard.
	Action Action
	// NoTXT skips the TXT lookup that gives the reason quoted in the
	// reply.
	NoTXT bool
}

// AddrRange is an inclusive range of IP addresses.
type AddrRange struct{ First, Last netip.Addr }

// Contains reports whether a is in r.
func (r AddrRange) Contains(a netip.Addr) bool {
	return a.BitLen() == r.First.BitLen() && r.First.Compare(a) <= 0 && a.Compare(r.Last) <= 0
}

// ParseAddrRange parses "127.0.0.2-127.0.0.11", "127.0.0.10/31" or a
// single address; both ends must be of one family, the first not after
// the last.
func ParseAddrRange(s string) (AddrRange, error) {
	if first, last, ok := strings.Cut(s, "-"); ok {
		a, err1 := netip.ParseAddr(strings.TrimSpace(first))
		b, err2 := netip.ParseAddr(strings.TrimSpace(last))
		if err := errors.Join(err1, err2); err != nil {
			return AddrRange{}, fmt.Errorf("relay: address range %q: %w", s, err)
		}
		if a.BitLen() != b.BitLen() || a.Zone() != "" || b.Zone() != "" || b.Less(a) {
			return AddrRange{}, fmt.Errorf("relay: address range %q: not a range", s)
		}
		return AddrRange{a, b}, nil
	}
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return AddrRange{}, fmt.Errorf("relay: address range %q: %w", s, err)
		}
		p = p.Masked()
		return AddrRange{p.Addr(), lastAddr(p)}, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return AddrRange{}, fmt.Errorf("relay: address range %q: not an address", s)
	}
	return AddrRange{a, a}, nil
}

// lastAddr returns the last address of a masked prefix.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// dnsblDefaultCodes are the answers that count when Codes is nil.
var dnsblDefaultCodes = []AddrRange{{netip.AddrFrom4([4]byte{127, 0, 0, 2}), netip.AddrFrom4([4]byte{127, 255, 254, 255})}}

// dnsblRefused are the answers that say the list refused the query.
var dnsblRefused = netip.MustParsePrefix("127.255.255.0/24")

// dnsblAnswers are the only answers a list may give (RFC 5782 §2.3).
var dnsblAnswers = netip.MustParsePrefix("127.0.0.0/8")

// NewSession implements Filter.
func (bl *DNSBL) NewSession(ctx context.Context, c *smtp.ConnInfo) (FilterSession, error) {
	return &dnsblSession{bl: bl}, nil
}

func (bl *DNSBL) lookuper() dnsmx.Lookuper {
	bl.once.Do(func() {
		bl.resolver = bl.Resolver
		if bl.resolver == nil {
			bl.resolver = &dnsmx.Resolver{}
		}
	})
	return bl.resolver
}

func (bl *DNSBL) logger() *slog.Logger {
	if bl.Logger != nil {
		return bl.Logger
	}
	return slog.Default()
}

// DefaultDNSBLExempt are the networks DNSBL does not look up when its
// Exempt field is nil: loopback, private (RFC 1918, RFC 4193), link-local
// and unspecified addresses, which no public list has. Do not modify it.
var DefaultDNSBLExempt = []netip.Prefix{
	netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128"),
	netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"), netip.MustParsePrefix("fc00::/7"),
	netip.MustParsePrefix("169.254.0.0/16"), netip.MustParsePrefix("fe80::/10"),
	netip.MustParsePrefix("0.0.0.0/32"), netip.MustParsePrefix("::/128"),
}

// exempt reports whether ip is not to be looked up.
func (bl *DNSBL) exempt(ip netip.Addr) bool {
	exempt := bl.Exempt
	if exempt == nil {
		exempt = DefaultDNSBLExempt
	}
	for _, p := range exempt {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// dnsblSession caches the outcome for one connection.
type dnsblSession struct {
	bl      *DNSBL
	checked bool
	v       Verdict
}

func (s *dnsblSession) Mail(ctx context.Context, tx *Transaction) (Verdict, error) {
	if tx.Submission || tx.Conn == nil || tx.Conn.User != "" {
		return Verdict{}, nil
	}
	if !s.checked {
		var complete bool
		s.v, complete = s.bl.check(ctx, clientIP(tx.Conn))
		s.checked = complete // ask again at the next MAIL if a zone failed
	}
	return s.v, nil
}

func (s *dnsblSession) Rcpt(ctx context.Context, tx *Transaction, to smtp.Path) (Verdict, error) {
	return Verdict{}, nil
}

func (s *dnsblSession) Data(ctx context.Context, tx *Transaction, msg *Message) (Verdict, error) {
	return Verdict{}, nil
}

func (s *dnsblSession) Reset(ctx context.Context) {}
func (s *dnsblSession) Close() error              { return nil }

// dnsblAnswer is what one zone answered.
type dnsblAnswer struct {
	addrs []netip.Addr
	err   error
}

// check looks ip up and returns the verdict, and whether every zone
// answered.
func (bl *DNSBL) check(ctx context.Context, ip netip.Addr) (Verdict, bool) {
	if !ip.IsValid() || bl.exempt(ip) || len(bl.Zones) == 0 {
		return Verdict{}, true
	}
	if t := bl.Timeout; t >= 0 {
		if t == 0 {
			t = DefaultDNSBLTimeout
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t)
		defer cancel()
	}
	l := bl.lookuper()
	rev := reversedIP(ip)

	// Query each zone once, in parallel.
	answers := make(map[string]*dnsblAnswer)
	var wg sync.WaitGroup
	for _, z := range bl.Zones {
		zone := dnsblZoneName(z.Zone)
		if zone == "" || answers[zone] != nil {
			continue
		}
		a := &dnsblAnswer{}
		answers[zone] = a
		wg.Go(func() {
			res, err := l.LookupIP(ctx, "ip4", rev+"."+zone)
			switch {
			case err == nil:
				a.addrs = res.Addrs
			case !errors.Is(err, dnsmx.ErrNXDomain) && !errors.Is(err, dnsmx.ErrNoRecords):
				a.err = err
			}
		})
	}
	wg.Wait()

	log := bl.logger()
	complete := true
	for zone, a := range answers {
		if a.err != nil {
			complete = false
			log.Warn("DNSBL lookup failed; not counted", "zone", zone, "ip", ip.String(), "err", a.err)
		}
		for _, addr := range a.addrs {
			if dnsblRefused.Contains(addr) {
				log.Warn("DNSBL refused the query; not counted", "zone", zone, "ip", ip.String(), "code", addr.String())
			}
		}
	}

	var (
		score    float64
		hits     []string // block list zones hit, in order, once each
		txtZones []string // those whose TXT record may give the reason
		action   = ActionDefault
		why      []string
	)
	for _, z := range bl.Zones {
		zone := dnsblZoneName(z.Zone)
		a := answers[zone]
		if a == nil {
			continue
		}
		code, hit := dnsblHit(a.addrs, z.Codes)
		if !hit {
			continue
		}
		if z.Allow {
			return Verdict{Action: ActionAccept, Reason: fmt.Sprintf("client [%s] in allow list %s (%s)", ip, zone, code)}, complete
		}
		w := z.Weight
		if w == 0 && z.Action == ActionDefault {
			w = 1
		}
		score += w
		why = append(why, fmt.Sprintf("%s (%s)", zone, code))
		if !slices.Contains(hits, zone) {
			hits = append(hits, zone)
			if !z.NoTXT {
				txtZones = append(txtZones, zone)
			}
		}
		action = severer(action, z.Action)
	}
	if len(hits) == 0 {
		return Verdict{}, complete
	}
	threshold := bl.Threshold
	if threshold == 0 {
		threshold = 1
	}
	if threshold > 0 && score >= threshold {
		a := bl.Action
		if a == ActionDefault {
			a = ActionReject
		}
		action = severer(action, a)
	}
	reason := fmt.Sprintf("client [%s] listed in %s, score %g", ip, strings.Join(why, ", "), score)
	if action == ActionDefault || action == ActionAccept {
		log.Debug("DNSBL hits below the threshold", "ip", ip.String(), "reason", reason)
		return Verdict{}, complete
	}
	v := Verdict{Action: action, Reason: reason}
	switch action {
	case ActionReject, ActionTempfail:
		text := fmt.Sprintf("Service unavailable; client [%s] blocked using %s", ip, strings.Join(hits, ", "))
		if txt := bl.reasonTXT(ctx, l, rev, txtZones); txt != "" {
			text += "; " + txt
		}
		v.Reply = &smtp.Error{Code: 554, EnhancedCode: "5.7.1", Message: text}
		if action == ActionTempfail {
			v.Reply = &smtp.Error{Code: 451, EnhancedCode: "4.7.1", Message: text}
		}
	}
	return v, complete
}

// reasonTXT returns the first TXT record of the listing in zones (RFC
// 5782 §2.1), made fit for a reply: printable ASCII, at most 200
// characters.
func (bl *DNSBL) reasonTXT(ctx context.Context, l dnsmx.Lookuper, rev string, zones []string) string {
	for _, zone := range zones {
		res, err := l.LookupTXT(ctx, rev+"."+zone)
		if err != nil || len(res.Records) == 0 {
			continue
		}
		var b strings.Builder
		for _, r := range res.Records[0] {
			if b.Len() >= 200 {
				break
			}
			if r < 0x20 || r > 0x7e {
				r = ' '
			}
			b.WriteRune(r)
		}
		if s := strings.TrimSpace(b.String()); s != "" {
			return s
		}
	}
	return ""
}

// dnsblHit returns the first answer that is one of codes (nil: the
// default codes).
func dnsblHit(addrs []netip.Addr, codes []AddrRange) (netip.Addr, bool) {
	if codes == nil {
		codes = dnsblDefaultCodes
	}
	for _, a := range addrs {
		if !dnsblAnswers.Contains(a) || dnsblRefused.Contains(a) {
			continue
		}
		for _, c := range codes {
			if c.Contains(a) {
				return a, true
			}
		}
	}
	return netip.Addr{}, false
}

// severer returns the more severe of two actions: reject, tempfail,
// discard, quarantine, then the rest.
func severer(a, b Action) Action {
	rank := func(x Action) int {
		switch x {
		case ActionReject:
			return 4
		case ActionTempfail:
			return 3
		case ActionDiscard:
			return 2
		case ActionQuarantine:
			return 1
		}
		return 0
	}
	if rank(b) > rank(a) {
		return b
	}
	return a
}

// dnsblZoneName returns a zone in lower case without a trailing dot.
func dnsblZoneName(z string) string {
	return strings.ToLower(strings.TrimSuffix(strings.TrimSpace(z), "."))
}

// reversedIP returns the labels for ip in a DNSBL query (RFC 5782 §2.1,
// §2.4): "4.3.2.1" for 1.2.3.4; for IPv6 the 32 nibbles of the address in
// reverse order, lower-case hexadecimal, dot-separated.
func reversedIP(ip netip.Addr) string {
	ip = ip.Unmap()
	var b strings.Builder
	if ip.Is4() {
		a := ip.As4()
		fmt.Fprintf(&b, "%d.%d.%d.%d", a[3], a[2], a[1], a[0])
		return b.String()
	}
	const hex = "0123456789abcdef"
	a := ip.As16()
	for i := len(a) - 1; i >= 0; i-- {
		if i < len(a)-1 {
			b.WriteByte('.')
		}
		b.WriteByte(hex[a[i]&0xf])
		b.WriteByte('.')
		b.WriteByte(hex[a[i]>>4])
	}
	return b.String()
}
