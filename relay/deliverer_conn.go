package relay

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/postyard/postyard/queue"
	"github.com/postyard/postyard/smtp"
)

// pconn is an open connection to a next hop.
type pconn struct {
	c        *smtp.Client
	key      string // pool key
	host     string // name, for reports
	addr     string
	tls      bool // TLS is active
	verified bool // the certificate was verified (PKIX or DANE)
	sent     int  // transactions so far
	timer    *time.Timer
}

// connPool keeps idle connections per destination and bounds the connections
// open to each.
type connPool struct {
	d      *Deliverer
	mu     sync.Mutex
	dests  map[string]*destConns
	closed bool
}

type destConns struct {
	open int      // connections open or being opened
	idle []*pconn // most recently used last
	wait chan struct{}
}

func newConnPool(d *Deliverer) *connPool { return &connPool{d: d, dests: make(map[string]*destConns)} }

func (p *connPool) dest(key string) *destConns {
	dc := p.dests[key]
	if dc == nil {
		dc = &destConns{wait: make(chan struct{})}
		p.dests[key] = dc
	}
	return dc
}

// signal wakes the goroutines waiting for a slot of dc. p.mu is held.
func (dc *destConns) signal() {
	close(dc.wait)
	dc.wait = make(chan struct{})
}

// acquire returns an idle connection for key (one with verified TLS if
// verified is set) when reuse is set and there is one; otherwise it
// reserves a slot for a new connection and returns nil, waiting while
// MaxConnsPerDest connections are open. An idle connection that does not
// fit is closed to make room.
func (p *connPool) acquire(ctx context.Context, key string, reuse, verified bool) (*pconn, error) {
	limit := deliverDefault(p.d.MaxConnsPerDest, DefaultMaxConnsPerDest, 0)
	for {
		p.mu.Lock()
		dc := p.dest(key)
		if reuse {
			for i := len(dc.idle) - 1; i >= 0; i-- {
				pc := dc.idle[i]
				if verified && !pc.verified || !pc.timer.Stop() {
					continue // unfit, or being closed by its timer
				}
				dc.idle = append(dc.idle[:i], dc.idle[i+1:]...)
				p.mu.Unlock()
				return pc, nil
			}
		}
		if limit == 0 || dc.open < limit {
			dc.open++
			p.mu.Unlock()
			return nil, nil
		}
		if len(dc.idle) > 0 && dc.idle[0].timer.Stop() {
			pc := dc.idle[0]
			dc.idle = dc.idle[1:]
			p.mu.Unlock()
			p.discard(pc, true) // frees its slot
			continue
		}
		wait := dc.wait
		p.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-wait:
		}
	}
}

// release gives back a slot reserved with acquire that holds no
// connection (any more).
func (p *connPool) release(key string) {
	p.mu.Lock()
	dc := p.dest(key)
	dc.open--
	dc.signal()
	p.mu.Unlock()
}

// put keeps pc for reuse, or closes it.
func (p *connPool) put(pc *pconn) {
	idle := deliverDefault(p.d.IdleTimeout, DefaultIdleTimeout, 0)
	maxSent := deliverDefault(p.d.MaxMessagesPerConn, DefaultMaxMessagesPerConn, 0)
	p.mu.Lock()
	if p.closed || idle == 0 || maxSent > 0 && pc.sent >= maxSent {
		p.mu.Unlock()
		p.discard(pc, true)
		return
	}
	dc := p.dest(pc.key)
	pc.timer = time.AfterFunc(idle, func() { p.expire(pc) })
	dc.idle = append(dc.idle, pc)
	dc.signal()
	p.mu.Unlock()
}

// expire closes pc when it has been idle too long.
func (p *connPool) expire(pc *pconn) {
	p.mu.Lock()
	dc := p.dest(pc.key)
	for i, x := range dc.idle {
		if x == pc {
			dc.idle = append(dc.idle[:i], dc.idle[i+1:]...)
			break
		}
	}
	p.mu.Unlock()
	p.discard(pc, true)
}

// discard closes pc (politely with QUIT if quit) and frees its slot.
func (p *connPool) discard(pc *pconn, quit bool) {
	if quit {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		pc.c.Quit(ctx)
		cancel()
	} else {
		pc.c.Close()
	}
	p.release(pc.key)
}

// closeAll closes every idle connection; later puts close theirs.
func (p *connPool) closeAll() {
	p.mu.Lock()
	p.closed = true
	var all []*pconn
	for _, dc := range p.dests {
		for _, pc := range dc.idle {
			if pc.timer.Stop() {
				all = append(all, pc)
			}
		}
		dc.idle = nil
	}
	p.mu.Unlock()
	var wg sync.WaitGroup
	for _, pc := range all {
		wg.Go(func() { p.discard(pc, true) })
	}
	wg.Wait()
}

// errPlaintextRetry asks connect to try the address again without TLS.
var errPlaintextRetry = errors.New("relay: TLS handshake failed; retrying without TLS")

// connect opens a connection to addr of host h, with TLS as t says and
// AUTH for a smarthost. The caller holds a slot for r.key, which the
// connection takes over; on failure the slot is still the caller's.
func (d *Deliverer) connect(ctx context.Context, r *hopRoute, h *routeHost, addr string, t *hopTLS, log *slog.Logger) (*pconn, *queue.DeliveryError) {
	pc, de := d.dial(ctx, r, h, addr, t, true)
	if de != nil && errors.Is(de.Err, errPlaintextRetry) {
		log.Info("TLS handshake failed, falling back to plaintext", "host", h.name, "addr", addr, "err", errors.Unwrap(de.Err))
		pc, de = d.dial(ctx, r, h, addr, t, false)
	}
	return pc, de
}

func (d *Deliverer) dial(ctx context.Context, r *hopRoute, h *routeHost, addr string, t *hopTLS, useTLS bool) (*pconn, *queue.DeliveryError) {
	if ct := d.connectTimeout(); ct > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, ct)
		defer cancel()
	}
	fail := func(code string, msg string, err error) (*pconn, *queue.DeliveryError) {
		return nil, &queue.DeliveryError{EnhancedCode: code, Message: msg, RemoteMTA: h.name, Err: err}
	}
	var dialer net.Dialer
	conn, err := dialer.DialContext(ctx, h.network, addr)
	if err != nil {
		return fail("4.4.1", "connection to "+h.name+" failed", err)
	}
	pc := &pconn{key: r.key, host: h.name, addr: addr}
	conf := d.tlsConfig(r, t, pc)
	if r.smart != nil && r.smart.ImplicitTLS {
		tc := tls.Client(conn, conf)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return fail("4.7.5", "TLS handshake with "+h.name+" failed", err)
		}
		conn, pc.tls = tc, true
	}
	c, err := smtp.NewClient(ctx, conn, &smtp.ClientOptions{Hostname: d.helloName(conn), LMTP: r.lmtp})
	if err != nil {
		de := replyError(err, h.name)
		de.Permanent = false // a refusing greeting: try another host
		return nil, de
	}
	pc.c = c
	abort := func(de *queue.DeliveryError) (*pconn, *queue.DeliveryError) {
		qctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c.Quit(qctx)
		cancel()
		return nil, de
	}
	if !pc.tls && t.mode != TLSDisabled && useTLS {
		if !c.Supports("STARTTLS") {
			if t.strict() {
				return abort(&queue.DeliveryError{EnhancedCode: "4.7.4", Message: h.name + " does not offer STARTTLS, which is required", RemoteMTA: h.name})
			}
		} else if err := c.StartTLS(ctx, conf); err != nil {
			var se *smtp.Error
			switch {
			case t.strict() || ctx.Err() != nil:
				c.Close()
				return fail("4.7.5", "TLS with "+h.name+" failed", err)
			case errors.As(err, &se) && se.Code != 421:
				// STARTTLS refused: carry on in plaintext (RFC 3207 §4.1).
			default:
				c.Close()
				return fail("4.7.5", "TLS handshake with "+h.name+" failed", fmt.Errorf("%w: %w", errPlaintextRetry, err))
			}
		} else {
			pc.tls = true
		}
	}
	if !pc.tls && t.strict() {
		return abort(&queue.DeliveryError{EnhancedCode: "4.7.4", Message: "TLS required with " + h.name, RemoteMTA: h.name})
	}
	if s := r.smart; s != nil && s.Username != "" {
		if !pc.tls && !s.AllowInsecureAuth {
			return abort(&queue.DeliveryError{EnhancedCode: "4.7.4", Message: "not sending credentials to " + h.name + " without TLS", RemoteMTA: h.name})
		}
		if err := c.Auth(ctx, &plainAuth{user: s.Username, pass: s.Password}); err != nil {
			de := replyError(err, h.name)
			de.Permanent = false // a configuration problem: keep the mail
			if de.Message == "" || de.Code == 0 {
				de.Message = "authentication with " + h.name + " failed"
			}
			c.Close()
			return nil, de
		}
	}
	return pc, nil
}

// tlsConfig returns the TLS configuration for a connection: the
// certificate is checked in VerifyConnection as t says, and pc records
// whether it was verified.
func (d *Deliverer) tlsConfig(r *hopRoute, t *hopTLS, pc *pconn) *tls.Config {
	base := d.TLSConfig
	if r.smart != nil && r.smart.TLSConfig != nil {
		base = r.smart.TLSConfig
	}
	var conf *tls.Config
	if base != nil {
		conf = base.Clone()
	} else {
		conf = &tls.Config{}
	}
	conf.ServerName = t.name
	roots := conf.RootCAs
	conf.InsecureSkipVerify = true // checked below, as the mode says
	conf.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(t.dane) > 0 {
			if err := daneVerify(cs, t.dane, t.name); err != nil {
				return err
			}
			pc.verified = true
			return nil
		}
		err := pkixVerify(cs, roots, t.name)
		pc.verified = err == nil
		if err != nil && t.mode >= TLSVerified {
			return err
		}
		if err != nil && t.stsTesting {
			d.logger().Warn("MTA-STS testing: certificate would fail the policy", "host", t.name, "err", err)
		}
		return nil
	}
	return conf
}

// pkixVerify checks the peer's chain against roots (nil: the system's)
// for name.
func pkixVerify(cs tls.ConnectionState, roots *x509.CertPool, name string) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("relay: no server certificate")
	}
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{DNSName: name, Roots: roots, Intermediates: inter})
	return err
}

// plainAuth is the client side of SASL PLAIN (RFC 4616), for a smarthost.
type plainAuth struct{ user, pass string }

func (a *plainAuth) Start() (string, []byte, error) {
	return "PLAIN", []byte("\x00" + a.user + "\x00" + a.pass), nil
}

func (a *plainAuth) Next([]byte) ([]byte, error) {
	return nil, errors.New("relay: unexpected AUTH PLAIN challenge")
}

// transact sends message m to the recipients rcpts over pc. It returns
// an outcome per recipient once the server has answered for them, or a
// failure of the host (the connection broke or the server refused it
// before the transaction); pc is then closed and the caller tries
// elsewhere. Otherwise pc goes back to the pool.
func (d *Deliverer) transact(ctx context.Context, pc *pconn, m *queue.Message, rcpts []int, log *slog.Logger) ([]queue.Outcome, *queue.DeliveryError) {
	c := pc.c
	env := &m.Envelope
	perm := func(code, msg string) []queue.Outcome {
		d.pool.put(pc)
		return failAll(rcpts, &queue.DeliveryError{Permanent: true, EnhancedCode: code, Message: msg, RemoteMTA: pc.host})
	}
	// What the server must support, checked before sending anything: no
	// silent downgrade or corruption.
	if env.UTF8() && !c.Supports("SMTPUTF8") {
		return perm("5.6.7", pc.host+" does not support SMTPUTF8, which the message needs (RFC 6531 §3.2)"), nil
	}
	switch env.Options.Body {
	case smtp.Body8BitMIME:
		if !c.Supports("8BITMIME") {
			return perm("5.6.3", pc.host+" does not support 8BITMIME, which the message needs"), nil
		}
	case smtp.BodyBinaryMIME:
		if !c.Supports("BINARYMIME") || !c.Supports("CHUNKING") {
			return perm("5.6.3", pc.host+" does not support BINARYMIME, which the message needs"), nil
		}
	}
	if size, ok := c.MaxMessageSize(); ok && size > 0 && m.Size > size {
		return perm("5.3.4", fmt.Sprintf("message size %d exceeds the limit of %s (%d)", m.Size, pc.host, size)), nil
	}
	if env.Options.RequireTLS && (!pc.verified || !c.Supports("REQUIRETLS")) {
		// RFC 8689 §4.2.1: try another host; the last one's answer counts.
		d.pool.put(pc)
		return nil, &queue.DeliveryError{Permanent: true, EnhancedCode: "5.7.30", Message: "REQUIRETLS: " + pc.host + " does not offer REQUIRETLS over verified TLS", RemoteMTA: pc.host}
	}

	opts := env.Options
	opts.Size = m.Size
	dsn := c.Supports("DSN")
	if !dsn {
		opts.Return, opts.EnvelopeID = "", ""
	}
	list := make([]smtp.Rcpt, len(rcpts))
	for k, i := range rcpts {
		r := env.Recipients[i]
		ro := r.Options
		if !dsn {
			ro = smtp.RcptOptions{}
		}
		list[k] = smtp.Rcpt{To: r.To, Opts: &ro}
	}
	body, err := d.Queue.Open(ctx, m.ID)
	if err != nil {
		d.pool.put(pc)
		return failAll(rcpts, &queue.DeliveryError{EnhancedCode: "4.3.0", Message: "queued message unreadable", Err: err}), nil
	}
	res, err := c.SendMail(ctx, env.From, &opts, list, body)
	body.Close()
	pc.sent++

	var se *smtp.Error
	isReply := errors.As(err, &se)
	if res == nil {
		if isReply && se.Code != 421 {
			// MAIL refused: the answer for every recipient.
			d.pool.put(pc)
			return failAll(rcpts, replyError(err, pc.host)), nil
		}
		// The connection failed or was closed (421) before the content:
		// nothing was accepted, another host may be tried.
		d.pool.discard(pc, false)
		if errors.Is(err, smtp.ErrNotSupported) {
			return nil, &queue.DeliveryError{Permanent: true, EnhancedCode: "5.5.4", Message: "message needs an extension " + pc.host + " does not offer", RemoteMTA: pc.host, Err: err}
		}
		return nil, replyError(err, pc.host)
	}
	out := make([]queue.Outcome, len(rcpts))
	delivered := 0
	for k, i := range rcpts {
		if e := res.Err(k); e != nil {
			de := replyError(e, pc.host)
			if de.Permanent {
				out[k] = queue.PermFail(i, de)
			} else {
				out[k] = queue.TempFail(i, de, time.Time{})
			}
			log.Info("recipient refused", "host", pc.host, "rcpt", env.Recipients[i].To.String(), "code", de.Code, "permanent", de.Permanent)
		} else {
			out[k] = queue.Delivered(i, pc.host)
			delivered++
		}
	}
	log.Debug("delivered", "host", pc.host, "addr", pc.addr, "tls", pc.tls, "verified", pc.verified, "recipients", delivered, "reply", res.Reply)
	if err == nil || isReply && se.Code != 421 {
		d.pool.put(pc)
	} else {
		d.pool.discard(pc, false)
	}
	return out, nil
}
