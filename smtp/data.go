package smtp

import (
	"context"
	"crypto/tls"
	"errors"
	"github.com/postyard/postyard/internal/serve"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/postyard/postyard/internal/wire"
)

// dataOK checks that a transaction may send its content.
func (c *conn) dataOK() bool {
	switch {
	case c.from == nil:
		c.reply(503, "5.5.1", "Send MAIL first")
	case len(c.rcpts) == 0:
		c.reply(554, "5.5.1", "No valid recipients")
	default:
		return true
	}
	return false
}

func (c *conn) dataOptions() wire.DataOptions {
	return wire.DataOptions{MaxSize: c.maxSize(), Normalize: c.s.NormalizeLineEndings}
}

// data runs DATA (RFC 5321 §4.1.1.4).
func (c *conn) data(ctx context.Context, arg string) error {
	if arg != "" {
		c.reply(501, "5.5.4", "Syntax: DATA")
		return nil
	}
	if !c.dataOK() {
		return nil
	}
	if c.mailOpts.Body == BodyBinaryMIME {
		// RFC 3030 §3: BINARYMIME content must be sent with BDAT.
		c.reply(503, "5.5.1", "BODY=BINARYMIME requires BDAT")
		return nil
	}
	c.reply(354, "", "Start mail input; end with <CRLF>.<CRLF>")
	if err := c.w.Flush(); err != nil {
		return err
	}
	c.c.SetDeadlineAfter(defDur(c.s.DataTimeout, DefaultDataTimeout))
	dr := c.r.DataReader(c.dataOptions())
	return c.deliver(ctx, dr, dr.Drain)
}

// deliver hands the content to the backend, drains what it did not read, and
// replies. drain returns the content's own error (bare line ending, size) or
// an I/O error.
func (c *conn) deliver(ctx context.Context, content io.Reader, drain func() error) error {
	defer c.reset(ctx)
	r := &prefixReader{r: content}
	if !c.s.NoReceived {
		c.recv = c.appendReceived(c.recv[:0])
		r.prefix = c.recv
	}
	var (
		id     string
		rcptEr []error
		err    error
	)
	if ls, ok := c.sess.(LMTPSession); ok && c.s.LMTP {
		rcptEr, err = c.callLMTPData(ctx, ls, r)
	} else {
		id, err = c.callData(ctx, r)
	}
	derr := drain()
	switch {
	case errors.Is(derr, wire.ErrTooLarge):
		err = &Error{Code: 552, EnhancedCode: "5.3.4", Message: "Message too big"}
	case errors.Is(derr, wire.ErrBareLineEnding):
		err = &Error{Code: 550, EnhancedCode: "5.6.0", Message: "Message contains bare CR or LF (RFC 5321 §2.3.8)"}
	case errors.Is(derr, errBDATAborted):
		return nil // the command that interrupted BDAT runs next
	case derr != nil:
		c.logger().Debug("reading message content", "err", derr)
		return errClose // the connection failed; nothing to reply to
	}
	if !c.s.LMTP {
		c.dataReply(id, err)
		return nil
	}
	// RFC 2033 §4.2: one reply per accepted recipient, in order.
	for i := range c.rcpts {
		e := err
		if e == nil && i < len(rcptEr) {
			e = rcptEr[i]
		} else if e == nil && rcptEr != nil {
			e = ErrTemporary
		}
		c.dataReply(id, e)
	}
	return nil
}

func (c *conn) dataReply(id string, err error) {
	if err != nil {
		c.backendErr("DATA", err)
		return
	}
	msg := "Ok"
	if id != "" {
		msg = "Ok: queued as " + id
	}
	c.reply(250, "2.0.0", msg)
}

func (c *conn) callData(ctx context.Context, r io.Reader) (id string, err error) {
	defer c.recoverPanic(&err)
	return c.sess.Data(ctx, r)
}

func (c *conn) callLMTPData(ctx context.Context, ls LMTPSession, r io.Reader) (errs []error, err error) {
	defer c.recoverPanic(&err)
	return ls.LMTPData(ctx, r)
}

// appendReceived appends the trace header (RFC 5321 §4.4), with the TLS
// version and cipher as RFC 8314 §4.4 recommends, and the protocol keyword of
// RFC 3848.
func (c *conn) appendReceived(b []byte) []byte {
	b = append(b, "Received: from "...)
	b = appendSanitized(b, c.info.Hello)
	if ip := serve.AddrIP(c.info.RemoteAddr); ip != "" {
		// TCP-info is an address literal (RFC 5321 §4.4, §4.1.3): IPv6
		// addresses carry the "IPv6:" tag.
		b = append(b, " (["...)
		if strings.Contains(ip, ":") {
			b = append(b, "IPv6:"...)
		}
		b = append(b, ip...)
		b = append(b, "])"...)
	}
	b = append(b, "\r\n\tby "...)
	b = appendSanitized(b, c.s.Hostname)
	b = append(b, " (postyard) with "...)
	b = append(b, c.withProto()...)
	if t := c.info.TLS; t != nil {
		b = append(b, "\r\n\t(using "...)
		b = append(b, tls.VersionName(t.Version)...)
		b = append(b, " with cipher "...)
		b = append(b, tls.CipherSuiteName(t.CipherSuite)...)
		b = append(b, ')')
	}
	if len(c.rcpts) == 1 && c.rcpts[0].IsASCII() {
		b = append(b, "\r\n\tfor <"...)
		b = append(b, c.rcpts[0].String()...)
		b = append(b, '>')
	}
	b = append(b, ";\r\n\t"...)
	b = time.Now().AppendFormat(b, time.RFC1123Z)
	return append(b, "\r\n"...)
}

// prefixReader reads prefix, then r. Unlike io.MultiReader it has no WriteTo
// method, which would allocate a 32 KiB buffer per message in io.Copy.
type prefixReader struct {
	prefix []byte
	r      io.Reader
}

func (p *prefixReader) Read(b []byte) (int, error) {
	if len(p.prefix) > 0 {
		n := copy(b, p.prefix)
		p.prefix = p.prefix[n:]
		return n, nil
	}
	return p.r.Read(b)
}

// withProto is the "with" keyword: SMTP, ESMTP, LMTP, plus S for TLS and A
// for authentication (RFC 3848), or UTF8SMTP... (RFC 6531 §3.7.3).
func (c *conn) withProto() string {
	p := "SMTP"
	switch {
	case c.s.LMTP:
		p = "LMTP"
	case c.mailOpts != nil && c.mailOpts.UTF8:
		p = "UTF8SMTP"
	case c.info.ESMTP:
		p = "ESMTP"
	}
	if c.s.LMTP {
		return p
	}
	if c.info.TLS != nil {
		p += "S"
	}
	if c.info.User != "" {
		p += "A"
	}
	return p
}

// appendSanitized appends s as printable ASCII without spaces, parentheses
// or semicolons, which could break the header's syntax.
func appendSanitized(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || c == '(' || c == ')' || c == ';' {
			c = '_'
		}
		b = append(b, c)
	}
	return b
}

// bdatCmd runs BDAT (RFC 3030 §2). The first BDAT of a message starts the
// backend's Data; a bdatStream then reads the following BDAT commands itself,
// so the message streams through without buffering.
func (c *conn) bdatCmd(ctx context.Context, arg string) error {
	size, last, ok := parseBDAT(arg)
	if !ok {
		// Without a valid size the chunk cannot be skipped: whatever follows
		// would be read as commands, so the session ends here.
		c.reply(501, "5.5.4", "Syntax: BDAT size [LAST], closing connection")
		return errClose
	}
	c.c.SetDeadlineAfter(defDur(c.s.DataTimeout, DefaultDataTimeout))
	if !c.info.ESMTP {
		c.reply(503, "5.5.1", "Send EHLO first")
	}
	if !c.info.ESMTP || !c.dataOK() {
		if err := c.r.Discard(size); err != nil {
			return err
		}
		return nil
	}
	st := &bdatStream{c: c, remaining: size, last: last}
	opts := c.dataOptions()
	if c.mailOpts.Body == BodyBinaryMIME {
		sl := &sizeLimit{r: st, max: opts.MaxSize}
		return c.deliver(ctx, sl, func() error {
			if err := st.drain(); err != nil {
				return err
			}
			if sl.max > 0 && sl.n > sl.max {
				return wire.ErrTooLarge
			}
			return nil
		})
	}
	cr := wire.NewChunkReader(st, opts)
	return c.deliver(ctx, cr, func() error {
		err := cr.Drain()
		if serr := st.drain(); serr != nil {
			return serr
		}
		return err
	})
}

// parseBDAT parses "size [LAST]".
func parseBDAT(arg string) (size int64, last, ok bool) {
	num, rest, _ := strings.Cut(arg, " ")
	if len(num) == 0 || len(num) > 18 {
		return 0, false, false
	}
	size, err := strconv.ParseInt(num, 10, 64)
	if err != nil || size < 0 || num[0] == '+' {
		return 0, false, false
	}
	switch {
	case rest == "":
	case strings.EqualFold(rest, "LAST"):
		last = true
	default:
		return 0, false, false
	}
	return size, last, true
}

var errBDATAborted = errors.New("smtp: BDAT sequence interrupted by another command")

// bdatStream reads the chunks of one message as a single stream. Between
// chunks it acknowledges the previous one and reads the next BDAT command
// itself. Any other command aborts the message and is run next.
type bdatStream struct {
	c         *conn
	remaining int64
	last      bool
	err       error
}

func (b *bdatStream) Read(p []byte) (int, error) {
	for b.remaining == 0 {
		if b.err != nil {
			return 0, b.err
		}
		if b.last {
			return 0, io.EOF
		}
		b.err = b.nextChunk()
	}
	if int64(len(p)) > b.remaining {
		p = p[:b.remaining]
	}
	n, err := b.c.r.ReadFull(p)
	b.remaining -= int64(n)
	if err != nil {
		b.err = err
		return n, err
	}
	return n, nil
}

// nextChunk acknowledges the chunk just read and starts the next one.
func (b *bdatStream) nextChunk() error {
	c := b.c
	c.reply(250, "2.0.0", "Chunk received")
	if c.r.Buffered() == 0 {
		if err := c.w.Flush(); err != nil {
			return err
		}
	}
	line, err := c.next()
	if err != nil {
		return err
	}
	verb, arg, _ := strings.Cut(string(line), " ")
	if !strings.EqualFold(verb, "BDAT") {
		c.pending, c.pendingOK = append([]byte(nil), line...), true
		return errBDATAborted
	}
	size, last, ok := parseBDAT(arg)
	if !ok {
		c.reply(501, "5.5.4", "Syntax: BDAT size [LAST], closing connection")
		return errClose
	}
	c.c.SetDeadlineAfter(defDur(c.s.DataTimeout, DefaultDataTimeout))
	b.remaining, b.last = size, last
	return nil
}

// drain skips the rest of the message's chunks.
func (b *bdatStream) drain() error {
	_, err := io.Copy(io.Discard, b)
	return err
}

// sizeLimit fails with wire.ErrTooLarge past max octets (0: unlimited).
type sizeLimit struct {
	r   io.Reader
	n   int64
	max int64
}

func (l *sizeLimit) Read(p []byte) (int, error) {
	if l.max > 0 && l.n > l.max {
		return 0, wire.ErrTooLarge
	}
	n, err := l.r.Read(p)
	l.n += int64(n)
	if l.max > 0 && l.n > l.max {
		return 0, wire.ErrTooLarge
	}
	return n, err
}
