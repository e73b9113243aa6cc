package managesieve

import (
	"bufio"
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/postyard/postyard/auth"
	"github.com/postyard/postyard/internal/serve"
	"github.com/postyard/postyard/internal/wire"
	"github.com/postyard/postyard/sieve"
)

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = serve.ErrServerClosed

// Defaults for the zero values of Server's limits (see ARCHITECTURE.md,
// "Safe defaults").
const (
	DefaultMaxLineLength   = 8 << 10 // a command line without its literals
	DefaultMaxBadCommands  = 10
	DefaultMaxAuthFailures = 3
	DefaultIdleTimeout     = 10 * time.Minute
	DefaultMaxConns        = 1000
	DefaultMaxConnsPerIP   = 20
)

// Server is a ManageSieve server (RFC 5804) over a [Store]. The zero value
// is usable once Store and Authenticator are set. Fields must not change
// once Serve has been called. Limits: zero means the documented default,
// negative means unlimited. All methods are safe for concurrent use.
type Server struct {
	// Store holds the scripts. Required.
	Store Store
	// Authenticator checks the credentials of AUTHENTICATE's SASL
	// mechanisms: PLAIN, LOGIN and, if it implements
	// auth.SCRAMAuthenticator, SCRAM-SHA-256. Required. The user name it
	// returns names the user in Store.
	Authenticator auth.Authenticator
	// Implementation is the IMPLEMENTATION capability (RFC 5804 §1.7).
	// Default "postyard".
	Implementation string

	// TLSConfig enables STARTTLS (RFC 5804 §2.2), and implicit TLS for
	// listeners with ListenerOptions.ImplicitTLS.
	TLSConfig *tls.Config
	// AllowInsecureAuth allows AUTHENTICATE on connections without TLS.
	// Off by default: passwords never cross the network in the clear, the
	// SASL capability is empty before STARTTLS and AUTHENTICATE answers
	// NO (ENCRYPT-NEEDED) (RFC 5804 §1.7, §2.1).
	AllowInsecureAuth bool
	// AuthThrottle delays replies to failed logins per client IP. Nil
	// means a Throttle with its defaults, private to this Server.
	AuthThrottle *auth.Throttle

	// Sieve holds the extensions scripts may use, announced as the SIEVE
	// capability (nil Extensions: all of sieve.Extensions()), and the
	// Limits they are compiled with, whose MaxRedirects is announced as
	// MAXREDIRECTS. Local delivery should compile with the same options.
	// Its Name and Loader are ignored. Nil means the zero Options.
	Sieve *sieve.Options
	// Check checks a script uploaded by user with PUTSCRIPT or
	// CHECKSCRIPT (RFC 5804 §2.6, §2.12). It returns nil to accept it,
	// [Warnings] to accept it with warnings, an error from package sieve
	// (a sieve.ErrorList) to refuse it with the errors' lines and columns,
	// an [*Error] to refuse it in its own words; any other error is logged
	// and answered with NO (TRYLATER). Nil means compiling the script
	// with package sieve and Sieve's options; its includes of the user's
	// other scripts are loaded from Store, and those not stored yet only
	// give a warning. It must be safe for concurrent use.
	Check func(ctx context.Context, user string, script []byte) error

	// MaxScriptSize is the longest script a client may send, in octets; a
	// longer one is skipped and refused with NO (QUOTA/MAXSIZE) without
	// being read into memory. The Store's quota may be lower. Default: the
	// MaxScriptSize of Sieve's Limits (1 MiB by default).
	MaxScriptSize int64
	// MaxLineLength is the longest command line, CRLF and the literals it
	// introduces excluded. Default 8 KiB; negative means 1 MiB. Names,
	// SASL responses and other strings that are not scripts are limited to
	// this length too, as quoted strings or literals.
	MaxLineLength int
	// MaxBadCommands is how many unknown, malformed or out-of-state
	// commands a session may send before it is closed with BYE.
	// Default 10.
	MaxBadCommands int
	// MaxAuthFailures is how many failed AUTHENTICATE commands a session
	// may make before it is closed. Default 3.
	MaxAuthFailures int
	// IdleTimeout bounds the wait for each command, and the time each
	// response may take to send. Default 10 minutes.
	IdleTimeout time.Duration
	// MaxConns and MaxConnsPerIP limit concurrent connections; more are
	// refused with BYE (TRYLATER). Defaults 1000 and 20.
	MaxConns      int
	MaxConnsPerIP int

	// Logger receives errors at Warn/Error and protocol detail at Debug.
	// Default slog.Default().
	Logger *slog.Logger

	once sync.Once
	bufs sync.Pool // of *connBufs, reused across connections
	srv  serve.Server
	sasl *auth.SASL
	thr  *auth.Throttle
	caps capabilities
}

// ListenerOptions are the per-listener settings of ServeListener.
type ListenerOptions struct {
	// ImplicitTLS starts TLS as soon as the client connects, for
	// deployments that put ManageSieve behind TLS (RFC 5804 itself only
	// has STARTTLS). Requires Server.TLSConfig.
	ImplicitTLS bool
	// ProxyProtocol reads a PROXY protocol v1 or v2 header first, and takes
	// the client address from it. Only for listeners that sit behind a
	// trusted proxy. MaxConnsPerIP counts the client addresses it reports.
	ProxyProtocol bool
}

func (s *Server) init() {
	s.once.Do(func() {
		if s.Implementation == "" {
			s.Implementation = "postyard"
		}
		s.srv.MaxConns = defInt(s.MaxConns, DefaultMaxConns)
		s.srv.MaxConnsPerIP = defInt(s.MaxConnsPerIP, DefaultMaxConnsPerIP)
		s.srv.Logger = s.logger()
		s.srv.Handle = s.handle
		s.srv.Refuse = func(c net.Conn, err error) {
			c.Write([]byte("BYE (TRYLATER) \"Too many connections, try again later\"\r\n"))
		}
		if s.Authenticator != nil {
			s.sasl = &auth.SASL{Authenticator: s.Authenticator}
		}
		s.thr = s.AuthThrottle
		if s.thr == nil {
			s.thr = new(auth.Throttle)
		}
		s.caps = s.newCapabilities()
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

// ServeListener is Serve with per-listener options.
func (s *Server) ServeListener(l net.Listener, opts ListenerOptions) error {
	s.init()
	return s.srv.ServeListener(l, &serve.ListenerOptions{
		ImplicitTLS:   opts.ImplicitTLS,
		ProxyProtocol: opts.ProxyProtocol,
	})
}

// ListenAndServe listens on addr (default ":4190", RFC 5804 §1.8) and
// serves it.
func (s *Server) ListenAndServe(addr string) error {
	if addr == "" {
		addr = ":4190"
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return s.Serve(l)
}

// ServeConn serves one connection in the calling goroutine and closes it.
// When ctx is done the connection is closed.
func (s *Server) ServeConn(ctx context.Context, c net.Conn) error {
	s.init()
	return s.srv.ServeConn(ctx, c)
}

// Shutdown stops accepting connections and closes each session at its next
// idle point with BYE (TRYLATER), waiting for sessions in the middle of a
// command to finish it. When ctx is done first, the remaining connections
// are closed and ctx's error is returned.
func (s *Server) Shutdown(ctx context.Context) error {
	s.init()
	return s.srv.Shutdown(ctx)
}

// Close closes all listeners and connections now.
func (s *Server) Close() error {
	s.init()
	return s.srv.Close()
}

// connBufs are a connection's read and write buffers.
type connBufs struct {
	r *wire.Reader
	w *bufio.Writer
}

func (s *Server) getBufs(c net.Conn) *connBufs {
	if b, ok := s.bufs.Get().(*connBufs); ok {
		b.r.Reset(c)
		b.w.Reset(c)
		return b
	}
	return &connBufs{r: wire.NewReader(c), w: bufio.NewWriterSize(c, 8<<10)}
}

func (s *Server) putBufs(b *connBufs) {
	b.r.Reset(nil)
	b.w.Reset(nil)
	s.bufs.Put(b)
}

// maxScriptSize is the longest script read from a client.
func (s *Server) maxScriptSize() int64 {
	if s.MaxScriptSize != 0 {
		if s.MaxScriptSize < 0 {
			return hugeLiteral - 1
		}
		return s.MaxScriptSize
	}
	if s.Sieve != nil && s.Sieve.Limits.MaxScriptSize != 0 {
		if s.Sieve.Limits.MaxScriptSize < 0 {
			return hugeLiteral - 1
		}
		return int64(s.Sieve.Limits.MaxScriptSize)
	}
	return DefaultMaxScriptSize
}
