package imap

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/postyard/postyard/internal/serve"
	"github.com/postyard/postyard/internal/wire"
	"github.com/postyard/postyard/mailbox"
)

var isAtomChar = wire.IsAtomChar

// state is the IMAP connection state (RFC 9051 §3).
type state uint8

const (
	notAuthenticated state = 1 << iota
	authenticated
	selectedState
	logout
)

// conn is one IMAP session.
type conn struct {
	s    *Server
	c    *serve.Conn
	r    *wire.Reader // c.rb.r
	w    *bufio.Writer
	sc   *wire.IMAPScanner // c.rb.sc
	rb   *readBuf
	log  *slog.Logger
	tls  *tls.ConnectionState
	rout resp // reused response buffer

	state state
	user  string
	u     mailbox.User
	sel   *selection

	rev2      bool // ENABLE IMAP4rev2
	utf8      bool // ENABLE UTF8=ACCEPT (or IMAP4rev2)
	condstore bool // CONDSTORE enabled (ENABLE, or a CONDSTORE-using command)
	qresync   bool // ENABLE QRESYNC

	bad       int
	authFails int
	remote    net.Addr
}

func (s *Server) handle(ctx context.Context, sc *serve.Conn) {
	c := &conn{s: s, c: sc, state: notAuthenticated, remote: sc.RemoteAddr()}
	if sc.ImplicitTLS() {
		if s.TLSConfig == nil || !c.handshake(ctx) {
			return
		}
	}
	c.acquireBufs()
	c.serve(ctx)
	c.releaseBufs()
}

// acquireBufs gives the session its read and write buffers.
func (c *conn) acquireBufs() {
	if c.w != nil {
		return
	}
	c.rb, c.w = c.s.newBufs(c.c)
	c.r, c.sc = c.rb.r, c.rb.sc
}

// releaseBufs returns the session's buffers to the server's pools, so
// that a session waiting in IDLE holds none (4 KiB each). Nothing may be
// buffered: the write buffer is flushed and the read buffer empty.
func (c *conn) releaseBufs() {
	if c.w == nil {
		return
	}
	c.w.Reset(nil)
	c.r.Reset(nil)
	c.s.writers.Put(c.w)
	c.s.readers.Put(c.rb)
	c.rb, c.r, c.w, c.sc = nil, nil, nil, nil
}

func (c *conn) logger() *slog.Logger {
	if c.log == nil {
		c.log = c.s.logger().With("proto", "imap", "conn", c.c.ID(), "remote", serve.AddrString(c.remote))
		if c.user != "" {
			c.log = c.log.With("user", c.user)
		}
	}
	return c.log
}

func (c *conn) idleTimeout() time.Duration { return defDur(c.s.IdleTimeout, DefaultIdleTimeout) }

// handshake runs a server TLS handshake on the connection.
func (c *conn) handshake(ctx context.Context) bool {
	d := min(c.idleTimeout(), time.Minute)
	if d == 0 {
		d = time.Minute
	}
	c.c.SetDeadlineAfter(d)
	st, err := c.c.Handshake(ctx, c.s.TLSConfig, d)
	if err != nil {
		c.logger().Debug("TLS handshake failed", "err", err)
		return false
	}
	c.tls = st
	return true
}

func (c *conn) serve(ctx context.Context) {
	defer c.closeSelection()
	c.c.SetDeadlineAfter(c.idleTimeout())
	c.untagged("OK [CAPABILITY " + c.capabilities() + "] " + c.s.Hostname + " postyard IMAP ready")
	for c.state != logout {
		if c.r.Buffered() == 0 {
			if err := c.w.Flush(); err != nil {
				return
			}
		}
		c.c.SetDeadlineAfter(c.idleTimeout())
		if !c.c.Idle() {
			c.bye("Server shutting down")
			return
		}
		err := c.sc.Begin(c.limits(), c.continuation)
		c.c.Busy()
		if err != nil {
			if ie, ok := wire.IsIMAPError(err); ok {
				c.bad++
				c.untagged("BAD " + codeText(ie.Code, capitalize(ie.Msg)))
				if ie.Fatal || c.tooManyBad() {
					c.w.Flush()
					return
				}
				continue
			}
			c.readFailed(err)
			return
		}
		if err := c.command(ctx); err != nil {
			c.w.Flush()
			return
		}
		if c.tooManyBad() {
			c.w.Flush()
			return
		}
	}
	c.w.Flush()
}

func (c *conn) tooManyBad() bool {
	if max := defInt(c.s.MaxBadCommands, DefaultMaxBadCommands); max > 0 && c.bad >= max {
		c.bye("Too many invalid commands")
		return true
	}
	return false
}

func codeText(code, text string) string {
	if code == "" {
		return text
	}
	return "[" + code + "] " + text
}

// readFailed answers a failed command read where the connection allows it.
func (c *conn) readFailed(err error) {
	switch {
	case errors.Is(err, serve.ErrServerClosed) || c.c.ShuttingDown():
		c.bye("Server shutting down")
	case errors.Is(err, os.ErrDeadlineExceeded):
		c.bye("Autologout; idle for too long")
	default:
		return
	}
	c.c.SetDeadlineAfter(time.Second)
	c.w.Flush()
}

func (c *conn) bye(text string) {
	c.untagged("BYE " + text)
}

// limits returns the bounds of the next command.
func (c *conn) limits() wire.IMAPLimits {
	l := wire.IMAPLimits{
		MaxLine:    preAuthMaxLine,
		MaxLiteral: preAuthMaxLiteral,
		MaxNonSync: nonSyncLiteralMax,
		MaxTotal:   maxCommandBytesPreAuth,
		MaxDepth:   defInt(c.s.MaxNesting, DefaultMaxNesting),
	}
	if l.MaxDepth < 0 {
		l.MaxDepth = 1 << 20
	}
	if c.state&(authenticated|selectedState) != 0 {
		l.MaxLine = int(limit64(int64(c.s.MaxLineLength), DefaultMaxLineLength))
		l.MaxLiteral = limit64(c.s.MaxLiteral, DefaultMaxLiteral)
		l.MaxNonSync = max(l.MaxLiteral, c.maxMessage())
		l.MaxTotal = max(maxCommandBytesPostAuth, l.MaxLiteral*2)
	}
	return l
}

func (c *conn) maxMessage() int64 { return limit64(c.s.MaxMessageBytes, DefaultMaxMessageBytes) }

// continuation asks for a synchronizing literal (RFC 9051 §7.5).
func (c *conn) continuation(n int64) error {
	c.w.WriteString("+ Ready for literal data\r\n")
	return c.w.Flush()
}

func (c *conn) untagged(s string) {
	c.w.WriteString("* ")
	c.w.WriteString(s)
	c.w.WriteString("\r\n")
}

func (c *conn) untaggedf(format string, args ...any) {
	c.untagged(fmt.Sprintf(format, args...))
}

// newResp starts an untagged response in the reused buffer.
func (c *conn) newResp() *resp {
	c.rout.b = append(c.rout.b[:0], "* "...)
	c.rout.utf8 = c.utf8
	return &c.rout
}

func (c *conn) endResp(r *resp) {
	r.raw("\r\n").flush(c.w)
}

// command is the command being run.
type command struct {
	tag  string
	name string // upper case, "UID FETCH" for UID commands
	uid  bool
}

type handler struct {
	fn     func(c *conn, ctx context.Context, cmd *command) error
	states state
	// hold is set for FETCH, STORE and SEARCH by sequence number, during
	// which EXPUNGE must not be sent (RFC 9051 §7.5.1).
	hold bool
}

const anyState = notAuthenticated | authenticated | selectedState
const authed = authenticated | selectedState

var commands = map[string]handler{
	"CAPABILITY":   {fn: (*conn).capabilityCmd, states: anyState},
	"NOOP":         {fn: (*conn).noop, states: anyState},
	"LOGOUT":       {fn: (*conn).logoutCmd, states: anyState},
	"ID":           {fn: (*conn).id, states: anyState},
	"STARTTLS":     {fn: (*conn).starttls, states: notAuthenticated},
	"AUTHENTICATE": {fn: (*conn).authenticate, states: notAuthenticated},
	"LOGIN":        {fn: (*conn).login, states: notAuthenticated},
	"ENABLE":       {fn: (*conn).enable, states: authed},
	"SELECT":       {fn: (*conn).selectCmd, states: authed},
	"EXAMINE":      {fn: (*conn).selectCmd, states: authed},
	"CREATE":       {fn: (*conn).create, states: authed},
	"DELETE":       {fn: (*conn).deleteCmd, states: authed},
	"RENAME":       {fn: (*conn).rename, states: authed},
	"SUBSCRIBE":    {fn: (*conn).subscribe, states: authed},
	"UNSUBSCRIBE":  {fn: (*conn).subscribe, states: authed},
	"LIST":         {fn: (*conn).list, states: authed},
	"LSUB":         {fn: (*conn).list, states: authed},
	"NAMESPACE":    {fn: (*conn).namespace, states: authed},
	"STATUS":       {fn: (*conn).status, states: authed},
	"APPEND":       {fn: (*conn).appendCmd, states: authed},
	"IDLE":         {fn: (*conn).idle, states: authed},
	"CHECK":        {fn: (*conn).noop, states: selectedState},
	"CLOSE":        {fn: (*conn).closeCmd, states: selectedState},
	"UNSELECT":     {fn: (*conn).closeCmd, states: selectedState},
	"EXPUNGE":      {fn: (*conn).expunge, states: selectedState},
	"SEARCH":       {fn: (*conn).search, states: selectedState, hold: true},
	"FETCH":        {fn: (*conn).fetch, states: selectedState, hold: true},
	"STORE":        {fn: (*conn).store, states: selectedState, hold: true},
	"COPY":         {fn: (*conn).copyCmd, states: selectedState},
	"MOVE":         {fn: (*conn).copyCmd, states: selectedState},
	"UID SEARCH":   {fn: (*conn).search, states: selectedState},
	"UID FETCH":    {fn: (*conn).fetch, states: selectedState},
	"UID STORE":    {fn: (*conn).store, states: selectedState},
	"UID COPY":     {fn: (*conn).copyCmd, states: selectedState},
	"UID MOVE":     {fn: (*conn).copyCmd, states: selectedState},
	"UID EXPUNGE":  {fn: (*conn).expunge, states: selectedState},
}

// command reads and runs one command whose first line has been read. A
// non-nil error closes the connection.
func (c *conn) command(ctx context.Context) (err error) {
	cmd := &command{}
	defer func() {
		if v := recover(); v != nil {
			c.logger().Error("panic", "panic", v, "stack", string(debug.Stack()))
			if cmd.tag != "" {
				c.taggedErr(cmd.tag, errServerBug)
			}
			c.bye("Internal server error")
			err = errClose
		}
	}()
	tag := c.sc.Token("]")
	if tag == "" || strings.IndexByte(tag, '+') >= 0 || c.sc.SP() != nil {
		c.bad++
		c.untagged("BAD Missing or invalid tag")
		return c.discard()
	}
	cmd.tag = tag
	name, aerr := c.sc.Atom()
	if aerr == nil {
		name = strings.ToUpper(name)
		if name == "UID" {
			cmd.uid = true
			var sub string
			if aerr = c.sc.SP(); aerr == nil {
				sub, aerr = c.sc.Atom()
			}
			name = "UID " + strings.ToUpper(sub)
		}
	}
	cmd.name = name
	h, ok := commands[name]
	switch {
	case aerr != nil || !ok:
		c.bad++
		c.taggedText(tag, "BAD", "", "Unknown command")
		return c.discard()
	case h.states&c.state == 0:
		c.bad++
		c.taggedText(tag, "BAD", "", "Command not allowed in this state")
		return c.discard()
	}
	if c.s.logger().Enabled(ctx, slog.LevelDebug) {
		c.logger().Debug("command", "tag", tag, "name", name)
	}
	if c.state == selectedState && name != "IDLE" {
		if err := c.sync(ctx, false); err != nil {
			return err
		}
	}
	cerr := h.fn(c, ctx, cmd)
	if cerr == errClose {
		return cerr
	}
	var okRes *okResult
	if cerr != nil && !errors.As(cerr, &okRes) {
		if ie, ok := wire.IsIMAPError(cerr); ok && ie.Fatal {
			c.taggedErr(tag, cerr)
			return errClose
		}
		if derr := c.discard(); derr != nil {
			c.taggedErr(tag, cerr)
			return derr
		}
	}
	if c.state == selectedState {
		if err := c.sync(ctx, !h.hold); err != nil {
			return err
		}
	}
	if cerr != nil {
		c.taggedErr(tag, cerr)
		return nil
	}
	if c.state == logout {
		c.taggedText(tag, "OK", "", name+" completed")
		return errClose
	}
	c.taggedText(tag, "OK", "", name+" completed")
	return nil
}

// ok is a successful result with a response code, returned by handlers as
// an error value so that the tagged response comes last.
type okResult struct{ code, text string }

func (o *okResult) Error() string { return "OK " + o.text }

func (c *conn) taggedErr(tag string, err error) {
	if err == errNoTagged {
		return
	}
	var o *okResult
	if errors.As(err, &o) {
		c.taggedText(tag, "OK", o.code, o.text)
		return
	}
	status, code, text, internal := toWire(err)
	if internal {
		c.logger().Error("command failed", "err", err)
	} else if e, ok := asError(err); ok && e.Err != nil {
		c.logger().Debug("command refused", "err", e.Err)
	}
	if status == "BAD" {
		c.bad++
	}
	c.taggedText(tag, status, code, text)
}

func (c *conn) taggedText(tag, status, code, text string) {
	c.w.WriteString(tag)
	c.w.WriteByte(' ')
	c.w.WriteString(status)
	c.w.WriteByte(' ')
	c.w.WriteString(codeText(code, text))
	c.w.WriteString("\r\n")
}

// discard skips the rest of a failed command.
func (c *conn) discard() error {
	err := c.sc.Discard()
	if err == nil {
		return nil
	}
	if ie, ok := wire.IsIMAPError(err); ok {
		c.untagged("BAD " + codeText(ie.Code, capitalize(ie.Msg)))
	}
	return errClose
}

// capabilities lists what the server offers in the current state.
func (c *conn) capabilities() string {
	caps := []string{"IMAP4rev1", "IMAP4rev2"}
	if c.state == notAuthenticated {
		if c.s.TLSConfig != nil && c.tls == nil {
			caps = append(caps, "STARTTLS")
		}
		if c.authAllowed() {
			for _, m := range c.s.sasl.Available() {
				caps = append(caps, "AUTH="+m)
			}
			caps = append(caps, "SASL-IR")
		} else {
			caps = append(caps, "LOGINDISABLED")
		}
		caps = append(caps, "LITERAL-", "ID", "ENABLE", "IDLE")
		return strings.Join(caps, " ")
	}
	caps = append(caps, "LITERAL+", "ID", "ENABLE", "IDLE", "NAMESPACE", "UNSELECT", "UIDPLUS", "MOVE",
		"CHILDREN", "LIST-EXTENDED", "LIST-STATUS", "SPECIAL-USE", "CREATE-SPECIAL-USE", "ESEARCH",
		"STATUS=SIZE", "BINARY", "CONDSTORE", "QRESYNC", "UTF8=ACCEPT",
		"APPENDLIMIT="+strconv.FormatInt(min(c.maxMessage(), 1<<32-1), 10))
	return strings.Join(caps, " ")
}

func (c *conn) authAllowed() bool {
	return c.s.sasl != nil && (c.tls != nil || c.s.AllowInsecureAuth)
}

func (c *conn) capabilityCmd(ctx context.Context, cmd *command) error {
	if err := c.sc.End(); err != nil {
		return err
	}
	c.untagged("CAPABILITY " + c.capabilities())
	return nil
}

// noop runs NOOP and CHECK. With a mailbox selected, it asks the store
// for the mailbox's status first: a store may learn of mail that other
// programs delivered (a Maildir's new/) only when asked, and NOOP is what
// clients poll with. What the store finds reaches the session as events,
// reported like any other.
func (c *conn) noop(ctx context.Context, cmd *command) error {
	if err := c.sc.End(); err != nil {
		return err
	}
	if c.sel != nil {
		c.sel.mbox.Status(ctx) // an error here is the next command's to report
	}
	return nil
}

func (c *conn) logoutCmd(ctx context.Context, cmd *command) error {
	if err := c.sc.End(); err != nil {
		return err
	}
	c.bye("Logging out")
	c.closeSelection()
	c.state = logout
	return nil
}

// id answers ID (RFC 2971) with the server's name.
func (c *conn) id(ctx context.Context, cmd *command) error {
	if err := c.sc.SP(); err != nil {
		return err
	}
	if _, ok, err := c.sc.NString(); err == nil && !ok {
		// NIL
	} else {
		// a list of field-value pairs, read and ignored
		if c.sc.Peek() != '(' {
			return bad("Expected ID parameter list")
		}
		err := c.sc.List(true, func() error {
			if _, err := c.sc.String(); err != nil {
				return err
			}
			if err := c.sc.SP(); err != nil {
				return err
			}
			_, _, err := c.sc.NString()
			return err
		})
		if err != nil {
			return err
		}
	}
	if err := c.sc.End(); err != nil {
		return err
	}
	c.untagged(`ID ("name" "postyard")`)
	return nil
}

// enable runs ENABLE (RFC 5161).
func (c *conn) enable(ctx context.Context, cmd *command) error {
	var enabled []string
	for !c.sc.EOL() {
		if err := c.sc.SP(); err != nil {
			return err
		}
		a, err := c.sc.Atom()
		if err != nil {
			return err
		}
		switch strings.ToUpper(a) {
		case "IMAP4REV2":
			if !c.rev2 {
				c.rev2, c.utf8 = true, true
				enabled = append(enabled, "IMAP4rev2")
			}
		case "UTF8=ACCEPT":
			if !c.utf8 {
				c.utf8 = true
				enabled = append(enabled, "UTF8=ACCEPT")
			}
		case "CONDSTORE":
			if !c.condstore {
				c.condstore = true
				enabled = append(enabled, "CONDSTORE")
			}
		case "QRESYNC":
			if !c.qresync {
				c.qresync, c.condstore = true, true
				enabled = append(enabled, "QRESYNC")
			}
		}
	}
	c.untagged(strings.TrimSpace("ENABLED " + strings.Join(enabled, " ")))
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
