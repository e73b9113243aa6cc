package mailtest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/postyard/postyard/imap"
	"github.com/postyard/postyard/internal/selfsigned"
	"github.com/postyard/postyard/mailbox/memstore"
	"github.com/postyard/postyard/pop3"
	"github.com/postyard/postyard/smtp"
)

// DefaultWaitTimeout is how long WaitOne and WaitN wait unless
// WithWaitTimeout says otherwise.
const DefaultWaitTimeout = 5 * time.Second

// Bounds of what a Server keeps for failure reports.
const (
	maxTranscripts    = 20  // connections whose transcripts are kept
	maxTranscriptLine = 300 // lines kept per transcript
)

// Addresses of the services in a WithInMemory server, for DialContext.
const (
	memSMTPAddr  = "smtp.mailtest.invalid:25"
	memSMTPSAddr = "smtps.mailtest.invalid:465"
	memIMAPAddr  = "imap.mailtest.invalid:143"
	memPOP3Addr  = "pop3.mailtest.invalid:110"
)

// An Option configures a Server.
type Option func(*config)

type config struct {
	hostname    string
	startTLS    bool
	implicitTLS bool
	imap, pop3  bool
	inMemory    bool
	users       map[string]string
	timeout     time.Duration
	logger      *slog.Logger
	tweak       []func(*smtp.Server)
}

// WithHostname sets the name the server gives in its greeting, and puts it
// in the TLS certificate. Default "localhost".
func WithHostname(name string) Option { return func(c *config) { c.hostname = name } }

// WithSTARTTLS offers STARTTLS (on SMTP, IMAP and POP3) with a certificate
// that ClientTLSConfig trusts.
func WithSTARTTLS() Option { return func(c *config) { c.startTLS = true } }

// WithImplicitTLS adds an SMTP listener with implicit TLS (as on port 465,
// RFC 8314) at TLSAddr, with a certificate that ClientTLSConfig trusts.
// STARTTLS is offered on the plain listener too.
func WithImplicitTLS() Option { return func(c *config) { c.implicitTLS = true } }

// WithIMAP serves the accepted messages over IMAP at IMAPAddr: each
// recipient address is a user (log in as "bob@example.org") whose INBOX
// holds the messages sent to it.
func WithIMAP() Option { return func(c *config) { c.imap = true } }

// WithPOP3 serves the accepted messages over POP3 at POP3Addr, with users
// as for WithIMAP.
func WithPOP3() Option { return func(c *config) { c.pop3 = true } }

// WithUser adds a user for SMTP AUTH, IMAP and POP3 logins. Without any,
// every user name and password is accepted.
func WithUser(name, password string) Option {
	return func(c *config) {
		if c.users == nil {
			c.users = make(map[string]string)
		}
		c.users[name] = password
	}
}

// WithInMemory opens no socket: clients connect with DialContext over
// net.Pipe. Use it under testing/synctest, where network I/O would not
// let the bubble's clock advance.
func WithInMemory() Option { return func(c *config) { c.inMemory = true } }

// WithWaitTimeout sets how long WaitOne and WaitN wait (default
// DefaultWaitTimeout); the test's deadline bounds it too.
func WithWaitTimeout(d time.Duration) Option { return func(c *config) { c.timeout = d } }

// WithLogger sets the servers' logger. Default: none (logs are
// discarded).
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithSMTP calls f with the smtp.Server before it starts, to change its
// limits (MaxMessageBytes, RequireAuth, LMTP, ...). f must not change
// Backend, Authenticator or TLSConfig.
func WithSMTP(f func(*smtp.Server)) Option {
	return func(c *config) { c.tweak = append(c.tweak, f) }
}

// Server is an SMTP server for tests that records the messages it
// accepts. Its methods are safe for concurrent use.
type Server struct {
	cfg   config
	smtp  *smtp.Server
	imap  *imap.Server
	pop3  *pop3.Server
	store *memstore.Store
	tls   *tls.Config
	pool  *x509.CertPool

	addr, tlsAddr, imapAddr, pop3Addr string
	pipes                             []*pipeListener // SMTP's first

	ctx    context.Context // ends at Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // serving goroutines

	mu          sync.Mutex
	msgs        []*Message
	notify      chan struct{} // closed and replaced when a message arrives
	faults      []*Fault
	conns       map[string]*tconn            // by remote address
	sessions    map[context.Context]*session // by connection context, for AUTH
	transcripts []*transcript                // the last maxTranscripts
	seq         int                          // messages accepted, for IDs
	connSeq     int                          // connections, for pipe addresses
	closed      bool
}

// NewServer starts a Server on 127.0.0.1 (or in memory, WithInMemory)
// and closes it when the test ends. It fails the test if the server
// cannot start.
func NewServer(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	s, err := start(opts)
	if err != nil {
		tb.Fatalf("mailtest: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func start(opts []Option) (*Server, error) {
	s := &Server{
		notify:   make(chan struct{}),
		conns:    make(map[string]*tconn),
		sessions: make(map[context.Context]*session),
	}
	s.cfg.timeout = DefaultWaitTimeout
	s.cfg.hostname = "localhost"
	for _, o := range opts {
		o(&s.cfg)
	}
	if s.cfg.logger == nil {
		s.cfg.logger = slog.New(slog.DiscardHandler)
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())

	if s.cfg.startTLS || s.cfg.implicitTLS {
		hosts := []string{s.cfg.hostname, "localhost", "127.0.0.1", "::1"}
		conf, pool, err := selfsigned.Config(hosts...)
		if err != nil {
			s.cancel()
			return nil, err
		}
		s.tls, s.pool = conf, pool
	}
	s.smtp = &smtp.Server{
		Backend:           smtp.BackendFunc(s.newSession),
		Hostname:          s.cfg.hostname,
		TLSConfig:         s.tls,
		Authenticator:     smtpAuth{s},
		AllowInsecureAuth: true,
		NoReceived:        true,
		MaxConns:          -1,
		MaxConnsPerIP:     -1,
		Logger:            s.cfg.logger,
	}
	for _, f := range s.cfg.tweak {
		f(s.smtp)
	}
	if s.cfg.imap || s.cfg.pop3 {
		s.store = memstore.New(nil)
	}
	if s.cfg.imap {
		s.imap = &imap.Server{
			Store: s.store, Authenticator: userAuth{s}, Hostname: s.cfg.hostname,
			TLSConfig: s.tls, AllowInsecureAuth: true,
			MaxConns: -1, MaxConnsPerIP: -1, Logger: s.cfg.logger,
		}
	}
	if s.cfg.pop3 {
		s.pop3 = &pop3.Server{
			Store: s.store, Authenticator: userAuth{s}, Hostname: s.cfg.hostname,
			TLSConfig: s.tls, AllowInsecureAuth: true,
			MaxConns: -1, MaxConnsPerIP: -1, Logger: s.cfg.logger,
		}
	}

	var err error
	serve := func(name string, srv func(net.Listener) error, implicit bool) string {
		isSMTP := name == memSMTPAddr || name == memSMTPSAddr
		var l net.Listener
		if !s.cfg.inMemory && err == nil {
			if l, err = net.Listen("tcp", "127.0.0.1:0"); err == nil {
				name = l.Addr().String()
				s.wg.Go(func() { srv(&listener{Listener: l, s: s, implicitTLS: implicit, smtp: isSMTP}) })
			}
		}
		pl := newPipeListener(name)
		s.pipes = append(s.pipes, pl)
		s.wg.Go(func() { srv(&listener{Listener: pl, s: s, implicitTLS: implicit, smtp: isSMTP}) })
		return name
	}
	s.addr = serve(memSMTPAddr, s.smtp.Serve, false)
	if s.cfg.implicitTLS {
		s.tlsAddr = serve(memSMTPSAddr, s.smtp.ServeTLS, true)
	}
	if s.imap != nil {
		s.imapAddr = serve(memIMAPAddr, s.imap.Serve, false)
	}
	if s.pop3 != nil {
		s.pop3Addr = serve(memPOP3Addr, s.pop3.Serve, false)
	}
	if err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Addr returns the SMTP address, "127.0.0.1:port" (a made-up name with
// WithInMemory, which only DialContext understands).
func (s *Server) Addr() string { return s.addr }

// TLSAddr returns the address of the implicit-TLS SMTP listener, "" without
// WithImplicitTLS.
func (s *Server) TLSAddr() string { return s.tlsAddr }

// IMAPAddr returns the IMAP address, "" without WithIMAP.
func (s *Server) IMAPAddr() string {
	if s.imap == nil {
		return ""
	}
	return s.imapAddr
}

// POP3Addr returns the POP3 address, "" without WithPOP3.
func (s *Server) POP3Addr() string {
	if s.pop3 == nil {
		return ""
	}
	return s.pop3Addr
}

// SMTP returns the underlying smtp.Server, for its settings. It must not
// be changed.
func (s *Server) SMTP() *smtp.Server { return s.smtp }

// ClientTLSConfig returns a TLS client configuration that trusts the
// server's certificate, with ServerName set to the server's host name
// (the certificate also names localhost, 127.0.0.1 and ::1). It returns
// nil without WithSTARTTLS or WithImplicitTLS. Each call returns a new
// config the caller may change.
func (s *Server) ClientTLSConfig() *tls.Config {
	if s.pool == nil {
		return nil
	}
	return &tls.Config{RootCAs: s.pool, ServerName: s.cfg.hostname, MinVersion: tls.VersionTLS12}
}

// DialContext connects to one of the server's services over net.Pipe,
// without the network: addr is Addr, TLSAddr, IMAPAddr or POP3Addr (any
// other address means Addr). network is ignored. The signature is that of
// net.Dialer.DialContext, so it can replace a client's dialer. The
// connection goes through the same fault injection and recording as one
// over TCP.
func (s *Server) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	pl := s.pipes[0]
	for _, l := range s.pipes[1:] {
		if l.name == addr {
			pl = l
		}
	}
	s.mu.Lock()
	s.connSeq++
	n := s.connSeq
	s.mu.Unlock()
	cc, sc := net.Pipe()
	remote := pipeAddr(fmt.Sprintf("pipe-client-%d", n))
	srvEnd := &addrConn{Conn: sc, local: pipeAddr(pl.name), remote: remote}
	select {
	case pl.ch <- srvEnd:
		return &addrConn{Conn: cc, local: remote, remote: pipeAddr(pl.name)}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-pl.done:
		return nil, &net.OpError{Op: "dial", Net: "pipe", Addr: pipeAddr(pl.name), Err: net.ErrClosed}
	}
}

// Close shuts the servers down, closing every connection, and waits for
// their goroutines. NewServer registers it with t.Cleanup; calling it
// earlier, or again, is fine.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.smtp.Close()
	if s.imap != nil {
		s.imap.Close()
	}
	if s.pop3 != nil {
		s.pop3.Close()
	}
	s.wg.Wait()
	if s.store != nil {
		s.store.Close()
	}
	return nil
}

// Messages returns the messages accepted so far (since the last Reset),
// oldest first.
func (s *Server) Messages() []*Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*Message(nil), s.msgs...)
}

// Reset forgets the messages accepted so far (WaitOne and WaitN then see
// only later ones) and the transcripts. Faults stay; the IMAP and POP3
// mailboxes keep their messages.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = nil
	s.transcripts = nil
}

// Transcripts returns the SMTP transcripts of the last connections (at
// most 20), oldest first, one string per connection. AUTH data is
// redacted and message content summarised.
func (s *Server) Transcripts() []string {
	s.mu.Lock()
	trs := append([]*transcript(nil), s.transcripts...)
	s.mu.Unlock()
	out := make([]string, len(trs))
	for i, tr := range trs {
		out[i] = tr.String()
	}
	return out
}

// pipeListener accepts the server ends of DialContext's connections.
type pipeListener struct {
	name string
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

func newPipeListener(name string) *pipeListener {
	return &pipeListener{name: name, ch: make(chan net.Conn), done: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return pipeAddr(l.name) }

// pipeAddr is the address of one end of an in-memory connection.
type pipeAddr string

func (a pipeAddr) Network() string { return "pipe" }
func (a pipeAddr) String() string  { return string(a) }

// addrConn gives a net.Pipe end distinct addresses.
type addrConn struct {
	net.Conn
	local, remote net.Addr
}

func (c *addrConn) LocalAddr() net.Addr  { return c.local }
func (c *addrConn) RemoteAddr() net.Addr { return c.remote }

// listenAt adds an SMTP listener on addr ("ip:port", port 0 for any) and
// returns its address.
func (s *Server) listenAt(addr string) (string, error) {
	if s.cfg.inMemory {
		return "", fmt.Errorf("mailtest: in-memory server")
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		l.Close()
		return "", net.ErrClosed
	}
	s.wg.Go(func() { s.smtp.Serve(&listener{Listener: l, s: s, smtp: true}) })
	return l.Addr().String(), nil
}
