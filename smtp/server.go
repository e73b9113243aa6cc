package smtp

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
)

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = serve.ErrServerClosed

// Defaults for the zero values of Server's limits (see ARCHITECTURE.md, "Safe
// defaults").
const (
	DefaultMaxMessageBytes = 25 << 20
	DefaultMaxRecipients   = 100
	DefaultMaxLineLength   = 512 // RFC 5321 §4.5.3.1.4, including CRLF
	DefaultMaxBadCommands  = 10
	DefaultMaxAuthFailures = 3
	DefaultCommandTimeout  = 5 * time.Minute  // RFC 5321 §4.5.3.2.7
	DefaultDataTimeout     = 10 * time.Minute // RFC 5321 §4.5.3.2.6
	DefaultMaxConns        = 1000
	DefaultMaxConnsPerIP   = 20
)

// Server is an SMTP (RFC 5321) or LMTP (RFC 2033) server. The zero value is
// usable once Backend is set. Fields must not change once Serve has been
// called. Limits: zero means the documented default, negative means
// unlimited.
type Server struct {
	// Backend creates a Session per connection. Required.
	Backend Backend
	// Hostname is the server's name in the greeting, EHLO reply and
	// Received header. Default: os.Hostname().
	Hostname string
	// LMTP makes the server speak LMTP: LHLO instead of HELO/EHLO and one
	// reply per recipient after DATA.
	LMTP bool

	// TLSConfig enables STARTTLS (RFC 3207) and is used by ServeTLS for
	// implicit TLS (RFC 8314).
	TLSConfig *tls.Config
	// Authenticator enables AUTH (RFC 4954). Mechanisms are those of
	// auth.SASL: PLAIN, LOGIN and, if the authenticator supports it,
	// SCRAM-SHA-256.
	Authenticator auth.Authenticator
	// AllowInsecureAuth allows AUTH on connections without TLS. Off by
	// default: passwords never cross the network in the clear.
	AllowInsecureAuth bool
	// RequireAuth refuses MAIL before AUTH (530 5.7.0), for message
	// submission (RFC 6409).
	RequireAuth bool
	// AuthThrottle delays replies to failed AUTH attempts per client IP.
	// Nil means a Throttle with its defaults, private to this Server.
	AuthThrottle *auth.Throttle

	// MaxMessageBytes is the largest message accepted, advertised with SIZE
	// (RFC 1870). Default 25 MiB.
	MaxMessageBytes int64
	// MaxRecipients per message; more get 452 4.5.3. Default 100.
	MaxRecipients int
	// MaxLineLength is the longest command line, CRLF included. Default 512;
	// MAIL and RCPT may be 1024 octets longer for their parameters and
	// AUTH lines may be 12288 octets (RFC 4954 §4).
	MaxLineLength int
	// MaxBadCommands is how many unknown, malformed or out-of-sequence
	// commands a session may send before it is closed with 421 4.7.0.
	// Default 10.
	MaxBadCommands int
	// MaxAuthFailures is how many failed AUTH attempts a session may make
	// before it is closed with 421 4.7.0. Default 3.
	MaxAuthFailures int
	// CommandTimeout bounds the wait for each command (and the greeting's
	// write). Default 5 minutes.
	CommandTimeout time.Duration
	// DataTimeout bounds the reading of message content. Default 10 minutes.
	DataTimeout time.Duration
	// MaxConns and MaxConnsPerIP limit concurrent connections; more are
	// refused with 421 4.7.0. Defaults 1000 and 20.
	MaxConns      int
	MaxConnsPerIP int

	// NormalizeLineEndings accepts messages with bare CR or LF, turning them
	// into CRLF, instead of refusing them with 550 5.6.0. Either way a
	// message ends only at <CRLF>.<CRLF>.
	NormalizeLineEndings bool
	// RejectRoutingSyntax refuses RCPT paths with a source route
	// (@a,@b:user@c), a %-hack (user%remote@local) or a bang path
	// (remote!user@local) with 553 5.1.3. The syntax is legal, and Path keeps
	// it unambiguous for a Session to judge, but it is mostly used to probe
	// for open relays.
	RejectRoutingSyntax bool
	// NoReceived stops the server from prepending its Received header.
	NoReceived bool

	// Logger receives errors at Warn/Error and protocol detail at Debug.
	// Default slog.Default().
	Logger *slog.Logger

	once sync.Once
	bufs sync.Pool // of *connBufs, reused across connections
	srv  serve.Server
	sasl *auth.SASL
	thr  *auth.Throttle
}

// ListenerOptions are the per-listener settings of ServeListener.
type ListenerOptions struct {
	// ImplicitTLS starts TLS as soon as the client connects (port 465,
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
			c.Write([]byte("421 4.7.0 Too many connections, try again later\r\n"))
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

// Serve accepts connections on l and serves each in its own goroutine. It
// returns ErrServerClosed after Shutdown or Close.
func (s *Server) Serve(l net.Listener) error {
	return s.ServeListener(l, ListenerOptions{})
}

// ServeTLS is like Serve with implicit TLS (RFC 8314), as on port 465.
func (s *Server) ServeTLS(l net.Listener) error {
	return s.ServeListener(l, ListenerOptions{ImplicitTLS: true})
}

// ServeListener is Serve with per-listener options.
func (s *Server) ServeListener(l net.Listener, opts ListenerOptions) error {
	s.init()
	return s.srv.ServeListener(l, &serve.ListenerOptions{
		ImplicitTLS:   opts.ImplicitTLS,
		ProxyProtocol: opts.ProxyProtocol,
		ProxyTimeout:  defDur(s.CommandTimeout, DefaultCommandTimeout),
	})
}

// ListenAndServe listens on addr (default ":25") and serves it.
func (s *Server) ListenAndServe(addr string) error {
	if addr == "" {
		addr = ":25"
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return s.Serve(l)
}

// ServeConn serves one connection in the calling goroutine and closes it.
func (s *Server) ServeConn(ctx context.Context, c net.Conn) error {
	s.init()
	return s.srv.ServeConn(ctx, c)
}

// Shutdown stops accepting connections and closes each session at its next
// idle point with 421 4.3.2, waiting for sessions in the middle of a command
// to finish it. When ctx is done first, the remaining connections are closed
// and ctx's error is returned.
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
	return &connBufs{r: wire.NewReader(c), w: bufio.NewWriterSize(c, 1024)}
}

func (s *Server) putBufs(b *connBufs) {
	b.r.Reset(nil)
	b.w.Reset(nil)
	s.bufs.Put(b)
}
