package pop3

import (
	"bufio"
	"context"
	"errors"
	"log/slog"
	"os"
	"runtime/debug"
	"time"

	"github.com/postyard/postyard/internal/serve"
	"github.com/postyard/postyard/internal/wire"
	"github.com/postyard/postyard/mailbox"
)

// maxAuthLine is the longest AUTH command or SASL response line: RFC 5034
// §4 lifts the 255-octet limit for them.
const maxAuthLine = 12288

// errClose ends the session after the reply has been flushed.
var errClose = errors.New("close connection")

// state is the session's state (RFC 1939 §3). The UPDATE state is the
// QUIT command's business and leaves no trace here.
type state uint8

const (
	stateAuthorization state = iota
	stateTransaction
)

// conn is one POP3 session.
type conn struct {
	s    *Server
	c    *serve.Conn
	r    *wire.Reader
	w    *bufio.Writer
	dw   *wire.DataWriter // multi-line responses, writing to w
	info ConnInfo
	log  *slog.Logger
	cmd  command

	// deadlineAt is the connection's deadline as last set (zero: none).
	deadlineAt time.Time

	maxLine   int
	bad       int
	authFails int

	// AUTHORIZATION state
	state state
	user  string // the USER argument, awaiting PASS
	stamp string // APOP timestamp (RFC 1939 §7), "" without APOP

	// TRANSACTION state
	policy Policy
	drop   maildrop
}

func (s *Server) handle(ctx context.Context, sc *serve.Conn) {
	c := &conn{s: s, c: sc}
	c.maxLine = defInt(s.MaxLineLength, DefaultMaxLineLength)
	if c.maxLine < 0 {
		c.maxLine = maxAuthLine
	}
	if sc.ImplicitTLS() {
		if s.TLSConfig == nil || !c.handshake(ctx) {
			return
		}
	}
	c.info.RemoteAddr = sc.RemoteAddr()
	c.info.LocalAddr = sc.LocalAddr()
	b := s.getBufs(sc)
	defer s.putBufs(b)
	c.r, c.w, c.dw = b.r, b.w, b.dw
	c.serve(ctx)
}

func (c *conn) timeout() time.Duration {
	return defDur(c.s.IdleTimeout, DefaultIdleTimeout)
}

// logger returns the session's logger, made on first use: most sessions
// never log.
func (c *conn) logger() *slog.Logger {
	if c.log == nil {
		c.log = c.s.logger().With("proto", "pop3", "conn", c.c.ID(), "remote", serve.AddrString(c.c.RemoteAddr()))
		if c.info.User != "" {
			c.log = c.log.With("user", c.info.User)
		}
	}
	return c.log
}

// deadline sets the connection's deadline d from now (none if d is 0).
func (c *conn) deadline(d time.Duration) {
	var t time.Time
	if d > 0 {
		t = time.Now().Add(d)
	}
	c.c.SetDeadline(t)
	c.deadlineAt = t
}

// idleDeadline sets the connection's deadline to the idle timeout from
// now, lazily: moving the deadline re-arms two runtime timers and takes
// a lock, which costs more than a STAT, so a deadline that is already at
// least the timeout away is left alone. The timeout is then between
// IdleTimeout and IdleTimeout + IdleTimeout/1024 (0.6 s of 10 minutes).
func (c *conn) idleDeadline() {
	d := c.timeout()
	if d <= 0 {
		if !c.deadlineAt.IsZero() {
			c.deadline(0)
		}
		return
	}
	now := time.Now()
	if !c.deadlineAt.IsZero() && c.deadlineAt.Sub(now) >= d {
		return
	}
	c.deadlineAt = now.Add(d + d/1024)
	c.c.SetDeadline(c.deadlineAt)
}

// handshake runs a server TLS handshake on the connection.
func (c *conn) handshake(ctx context.Context) bool {
	c.deadline(c.timeout())
	st, err := c.c.Handshake(ctx, c.s.TLSConfig, c.timeout())
	if err != nil {
		c.logger().Debug("TLS handshake failed", "err", err)
		return false
	}
	c.info.TLS = st
	return true
}

func (c *conn) serve(ctx context.Context) {
	// A session that ends in any way but QUIT leaves the maildrop as it
	// was (RFC 1939 §6): closing releases the lock and changes nothing.
	defer c.drop.close()
	c.deadline(c.timeout())
	greeting := c.s.Hostname + " POP3 server ready"
	if c.s.APOP != nil {
		c.stamp = newTimestamp(c.s.Hostname)
		greeting += " " + c.stamp
	}
	c.ok(greeting)
	for {
		if c.w.Buffered() > 0 && c.r.Buffered() == 0 {
			if err := c.w.Flush(); err != nil {
				return
			}
		}
		line, err := c.next()
		switch {
		case errors.Is(err, wire.ErrLineTooLong):
			c.badCommand("Line too long")
		case err != nil:
			c.readFailed(err)
			return
		default:
			if err := c.command(ctx, line); err != nil {
				c.w.Flush()
				return
			}
		}
		if max := defInt(c.s.MaxBadCommands, DefaultMaxBadCommands); max > 0 && c.bad >= max {
			c.reply(false, "", "Too many errors, closing connection")
			c.w.Flush()
			return
		}
	}
}

// next reads the next command line. RFC 2449 §4 limits commands to 255
// octets; the line is read with the AUTH allowance and checked by command.
func (c *conn) next() ([]byte, error) {
	c.idleDeadline()
	if !c.c.Idle() {
		return nil, serve.ErrServerClosed
	}
	line, err := c.r.ReadLine(maxAuthLine)
	c.c.Busy()
	return line, err
}

// readFailed answers a failed command read where the connection allows it.
func (c *conn) readFailed(err error) {
	switch {
	case errors.Is(err, serve.ErrServerClosed) || c.c.ShuttingDown():
		c.reply(false, CodeSysTemp, "Server shutting down, closing connection")
	case errors.Is(err, os.ErrDeadlineExceeded):
		c.reply(false, "", "Timeout waiting for command, closing connection")
	default:
		return
	}
	c.deadline(time.Second)
	c.w.Flush()
}

// reply queues a single-line response: "+OK text" or "-ERR [code] text"
// (RFC 2449 §8). It is flushed when the client has nothing more pipelined
// (RFC 2449 §6.6).
func (c *conn) reply(ok bool, code, text string) {
	if ok {
		c.w.WriteString("+OK")
	} else {
		c.w.WriteString("-ERR")
	}
	if code != "" {
		c.w.WriteString(" [")
		writeText(c.w, code)
		c.w.WriteByte(']')
	}
	if text != "" {
		c.w.WriteByte(' ')
		writeText(c.w, text)
	}
	c.w.WriteString("\r\n")
}

// ok queues a +OK response.
func (c *conn) ok(text string) { c.reply(true, "", text) }

// fail queues a -ERR response without response code.
func (c *conn) fail(text string) { c.reply(false, "", text) }

// badCommand answers an unknown, malformed or out-of-state command, which
// counts towards MaxBadCommands.
func (c *conn) badCommand(text string) {
	c.bad++
	c.fail(text)
}

func (c *conn) replyErr(e *Error) { c.reply(false, e.Code, e.Message) }

// writeText writes s with control characters replaced by spaces, so that a
// response can never be split or forged.
func writeText(w *bufio.Writer, s string) {
	start := 0
	for i := 0; i < len(s); i++ {
		if b := s[i]; b < ' ' || b == 0x7f {
			w.WriteString(s[start:i])
			w.WriteByte(' ')
			start = i + 1
		}
	}
	w.WriteString(s[start:])
}

// endMulti ends a multi-line response (RFC 1939 §3).
func (c *conn) endMulti() { c.w.WriteString(".\r\n") }

// backendErr answers an error from the Store, the Authenticator or
// UserPolicy: an *Error or a mailbox.Error as it says, anything else with
// a generic -ERR [SYS/TEMP] after logging it.
func (c *conn) backendErr(op string, err error) {
	if e := asError(err); e != nil {
		if e.Err != nil {
			c.logger().Info(op+" refused", "code", e.Code, "err", e.Err)
		}
		c.replyErr(e)
		return
	}
	if e := mailbox.AsError(err); e != nil {
		code := e.POP3
		if code == "" {
			code = CodeSysPerm
			if e.Temporary {
				code = CodeSysTemp
			}
		}
		c.logger().Info(op+" failed", "err", err)
		c.reply(false, code, e.Message)
		return
	}
	c.logger().Error(op+" failed", "err", err)
	c.replyErr(errTemporary)
}

// command runs one command line. A non-nil error closes the connection.
func (c *conn) command(ctx context.Context, line []byte) (err error) {
	defer func() {
		if v := recover(); v != nil {
			c.logger().Error("panic", "panic", v, "stack", string(debug.Stack()))
			c.replyErr(errPanic)
			err = errClose
		}
	}()
	cmd := &c.cmd
	if !cmd.parse(line) {
		c.badCommand("Invalid characters in command")
		return nil
	}
	limit := c.maxLine - 2
	if cmd.name == "AUTH" {
		limit = maxAuthLine
	}
	if len(line) > limit {
		c.badCommand("Line too long")
		return nil
	}
	if c.s.logger().Enabled(ctx, slog.LevelDebug) {
		c.logger().Debug("command", "verb", cmd.name)
	}
	switch cmd.name {
	case "":
		c.badCommand("Unknown command")
		return nil
	case "CAPA":
		if c.noArgs() {
			c.capa()
		}
		return nil
	case "QUIT":
		if !c.noArgs() {
			return nil
		}
		if c.state == stateTransaction {
			return c.update(ctx)
		}
		c.ok(c.s.Hostname + " POP3 server signing off")
		return errClose
	case "GET", "POST", "HEAD", "PUT", "CONNECT", "OPTIONS":
		// An HTTP request sent to the POP3 port: a cross-protocol attack.
		return errClose
	}
	if c.state == stateAuthorization {
		switch cmd.name {
		case "USER":
			c.userCmd()
		case "PASS":
			return c.pass(ctx)
		case "APOP":
			return c.apop(ctx)
		case "AUTH":
			return c.authCmd(ctx)
		case "STLS":
			return c.stls(ctx)
		default:
			c.badCommand("Command not valid before login")
		}
		return nil
	}
	switch cmd.name {
	case "STAT":
		c.stat()
	case "LIST":
		c.list()
	case "UIDL":
		c.uidl()
	case "RETR":
		return c.retr(ctx)
	case "TOP":
		return c.top(ctx)
	case "DELE":
		c.dele()
	case "RSET":
		c.rset()
	case "NOOP":
		if c.noArgs() {
			c.ok("")
		}
	default:
		c.badCommand("Command not valid after login")
	}
	return nil
}

// noArgs checks that the command has no arguments, answering if it has.
func (c *conn) noArgs() bool {
	if len(c.cmd.args) > 0 {
		c.badCommand("Syntax: " + c.cmd.name)
		return false
	}
	return true
}

// stls runs STLS (RFC 2595 §4).
func (c *conn) stls(ctx context.Context) error {
	switch {
	case c.s.TLSConfig == nil:
		c.badCommand("STLS not available")
		return nil
	case c.info.TLS != nil:
		c.fail("TLS already active")
		return nil
	case !c.noArgs():
		return nil
	}
	c.ok("Begin TLS negotiation")
	if err := c.w.Flush(); err != nil {
		return err
	}
	// Discard anything the client sent before the handshake: it was sent
	// in the clear and may have been injected.
	if !c.handshake(ctx) {
		return errClose
	}
	c.r.Reset(c.c)
	c.w.Reset(c.c)
	// RFC 2595 §4: the session starts afresh; a USER given before is
	// forgotten.
	c.user = ""
	return nil
}
