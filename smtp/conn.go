package smtp

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/postyard/postyard/internal/serve"
	"github.com/postyard/postyard/internal/wire"
)

// Longest lines accepted for MAIL/RCPT (RFC 5321 §4.5.3.1.4 allows extensions
// to raise the limit) and for AUTH (RFC 4954 §4).
const (
	paramAllowance = 1024
	maxAuthLine    = 12288
)

// errClose ends the session after the reply has been flushed.
var errClose = errors.New("close connection")

// conn is one SMTP session.
type conn struct {
	s    *Server
	c    *serve.Conn
	r    *wire.Reader
	w    *bufio.Writer
	info ConnInfo
	sess Session
	log  *slog.Logger

	maxLine   int
	bad       int
	authFails int

	// transaction state
	from      *Path
	mailOpts  *MailOptions
	rcpts     []Path
	pending   []byte // a command line read by a BDAT stream, to run next
	pendingOK bool
	recv      []byte // reused for the Received header
}

func (s *Server) handle(ctx context.Context, sc *serve.Conn) {
	c := &conn{s: s, c: sc}
	c.maxLine = defInt(s.MaxLineLength, DefaultMaxLineLength)
	if c.maxLine < 0 {
		c.maxLine = maxAuthLine
	}
	c.info.LMTP = s.LMTP
	if sc.ImplicitTLS() {
		if s.TLSConfig == nil || !c.handshake(ctx) {
			return
		}
	}
	c.info.RemoteAddr = sc.RemoteAddr()
	c.info.LocalAddr = sc.LocalAddr()
	b := s.getBufs(sc)
	defer s.putBufs(b)
	c.r, c.w = b.r, b.w
	c.serve(ctx)
}

func (c *conn) cmdTimeout() time.Duration {
	return defDur(c.s.CommandTimeout, DefaultCommandTimeout)
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

// logger returns the session's logger, made on first use: most sessions
// never log.
func (c *conn) logger() *slog.Logger {
	if c.log == nil {
		c.log = c.s.logger().With("proto", "smtp", "conn", c.c.ID(), "remote", serve.AddrString(c.c.RemoteAddr()))
		if c.info.User != "" {
			c.log = c.log.With("user", c.info.User)
		}
	}
	return c.log
}

// handshake runs a server TLS handshake on the connection.
func (c *conn) handshake(ctx context.Context) bool {
	c.c.SetDeadlineAfter(c.cmdTimeout())
	st, err := c.c.Handshake(ctx, c.s.TLSConfig, c.cmdTimeout())
	if err != nil {
		c.logger().Debug("TLS handshake failed", "err", err)
		return false
	}
	c.info.TLS = st
	return true
}

func (c *conn) serve(ctx context.Context) {
	defer func() {
		if c.sess != nil {
			c.sess.Close()
		}
	}()
	c.c.SetDeadlineAfter(c.cmdTimeout())
	sess, err := c.newSession(ctx)
	if err != nil {
		e := asError(err)
		if e == nil {
			c.logger().Error("NewSession failed", "err", err)
			e = &Error{Code: 421, EnhancedCode: "4.3.0", Message: "Service not available, try again later"}
		}
		c.replyErr(e)
		if e.Code/100 == 5 {
			c.refused(ctx)
		}
		c.w.Flush()
		return
	}
	c.sess = sess
	c.reply(220, "", c.s.Hostname+" ESMTP postyard")
	for {
		if c.w.Buffered() > 0 && c.r.Buffered() == 0 {
			if err := c.w.Flush(); err != nil {
				return
			}
		}
		line, err := c.next()
		if errors.Is(err, wire.ErrLineTooLong) {
			c.reply(500, "5.5.2", "Line too long")
			continue
		}
		if err != nil {
			c.readFailed(err)
			return
		}
		if err := c.command(ctx, line); err != nil {
			c.w.Flush()
			return
		}
		if max := defInt(c.s.MaxBadCommands, DefaultMaxBadCommands); max > 0 && c.bad >= max {
			c.reply(421, "4.7.0", "Too many errors, closing connection")
			c.w.Flush()
			return
		}
	}
}

// refused serves a connection whose greeting was a 5xx refusal: RFC 5321
// §3.1 has the server wait for QUIT, answering 503 to anything else, until
// the bad-command limit or the timeout ends it.
func (c *conn) refused(ctx context.Context) {
	max := defInt(c.s.MaxBadCommands, DefaultMaxBadCommands)
	for n := 0; max < 0 || n < max; n++ {
		c.w.Flush()
		line, err := c.next()
		if err != nil {
			return
		}
		if verb, _ := cutVerb(line); verb == "QUIT" {
			c.reply(221, "2.0.0", "Bye")
			return
		}
		c.reply(503, "5.5.1", "No service here, send QUIT")
	}
}

// newSession calls the backend, recovering from a panic in it.
func (c *conn) newSession(ctx context.Context) (sess Session, err error) {
	defer c.recoverPanic(&err)
	return c.s.Backend.NewSession(ctx, &c.info)
}

// next reads the next command line, or returns the one a BDAT stream read.
func (c *conn) next() ([]byte, error) {
	if c.pendingOK {
		c.pendingOK = false
		return c.pending, nil
	}
	c.c.SetDeadlineAfter(c.cmdTimeout())
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
		c.reply(421, "4.3.2", "Service shutting down, closing connection")
	case errors.Is(err, os.ErrDeadlineExceeded):
		c.reply(421, "4.4.2", "Timeout waiting for command, closing connection")
	default:
		return
	}
	c.c.SetDeadlineAfter(time.Second)
	c.w.Flush()
}

// reply queues a reply; it is flushed when the client has nothing more
// pipelined (RFC 2920 §3.1).
func (c *conn) reply(code int, enhanced, text string) {
	// Unknown, malformed and unimplemented commands count towards
	// MaxBadCommands; sequence errors (503) do not, since a pipelining client
	// gets one for every command after a refused MAIL (RFC 2920 §3.1).
	if code >= 500 && code <= 504 && code != 503 {
		c.bad++
	}
	wire.WriteReply(c.w, code, enhanced, text)
}

func (c *conn) replyErr(e *Error) {
	c.reply(e.Code, e.enhanced(), e.Message)
}

// backendErr answers an error returned by the Session.
func (c *conn) backendErr(op string, err error) {
	if e := asError(err); e != nil {
		if e.Err != nil {
			c.logger().Info(op+" refused", "code", e.Code, "err", e.Err)
		}
		c.replyErr(e)
		return
	}
	c.logger().Error(op+" failed", "err", err)
	c.replyErr(ErrTemporary)
}

// recoverPanic turns a panic in backend code into an error.
func (c *conn) recoverPanic(err *error) {
	if v := recover(); v != nil {
		c.logger().Error("panic in backend", "panic", v, "stack", string(debug.Stack()))
		*err = errPanic
	}
}

var errPanic = &Error{Code: 421, EnhancedCode: "4.3.0", Message: "Internal error, closing connection"}

// command runs one command line. A non-nil error closes the connection.
func (c *conn) command(ctx context.Context, line []byte) (err error) {
	defer func() {
		if v := recover(); v != nil {
			c.logger().Error("panic", "panic", v, "stack", string(debug.Stack()))
			c.replyErr(errPanic)
			err = errClose
		}
	}()
	if bytes.IndexByte(line, 0) >= 0 {
		c.reply(500, "5.5.2", "NUL octet in command")
		return nil
	}
	verb, rest := cutVerb(line)
	arg := string(rest)
	limit := c.maxLine - 2
	switch verb {
	case "MAIL", "RCPT":
		limit += paramAllowance
	case "AUTH":
		limit = maxAuthLine
	}
	if len(line) > limit {
		c.reply(500, "5.5.2", "Line too long")
		return nil
	}
	if c.s.logger().Enabled(ctx, slog.LevelDebug) {
		c.logger().Debug("command", "verb", verb)
	}
	switch verb {
	case "HELO", "EHLO":
		if c.s.LMTP {
			c.reply(500, "5.5.1", "This is an LMTP server, use LHLO")
			return nil
		}
		c.hello(ctx, verb == "EHLO", arg)
	case "LHLO":
		if !c.s.LMTP {
			c.reply(500, "5.5.1", "Command unrecognized")
			return nil
		}
		c.hello(ctx, true, arg)
	case "MAIL":
		c.mail(ctx, arg)
	case "RCPT":
		c.rcpt(ctx, arg)
	case "DATA":
		return c.data(ctx, arg)
	case "BDAT":
		return c.bdatCmd(ctx, arg)
	case "RSET":
		if arg != "" {
			c.reply(501, "5.5.4", "Syntax: RSET")
			return nil
		}
		c.reset(ctx)
		c.reply(250, "2.0.0", "Ok")
	case "NOOP":
		c.reply(250, "2.0.0", "Ok")
	case "QUIT":
		c.reply(221, "2.0.0", "Bye")
		return errClose
	case "VRFY", "EXPN":
		// RFC 5321 §3.5.3: 252 when the server will not verify.
		c.reply(252, "2.5.2", "Cannot verify the user, but will accept the message and attempt delivery")
	case "HELP":
		c.reply(214, "2.0.0", "See RFC 5321")
	case "STARTTLS":
		return c.starttls(ctx, arg)
	case "AUTH":
		return c.auth(ctx, arg)
	case "GET", "POST", "HEAD", "PUT", "CONNECT", "OPTIONS":
		// An HTTP request sent to the SMTP port: a cross-protocol attack.
		return errClose
	default:
		c.reply(500, "5.5.2", "Command unrecognized")
	}
	return nil
}

// reset ends the transaction.
func (c *conn) reset(ctx context.Context) {
	if c.from != nil || len(c.rcpts) > 0 {
		c.sess.Reset(ctx)
	}
	c.from, c.mailOpts, c.rcpts = nil, nil, nil
}

func (c *conn) hello(ctx context.Context, esmtp bool, arg string) {
	arg = strings.TrimSpace(arg)
	if arg == "" || strings.ContainsAny(arg, " \t") && !strings.HasPrefix(arg, "[") {
		c.reply(501, "5.5.4", "Syntax: EHLO hostname")
		return
	}
	c.reset(ctx)
	if hs, ok := c.sess.(HelloSession); ok {
		if err := c.callHello(ctx, hs, arg); err != nil {
			c.backendErr("HELO", err)
			return
		}
	}
	c.info.Hello, c.info.ESMTP = arg, esmtp
	if !esmtp {
		c.reply(250, "", c.s.Hostname)
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s greets %s", c.s.Hostname, arg)
	ext := []string{"PIPELINING", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES", "CHUNKING", "BINARYMIME", "DSN"}
	if max := c.maxSize(); max > 0 {
		ext = append(ext, fmt.Sprintf("SIZE %d", max))
	} else {
		ext = append(ext, "SIZE")
	}
	if c.s.TLSConfig != nil && c.info.TLS == nil {
		ext = append(ext, "STARTTLS")
	}
	if c.info.TLS != nil {
		ext = append(ext, "REQUIRETLS")
	}
	if c.authAllowed() && c.info.User == "" {
		ext = append(ext, "AUTH "+strings.Join(c.s.sasl.Available(), " "))
	}
	for _, e := range ext {
		b.WriteString("\n" + e)
	}
	c.reply(250, "", b.String())
}

func (c *conn) maxSize() int64 {
	if c.s.MaxMessageBytes == 0 {
		return DefaultMaxMessageBytes
	}
	if c.s.MaxMessageBytes < 0 {
		return 0
	}
	return c.s.MaxMessageBytes
}

// params returns the ESMTP parameters this session accepts.
func (c *conn) params() ParamSet {
	if !c.info.ESMTP {
		return 0
	}
	p := ParamSize | ParamBody8BIT | ParamBodyBinary | ParamSMTPUTF8 | ParamDSN
	if c.info.TLS != nil {
		p |= ParamRequireTLS
	}
	if c.authAllowed() {
		p |= ParamAuth
	}
	return p
}

func (c *conn) authAllowed() bool {
	return c.s.sasl != nil && (c.info.TLS != nil || c.s.AllowInsecureAuth)
}

// cutPrefixFold cuts a case-insensitive prefix such as "FROM:".
func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) < len(prefix) || !strings.EqualFold(s[:len(prefix)], prefix) {
		return s, false
	}
	return strings.TrimLeft(s[len(prefix):], " "), true
}

func (c *conn) mail(ctx context.Context, arg string) {
	switch {
	case c.info.Hello == "":
		c.reply(503, "5.5.1", "Send HELO/EHLO first")
		return
	case c.from != nil:
		c.reply(503, "5.5.1", "Nested MAIL command")
		return
	case c.s.RequireAuth && c.info.User == "":
		c.replyErr(ErrAuthRequired)
		return
	}
	arg, ok := cutPrefixFold(arg, "FROM:")
	if !ok {
		c.reply(501, "5.5.4", "Syntax: MAIL FROM:<address>")
		return
	}
	// The path may contain UTF-8 only with SMTPUTF8, which is a parameter
	// after it: parse leniently first, then check.
	from, rest, err := ParsePath(arg, PathOptions{UTF8: c.info.ESMTP, AllowNull: true})
	if err != nil {
		c.reply(501, "5.1.7", "Bad sender address syntax")
		return
	}
	opts, err := ParseMailParams(rest, c.params())
	if err != nil {
		c.paramErr(err)
		return
	}
	if !opts.UTF8 && !from.IsASCII() {
		c.reply(553, "5.6.7", "Non-ASCII address requires SMTPUTF8")
		return
	}
	if max := c.maxSize(); max > 0 && opts.Size > max {
		c.reply(552, "5.3.4", "Message size exceeds fixed maximum message size")
		return
	}
	if err := c.callMail(ctx, from, &opts); err != nil {
		c.backendErr("MAIL", err)
		return
	}
	c.from, c.mailOpts = &from, &opts
	c.reply(250, "2.1.0", "Ok")
}

func (c *conn) callMail(ctx context.Context, from Path, opts *MailOptions) (err error) {
	defer c.recoverPanic(&err)
	return c.sess.Mail(ctx, from, opts)
}

func (c *conn) paramErr(err error) {
	if errors.Is(err, ErrUnknownParam) {
		c.reply(555, "5.5.4", "Unsupported parameter")
	} else {
		c.reply(501, "5.5.4", "Bad parameter syntax")
	}
}

func (c *conn) rcpt(ctx context.Context, arg string) {
	if c.from == nil {
		c.reply(503, "5.5.1", "Send MAIL first")
		return
	}
	if max := defInt(c.s.MaxRecipients, DefaultMaxRecipients); max > 0 && len(c.rcpts) >= max {
		c.reply(452, "4.5.3", "Too many recipients")
		return
	}
	arg, ok := cutPrefixFold(arg, "TO:")
	if !ok {
		c.reply(501, "5.5.4", "Syntax: RCPT TO:<address>")
		return
	}
	to, rest, err := ParsePath(arg, PathOptions{UTF8: c.mailOpts.UTF8, AllowPostmaster: true})
	if errors.Is(err, ErrPathNonASCII) {
		c.reply(553, "5.6.7", "Non-ASCII address requires SMTPUTF8") // RFC 6531 §3.5
		return
	}
	if err != nil {
		c.reply(501, "5.1.3", "Bad recipient address syntax")
		return
	}
	if c.s.RejectRoutingSyntax && (len(to.SourceRoute) > 0 || strings.ContainsAny(to.Local, "%!")) {
		c.reply(553, "5.1.3", "Source routes, %-hacks and bang paths are not accepted")
		return
	}
	allowed := c.params()
	if !c.mailOpts.UTF8 {
		allowed &^= ParamSMTPUTF8 // raw UTF-8 ORCPT only in an SMTPUTF8 transaction
	}
	opts, err := ParseRcptParams(rest, allowed)
	if err != nil {
		c.paramErr(err)
		return
	}
	if err := c.callRcpt(ctx, to, &opts); err != nil {
		c.backendErr("RCPT", err)
		return
	}
	c.rcpts = append(c.rcpts, to)
	c.reply(250, "2.1.5", "Ok")
}

func (c *conn) callHello(ctx context.Context, hs HelloSession, name string) (err error) {
	defer c.recoverPanic(&err)
	return hs.Hello(ctx, name)
}

func (c *conn) callRcpt(ctx context.Context, to Path, opts *RcptOptions) (err error) {
	defer c.recoverPanic(&err)
	return c.sess.Rcpt(ctx, to, opts)
}

func (c *conn) starttls(ctx context.Context, arg string) error {
	switch {
	case c.s.TLSConfig == nil:
		c.reply(502, "5.5.1", "STARTTLS not available")
		return nil
	case c.info.TLS != nil:
		c.reply(503, "5.5.1", "TLS already active")
		return nil
	case arg != "":
		c.reply(501, "5.5.4", "Syntax: STARTTLS")
		return nil
	}
	c.reply(220, "2.0.0", "Ready to start TLS")
	if err := c.w.Flush(); err != nil {
		return err
	}
	// RFC 3207 §4.2: discard anything the client sent before the handshake.
	if !c.handshake(ctx) {
		return errClose
	}
	c.r.Reset(c.c)
	c.w.Reset(c.c)
	// RFC 3207 §4.2: forget what the client said before TLS, login included.
	c.reset(ctx)
	c.info.Hello, c.info.ESMTP, c.info.User = "", false, ""
	return nil
}

// verbs are the commands the server knows, and HTTP methods it hangs up on.
var verbs = [...]string{"MAIL", "RCPT", "DATA", "BDAT", "EHLO", "HELO", "LHLO", "RSET", "NOOP", "QUIT",
	"VRFY", "EXPN", "HELP", "STARTTLS", "AUTH", "GET", "POST", "HEAD", "PUT", "CONNECT", "OPTIONS"}

// cutVerb splits a command line into its verb, upper-cased, and the rest.
// Known verbs come back as constants, so the common case does not allocate.
func cutVerb(line []byte) (verb string, rest []byte) {
	v, rest, _ := bytes.Cut(line, []byte{' '})
	var up [8]byte
	if len(v) > len(up) {
		return "?", rest
	}
	for i, c := range v {
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		up[i] = c
	}
	for _, k := range verbs {
		if string(up[:len(v)]) == k {
			return k, rest
		}
	}
	return "?", rest
}
