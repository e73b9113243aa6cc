package dnsmx

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// errMismatch is an answer to a question other than the one asked.
var errMismatch = errors.New("answer does not match the question")

// exchange sends one query for name (normalized) and qtype, trying each
// nameserver in turn for r.rounds() rounds, and returns the first answer
// with RCODE NOERROR or NXDOMAIN. Truncated UDP answers are asked again over
// TCP at the same server.
func (r *Resolver) exchange(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
	op := dns.TypeToString[qtype]
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(name), qtype)
	q.RecursionDesired = true
	// RFC 6840 §5.7: AD in a query asks for the AD bit in the answer
	// without the cost of DO (and RRSIGs).
	q.AuthenticatedData = true
	if size := r.udpSize(); size > 0 {
		q.SetEdns0(uint16(size), false)
	}
	var last error
	for range r.rounds() {
		for _, server := range r.servers {
			q.Id = dns.Id()
			resp, err := r.exchangeOne(ctx, "udp", server, q)
			if err == nil && resp.Truncated {
				resp, err = r.exchangeOne(ctx, "tcp", server, q)
			}
			if ctx.Err() != nil {
				return nil, newError(op, name, ctx.Err(), err)
			}
			if err != nil {
				last = r.transportError(op, name, server, err)
				continue
			}
			if resp.Rcode == dns.RcodeSuccess || resp.Rcode == dns.RcodeNameError {
				return resp, nil
			}
			last = newError(op, name, ErrServFail, fmt.Errorf("%s from %s", dns.RcodeToString[resp.Rcode], server))
			r.logger().Debug("dns error rcode", "name", name, "type", op, "server", server, "rcode", dns.RcodeToString[resp.Rcode])
		}
	}
	if last == nil {
		last = newError(op, name, ErrServFail, errors.New("no nameservers"))
	}
	return nil, last
}

// transportError classifies a failed exchange with server.
func (r *Resolver) transportError(op, name, server string, err error) error {
	r.logger().Debug("dns query failed", "name", name, "type", op, "server", server, "err", err)
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return newError(op, name, ErrTimeout, fmt.Errorf("%s: %w", server, err))
	case errors.Is(err, errMismatch), errors.Is(err, dns.ErrId):
		return newError(op, name, ErrMalformed, fmt.Errorf("%s: %w", server, err))
	}
	var de *dns.Error
	if errors.As(err, &de) {
		return newError(op, name, ErrMalformed, fmt.Errorf("%s: %w", server, err))
	}
	return newError(op, name, ErrNetwork, fmt.Errorf("%s: %w", server, err))
}

// pastDeadline is a deadline that has passed, to wake a blocked read.
var pastDeadline = time.Unix(1, 0)

// exchangeOne sends q to server over network ("udp" or "tcp") and reads the
// answer, bounded by r.Timeout and ctx. Over UDP, datagrams that are not an
// answer to q (other ID, other question) are ignored (RFC 5452 §9.1).
func (r *Resolver) exchangeOne(ctx context.Context, network, server string, q *dns.Msg) (*dns.Msg, error) {
	start := time.Now()
	if t := r.timeout(); t > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t)
		defer cancel()
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, network, server)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(pastDeadline) })
	defer stop()

	co := &dns.Conn{Conn: c, UDPSize: uint16(max(r.udpSize(), dns.MinMsgSize))}
	if err := co.WriteMsg(q); err != nil {
		return nil, err
	}
	for {
		resp, err := co.ReadMsg()
		var de *dns.Error
		switch {
		case err != nil && (network == "tcp" || !errors.As(err, &de)):
			return nil, err
		case err != nil && resp != nil && answers(resp, q):
			// Our answer, but it does not unpack: truncated (with TC, or
			// by a server that sent more than UDPSize). TCP will do.
			resp.Truncated = true
			return resp, nil
		case err != nil:
			continue // an unparsable datagram
		case !answers(resp, q) && network == "udp":
			continue // a stray datagram: keep waiting for ours
		case !answers(resp, q):
			return nil, errMismatch
		}
		r.logger().Debug("dns query", "name", q.Question[0].Name, "type", dns.TypeToString[q.Question[0].Qtype],
			"server", server, "net", network, "rcode", dns.RcodeToString[resp.Rcode], "ad", resp.AuthenticatedData,
			"tc", resp.Truncated, "rtt", time.Since(start))
		return resp, nil
	}
}

// answers reports whether resp is a response to q.
func answers(resp, q *dns.Msg) bool {
	if !resp.Response || resp.Id != q.Id || len(resp.Question) != 1 {
		return false
	}
	a, b := resp.Question[0], q.Question[0]
	return a.Qtype == b.Qtype && a.Qclass == b.Qclass && strings.EqualFold(a.Name, b.Name)
}
