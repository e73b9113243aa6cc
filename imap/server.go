package imap

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
	"github.com/postyard/postyard/mailbox"
)

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = serve.ErrServerClosed

// Defaults for the zero values of Server's limits (see ARCHITECTURE.md, "Safe
// defaults").
const (
	DefaultMaxLineLength    = 64 << 10 // after authentication
	DefaultMaxLiteral       = 1 << 20  // string literals after authentication
	DefaultMaxMessageBytes  = 25 << 20 // APPEND, advertised as APPENDLIMIT
	DefaultMaxNesting       = 32
	DefaultMaxSeqSetRanges  = 10000
	DefaultMaxBadCommands   = 10
	DefaultMaxAuthFailures  = 3
	DefaultIdleTimeout      = 30 * time.Minute // RFC 9051 §5.4
	DefaultIDLETimeout      = 29 * time.Minute // RFC 2177 §3
	DefaultIDLECheck        = 30 * time.Second
	DefaultMaxConns         = 1000
	DefaultMaxConnsPerIP    = 20
	preAuthMaxLine          = 8 << 10
	preAuthMaxLiteral       = 64 << 10
	nonSyncLiteralMax       = 4096 // RFC 7888 §4, LITERAL-
	maxCommandBytesPreAuth  = 128 << 10
	maxCommandBytesPostAuth = 8 << 20
)

// Server is an IMAP4rev2 (RFC 9051) and IMAP4rev1 (RFC 3501) server over a
// mailbox.Store. The zero value is usable once Store and Authenticator are
// set. Fields must not change once Serve has been called. Limits: zero
// means the documented default, negative means unlimited.
//
// The server owns sequence numbers, the UID map of each session and the
// untagged updates other sessions cause; the Store only implements package
// mailbox.
type Server struct {
	// Store holds the users' mailboxes. Required.
	Store mailbox.Store
	// Authenticator checks LOGIN and AUTHENTICATE credentials. Required.
	// The user name it returns is passed to Store.User.
	Authenticator auth.Authenticator
	// Hostname is the name in the greeting. Default "localhost".
	Hostname string

	// TLSConfig enables STARTTLS (RFC 9051 §6.2.1) and is used by ServeTLS
	// for implicit TLS (RFC 8314, port 993).
	TLSConfig *tls.Config
	// AllowInsecureAuth allows LOGIN and AUTHENTICATE on connections
	// without TLS. Off by default: LOGINDISABLED is advertised and
	// authentication refused with NO [PRIVACYREQUIRED].
	AllowInsecureAuth bool
	// AuthThrottle delays replies to failed authentication per client IP.
	// Nil means a Throttle with its defaults, private to this Server.
	AuthThrottle *auth.Throttle

	// MaxMessageBytes bounds APPEND messages (advertised as APPENDLIMIT,
	// RFC 7889). Default 25 MiB.
	MaxMessageBytes int64
	// MaxLineLength is the longest command line after authentication,
	// without CRLF. Default 64 KiB; before authentication it is 8 KiB.
	MaxLineLength int
	// MaxLiteral is the longest literal other than an APPEND message after
	// authentication. Default 1 MiB; before authentication it is 64 KiB,
	// and non-synchronizing literals are limited to 4096 octets then
	// (LITERAL-, RFC 7888).
	MaxLiteral int64
	// MaxNesting bounds the nesting of parenthesized lists and SEARCH
	// keys. Default 32.
	MaxNesting int
	// MaxSeqSetRanges bounds the number of ranges in a sequence set.
	// Default 10000.
	MaxSeqSetRanges int
	// MaxBadCommands is how many malformed or unknown commands a session
	// may send before it is closed with * BYE. Default 10.
	MaxBadCommands int
	// MaxAuthFailures is how many failed LOGIN/AUTHENTICATE attempts a
	// session may make before it is closed. Default 3.
	MaxAuthFailures int
	// IdleTimeout is the autologout timer (RFC 9051 §5.4): how long the
	// server waits for a command. Default 30 minutes.
	IdleTimeout time.Duration
	// IDLETimeout is how long an IDLE command may last before the server
	// ends the session. Default 29 minutes.
	IDLETimeout time.Duration
	// IDLECheck is how often a session in IDLE asks the store for the
	// selected mailbox's status, so that mail other programs dropped into
	// a Maildir's new/ is reported without the client asking (changes
	// made through the store are reported at once). Default 30 seconds;
	// negative: never.
	IDLECheck time.Duration
	// MaxConns and MaxConnsPerIP limit concurrent connections; more are
	// refused with * BYE. Defaults 1000 and 20.
	MaxConns      int
	MaxConnsPerIP int

	// Logger receives errors at Warn/Error and protocol detail at Debug.
	// Default slog.Default().
	Logger *slog.Logger

	once sync.Once
	srv  serve.Server
	sasl *auth.SASL
	thr  *auth.Throttle
	// Buffers that sessions in IDLE give back (see conn.releaseBufs):
	// *bufio.Writer and *readBuf.
	writers, readers sync.Pool
	bigWriters       sync.Pool // *bufio.Writer of bigWriteBufSize
}

// ListenerOptions are the per-listener settings of ServeListener.
type ListenerOptions struct {
	// ImplicitTLS starts TLS as soon as the client connects (port 993,
	// RFC 8314 §3.3). Requires Server.TLSConfig.
	ImplicitTLS bool
	// ProxyProtocol reads a PROXY protocol v1 or v2 header first, and takes
	// the client address from it. Only for listeners that sit behind a
	// trusted proxy.
	ProxyProtocol bool
}

func (s *Server) init() {
	s.once.Do(func() {
		if s.Hostname == "" {
			s.Hostname = "localhost"
		}
		s.srv.MaxConns = defInt(s.MaxConns, DefaultMaxConns)
		s.srv.MaxConnsPerIP = defInt(s.MaxConnsPerIP, DefaultMaxConnsPerIP)
		s.srv.Logger = s.logger()
		s.srv.Handle = s.handle
		s.srv.Refuse = func(c net.Conn, err error) {
			c.Write([]byte("* BYE [UNAVAILABLE] Too many connections, try again later\r\n"))
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

// limit64 turns a configured limit into a positive bound: zero means def,
// negative a bound so large it never applies.
func limit64(v, def int64) int64 {
	switch {
	case v == 0:
		return def
	case v < 0:
		return 1 << 62
	}
	return v
}

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

// ServeTLS is like Serve with implicit TLS (RFC 8314), as on port 993.
func (s *Server) ServeTLS(l net.Listener) error {
	return s.ServeListener(l, ListenerOptions{ImplicitTLS: true})
}

// ServeListener is Serve with per-listener options.
func (s *Server) ServeListener(l net.Listener, opts ListenerOptions) error {
	s.init()
	return s.srv.ServeListener(l, &serve.ListenerOptions{
		ImplicitTLS:   opts.ImplicitTLS,
		ProxyProtocol: opts.ProxyProtocol,
		ProxyTimeout:  time.Minute,
	})
}

// ListenAndServe listens on addr (default ":143") and serves it.
func (s *Server) ListenAndServe(addr string) error {
	if addr == "" {
		addr = ":143"
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
// idle point (between commands, or in IDLE) with * BYE, waiting for
// sessions in the middle of a command to finish it. When ctx is done
// first, the remaining connections are closed and ctx's error is returned.
func (s *Server) Shutdown(ctx context.Context) error {
	s.init()
	return s.srv.Shutdown(ctx)
}

// Close closes all listeners and connections now.
func (s *Server) Close() error {
	s.init()
	return s.srv.Close()
}

// readBuf is a session's read buffer and the scanner over it, pooled
// together.
type readBuf struct {
	r  *wire.Reader
	sc *wire.IMAPScanner
}

// writeBufSize is the size of a session's write buffer.
const writeBufSize = 4096

// bigWriteBufSize is the size of the write buffer a FETCH of many
// messages borrows (see conn.bigWrites).
const bigWriteBufSize = 64 << 10

// newBufs returns read and write buffers on c, from the server's pools
// when they hold any.
func (s *Server) newBufs(c net.Conn) (*readBuf, *bufio.Writer) {
	rb, _ := s.readers.Get().(*readBuf)
	if rb == nil {
		rb = &readBuf{r: wire.NewReader(c)}
		rb.sc = wire.NewIMAPScanner(rb.r)
	} else {
		rb.r.Reset(c)
	}
	w, _ := s.writers.Get().(*bufio.Writer)
	if w == nil {
		w = bufio.NewWriterSize(c, writeBufSize)
	} else {
		w.Reset(c)
	}
	return rb, w
}
