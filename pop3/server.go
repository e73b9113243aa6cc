package pop3

import (
	"bufio"
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/postyard/postyard/auth"
	"github.com/postyard/postyard/internal/serve"
	"github.com/postyard/postyard/internal/wire"
	"github.com/postyard/postyard/mailbox"
)

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = serve.ErrServerClosed

// Defaults for the zero values of Server's limits (see ARCHITECTURE.md, "Safe
// defaults").
const (
	DefaultMaxLineLength   = 255 // RFC 2449 §4, including CRLF
	DefaultMaxBadCommands  = 10
	DefaultMaxAuthFailures = 3
	DefaultIdleTimeout     = 10 * time.Minute // RFC 1939 §3: at least 10 minutes
	DefaultMaxConns        = 1000
	DefaultMaxConnsPerIP   = 20
)

// Server is a POP3 server (RFC 1939) over a [mailbox.Store]: each
// authenticated user gets their INBOX as the maildrop. The zero value is
// usable once Store and Authenticator are set. Fields must not change once
// Serve has been called. Limits: zero means the documented default, negative
// means unlimited. All methods are safe for concurrent use.
type Server struct {
	// Store holds the maildrops. Required.
	Store mailbox.Store
	// Authenticator checks USER/PASS and the SASL mechanisms of AUTH
	// (RFC 5034): PLAIN, LOGIN and, if it implements
	// auth.SCRAMAuthenticator, SCRAM-SHA-256. Required. The user name it
	// returns names the user in Store.
	Authenticator auth.Authenticator
	// APOP enables the APOP command (RFC 1939 §7), which needs each user's
	// secret in the clear on the server. Nil, the default, disables APOP
	// and leaves the timestamp out of the greeting.
	APOP APOPAuthenticator
	// Hostname is the server's name in the greeting and the APOP
	// timestamp. Default: os.Hostname().
	Hostname string

	// TLSConfig enables STLS (RFC 2595 §4) and is used by ServeTLS for
	// implicit TLS (port 995, RFC 8314 §3.3).
	TLSConfig *tls.Config
	// AllowInsecureAuth allows USER/PASS, APOP and AUTH on connections
	// without TLS. Off by default: passwords never cross the network in
	// the clear (RFC 8314 §3.2).
	AllowInsecureAuth bool
	// AuthThrottle delays replies to failed logins per client IP. Nil
	// means a Throttle with its defaults, private to this Server.
	AuthThrottle *auth.Throttle

	// Policy is what every user may do with their maildrop: whether DELE
	// deletes, EXPIRE and LOGIN-DELAY. The zero Policy deletes at QUIT
	// what the client marked with DELE, and nothing else.
	Policy Policy
	// UserPolicy, if set, returns the policy of one user, called after
	// authentication with c.User set. A nil *Policy means Server.Policy.
	// An error refuses the login: an [*Error] is sent as it is, any other
	// error is logged and answered with -ERR [SYS/TEMP]. Because CAPA in
	// the AUTHORIZATION state announces Server.Policy's EXPIRE and
	// LOGIN-DELAY as the minimum ("USER", RFC 2449 §6.5, §6.7), the values
	// it returns should not be lower.
	UserPolicy func(ctx context.Context, c *ConnInfo) (*Policy, error)

	// MaxLineLength is the longest command line, CRLF included. Default
	// 255 (RFC 2449 §4). AUTH lines, with their initial response, and SASL
	// responses may be up to 12288 octets (RFC 5034 §4).
	MaxLineLength int
	// MaxBadCommands is how many unknown, malformed or out-of-state
	// commands a session may send before it is closed. Default 10.
	MaxBadCommands int
	// MaxAuthFailures is how many failed logins (PASS, APOP, AUTH) a
	// session may make before it is closed. Default 3.
	MaxAuthFailures int
	// IdleTimeout bounds the wait for each command, and the time each
	// reply, or 64 KiB of a message, may take to send. A session that
	// times out is closed without entering the UPDATE state: nothing is
	// deleted. Default 10 minutes, the least RFC 1939 §3 allows.
	IdleTimeout time.Duration
	// MaxConns and MaxConnsPerIP limit concurrent connections; more are
	// refused with -ERR [SYS/TEMP]. Defaults 1000 and 20.
	MaxConns      int
	MaxConnsPerIP int

	// Logger receives errors at Warn/Error and protocol detail at Debug.
	// Default slog.Default().
	Logger *slog.Logger

	once   sync.Once
	bufs   sync.Pool // of *connBufs, reused across connections
	srv    serve.Server
	sasl   *auth.SASL
	thr    *auth.Throttle
	delays loginDelays
}

// Policy is what a user may do with their maildrop.
type Policy struct {
	// LeaveMail keeps every message on the server: DELE is accepted and
	// hides the message for the rest of the session, but QUIT deletes
	// nothing, so the next session sees it again. For devices that must
	// not take mail away from the others.
	LeaveMail bool
	// DeleteRetrieved deletes at QUIT every message the session
	// downloaded with RETR, as if the client had sent DELE for it, and
	// announces "EXPIRE 0" (RFC 2449 §6.7). Ignored with LeaveMail.
	DeleteRetrieved bool
	// ExpireDays, when positive, is announced as "EXPIRE n": the days the
	// operator keeps a message after it was first downloaded. The
	// application enforces it; the server deletes nothing by itself. Zero
	// or negative announce "EXPIRE NEVER".
	ExpireDays int
	// LoginDelay is the least time between two logins of the user,
	// announced as "LOGIN-DELAY n" in seconds (RFC 2449 §6.5). A login
	// sooner than that after the last one is refused with
	// -ERR [LOGIN-DELAY]. Zero or negative: no delay, not announced.
	LoginDelay time.Duration
}

// APOPAuthenticator gives the shared secrets APOP needs (RFC 1939 §7).
type APOPAuthenticator interface {
	// APOPSecret returns the canonical name of username (as in
	// auth.Authenticator; "" means username) and its secret. It returns
	// auth.ErrInvalidCredentials for a user without one, and any other
	// error for a temporary failure. It must be safe for concurrent use.
	APOPSecret(ctx context.Context, username string) (user, secret string, err error)
}

// ConnInfo describes a client connection. The server updates it as the
// session goes on (TLS, authentication).
type ConnInfo struct {
	RemoteAddr net.Addr
	LocalAddr  net.Addr
	// TLS is the TLS state, nil on a plaintext connection (before STLS).
	TLS *tls.ConnectionState
	// User is the authenticated user, "" before login.
	User string
}

// ListenerOptions are the per-listener settings of ServeListener.
type ListenerOptions struct {
	// ImplicitTLS starts TLS as soon as the client connects (port 995,
	// RFC 8314 §3.3). Requires Server.TLSConfig.
	ImplicitTLS bool
	// ProxyProtocol reads a PROXY protocol v1 or v2 header first, and takes
	// the client address from it. Only for listeners that sit behind a
	// trusted proxy. MaxConnsPerIP counts the client addresses it reports.
	ProxyProtocol bool
}

func (s *Server) init() {
	s.once.Do(func() {
		if s.Hostname == "" {
			s.Hostname, _ = os.Hostname()
			if s.Hostname == "" {
				s.Hostname = "localhost"
			}
		}
		s.srv.MaxConns = defInt(s.MaxConns, DefaultMaxConns)
		s.srv.MaxConnsPerIP = defInt(s.MaxConnsPerIP, DefaultMaxConnsPerIP)
		s.srv.Logger = s.logger()
		s.srv.Handle = s.handle
		s.srv.Refuse = func(c net.Conn, err error) {
			c.Write([]byte("-ERR [SYS/TEMP] Too many connections, try again later\r\n"))
		}
		if s.Authenticator != nil {
			s.sasl = &auth.SASL{Authenticator: s.Authenticator}
		}
		s.thr = s.AuthThrottle
		if s.thr == nil {
			s.thr = new(auth.Throttle)
		}
	})
}

func (s *Server) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

// defInt applies the zero-means-default, negative-means-unlimited rule.
func defInt(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// defDur is defInt for durations; 0 comes back for "unlimited".
func defDur(v, def time.Duration) time.Duration {
	if v == 0 {
		return def
	}
	if v < 0 {
		return 0
	}
	return v
}

// Serve accepts connections on l and serves each in its own goroutine. It
// returns ErrServerClosed after Shutdown or Close.
func (s *Server) Serve(l net.Listener) error {
	return s.ServeListener(l, ListenerOptions{})
}

// ServeTLS is like Serve with implicit TLS (RFC 8314), as on port 995.
func (s *Server) ServeTLS(l net.Listener) error {
	return s.ServeListener(l, ListenerOptions{ImplicitTLS: true})
}

// ServeListener is Serve with per-listener options.
func (s *Server) ServeListener(l net.Listener, opts ListenerOptions) error {
	s.init()
	return s.srv.ServeListener(l, &serve.ListenerOptions{
		ImplicitTLS:   opts.ImplicitTLS,
		ProxyProtocol: opts.ProxyProtocol,
		ProxyTimeout:  0,
	})
}

// ListenAndServe listens on addr (default ":110") and serves it.
func (s *Server) ListenAndServe(addr string) error {
	if addr == "" {
		addr = ":110"
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return s.Serve(l)
}

// ServeConn serves one connection in the calling goroutine and closes it.
// When ctx is done the connection is closed, without entering the UPDATE
// state.
func (s *Server) ServeConn(ctx context.Context, c net.Conn) error {
	s.init()
	return s.srv.ServeConn(ctx, c)
}

// Shutdown stops accepting connections and closes each session at its next
// idle point with -ERR [SYS/TEMP], waiting for sessions in the middle of a
// command to finish it. A session closed this way deletes nothing. When ctx
// is done first, the remaining connections are closed and ctx's error is
// returned.
func (s *Server) Shutdown(ctx context.Context) error {
	s.init()
	return s.srv.Shutdown(ctx)
}

// Close closes all listeners and connections now.
func (s *Server) Close() error {
	s.init()
	return s.srv.Close()
}

// connBufs are a connection's read and write buffers and its encoder of
// multi-line responses.
type connBufs struct {
	r  *wire.Reader
	w  *bufio.Writer
	dw *wire.DataWriter // writes to w
}

func (s *Server) getBufs(c net.Conn) *connBufs {
	if b, ok := s.bufs.Get().(*connBufs); ok {
		b.r.Reset(c)
		b.w.Reset(c)
		return b
	}
	// 16 KiB: most messages go out in one write, after their +OK line.
	w := bufio.NewWriterSize(c, 16<<10)
	return &connBufs{r: wire.NewReader(c), w: w, dw: wire.NewDataWriter(w, true)}
}

func (s *Server) putBufs(b *connBufs) {
	b.r.Reset(nil)
	b.w.Reset(nil)
	s.bufs.Put(b)
}

// loginDelays remembers, per user, the time before which another login is
// refused (RFC 2449 §6.5). Entries that have passed are pruned as the map
// grows, so it holds about as many users as logged in within the longest
// delay.
type loginDelays struct {
	mu        sync.Mutex
	notBefore map[string]time.Time
	pruneAt   int // prune when the map grows to this size
}

// allow reports whether user may log in now.
func (d *loginDelays) allow(user string, now time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return !now.Before(d.notBefore[user])
}

// record notes a login of user that bars the next one for delay.
func (d *loginDelays) record(user string, now time.Time, delay time.Duration) {
	if delay <= 0 {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.notBefore == nil {
		d.notBefore = make(map[string]time.Time)
	}
	if len(d.notBefore) >= d.pruneAt {
		for u, t := range d.notBefore {
			if !now.Before(t) {
				delete(d.notBefore, u)
			}
		}
		d.pruneAt = max(2*len(d.notBefore), 1024)
	}
	d.notBefore[user] = now.Add(delay)
}
