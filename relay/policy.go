package relay

import (
	"context"
	"net"
	"net/netip"
	"strings"

	"github.com/postyard/postyard/smtp"
)

// Kind says what a Policy decided for a recipient.
type Kind int

const (
	// Local: deliver to the users in Decision.Users.
	Local Kind = iota + 1
	// Relay: queue for delivery to another server.
	Relay
)

// Decision is the outcome of Policy.Check for one recipient.
type Decision struct {
	Kind Kind
	// Users are the local users to deliver to (Local); an alias may also
	// add remote addresses to Forward.
	Users []string
	// Forward are remote addresses to queue: the recipient itself (Relay)
	// or an alias's remote targets.
	Forward []smtp.Path
}

// UserLookup says whether a local user exists, given the local part
// (lower-cased, sub-address removed) and the domain (lower-case A-label). It
// returns the name to deliver to (the mailbox.Store user name), or "" if
// there is no such user.
type UserLookup func(ctx context.Context, local, domain string) (user string, err error)

// Policy decides, per RCPT, whether a recipient is local, may be relayed,
// or is refused. The zero Policy refuses everything. A Policy must not be
// changed while in use; it is safe for concurrent use.
type Policy struct {
	// Domains are the mail domains this server receives for, in any case,
	// A-label or U-label form.
	Domains []string
	// LocalAddresses are this server's own IP addresses: recipients at an
	// address literal of one of them (user@[192.0.2.1]) are local.
	LocalAddresses []netip.Addr
	// Users looks up local users. Nil means no local user exists.
	Users UserLookup
	// Separator, if set (usually "+"), splits a local part into user and
	// detail (RFC 5233): user+news@example.com goes to user.
	Separator string
	// Aliases maps a local address ("info@example.com", lower-case) or a
	// local part for every local domain ("postmaster") to target addresses,
	// local or remote. Targets that are aliases are expanded too, up to a
	// depth of 8.
	Aliases map[string][]string
	// CatchAll maps a local domain to the user who receives mail for its
	// unknown local parts.
	CatchAll map[string]string
	// TrustedNetworks may relay without authentication.
	TrustedNetworks []netip.Prefix
	// AllowRelay is an application rule for relaying; it is asked only for
	// remote recipients of unauthenticated clients outside TrustedNetworks.
	AllowRelay func(ctx context.Context, c *smtp.ConnInfo, to smtp.Path) (bool, error)
}

// maxAliasDepth bounds alias expansion.
const maxAliasDepth = 8

// Errors Check returns, ready to be sent as SMTP replies.
var (
	ErrUnknownUser  = &smtp.Error{Code: 550, EnhancedCode: "5.1.1", Message: "No such user here"}
	ErrRelayDenied  = &smtp.Error{Code: 554, EnhancedCode: "5.7.1", Message: "Relay access denied"}
	ErrAliasLoop    = &smtp.Error{Code: 554, EnhancedCode: "5.4.6", Message: "Alias expansion loop or too deep"}
	ErrBadRecipient = &smtp.Error{Code: 501, EnhancedCode: "5.1.3", Message: "Bad recipient address"}
)

// Check decides what to do with recipient to, sent by the client c.
func (p *Policy) Check(ctx context.Context, c *smtp.ConnInfo, to smtp.Path) (*Decision, error) {
	d := &Decision{}
	if err := p.resolve(ctx, c, to, d, 0, true); err != nil {
		return nil, err
	}
	if len(d.Users) > 0 {
		d.Kind = Local
	} else {
		d.Kind = Relay
	}
	return d, nil
}

// resolve adds to d where mail for to goes. direct is true for the
// recipient the client gave (relay rules apply), false for alias targets
// (the server's own configuration).
func (p *Policy) resolve(ctx context.Context, c *smtp.ConnInfo, to smtp.Path, d *Decision, depth int, direct bool) error {
	if depth > maxAliasDepth {
		return ErrAliasLoop
	}
	// Source routes are ignored (RFC 5321 Appendix C): decide on the
	// final address alone.
	to.SourceRoute = nil
	domain, local, err := p.isLocal(to)
	if err != nil {
		return ErrBadRecipient
	}
	if !local {
		if direct {
			ok, err := p.mayRelay(ctx, c, to)
			if err != nil {
				return err
			}
			if !ok {
				return ErrRelayDenied
			}
		}
		d.Forward = append(d.Forward, to)
		return nil
	}
	lp := strings.ToLower(to.Local)
	if to.Domain == "" { // RCPT TO:<Postmaster>, RFC 5321 §4.5.1
		lp = "postmaster"
	}
	if p.Separator != "" {
		if i := strings.Index(lp, p.Separator); i > 0 {
			lp = lp[:i]
		}
	}
	if targets, ok := p.alias(lp, domain); ok {
		for _, t := range targets {
			tp, _, err := smtp.ParsePath("<"+t+">", smtp.PathOptions{UTF8: true})
			if err != nil {
				return &smtp.Error{Code: 451, EnhancedCode: "4.3.0", Message: "Bad alias configuration", Err: err}
			}
			if err := p.resolve(ctx, c, tp, d, depth+1, false); err != nil {
				return err
			}
		}
		return nil
	}
	user := ""
	if p.Users != nil {
		if user, err = p.Users(ctx, lp, domain); err != nil {
			return err
		}
	}
	if user == "" {
		user = p.CatchAll[domain]
	}
	if user == "" {
		return ErrUnknownUser
	}
	d.Users = append(d.Users, user)
	return nil
}

// alias looks up local@domain, then local alone.
func (p *Policy) alias(local, domain string) ([]string, bool) {
	if t, ok := p.Aliases[local+"@"+domain]; ok {
		return t, true
	}
	t, ok := p.Aliases[local]
	return t, ok
}

// isLocal normalises the domain of to and says whether it is one of ours.
func (p *Policy) isLocal(to smtp.Path) (domain string, local bool, err error) {
	if to.Domain == "" {
		return "", true, nil // Postmaster
	}
	if strings.HasPrefix(to.Domain, "[") {
		lit := strings.TrimSuffix(strings.TrimPrefix(to.Domain, "["), "]")
		if len(lit) > 5 && strings.EqualFold(lit[:5], "IPv6:") { // the tag is case-insensitive (RFC 5234 §2.3)
			lit = lit[5:]
		}
		ip, err := netip.ParseAddr(lit)
		if err != nil {
			return "", false, err
		}
		for _, a := range p.LocalAddresses {
			if a.Unmap() == ip.Unmap() {
				return to.Domain, true, nil
			}
		}
		return to.Domain, false, nil
	}
	domain, err = normDomain(to.Domain)
	if err != nil {
		return "", false, err
	}
	for _, d := range p.Domains {
		if nd, err := normDomain(d); err == nil && nd == domain {
			return domain, true, nil
		}
	}
	return domain, false, nil
}

// normDomain returns a domain in lower-case A-label form without a trailing
// dot.
func normDomain(d string) (string, error) {
	d = strings.TrimSuffix(d, ".")
	a, err := smtp.Path{Local: "x", Domain: d}.ASCIIDomain()
	if err != nil {
		return "", err
	}
	return strings.ToLower(a), nil
}

// mayRelay says whether the client may send to a remote recipient.
func (p *Policy) mayRelay(ctx context.Context, c *smtp.ConnInfo, to smtp.Path) (bool, error) {
	if c == nil {
		return false, nil
	}
	if c.User != "" {
		return true, nil
	}
	if ip, ok := addrOf(c.RemoteAddr); ok {
		for _, n := range p.TrustedNetworks {
			if n.Contains(ip) {
				return true, nil
			}
		}
	}
	if p.AllowRelay != nil {
		return p.AllowRelay(ctx, c, to)
	}
	return false, nil
}

// addrOf returns the IP of a network address.
func addrOf(a net.Addr) (netip.Addr, bool) {
	switch a := a.(type) {
	case *net.TCPAddr:
		ip, ok := netip.AddrFromSlice(a.IP)
		return ip.Unmap(), ok
	case nil:
		return netip.Addr{}, false
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}, false
	}
	return ap.Addr().Unmap(), true
}
