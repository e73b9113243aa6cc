package serve

import (
	"context"
	"crypto/tls"
	"net"
	"sync"
	"time"
)

// aLongTimeAgo is a read deadline in the past, used to interrupt reads.
var aLongTimeAgo = time.Unix(1, 0)

type connState int

const (
	statePreparing connState = iota // accepted, Prepare running, not yet admitted
	stateRefusing                   // over a limit, Refuse running
	stateBusy                       // Handle running, processing a command (or greeting)
	stateIdle                       // Handle waiting for the next command
)

// Conn is a connection tracked by a [Server]. It embeds the current
// underlying net.Conn, whose methods it promotes, and overrides the deadline
// methods so that a read interrupted by Shutdown stays interrupted.
//
// A Conn belongs to the goroutine running Handle. SetNetConn and NetConn
// must only be called from that goroutine. Idle, Busy, ShuttingDown, ID and
// the three deadline methods may be called from any goroutine; Read, Write
// and Close (promoted from the current net.Conn) may be called from another
// goroutine, such as an IMAP IDLE notifier, as long as SetNetConn is not
// called concurrently. The Server closes the Conn after Handle returns;
// Handle may also close it earlier.
type Conn struct {
	// Conn is the current underlying connection. Do not assign it; call
	// SetNetConn.
	net.Conn

	srv         *Server
	id          uint64
	raw         net.Conn // as accepted; closed by forceClose even if wrapped
	implicitTLS bool     // from the listener's ListenerOptions

	ctx    context.Context
	cancel context.CancelFunc

	mu           sync.Mutex // guards the fields below and writes of Conn
	state        connState
	interrupted  bool      // read deadline forced into the past by Shutdown
	readDeadline time.Time // read deadline last requested by the session
	closed       bool      // force-closed
	wrapped      bool      // Conn was replaced and may differ from raw

	// guarded by srv.mu
	counted  bool   // counts toward MaxConns
	ipKey    string // per-IP bucket, valid if hasIPKey
	hasIPKey bool
}

// ID returns a number identifying the connection within its Server, for log
// attributes ("conn"). IDs start at 1 and are not reused.
func (c *Conn) ID() uint64 { return c.id }

// ImplicitTLS reports whether the connection came from a listener with
// ListenerOptions.ImplicitTLS set.
func (c *Conn) ImplicitTLS() bool { return c.implicitTLS }

// NetConn returns the current underlying connection. Use it, not c itself,
// as the connection to wrap: tls.Server(c.NetConn(), config).
func (c *Conn) NetConn() net.Conn { return c.Conn }

// Idle marks the connection as waiting for the client's next command. It
// returns false if the server is shutting down or the connection has been
// force-closed; the caller should then write its goodbye (for example
// "421 4.3.2 Server shutting down") and return from Handle.
//
// Call Idle right before blocking on reading the next command, after
// setting the read deadline for that read. If Shutdown begins while the
// connection is idle, the pending read fails with a timeout error
// (os.ErrDeadlineExceeded) and ShuttingDown reports true.
func (c *Conn) Idle() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.srv.shutting.Load() {
		return false
	}
	if c.state != stateIdle {
		c.srv.working.Add(-1)
	}
	c.state = stateIdle
	return true
}

// Busy marks the connection as processing a command; call it as soon as a
// command line has been read. Shutdown waits for busy connections. If
// Shutdown interrupted the read just after the command arrived, Busy
// restores the read deadline last set by the session, so that reading the
// command's data (DATA, literals) is not interrupted.
func (c *Conn) Busy() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == stateIdle {
		c.srv.working.Add(1)
	}
	c.state = stateBusy
	if c.interrupted {
		c.interrupted = false
		c.Conn.SetReadDeadline(c.readDeadline)
	}
}

// ShuttingDown reports whether Shutdown or Close has begun. Protocol code
// checks it after a failed read to decide whether to send its shutdown
// goodbye rather than its timeout message.
func (c *Conn) ShuttingDown() bool {
	return c.srv.shutting.Load()
}

// SetReadDeadline sets the read deadline of the underlying connection,
// unless Shutdown has interrupted the idle connection's read, in which case
// t is only remembered (and applied by Busy).
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.readDeadline = t
	if c.interrupted {
		return nil
	}
	return c.Conn.SetReadDeadline(t)
}

// SetDeadline sets the read and write deadlines of the underlying
// connection. As with SetReadDeadline, the read deadline stays in the past
// while Shutdown has the idle connection's read interrupted.
func (c *Conn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.readDeadline = t
	if c.interrupted {
		return c.Conn.SetWriteDeadline(t)
	}
	return c.Conn.SetDeadline(t)
}

// SetDeadlineAfter is SetDeadline(now + d), or no deadline when d <= 0.
func (c *Conn) SetDeadlineAfter(d time.Duration) error {
	var t time.Time
	if d > 0 {
		t = time.Now().Add(d)
	}
	return c.SetDeadline(t)
}

// Handshake runs a server TLS handshake with config (STARTTLS, or implicit
// TLS), bounded by ctx and, when timeout > 0, by timeout; the caller sets
// the connection's deadline too. On success the *tls.Conn becomes the
// underlying connection (see SetNetConn) and its state is returned.
func (c *Conn) Handshake(ctx context.Context, config *tls.Config, timeout time.Duration) (*tls.ConnectionState, error) {
	tc := tls.Server(c.NetConn(), config)
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, err
	}
	c.SetNetConn(tc)
	st := tc.ConnectionState()
	return &st, nil
}

// SetWriteDeadline sets the write deadline of the underlying connection.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.Conn.SetWriteDeadline(t)
}

// SetNetConn replaces the underlying connection, for example with the
// *tls.Conn made by STARTTLS from c.NetConn(), or with a connection whose
// RemoteAddr was changed by a PROXY header. The old connection is not
// closed (a wrapper usually owns it). Tracking continues: Shutdown and Close
// act on nc, and the per-IP count moves to nc's remote IP (the limit itself
// was checked when the connection was admitted). nc must not wrap c itself
// (SetNetConn panics if it can tell). Call it only from the goroutine that
// owns c.
func (c *Conn) SetNetConn(nc net.Conn) {
	if nc == nil {
		panic("serve: SetNetConn(nil)")
	}
	var x net.Conn = nc
	for range 16 {
		if x == net.Conn(c) {
			panic("serve: SetNetConn with a net.Conn that wraps the *serve.Conn itself; wrap c.NetConn() instead")
		}
		u, ok := x.(interface{ NetConn() net.Conn })
		if !ok {
			break
		}
		x = u.NetConn()
		if x == nil {
			break
		}
	}
	c.mu.Lock()
	c.Conn = nc
	c.wrapped = true
	if c.interrupted {
		nc.SetReadDeadline(aLongTimeAgo)
	}
	closed := c.closed
	c.mu.Unlock()
	if closed {
		nc.Close()
	}
	c.srv.rekey(c, nc.RemoteAddr())
}

// shutdown is called by Server.Shutdown after the server was marked as
// shutting down: an idle connection has its read interrupted, a connection
// still in Prepare is closed.
func (c *Conn) shutdown() {
	c.mu.Lock()
	switch c.state {
	case stateIdle:
		if !c.interrupted && !c.closed {
			c.interrupted = true
			c.Conn.SetReadDeadline(aLongTimeAgo)
		}
	case statePreparing:
		c.mu.Unlock()
		c.forceClose()
		return
	}
	c.mu.Unlock()
}

// forceClose cancels the connection's context and closes it, interrupting
// any read or write in progress.
func (c *Conn) forceClose() {
	c.mu.Lock()
	c.closed = true
	cur, raw, wrapped := c.Conn, c.raw, c.wrapped
	c.mu.Unlock()
	c.cancel()
	// Close the accepted connection first: closing a wrapper such as a
	// *tls.Conn may otherwise try to write an alert and block.
	raw.Close()
	if wrapped {
		cur.Close()
	}
}

// closeAll closes the current and the accepted connection after Handle
// returned.
func (c *Conn) closeAll() {
	c.mu.Lock()
	cur, raw, wrapped := c.Conn, c.raw, c.wrapped
	c.mu.Unlock()
	cur.Close()
	if wrapped {
		raw.Close()
	}
}
