package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// Default connection limits, used when the corresponding [Server] field is
// zero.
const (
	DefaultMaxConns      = 1000
	DefaultMaxConnsPerIP = 20
)

// RefuseTimeout is the write deadline set on a connection before it is
// passed to [Server.Refuse].
const RefuseTimeout = 5 * time.Second

// Accept backoff on temporary errors, as in net/http.
const (
	minAcceptDelay = 5 * time.Millisecond
	maxAcceptDelay = 1 * time.Second
)

var (
	// ErrServerClosed is returned by Serve, ServeListener and ServeConn
	// after Shutdown or Close has been called. Protocol packages re-export
	// it.
	ErrServerClosed = errors.New("server closed")

	// ErrTooManyConns is passed to Refuse (and returned by ServeConn) when
	// MaxConns connections are already being served.
	ErrTooManyConns = errors.New("too many connections")

	// ErrTooManyConnsFromIP is passed to Refuse (and returned by ServeConn)
	// when MaxConnsPerIP connections from the same IP address are already
	// being served.
	ErrTooManyConnsFromIP = errors.New("too many connections from this IP address")
)

var errNoHandle = errors.New("serve: Server.Handle is nil")

// Server tracks the listeners and connections of one protocol server and
// implements its accept loop, connection limits and shutdown.
//
// The zero Server is usable once Handle is set. Fields must not be changed
// after the first call to Serve, ServeListener or ServeConn. All methods are
// safe for concurrent use. A Server cannot be restarted after Shutdown or
// Close.
type Server struct {
	// MaxConns is the maximum number of connections served at once, over
	// all listeners and ServeConn calls. Connections in Prepare count.
	// Zero means DefaultMaxConns (1000); negative means unlimited.
	MaxConns int

	// MaxConnsPerIP is the maximum number of connections served at once
	// from one remote IP address (an IPv6 address is compared as a whole,
	// /128; IPv4-mapped IPv6 addresses count as IPv4). Zero means
	// DefaultMaxConnsPerIP (20); negative means unlimited.
	MaxConnsPerIP int

	// Logger receives accept errors and recovered panics at Warn and
	// Error, refused connections at Info, and failed Prepare calls at
	// Debug. Nil means slog.Default().
	Logger *slog.Logger

	// Handle serves one connection and returns when the session is over.
	// It runs in its own goroutine (Serve) or in the caller's (ServeConn).
	// The Server closes the connection after Handle returns. ctx is
	// cancelled when the connection is force-closed: by Close, when
	// Shutdown's context expires, or when ServeConn's context is done.
	// A panic in Handle is recovered and logged with its stack.
	// Handle must be set.
	Handle func(ctx context.Context, c *Conn)

	// Refuse, if set, is called instead of Handle when a connection limit
	// is hit, to write the protocol's refusal (for example
	// "421 4.7.0 Too many connections"). err is ErrTooManyConns or
	// ErrTooManyConnsFromIP. A write deadline of RefuseTimeout is set on
	// c beforehand and c is closed afterwards. It runs in the connection's
	// goroutine, never in the accept loop. Connections being refused do
	// not count toward the limits; Shutdown waits for them and Close
	// closes them. Nil means the connection is closed without a word.
	Refuse func(c net.Conn, err error)

	shutting atomic.Bool   // Shutdown or Close has begun
	nextID   atomic.Uint64 // last Conn.ID handed out
	working  atomic.Int32  // tracked connections not idle (see Conn.Idle)

	mu        sync.Mutex
	listeners map[*net.Listener]struct{}
	conns     map[*Conn]struct{} // every connection with a goroutine
	active    int                // connections counted toward MaxConns
	perIP     map[string]int     // admitted connections per ipKey
	gone      chan struct{}      // closed when conns becomes empty; nil if nobody waits
	done      chan struct{}      // closed when shutting begins; created lazily
}

// ListenerOptions configure one listener served by [Server.ServeListener].
type ListenerOptions struct {
	// Prepare, if set, is called with each accepted connection in that
	// connection's goroutine, before the per-IP limit is checked, and
	// returns the connection to serve instead, typically a wrapper
	// returned by ReadProxyHeader. Prepare must bound its own running time
	// (set a deadline). If it returns an error, the error is logged at
	// Debug and the accepted connection is closed; Prepare need not close
	// it. Connections in Prepare count toward MaxConns (not toward
	// MaxConnsPerIP) and are closed, not drained, by Shutdown.
	Prepare func(net.Conn) (net.Conn, error)
	// ProxyProtocol, when Prepare is nil, reads a PROXY protocol v1 or v2
	// header from each connection (ReadProxyHeader with ProxyTimeout)
	// before the per-IP limit is checked, so that the limit counts the
	// clients the proxy reports. Only for listeners behind a trusted proxy.
	ProxyProtocol bool
	ProxyTimeout  time.Duration
	// ImplicitTLS marks the listener's connections (Conn.ImplicitTLS) for
	// the protocol server to start TLS as soon as they are accepted.
	ImplicitTLS bool
}

func (s *Server) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

// limit turns a configured value into a limit; -1 is unlimited.
func limit(v, def int) int {
	switch {
	case v == 0:
		return def
	case v < 0:
		return -1
	}
	return v
}

// Serve accepts connections on l and serves each in a new goroutine with
// Handle, applying the connection limits. It is ServeListener(l, nil).
func (s *Server) Serve(l net.Listener) error {
	return s.ServeListener(l, nil)
}

// ServeListener accepts connections on l and serves each in a new goroutine
// with Handle, applying the connection limits; opts may be nil.
//
// When Accept fails with a temporary error (a timeout, EMFILE, ENFILE,
// ECONNABORTED and the like), it retries after a delay starting at 5ms and
// doubling up to 1s, reset by the next successful Accept. Any other error is
// returned. ServeListener may be called for several listeners at once. It
// always closes l before returning and returns ErrServerClosed after
// Shutdown or Close.
func (s *Server) ServeListener(l net.Listener, opts *ListenerOptions) error {
	if s.Handle == nil {
		l.Close()
		return errNoHandle
	}
	var (
		prepare     func(net.Conn) (net.Conn, error)
		implicitTLS bool
	)
	if opts != nil {
		prepare, implicitTLS = opts.Prepare, opts.ImplicitTLS
		if prepare == nil && opts.ProxyProtocol {
			timeout := opts.ProxyTimeout
			prepare = func(nc net.Conn) (net.Conn, error) { return ReadProxyHeader(nc, timeout) }
		}
	}
	l = &onceCloseListener{Listener: l}
	defer l.Close()
	if !s.trackListener(&l, true) {
		return ErrServerClosed
	}
	defer s.trackListener(&l, false)

	var delay time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			if s.shutting.Load() {
				return ErrServerClosed
			}
			if !isTemporary(err) {
				return err
			}
			delay = max(min(2*delay, maxAcceptDelay), minAcceptDelay)
			s.logger().Warn("accept error; retrying", "err", err, "delay", delay)
			if !s.sleep(delay) {
				return ErrServerClosed
			}
			continue
		}
		delay = 0
		c, refuseErr := s.register(context.Background(), nc)
		if c == nil {
			nc.Close()
			continue
		}
		c.implicitTLS = implicitTLS
		go s.serve(c, prepare, refuseErr)
	}
}

// ServeConn serves nc, an already accepted connection, in the calling
// goroutine and returns after Handle has returned and nc has been closed.
// Connection limits apply: over a limit, Refuse is called and the limit's
// error (ErrTooManyConns or ErrTooManyConnsFromIP) is returned. If the
// server is shutting down, nc is closed and ErrServerClosed is returned,
// also when Shutdown or Close began while nc was served. When ctx is done,
// the connection is force-closed as by Close; ctx is also the parent of the
// context passed to Handle. ServeConn closes nc in all cases.
func (s *Server) ServeConn(ctx context.Context, nc net.Conn) error {
	if s.Handle == nil {
		nc.Close()
		return errNoHandle
	}
	c, refuseErr := s.register(ctx, nc)
	if c == nil {
		nc.Close()
		return ErrServerClosed
	}
	stop := context.AfterFunc(ctx, c.forceClose)
	defer stop()
	if err := s.serve(c, nil, refuseErr); err != nil {
		return err
	}
	if s.shutting.Load() {
		return ErrServerClosed
	}
	return nil
}

// Shutdown stops the server gracefully: it closes all listeners, asks every
// connection to end at its next idle point (see [Conn.Idle]), closes
// connections that are still in Prepare, and waits until all connections
// are gone. If ctx is done first, it force-closes the remaining connections
// as Close does and returns ctx.Err() without waiting further. Calling
// Shutdown after Close waits for the connection goroutines to finish.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.beginShutdownLocked()
	conns := s.snapshotLocked()
	var gone chan struct{}
	if len(s.conns) > 0 {
		if s.gone == nil {
			s.gone = make(chan struct{})
		}
		gone = s.gone
	}
	s.mu.Unlock()

	for _, c := range conns {
		c.shutdown()
	}
	if gone == nil {
		return nil
	}
	select {
	case <-gone:
		return nil
	case <-ctx.Done():
		s.closeConns()
		return ctx.Err()
	}
}

// Close stops the server now: it closes all listeners and force-closes all
// connections, cancelling their contexts. It does not wait for Handle to
// return; call Shutdown afterwards for that. It returns the first error from
// closing a listener.
func (s *Server) Close() error {
	s.mu.Lock()
	err := s.beginShutdownLocked()
	s.mu.Unlock()
	s.closeConns()
	return err
}

// ShuttingDown reports whether Shutdown or Close has been called.
func (s *Server) ShuttingDown() bool {
	return s.shutting.Load()
}

// beginShutdownLocked marks the server as shutting down and closes its
// listeners. s.mu must be held.
func (s *Server) beginShutdownLocked() error {
	if !s.shutting.Load() {
		s.shutting.Store(true)
		if s.done == nil {
			s.done = make(chan struct{})
		}
		close(s.done)
	}
	var err error
	for l := range s.listeners {
		if cerr := (*l).Close(); cerr != nil && err == nil {
			err = cerr
		}
		delete(s.listeners, l)
	}
	return err
}

func (s *Server) snapshotLocked() []*Conn {
	conns := make([]*Conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	return conns
}

func (s *Server) closeConns() {
	s.mu.Lock()
	conns := s.snapshotLocked()
	s.mu.Unlock()
	for _, c := range conns {
		c.forceClose()
	}
}

func (s *Server) trackListener(l *net.Listener, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !add {
		delete(s.listeners, l)
		return true
	}
	if s.shutting.Load() {
		return false
	}
	if s.listeners == nil {
		s.listeners = make(map[*net.Listener]struct{})
	}
	s.listeners[l] = struct{}{}
	return true
}

// sleep waits for d and reports false if shutdown began meanwhile.
func (s *Server) sleep(d time.Duration) bool {
	s.mu.Lock()
	if s.done == nil {
		s.done = make(chan struct{})
	}
	done := s.done
	s.mu.Unlock()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-done:
		return false
	}
}

// register starts tracking nc. It returns nil if the server is shutting
// down. Otherwise, if MaxConns is reached, the Conn is marked for refusal
// and ErrTooManyConns is returned with it.
func (s *Server) register(ctx context.Context, nc net.Conn) (*Conn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shutting.Load() {
		return nil, nil
	}
	nc = withPolling(nc, &s.working)
	c := &Conn{Conn: nc, srv: s, raw: nc, id: s.nextID.Add(1)}
	s.working.Add(1)
	c.ctx, c.cancel = context.WithCancel(ctx)
	if s.conns == nil {
		s.conns = make(map[*Conn]struct{})
	}
	s.conns[c] = struct{}{}
	if m := limit(s.MaxConns, DefaultMaxConns); m >= 0 && s.active >= m {
		c.state = stateRefusing
		return c, ErrTooManyConns
	}
	s.active++
	c.counted = true
	c.state = statePreparing
	return c, nil
}

// admit applies the per-IP limit to a registered connection and marks it
// busy. It returns ErrServerClosed if shutdown has begun.
func (s *Server) admit(c *Conn) error {
	key := ipKey(c.Conn.RemoteAddr())
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shutting.Load() {
		return ErrServerClosed
	}
	if m := limit(s.MaxConnsPerIP, DefaultMaxConnsPerIP); m >= 0 && s.perIP[key] >= m {
		c.mu.Lock()
		c.state = stateRefusing
		c.mu.Unlock()
		return ErrTooManyConnsFromIP
	}
	if s.perIP == nil {
		s.perIP = make(map[string]int)
	}
	s.perIP[key]++
	c.ipKey, c.hasIPKey = key, true
	c.mu.Lock()
	c.state = stateBusy
	c.mu.Unlock()
	return nil
}

// rekey moves c to the per-IP bucket of addr after its net.Conn changed.
func (s *Server) rekey(c *Conn, addr net.Addr) {
	key := ipKey(addr)
	s.mu.Lock()
	defer s.mu.Unlock()
	if !c.hasIPKey || c.ipKey == key {
		return
	}
	s.decIPLocked(c.ipKey)
	if s.perIP == nil {
		s.perIP = make(map[string]int)
	}
	s.perIP[key]++
	c.ipKey = key
}

func (s *Server) decIPLocked(key string) {
	if n := s.perIP[key] - 1; n > 0 {
		s.perIP[key] = n
	} else {
		delete(s.perIP, key)
	}
}

// serve runs a registered connection to completion: Prepare, limits,
// Refuse or Handle, then close and untrack. It returns the refusal error,
// ErrServerClosed if the connection was dropped because of shutdown, a
// Prepare error, or an error describing a panic in Handle.
func (s *Server) serve(c *Conn, prepare func(net.Conn) (net.Conn, error), refuseErr error) (err error) {
	defer s.finish(c)
	if refuseErr != nil {
		s.refuse(c, refuseErr)
		return refuseErr
	}
	if prepare != nil {
		nc, err := prepare(c.raw)
		if err != nil {
			s.logger().Debug("preparing connection failed", "conn", c.id, "remote", AddrString(c.raw.RemoteAddr()), "err", err)
			return err
		}
		c.mu.Lock()
		c.Conn, c.wrapped = nc, true
		c.mu.Unlock()
	}
	if err := s.admit(c); err != nil {
		if err != ErrServerClosed {
			s.refuse(c, err)
		}
		return err
	}
	defer func() {
		if r := recover(); r != nil {
			s.logger().Error("panic serving connection", "conn", c.id, "remote", AddrString(c.Conn.RemoteAddr()),
				"panic", r, "stack", string(debug.Stack()))
			err = fmt.Errorf("serve: panic in Handle: %v", r)
		}
	}()
	s.Handle(c.ctx, c)
	return nil
}

func (s *Server) refuse(c *Conn, reason error) {
	nc := c.Conn // owned by this goroutine; Handle never ran
	s.logger().Info("connection refused", "conn", c.id, "remote", AddrString(nc.RemoteAddr()), "reason", reason.Error())
	if s.Refuse == nil {
		return
	}
	defer func() {
		if r := recover(); r != nil {
			s.logger().Error("panic in Refuse", "conn", c.id, "panic", r, "stack", string(debug.Stack()))
		}
	}()
	nc.SetWriteDeadline(time.Now().Add(RefuseTimeout))
	s.Refuse(nc, reason)
}

// finish closes c and stops tracking it.
func (s *Server) finish(c *Conn) {
	c.cancel()
	c.closeAll()
	c.mu.Lock()
	if c.state != stateIdle {
		s.working.Add(-1)
	}
	c.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
	if c.counted {
		s.active--
	}
	if c.hasIPKey {
		s.decIPLocked(c.ipKey)
		c.hasIPKey = false
	}
	if len(s.conns) == 0 && s.gone != nil {
		close(s.gone)
		s.gone = nil
	}
}

// ipKey returns the bucket for per-IP limits: the IP address of a, without
// port and zone, IPv4-mapped IPv6 addresses unmapped. Addresses that are not
// IP addresses are keyed by their host part or whole string.
func ipKey(a net.Addr) string {
	if a == nil {
		return ""
	}
	if ta, ok := a.(*net.TCPAddr); ok {
		if ip, ok := netip.AddrFromSlice(ta.IP); ok {
			return ip.Unmap().String()
		}
	}
	str := a.String()
	host, _, err := net.SplitHostPort(str)
	if err != nil {
		host = str
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return ip.Unmap().WithZone("").String()
	}
	return host
}

// isTemporary reports whether an Accept error is worth retrying.
func isTemporary(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	for _, e := range acceptRetryErrnos {
		if errors.Is(err, e) {
			return true
		}
	}
	var te interface{ Temporary() bool }
	return errors.As(err, &te) && te.Temporary()
}

// onceCloseListener makes Close idempotent: Shutdown and Serve both close.
type onceCloseListener struct {
	net.Listener
	once sync.Once
	err  error
}

func (l *onceCloseListener) Close() error {
	l.once.Do(func() { l.err = l.Listener.Close() })
	return l.err
}
