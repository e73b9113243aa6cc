package relay

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/postyard/postyard/dnsmx"
	"github.com/postyard/postyard/mailbox"
	"github.com/postyard/postyard/queue"
	"github.com/postyard/postyard/smtp"
)

// Defaults of the Deliverer fields.
const (
	DefaultWorkers            = 16
	DefaultPort               = 25
	DefaultMaxConnsPerDest    = 8
	DefaultMaxMessagesPerConn = 100
	DefaultIdleTimeout        = 5 * time.Second
	DefaultConnectTimeout     = 30 * time.Second
	DefaultAttemptTimeout     = 10 * time.Minute
)

// ErrDelivererClosed is returned by [Deliverer.Start] after Shutdown or
// Close.
var ErrDelivererClosed = errors.New("relay: deliverer closed")

// TLSMode is how a Deliverer uses TLS with a destination.
type TLSMode int

// TLS modes, from weakest to strongest. A destination's mode may be raised
// by MTA-STS, DANE or a message's REQUIRETLS, never lowered.
const (
	// TLSOpportunistic uses STARTTLS when the server offers it, without
	// checking the certificate; if the handshake fails, the message is
	// sent in plaintext on a new connection (RFC 3207 §4.1; RFC 7435).
	// The default.
	TLSOpportunistic TLSMode = iota
	// TLSDisabled never uses STARTTLS (for servers with broken TLS).
	// MTA-STS, DANE and REQUIRETLS still raise it.
	TLSDisabled
	// TLSRequired needs STARTTLS to succeed, without checking the
	// certificate ("encrypt").
	TLSRequired
	// TLSVerified needs STARTTLS with a certificate that is valid (per
	// TLSConfig.RootCAs, or the system roots) for the next hop's host
	// name ("verify").
	TLSVerified
)

func (m TLSMode) String() string {
	switch m {
	case TLSOpportunistic:
		return "opportunistic"
	case TLSDisabled:
		return "disabled"
	case TLSRequired:
		return "required"
	case TLSVerified:
		return "verified"
	}
	return "TLSMode(" + strconv.Itoa(int(m)) + ")"
}

// Smarthost is the relay host a [Deliverer] sends all remote mail to, as
// behind a provider such as Amazon SES: port 587 with STARTTLS and AUTH,
// or port 465 with implicit TLS (RFC 8314 §3.3).
type Smarthost struct {
	// Addr is "host:port". The host is the name the certificate must be
	// valid for (unless TLSConfig.ServerName says otherwise) and is
	// resolved with the system resolver.
	Addr string
	// ImplicitTLS starts TLS on connect (port 465) instead of STARTTLS.
	ImplicitTLS bool
	// TLS is the TLS mode; zero (TLSOpportunistic) means TLSVerified for a
	// smarthost, since credentials are sent. Set TLSRequired to skip
	// certificate checks, TLSDisabled only for a relay on a trusted
	// network.
	TLS TLSMode
	// TLSConfig overrides Deliverer.TLSConfig for the smarthost.
	TLSConfig *tls.Config
	// Username and Password, if Username is set, authenticate with AUTH
	// PLAIN (RFC 4616), which the smarthost must offer. Credentials are
	// sent only over TLS unless AllowInsecureAuth is set.
	Username, Password string
	// AllowInsecureAuth allows AUTH on a plaintext connection.
	AllowInsecureAuth bool
}

// Deliverer drains a [queue.Queue]: workers lease messages, group the
// leased recipients by next hop (the [queue.Destination] of each), and
// deliver each group with [smtp.Client], either to the destination's mail
// exchangers found through DNS (MX order, then each host's addresses,
// RFC 5321 §5.1), to a [Smarthost], or over LMTP (RFC 2033) for the
// domains in LMTP. Every recipient gets an outcome: delivered, temporary
// failure (4yz, network, TLS or DNS trouble; retried on the queue's
// schedule) or permanent failure (5yz, null MX, SMTPUTF8 to a server
// without it; the queue reports it to the sender). Connections are reused
// for later messages to the same destination and limited per destination.
//
// TLS: STARTTLS is used opportunistically unless a stronger mode applies:
// TLSPolicies, MTA-STS (RFC 8461; enforce: only MX hosts the policy
// names, with verified TLS; testing: logged only), DANE (RFC 7672, when
// the MX and address records and the TLSA records are DNSSEC-authenticated)
// and REQUIRETLS (RFC 8689: the message goes only over verified TLS, to a
// server that offers REQUIRETLS, found through authenticated DNS or an
// MTA-STS policy).
//
// Configure the fields, then call [Deliverer.Start]; fields must not
// change afterwards. Stop it with [Deliverer.Shutdown] or
// [Deliverer.Close]. Its methods are safe for concurrent use.
type Deliverer struct {
	// Queue is the queue to drain. Required.
	Queue queue.Queue
	// Resolver looks up MX, address and TLSA records. Nil means a
	// dnsmx.Resolver with its defaults.
	Resolver dnsmx.Lookuper
	// STS finds MTA-STS policies. Nil means a dnsmx.STS over Resolver,
	// unless DisableMTASTS is set.
	STS *dnsmx.STS
	// DisableMTASTS turns off MTA-STS lookups.
	DisableMTASTS bool
	// DisableDANE turns off TLSA lookups.
	DisableDANE bool
	// Hostname is the name sent with EHLO or LHLO: this host's fully
	// qualified domain name (RFC 5321 §4.1.1.1), which receivers often
	// check against the connection's address. An IP address is sent as
	// an address literal ("[192.0.2.1]", "[IPv6:2001:db8::1]", RFC 5321
	// §4.1.3). Empty means the address literal of each connection's own
	// address, as RFC 5321 §4.1.4 asks of a client without a meaningful
	// name ("localhost" over a Unix socket).
	Hostname string
	// Port is the TCP port of mail exchangers. Zero means 25; tests use
	// another.
	Port int
	// Workers is the number of messages delivered at once. Zero means 16.
	Workers int
	// MaxConnsPerDest bounds the connections open to one destination
	// (a domain, the smarthost, an LMTP server) at once. Zero means 8;
	// negative means unlimited.
	MaxConnsPerDest int
	// MaxMessagesPerConn is how many transactions one connection carries
	// before it is closed. Zero means 100; negative means unlimited.
	MaxMessagesPerConn int
	// IdleTimeout is how long an unused connection is kept for reuse.
	// Zero means 5 seconds; negative disables reuse.
	IdleTimeout time.Duration
	// ConnectTimeout bounds a TCP connect plus the greeting, EHLO and TLS
	// handshake. Zero means 30 seconds.
	ConnectTimeout time.Duration
	// AttemptTimeout bounds the delivery of one message to one next hop,
	// all hosts tried included. Zero means 10 minutes.
	AttemptTimeout time.Duration
	// TLSConfig is the base configuration for TLS with next hops (RootCAs,
	// minimum version, client certificates); it is cloned and given the
	// next hop's ServerName. Nil means defaults.
	TLSConfig *tls.Config
	// TLSPolicies maps a destination ([queue.Destination] form: lower-case
	// A-label domain) to its TLS mode; destinations not in the map use
	// TLSOpportunistic.
	TLSPolicies map[string]TLSMode
	// Smarthost, if set, takes every recipient not routed by LMTP.
	Smarthost *Smarthost
	// LMTP maps a destination to the address of an LMTP server that takes
	// its mail: "host:port" or the path of a Unix socket (starting with
	// "/"). TLS is not used for LMTP.
	LMTP map[string]string
	// Logger receives per-attempt logs (queue_id attribute): failures at
	// Warn, deliveries at Debug. Nil means slog.Default().
	Logger *slog.Logger

	// Local and Mailboxes, if both set, deliver recipients in Local's
	// domains (reports to local senders, alias targets) straight to
	// Mailboxes instead of through MX.
	Local     *Policy
	Mailboxes mailbox.Deliverer
	// Sieve, if set, runs the local users' Sieve scripts on those copies
	// (see Sieve).
	Sieve *Sieve
	// QuarantineMailbox is where Sieve files local copies with a spam
	// verdict, as Inbound.QuarantineMailbox; "" means "Junk".
	QuarantineMailbox string

	once    sync.Once
	res     dnsmx.Lookuper
	sts     *dnsmx.STS
	pool    *connPool
	mu      sync.Mutex
	started bool
	closed  bool
	cancel  context.CancelFunc // ends Lease waits
	hard    context.CancelFunc // ends deliveries in progress
	hardCtx context.Context
	wg      sync.WaitGroup
}

func (d *Deliverer) init() {
	d.once.Do(func() {
		d.res = d.Resolver
		if d.res == nil {
			d.res = &dnsmx.Resolver{}
		}
		d.sts = d.STS
		if d.sts == nil && !d.DisableMTASTS {
			d.sts = &dnsmx.STS{Resolver: d.res, Logger: d.Logger}
		}
		d.pool = newConnPool(d)
		d.hardCtx, d.hard = context.WithCancel(context.Background())
	})
}

func (d *Deliverer) logger() *slog.Logger {
	if d.Logger != nil {
		return d.Logger
	}
	return slog.Default()
}

func deliverDefault[T int | time.Duration](v, def, neg T) T {
	switch {
	case v == 0:
		return def
	case v < 0:
		return neg
	}
	return v
}

// helloName returns the argument of EHLO (or LHLO) on conn; see
// Hostname.
func (d *Deliverer) helloName(conn net.Conn) string {
	if d.Hostname != "" {
		if ip, err := netip.ParseAddr(d.Hostname); err == nil {
			return addressLiteral(ip)
		}
		return d.Hostname
	}
	if a, ok := conn.LocalAddr().(*net.TCPAddr); ok {
		if ip, ok := netip.AddrFromSlice(a.IP); ok {
			return addressLiteral(ip)
		}
	}
	return "localhost"
}

// addressLiteral returns ip as an SMTP address literal (RFC 5321 §4.1.3):
// "[192.0.2.1]" or "[IPv6:2001:db8::1]"; an IPv4-mapped IPv6 address
// is given as IPv4, and a zone is dropped.
func addressLiteral(ip netip.Addr) string {
	ip = ip.Unmap().WithZone("")
	if ip.Is4() {
		return "[" + ip.String() + "]"
	}
	return "[IPv6:" + ip.String() + "]"
}

func (d *Deliverer) port() int { return deliverDefault(d.Port, DefaultPort, DefaultPort) }
func (d *Deliverer) connectTimeout() time.Duration {
	return deliverDefault(d.ConnectTimeout, DefaultConnectTimeout, 0)
}
func (d *Deliverer) attemptTimeout() time.Duration {
	return deliverDefault(d.AttemptTimeout, DefaultAttemptTimeout, 0)
}

// Start starts the workers and returns. It fails with ErrDelivererClosed
// after Shutdown or Close; a second Start does nothing.
func (d *Deliverer) Start() error {
	if d.Queue == nil {
		return errors.New("relay: Deliverer.Queue not set")
	}
	d.init()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return ErrDelivererClosed
	}
	if d.started {
		return nil
	}
	d.started = true
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	for range deliverDefault(d.Workers, DefaultWorkers, DefaultWorkers) {
		d.wg.Go(func() { d.work(ctx) })
	}
	return nil
}

// Shutdown stops taking new messages and waits for the deliveries in
// progress to finish and their leases to be completed, then closes the
// idle connections. If ctx ends first, the deliveries are cancelled as by
// Close (their recipients deferred), and Shutdown returns ctx.Err() once
// the workers have exited.
func (d *Deliverer) Shutdown(ctx context.Context) error {
	d.init()
	d.stopLeasing()
	done := make(chan struct{})
	go func() { d.wg.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
		d.hard()
		<-done
	}
	d.pool.closeAll()
	return err
}

// Close stops the workers at once: deliveries in progress are cancelled,
// what they achieved is recorded (recipients already accepted by the next
// hop are delivered, the others deferred), and connections are closed.
// It returns when every worker has exited.
func (d *Deliverer) Close() error {
	d.init()
	d.stopLeasing()
	d.hard()
	d.wg.Wait()
	d.pool.closeAll()
	return nil
}

func (d *Deliverer) stopLeasing() {
	d.mu.Lock()
	d.closed = true
	if d.cancel != nil {
		d.cancel()
	}
	d.mu.Unlock()
}

// work is one worker: lease, deliver, complete, until ctx ends.
func (d *Deliverer) work(ctx context.Context) {
	log := d.logger()
	for {
		l, err := d.Queue.Lease(ctx, nil)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, queue.ErrClosed) {
				return
			}
			log.Error("lease failed", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
			continue
		}
		d.handle(l)
	}
}

// handle delivers one leased message and completes its lease.
func (d *Deliverer) handle(l *queue.Lease) {
	log := d.logger().With("queue_id", string(l.ID()))
	ctx, cancel := context.WithCancel(d.hardCtx)
	defer cancel()
	stopRenew := d.keepLease(ctx, l, log)
	outcomes := d.deliverMessage(ctx, l, log)
	stopRenew()
	// Complete even if the deliverer is closing: recipients accepted by a
	// next hop must be recorded, or they would be delivered twice.
	cctx, ccancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer ccancel()
	if err := d.Queue.Complete(cctx, l, outcomes); err != nil {
		log.Error("completing lease failed", "err", err)
	}
}

// keepLease renews l at half of its remaining time until stop is called
// or ctx ends. stop waits for a renewal in progress, so that l is the
// caller's again when it returns. (A timer rather than a goroutine per
// message: most deliveries end long before the first renewal.)
func (d *Deliverer) keepLease(ctx context.Context, l *queue.Lease, log *slog.Logger) (stop func()) {
	var (
		mu      sync.Mutex
		stopped bool
		t       *time.Timer
		renew   func()
	)
	renew = func() {
		mu.Lock()
		defer mu.Unlock()
		if stopped || ctx.Err() != nil {
			return
		}
		if err := d.Queue.Renew(ctx, l, 0); err != nil {
			log.Warn("renewing lease failed", "err", err)
			return
		}
		t.Reset(max(time.Until(l.Expires)/2, time.Millisecond))
	}
	mu.Lock()
	t = time.AfterFunc(max(time.Until(l.Expires)/2, time.Millisecond), renew)
	mu.Unlock()
	return func() {
		mu.Lock()
		stopped = true
		t.Stop()
		mu.Unlock()
	}
}

// deliverMessage delivers the leased recipients of one message, one next
// hop at a time, and returns an outcome for each.
func (d *Deliverer) deliverMessage(ctx context.Context, l *queue.Lease, log *slog.Logger) []queue.Outcome {
	m := l.Message
	var (
		order  []string
		groups = make(map[string][]int)
	)
	for _, i := range l.Recipients {
		// One transaction per next hop: per destination domain, or one for
		// all that go to the smarthost or the same LMTP server.
		key := d.hopKey(queue.Destination(m.Envelope.Recipients[i].To))
		if _, ok := groups[key]; !ok {
			order = append(order, key)
		}
		groups[key] = append(groups[key], i)
	}
	if len(order) == 1 {
		// One next hop, the common case: on this goroutine.
		rcpts := groups[order[0]]
		return d.deliverGroup(ctx, m, queue.Destination(m.Envelope.Recipients[rcpts[0]].To), rcpts, log)
	}
	outcomes := make([]queue.Outcome, 0, len(l.Recipients))
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4) // next hops of one message tried at once
	for _, key := range order {
		rcpts := groups[key]
		dest := queue.Destination(m.Envelope.Recipients[rcpts[0]].To)
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			out := d.deliverGroup(ctx, m, dest, rcpts, log)
			mu.Lock()
			outcomes = append(outcomes, out...)
			mu.Unlock()
		})
	}
	wg.Wait()
	return outcomes
}

// hopKey names the next hop of dest: the key of its connection pool.
func (d *Deliverer) hopKey(dest string) string {
	if d.isLocal(dest) {
		return "local"
	}
	if a, ok := d.LMTP[dest]; ok {
		return "lmtp:" + a
	}
	if d.Smarthost != nil {
		return "smarthost"
	}
	return dest
}

// failAll returns the same failure for every recipient in rcpts.
func failAll(rcpts []int, de *queue.DeliveryError) []queue.Outcome {
	out := make([]queue.Outcome, len(rcpts))
	for k, i := range rcpts {
		out[k] = outcomeFor(i, de)
	}
	return out
}

// replyError converts the error of one recipient from a next hop into a
// DeliveryError naming the host.
func replyError(err error, host string) *queue.DeliveryError {
	var se *smtp.Error
	if errors.As(err, &se) {
		return &queue.DeliveryError{
			Permanent:    se.Code/100 == 5,
			Code:         se.Code,
			EnhancedCode: se.EnhancedCode,
			Message:      oneLine(se.Message),
			RemoteMTA:    host,
			Err:          err,
		}
	}
	var de *queue.DeliveryError
	if errors.As(err, &de) {
		c := *de
		if c.RemoteMTA == "" {
			c.RemoteMTA = host
		}
		return &c
	}
	return &queue.DeliveryError{EnhancedCode: "4.4.2", Message: "connection failed", RemoteMTA: host, Err: err}
}

// oneLine joins the lines of a multi-line reply for a report.
func oneLine(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c == '\n' || c == '\r' {
			b[i] = ' '
		}
	}
	return string(b)
}
