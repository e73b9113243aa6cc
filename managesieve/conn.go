package managesieve

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/postyard/postyard/internal/serve"
	"github.com/postyard/postyard/internal/wire"
)

// errClose ends the session after the response has been flushed.
var errClose = errors.New("close connection")

// maxQuoted is the longest quoted string the server sends (RFC 5804 §4);
// longer strings go out as literals.
const maxQuoted = 1024

// conn is one ManageSieve session.
type conn struct {
	s   *Server
	c   *serve.Conn
	r   *wire.Reader
	w   *bufio.Writer
	sc  scanner
	log *slog.Logger

	tls  *tls.ConnectionState // nil before STARTTLS
	user string               // "" before AUTHENTICATE

	bad       int
	authFails int
}

func (s *Server) handle(ctx context.Context, sc *serve.Conn) {
	c := &conn{s: s, c: sc}
	if sc.ImplicitTLS() {
		if s.TLSConfig == nil || !c.handshake(ctx) {
			return
		}
	}
	b := s.getBufs(sc)
	defer s.putBufs(b)
	c.r, c.w = b.r, b.w
	maxLine := defInt(s.MaxLineLength, DefaultMaxLineLength)
	if maxLine < 0 {
		maxLine = 1 << 20
	}
	c.sc = scanner{r: c.r, maxLine: maxLine, discard: discardLimit(s.maxScriptSize())}
	c.serve(ctx)
}

// discardLimit is the longest literal over the limit that is read and
// thrown away, so the session can go on with a NO; a longer one ends it.
func discardLimit(maxScript int64) int64 {
	return max(16<<20, min(maxScript, hugeLiteral/4)*4)
}

func (c *conn) timeout() time.Duration {
	return defDur(c.s.IdleTimeout, DefaultIdleTimeout)
}

// logger returns the session's logger, made on first use: most sessions
// never log.
func (c *conn) logger() *slog.Logger {
	if c.log == nil {
		c.log = c.s.logger().With("proto", "managesieve", "conn", c.c.ID(), "remote", serve.AddrString(c.c.RemoteAddr()))
		if c.user != "" {
			c.log = c.log.With("user", c.user)
		}
	}
	return c.log
}

// handshake runs a server TLS handshake on the connection.
func (c *conn) handshake(ctx context.Context) bool {
	c.c.SetDeadlineAfter(c.timeout())
	st, err := c.c.Handshake(ctx, c.s.TLSConfig, c.timeout())
	if err != nil {
		c.logger().Debug("TLS handshake failed", "err", err)
		return false
	}
	c.tls = st
	return true
}

func (c *conn) serve(ctx context.Context) {
	c.c.SetDeadlineAfter(c.timeout())
	// RFC 5804 §1.7: the greeting is the capability response.
	c.capability()
	c.respond("OK", "", c.s.Implementation+" ManageSieve ready")
	for {
		if c.w.Buffered() > 0 && c.r.Buffered() == 0 {
			if err := c.w.Flush(); err != nil {
				return
			}
		}
		err := c.next()
		var se *syntaxError
		switch {
		case errors.As(err, &se):
			if c.syntax(err) != nil {
				c.w.Flush()
				return
			}
		case err != nil:
			c.readFailed(err)
			return
		default:
			if err := c.command(ctx); err != nil {
				c.w.Flush()
				return
			}
		}
		if max := defInt(c.s.MaxBadCommands, DefaultMaxBadCommands); max > 0 && c.bad >= max {
			c.respond("BYE", "", "Too many errors, closing connection")
			c.w.Flush()
			return
		}
	}
}

// next reads the first line of the next command.
func (c *conn) next() error {
	c.c.SetDeadlineAfter(c.timeout())
	if !c.c.Idle() {
		return serve.ErrServerClosed
	}
	err := c.sc.begin()
	c.c.Busy()
	return err
}

// readFailed answers a failed command read where the connection allows it.
func (c *conn) readFailed(err error) {
	switch {
	case errors.Is(err, serve.ErrServerClosed) || c.c.ShuttingDown():
		c.respond("BYE", CodeTryLater, "Server shutting down, closing connection")
	case errors.Is(err, os.ErrDeadlineExceeded):
		c.respond("BYE", "", "Idle timeout, closing connection")
	default:
		return
	}
	c.c.SetDeadlineAfter(time.Second)
	c.w.Flush()
}

// respond queues a response: kind ("OK", "NO" or "BYE"), an optional
// response code, written as it is (RFC 5804 §4 resp-code), and an
// optional human-readable text, as a string. It is flushed when the client
// has nothing more pipelined.
func (c *conn) respond(kind, code, text string) {
	c.w.WriteString(kind)
	if code != "" {
		c.w.WriteString(" (")
		c.w.WriteString(code)
		c.w.WriteByte(')')
	}
	if text != "" {
		c.w.WriteByte(' ')
		writeString(c.w, text)
	}
	c.w.WriteString("\r\n")
}

func (c *conn) ok(text string)       { c.respond("OK", "", text) }
func (c *conn) no(code, text string) { c.respond("NO", code, text) }

// badCommand answers an unknown, malformed or out-of-state command with
// NO; it counts towards MaxBadCommands.
func (c *conn) badCommand(text string) {
	c.bad++
	c.no("", text)
}

// writeString writes s as a string (RFC 5804 §4): quoted when it can be,
// else as a literal.
func writeString(w textWriter, s string) {
	if len(s) <= maxQuoted && quotable(s) {
		w.WriteByte('"')
		start := 0
		for i := 0; i < len(s); i++ {
			if s[i] == '"' || s[i] == '\\' {
				w.WriteString(s[start:i])
				w.WriteByte('\\')
				start = i
			}
		}
		w.WriteString(s[start:])
		w.WriteByte('"')
		return
	}
	writeLiteral(w, []byte(s))
}

// quotable reports whether s may be sent as a quoted string: no NUL, CR
// or LF.
func quotable(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == 0 || c == '\r' || c == '\n' {
			return false
		}
	}
	return true
}

// writeLiteral writes b as a literal, "{n}" CRLF and the octets.
func writeLiteral(w textWriter, b []byte) {
	w.WriteByte('{')
	w.WriteString(strconv.Itoa(len(b)))
	w.WriteString("}\r\n")
	w.Write(b)
}

// quoteCode returns s as a string to put in a response code, such as
// TAG's argument.
func quoteCode(s string) string {
	var b strings.Builder
	writeString(&b, s)
	return b.String()
}

// textWriter is what responses are written to: a *bufio.Writer, or a
// strings.Builder.
type textWriter interface {
	io.Writer
	io.StringWriter
	io.ByteWriter
}

// syntax answers a malformed command after discarding the rest of it; a
// non-nil error means the connection must be closed.
func (c *conn) syntax(err error) error {
	var se *syntaxError
	if !errors.As(err, &se) {
		return err
	}
	if !se.fatal {
		if serr := c.sc.skip(); serr != nil {
			if !errors.As(serr, &se) {
				return serr
			}
		}
	}
	if se.fatal {
		c.respond("BYE", "", se.msg+", closing connection")
		return errClose
	}
	c.bad++
	c.no("", se.msg)
	return nil
}

// storeErr answers an error from the Store, the Authenticator or Check:
// an *Error or an ErrXxx of this package as it says, anything else with a
// generic NO (TRYLATER) after logging it.
func (c *conn) storeErr(op string, err error) {
	if code, text, ok := wireError(err); ok {
		var e *Error
		if errors.As(err, &e) && e.Err != nil {
			c.logger().Info(op+" refused", "code", e.Code, "err", e.Err)
		}
		c.no(code, text)
		return
	}
	c.logger().Error(op+" failed", "err", err)
	c.no(CodeTryLater, "Temporary failure, try again later")
}

// commands maps command names, upper-cased, to their handlers, and
// whether they need an authenticated session (RFC 5804 §2).
var commands = map[string]struct {
	auth bool
	run  func(c *conn, ctx context.Context) error
}{
	"AUTHENTICATE":   {false, (*conn).authenticate},
	"STARTTLS":       {false, (*conn).starttls},
	"LOGOUT":         {false, (*conn).logout},
	"CAPABILITY":     {false, (*conn).capabilityCmd},
	"NOOP":           {false, (*conn).noop},
	"UNAUTHENTICATE": {true, (*conn).unauthenticate},
	"HAVESPACE":      {true, (*conn).haveSpace},
	"PUTSCRIPT":      {true, (*conn).putScript},
	"CHECKSCRIPT":    {true, (*conn).checkScript},
	"LISTSCRIPTS":    {true, (*conn).listScripts},
	"SETACTIVE":      {true, (*conn).setActive},
	"GETSCRIPT":      {true, (*conn).getScript},
	"DELETESCRIPT":   {true, (*conn).deleteScript},
	"RENAMESCRIPT":   {true, (*conn).renameScript},
}

// httpMethods are the first words of an HTTP request: sent to the
// ManageSieve port, a cross-protocol attack. The session is closed.
var httpMethods = map[string]bool{"GET": true, "POST": true, "HEAD": true, "PUT": true, "CONNECT": true, "OPTIONS": true}

// command runs the command whose first line has been read. A non-nil
// error closes the connection.
func (c *conn) command(ctx context.Context) (err error) {
	defer func() {
		if v := recover(); v != nil {
			c.logger().Error("panic", "panic", v, "stack", string(debug.Stack()))
			c.respond("BYE", CodeTryLater, "Internal error, closing connection")
			err = errClose
		}
	}()
	name := upper(c.sc.atom())
	if c.s.logger().Enabled(ctx, slog.LevelDebug) {
		c.logger().Debug("command", "verb", name)
	}
	cmd, ok := commands[name]
	switch {
	case httpMethods[name]:
		return errClose
	case !ok:
		if err := c.sc.skip(); err != nil {
			return c.syntax(err)
		}
		c.badCommand("Unknown command")
		return nil
	case cmd.auth && c.user == "":
		if err := c.sc.skip(); err != nil {
			return c.syntax(err)
		}
		c.badCommand("Authenticate first")
		return nil
	}
	return cmd.run(c, ctx)
}

// upper returns s with ASCII letters upper-cased.
func upper(s string) string {
	for i := 0; i < len(s); i++ {
		if 'a' <= s[i] && s[i] <= 'z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'a' <= b[j] && b[j] <= 'z' {
					b[j] -= 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// noArgs checks that the command has no arguments.
func (c *conn) noArgs() error { return c.sc.end() }

// logout runs LOGOUT (RFC 5804 §2.3).
func (c *conn) logout(ctx context.Context) error {
	if err := c.noArgs(); err != nil {
		return c.syntax(err)
	}
	c.ok("Logout completed")
	return errClose
}

// capabilityCmd runs CAPABILITY (RFC 5804 §2.4).
func (c *conn) capabilityCmd(ctx context.Context) error {
	if err := c.noArgs(); err != nil {
		return c.syntax(err)
	}
	c.capability()
	c.ok("Capability completed")
	return nil
}

// noop runs NOOP (RFC 5804 §2.13): with an argument, it is echoed in a TAG
// response code.
func (c *conn) noop(ctx context.Context) error {
	var tag []byte
	if c.sc.more() {
		var err error
		if tag, err = c.sc.str(int64(c.sc.maxLine)); err != nil {
			return c.syntax(err)
		}
	}
	if err := c.sc.end(); err != nil {
		return c.syntax(err)
	}
	if tag == nil {
		c.ok("NOOP completed")
		return nil
	}
	c.respond("OK", "TAG "+quoteCode(string(tag)), "Done")
	return nil
}
