package smtp

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-sasl"

	"github.com/postyard/postyard/internal/wire"
)

// Client limits and sizes.
const (
	// clientMaxReplyLine bounds a reply line, without its CRLF. RFC 5321
	// §4.5.3.1.5 allows 512 octets with the code and CRLF; real servers
	// sometimes send more, so four times that is accepted.
	clientMaxReplyLine = 2048
	// clientDefaultReplyLines is the default of ClientOptions.MaxReplyLines.
	clientDefaultReplyLines = 100
	// clientMaxCommandLine is the longest command line sent, without CRLF
	// (RFC 5321 §4.5.3.1.4: 512 octets with it). It decides whether an AUTH
	// initial response fits on the AUTH line (RFC 4954 §4).
	clientMaxCommandLine = 510
	// clientMaxAuthSteps bounds the 334 challenges of one AUTH exchange.
	clientMaxAuthSteps = 10
	// clientChunkSize is the size of the BDAT chunks SendMail sends
	// (RFC 3030 §2), before line-ending fixes.
	clientChunkSize = 256 << 10
)

// ErrNotSupported is wrapped by the errors a [Client] returns, without
// sending anything, when the operation needs an extension the server did
// not advertise in its EHLO reply: STARTTLS, AUTH (or the mechanism),
// SMTPUTF8 (asked for, or needed for a non-ASCII address), 8BITMIME,
// BINARYMIME, CHUNKING, DSN or REQUIRETLS. Test for it with [errors.Is].
var ErrNotSupported = errors.New("smtp: not supported by the server")

var (
	errClientClosed = fmt.Errorf("smtp: client closed: %w", net.ErrClosed)
	errNoReply      = errors.New("smtp: no reply to the message content")
)

// ClientOptions configures a [Client]. The zero value, or a nil
// *ClientOptions, is an SMTP client that says EHLO localhost.
type ClientOptions struct {
	// Hostname is the name sent with EHLO, HELO or LHLO (RFC 5321
	// §4.1.1.1): a domain or an address literal such as "[192.0.2.1]".
	// Default "localhost". It must be printable ASCII without spaces.
	Hostname string
	// LMTP makes the client speak LMTP (RFC 2033): LHLO instead of EHLO,
	// with no HELO fallback, and one reply per accepted recipient after
	// the message content (§4.2).
	LMTP bool
	// TLSConfig is used by StartTLS when it is given no config of its
	// own. Nil means a default config with ServerName taken from the
	// address given to Dial.
	TLSConfig *tls.Config
	// MaxReplyLines bounds the lines of one reply. Zero means 100;
	// negative means unlimited. A longer reply is a protocol error.
	MaxReplyLines int
}

// Client is an SMTP (RFC 5321) or LMTP (RFC 2033) client connection: the
// client side of the commands a [Server] implements, with the extensions
// PIPELINING (RFC 2920), SIZE (RFC 1870), 8BITMIME (RFC 6152), CHUNKING
// and BINARYMIME (RFC 3030), SMTPUTF8 (RFC 6531), ENHANCEDSTATUSCODES
// (RFC 2034), DSN (RFC 3461), STARTTLS (RFC 3207), AUTH (RFC 4954) and
// REQUIRETLS (RFC 8689).
//
// Every method that does I/O takes a context: its deadline becomes the
// connection's deadline for that call, and cancelling it during the call
// closes the connection. Replies 4yz and 5yz are returned as [*Error],
// with the enhanced status code split off when the server offers
// ENHANCEDSTATUSCODES and the lines of a multi-line reply joined with
// "\n". Any other error (I/O, a malformed or unexpected reply, a cancelled
// context) leaves the connection unusable: it is closed, and every later
// call returns that error. A 421 reply does the same (RFC 5321 §3.8).
//
// A Client is not safe for concurrent use.
type Client struct {
	conn       net.Conn // commands and replies; a *tls.Conn after StartTLS
	raw        net.Conn // the connection under any TLS: deadlines, forced close
	r          *wire.Reader
	w          *bufio.Writer
	opts       ClientOptions
	serverName string // for StartTLS, from Dial's address
	maxLines   int    // 0: unlimited

	ext      map[string]string // EHLO keywords, nil after HELO
	enhanced bool              // ENHANCEDSTATUSCODES advertised
	err      error             // set once the connection is unusable
}

// Dial connects to addr (host:port) with a [net.Dialer] bounded by ctx, and
// does what [NewClient] does. The host part of addr is the server name that
// StartTLS verifies unless its tls.Config names one.
func Dial(ctx context.Context, network, addr string, opts *ClientOptions) (*Client, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	host, _, _ := net.SplitHostPort(addr)
	return newClient(ctx, conn, opts, host)
}

// NewClient starts a session on conn: it reads the greeting (RFC 5321
// §4.3.1; a 4yz or 5yz greeting is returned as an [*Error]) and sends EHLO,
// or HELO if the server answers EHLO with 500, 502 or 504 (RFC 5321 §3.2).
// With ClientOptions.LMTP it sends LHLO. For implicit TLS (RFC 8314 §3.3)
// pass a *tls.Client connection.
//
// The Client owns conn: NewClient closes it if it fails, and [Client.Quit]
// or [Client.Close] close it.
func NewClient(ctx context.Context, conn net.Conn, opts *ClientOptions) (*Client, error) {
	return newClient(ctx, conn, opts, "")
}

func newClient(ctx context.Context, conn net.Conn, opts *ClientOptions, serverName string) (*Client, error) {
	c := &Client{conn: conn, raw: conn, serverName: serverName}
	if tc, ok := conn.(*tls.Conn); ok {
		c.raw = tc.NetConn()
	}
	if opts != nil {
		c.opts = *opts
	}
	if c.opts.Hostname == "" {
		c.opts.Hostname = "localhost"
	}
	if !clientValidHostname(c.opts.Hostname) {
		conn.Close()
		return nil, fmt.Errorf("smtp: invalid client hostname %q", c.opts.Hostname)
	}
	switch n := c.opts.MaxReplyLines; {
	case n == 0:
		c.maxLines = clientDefaultReplyLines
	case n > 0:
		c.maxLines = n
	}
	c.r = wire.NewReader(conn)
	c.w = bufio.NewWriter(conn)
	if err := c.start(ctx); err != nil {
		c.fail(err)
		return nil, err
	}
	return c, nil
}

// start reads the greeting and says hello.
func (c *Client) start(ctx context.Context) (err error) {
	end, err := c.begin(ctx)
	if err != nil {
		return err
	}
	defer end(&err)
	rep, err := c.readReply()
	if err != nil {
		return err
	}
	if err := c.expect(rep, 2, "greeting"); err != nil {
		if c.err == nil {
			c.cmd("QUIT") // RFC 5321 §3.1: QUIT after a refusing greeting
		}
		return err
	}
	return c.hello()
}

// clientValidHostname reports whether s can follow EHLO on the wire.
func clientValidHostname(s string) bool {
	if len(s) > pathMaxDomain+2 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// hello sends EHLO (or LHLO), falling back to HELO, and records the
// extensions. Whatever was known before is forgotten.
func (c *Client) hello() error {
	c.ext, c.enhanced = nil, false
	verb := "EHLO"
	if c.opts.LMTP {
		verb = "LHLO"
	}
	rep, err := c.do(verb+" "+c.opts.Hostname, verb, 2)
	if err == nil {
		c.ext = make(map[string]string)
		lines := strings.Split(rep.text, "\n")
		for _, l := range lines[1:] { // the first line is the server's name
			kw, param, _ := strings.Cut(strings.TrimSpace(l), " ")
			if kw != "" {
				c.ext[strings.ToUpper(kw)] = strings.TrimSpace(param)
			}
		}
		_, c.enhanced = c.ext["ENHANCEDSTATUSCODES"]
		return nil
	}
	if c.err != nil || c.opts.LMTP {
		return err
	}
	// RFC 5321 §3.2: an old server that does not know EHLO.
	switch rep.code {
	case 500, 502, 504:
		_, err = c.do("HELO "+c.opts.Hostname, "HELO", 2)
	}
	return err
}

// Extensions returns the extensions the server advertised in its EHLO or
// LHLO reply (RFC 5321 §4.1.1.1): each keyword, upper-cased, mapped to its
// parameters ("" for none), e.g. "SIZE" → "26214400", "AUTH" → "PLAIN
// LOGIN". It is nil if the server only understood HELO. The map is a copy.
func (c *Client) Extensions() map[string]string { return maps.Clone(c.ext) }

// Supports reports whether the server advertised the extension ext, in any
// case.
func (c *Client) Supports(ext string) bool {
	_, ok := c.ext[strings.ToUpper(ext)]
	return ok
}

// MaxMessageSize returns the maximum message size the server declared
// with SIZE (RFC 1870 §4), in octets, and whether it advertised SIZE at
// all. A size of 0 with ok true means no fixed maximum.
func (c *Client) MaxMessageSize() (size int64, ok bool) {
	v, ok := c.ext["SIZE"]
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, true
	}
	return n, true
}

// TLS returns the state of the connection's TLS, after StartTLS or on a
// connection NewClient was given as a *tls.Conn; ok is false on a
// plaintext connection.
func (c *Client) TLS() (state tls.ConnectionState, ok bool) {
	if tc, ok := c.conn.(interface{ ConnectionState() tls.ConnectionState }); ok {
		return tc.ConnectionState(), true
	}
	return tls.ConnectionState{}, false
}

// StartTLS upgrades the connection with STARTTLS (RFC 3207) and then says
// EHLO again, since everything learnt before TLS must be discarded (§4.2).
// conf nil means ClientOptions.TLSConfig; a config without ServerName gets
// the host given to Dial. It fails with [ErrNotSupported] if the server
// does not offer STARTTLS, and an error if TLS is already active. A failed
// handshake leaves the client unusable.
func (c *Client) StartTLS(ctx context.Context, conf *tls.Config) (err error) {
	end, err := c.begin(ctx)
	if err != nil {
		return err
	}
	defer end(&err)
	if _, ok := c.TLS(); ok {
		return errors.New("smtp: TLS already active")
	}
	if !c.Supports("STARTTLS") {
		return fmt.Errorf("%w: STARTTLS", ErrNotSupported)
	}
	if conf == nil {
		conf = c.opts.TLSConfig
	}
	if conf == nil {
		conf = &tls.Config{}
	} else {
		conf = conf.Clone()
	}
	if conf.ServerName == "" {
		conf.ServerName = c.serverName
	}
	if _, err := c.do("STARTTLS", "STARTTLS", 2); err != nil {
		return err
	}
	if c.r.Buffered() > 0 {
		// Plaintext after the 220 would be read as if it came over TLS:
		// a response injection, the client side of CVE-2011-0411.
		return c.fail(errors.New("smtp: server sent data after its STARTTLS reply"))
	}
	tc := tls.Client(c.raw, conf)
	if err := tc.HandshakeContext(ctx); err != nil {
		return c.fail(fmt.Errorf("smtp: TLS handshake: %w", err))
	}
	c.conn = tc
	c.r.Reset(tc)
	c.w.Reset(tc)
	return c.hello()
}

// Auth authenticates with the SASL mechanism a implements (RFC 4954):
// "AUTH mechanism" with the initial response when a has one and it fits
// the line (§4), then a's answers to the server's 334 challenges until the
// server replies 235. The mechanism must be among those the server
// advertised, or Auth fails with [ErrNotSupported] without sending
// anything. A refusal (e.g. 535 5.7.8) is an [*Error]; an error from a
// cancels the exchange with "*" and is returned wrapped.
func (c *Client) Auth(ctx context.Context, a sasl.Client) (err error) {
	end, err := c.begin(ctx)
	if err != nil {
		return err
	}
	defer end(&err)
	mechs, ok := c.ext["AUTH"]
	if !ok {
		return fmt.Errorf("%w: AUTH", ErrNotSupported)
	}
	mech, ir, err := a.Start()
	if err != nil {
		return fmt.Errorf("smtp: AUTH: %w", err)
	}
	if !slices.ContainsFunc(strings.Fields(mechs), func(m string) bool { return strings.EqualFold(m, mech) }) ||
		!clientValidMech(mech) {
		return fmt.Errorf("%w: AUTH %q", ErrNotSupported, mech)
	}
	line := "AUTH " + mech
	if ir != nil {
		enc := "=" // an empty initial response (RFC 4954 §4)
		if len(ir) > 0 {
			enc = base64.StdEncoding.EncodeToString(ir)
		}
		if len(line)+1+len(enc) <= clientMaxCommandLine {
			line += " " + enc
			ir = nil
		} // else it goes after the server's first, empty, challenge
	}
	rep, err := c.cmd(line)
	for step := 0; ; step++ {
		if err != nil {
			return err
		}
		if rep.code != 334 {
			return c.expect(rep, 2, "AUTH")
		}
		if step == clientMaxAuthSteps {
			return c.fail(errors.New("smtp: AUTH: too many challenges"))
		}
		var resp []byte
		if ir != nil {
			resp, ir = ir, nil
		} else {
			challenge, derr := base64.StdEncoding.DecodeString(strings.TrimSpace(rep.text))
			if derr != nil {
				return c.authCancel(errors.New("smtp: AUTH: challenge is not base64"))
			}
			if resp, err = a.Next(challenge); err != nil {
				return c.authCancel(fmt.Errorf("smtp: AUTH: %w", err))
			}
		}
		rep, err = c.cmd(base64.StdEncoding.EncodeToString(resp))
	}
}

// authCancel ends an AUTH exchange with "*" (RFC 4954 §4) and returns err,
// or the error that broke the connection.
func (c *Client) authCancel(err error) error {
	rep, rerr := c.cmd("*")
	if rerr != nil {
		return rerr
	}
	if rep.code/100 == 2 {
		return c.fail(errors.New("smtp: AUTH succeeded after the client cancelled it"))
	}
	return err
}

// clientValidMech reports whether s is a SASL mechanism name (RFC 4422
// §3.1): 1 to 20 upper-case letters, digits, "-" and "_". Lower case is
// accepted too.
func clientValidMech(s string) bool {
	if s == "" || len(s) > 20 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !pathIsLetDig(c) && c != '-' && c != '_' {
			return false
		}
	}
	return true
}

// Reset aborts the current mail transaction with RSET (RFC 5321 §4.1.1.5).
func (c *Client) Reset(ctx context.Context) error { return c.simple(ctx, "RSET") }

// Noop sends NOOP (RFC 5321 §4.1.1.9), to check that the connection works.
func (c *Client) Noop(ctx context.Context) error { return c.simple(ctx, "NOOP") }

func (c *Client) simple(ctx context.Context, verb string) (err error) {
	end, err := c.begin(ctx)
	if err != nil {
		return err
	}
	defer end(&err)
	_, err = c.do(verb, verb, 2)
	return err
}

// Quit sends QUIT (RFC 5321 §4.1.1.10) and closes the connection, even if
// QUIT fails. It returns the error of QUIT, or the error that had already
// made the client unusable.
func (c *Client) Quit(ctx context.Context) (err error) {
	end, err := c.begin(ctx)
	if err != nil {
		c.Close()
		return err
	}
	defer end(&err)
	_, err = c.do("QUIT", "QUIT", 2)
	c.Close()
	return err
}

// Close closes the connection without QUIT. Later calls fail with an error
// that wraps [net.ErrClosed]. Close returns nil if the client was already
// closed or had failed.
func (c *Client) Close() error {
	if c.err != nil {
		c.err = errClientClosed
		return nil
	}
	c.err = errClientClosed
	return c.conn.Close()
}

// Rcpt is one recipient for [Client.SendMail]: the forward-path and the
// ESMTP parameters of its RCPT command (nil for none).
type Rcpt struct {
	To   Path
	Opts *RcptOptions
}

// SendResult is the outcome of [Client.SendMail], per recipient.
type SendResult struct {
	// Rcpts has one entry per recipient, in the order given: nil if the
	// server accepted the RCPT command, otherwise its refusal (an
	// [*Error]).
	Rcpts []error
	// Data holds the server's verdict on the message content: one entry
	// for SMTP, and for LMTP one per accepted recipient, in order (RFC
	// 2033 §4.2); nil means accepted. It is empty when no recipient was
	// accepted. If the content could not be sent or its reply not read,
	// its entries hold that error.
	Data []error
	// Reply is the text of the (for LMTP, first) reply accepting the
	// content, without its enhanced status code, e.g. "Ok: queued as
	// 4BQ1".
	Reply string
}

// Err returns the outcome for recipient i (0 <= i < len(r.Rcpts)): nil if
// the server took responsibility for delivering the message to it, else
// its RCPT refusal or the failure of the content for it.
func (r *SendResult) Err(i int) error {
	if err := r.Rcpts[i]; err != nil {
		return err
	}
	k := 0 // the index of i among the accepted recipients
	for _, e := range r.Rcpts[:i] {
		if e == nil {
			k++
		}
	}
	switch {
	case len(r.Data) == 1:
		return r.Data[0]
	case k < len(r.Data):
		return r.Data[k]
	}
	return errNoReply
}

// fill sets every Data entry to err, for n accepted recipients.
func (r *SendResult) fill(err error, lmtp bool, n int) {
	if !lmtp {
		n = 1
	}
	r.Data = make([]error, n)
	for i := range r.Data {
		r.Data[i] = err
	}
}

// clientTx is a transaction ready to send.
type clientTx struct {
	mail   string   // MAIL command line
	rcpts  []string // RCPT command lines
	bdat   bool     // send the content with BDAT
	binary bool     // BODY=BINARYMIME: send the content as is
}

// SendMail runs one mail transaction (RFC 5321 §3.3): MAIL FROM with opts
// (nil for none), a RCPT TO per recipient, then the content read from r
// until io.EOF. r is not closed.
//
// The content goes with BDAT when the server offers CHUNKING (RFC 3030),
// in chunks of 256 KiB, otherwise with DATA; either way every bare CR and
// bare LF becomes CRLF, a last line without one gets CRLF, and for DATA
// lines starting with "." are dot-stuffed (§4.5.2), so what is sent can
// never end the message early or smuggle another. With BODY=BINARYMIME the
// content is sent unchanged, which needs BINARYMIME and CHUNKING.
//
// When the server offers PIPELINING, MAIL, every RCPT and DATA (or MAIL and
// RCPT before BDAT) go in one write, and their replies are read in order
// afterwards (RFC 2920 §3.1).
//
// Parameters are sent only for extensions the server offers. SIZE and
// AUTH= are left out when it does not; SMTPUTF8 (added when an address is
// not ASCII), BODY=8BITMIME, BODY=BINARYMIME, the DSN parameters and
// REQUIRETLS (which also needs TLS) fail with [ErrNotSupported] before
// anything is sent; SMTPUTF8 needed for an address also wraps
// [ErrPathNonASCII]. Paths and parameters that the server could not parse
// unambiguously (see [ParsePath], [ParseMailParams], [ParseRcptParams])
// are refused with the parser's error.
//
// If MAIL is refused, SendMail returns its [*Error] and a nil result. If
// every recipient is refused, it sends RSET instead of the content (with
// pipelining, DATA was sent and is refused by the server) and returns the
// result with the first refusal. Otherwise err is nil if the message was
// accepted for at least one recipient; check [SendResult.Err] for each.
// With a nil err some recipients may still have been refused.
//
// The result is nil if MAIL was refused or the connection failed before
// every recipient's reply was read.
//
// If r fails, a BDAT transaction is abandoned with RSET; a DATA
// transaction cannot be aborted (RFC 5321 §4.1.1.4), so the connection is
// closed instead. Cancelling ctx does not interrupt a Read of r, but the
// content is not committed (no final "." or BDAT LAST) once ctx is done.
func (c *Client) SendMail(ctx context.Context, from Path, opts *MailOptions, rcpts []Rcpt, r io.Reader) (res *SendResult, err error) {
	end, err := c.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer end(&err)
	tx, err := c.prepare(from, opts, rcpts)
	if err != nil {
		return nil, err
	}
	res = &SendResult{Rcpts: make([]error, len(rcpts))}
	pipelined := c.Supports("PIPELINING")
	wait := func() error { return nil }
	if pipelined {
		var b []byte
		b = append(append(b, tx.mail...), "\r\n"...)
		for _, l := range tx.rcpts {
			b = append(append(b, l...), "\r\n"...)
		}
		if !tx.bdat {
			b = append(b, "DATA\r\n"...) // RFC 2920 §3.1: DATA ends a group
		}
		wait = c.writeAsync(b)
	}

	_, mailErr := c.step(pipelined, tx.mail, "MAIL", 2)
	// failed ends a transaction whose connection failed, with MAIL's
	// refusal if there was one: it says more about the message.
	failed := func(err error) (*SendResult, error) {
		wait()
		if mailErr != nil {
			return nil, mailErr
		}
		return nil, err
	}
	if c.err != nil {
		return failed(mailErr)
	}
	accepted := 0
	if mailErr == nil || pipelined {
		for i, l := range tx.rcpts {
			_, e := c.step(pipelined, l, "RCPT", 2)
			if c.err != nil {
				return failed(e)
			}
			if e == nil && mailErr != nil {
				e = errors.New("smtp: RCPT accepted after MAIL was refused")
			}
			res.Rcpts[i] = e
			if e == nil {
				accepted++
			}
		}
	}
	var dataErr error
	if pipelined && !tx.bdat {
		_, dataErr = c.readExpect(3, "DATA")
		if c.err == nil && dataErr == nil && accepted == 0 {
			// 354 with nothing to send it for; the only way out of DATA
			// without sending a message is to hang up.
			c.fail(errors.New("smtp: server accepted DATA without valid recipients"))
		}
		if c.err != nil {
			return failed(c.err)
		}
	}
	if err := wait(); err != nil {
		return failed(err)
	}
	if mailErr != nil {
		return nil, mailErr
	}
	if accepted == 0 {
		// RFC 5321 §3.3: no content without a valid recipient.
		if _, err := c.do("RSET", "RSET", 2); c.err != nil {
			return res, err
		}
		return res, res.Rcpts[0]
	}

	if tx.bdat {
		return res, c.sendBDAT(ctx, r, tx.binary, res, accepted)
	}
	if !pipelined {
		_, dataErr = c.do("DATA", "DATA", 3)
		if c.err != nil {
			return res, dataErr
		}
	}
	if dataErr != nil {
		res.fill(dataErr, c.opts.LMTP, accepted)
		if _, err := c.do("RSET", "RSET", 2); c.err != nil {
			return res, err
		}
		return res, dataErr
	}
	return res, c.sendData(ctx, r, res, accepted)
}

// prepare checks a transaction against the extensions and builds its
// commands.
func (c *Client) prepare(from Path, opts *MailOptions, rcpts []Rcpt) (*clientTx, error) {
	if len(rcpts) == 0 {
		return nil, errors.New("smtp: no recipients")
	}
	var o MailOptions
	if opts != nil {
		o = *opts
	}
	need := func(ext, what string) error {
		if c.Supports(ext) {
			return nil
		}
		return fmt.Errorf("%w: %s", ErrNotSupported, what)
	}
	if err := clientCheckPath(from, true); err != nil {
		return nil, err
	}
	ascii := from.IsASCII()
	dsn := o.Return != "" || o.EnvelopeID != ""
	for _, rc := range rcpts {
		if err := clientCheckPath(rc.To, false); err != nil {
			return nil, err
		}
		ascii = ascii && rc.To.IsASCII()
		if rc.Opts != nil && (rc.Opts.Notify != 0 || rc.Opts.OriginalRcpt != "") {
			dsn = true
		}
	}
	if !ascii {
		// RFC 6531 §3.2: a non-ASCII address needs SMTPUTF8.
		if !c.Supports("SMTPUTF8") {
			return nil, fmt.Errorf("%w: SMTPUTF8, needed for a non-ASCII address (%w)", ErrNotSupported, ErrPathNonASCII)
		}
		o.UTF8 = true
	}
	var checks []error
	if o.UTF8 {
		checks = append(checks, need("SMTPUTF8", "SMTPUTF8"))
	}
	if o.RequireTLS {
		checks = append(checks, need("REQUIRETLS", "REQUIRETLS (RFC 8689)"))
		if _, ok := c.TLS(); !ok {
			checks = append(checks, errors.New("smtp: REQUIRETLS needs a TLS connection"))
		}
	}
	switch o.Body {
	case Body8BitMIME:
		checks = append(checks, need("8BITMIME", "BODY=8BITMIME"))
	case BodyBinaryMIME:
		checks = append(checks, need("BINARYMIME", "BODY=BINARYMIME"), need("CHUNKING", "CHUNKING, needed for BODY=BINARYMIME"))
	case Body7Bit:
		if !c.Supports("8BITMIME") && !c.Supports("BINARYMIME") {
			o.Body = "" // 7BIT is the default; BODY= belongs to those extensions
		}
	}
	if dsn {
		checks = append(checks, need("DSN", "DSN parameters (RFC 3461)"))
	}
	for _, err := range checks {
		if err != nil {
			return nil, err
		}
	}
	if !c.Supports("SIZE") {
		o.Size = 0
	}
	if !c.Supports("AUTH") {
		o.Auth = "" // RFC 4954 §5: only to servers that offer AUTH
	}

	allowed := c.paramSet()
	params := o.AppendParams(nil)
	if _, err := ParseMailParams(string(params), allowed); err != nil {
		return nil, fmt.Errorf("smtp: MAIL parameters: %w", err)
	}
	tx := &clientTx{
		mail:   "MAIL FROM:<" + from.String() + ">" + string(params),
		rcpts:  make([]string, 0, len(rcpts)),
		bdat:   c.Supports("CHUNKING"),
		binary: o.Body == BodyBinaryMIME,
	}
	allowed &^= ParamSMTPUTF8
	if o.UTF8 {
		allowed |= ParamSMTPUTF8
	}
	for _, rc := range rcpts {
		var params []byte
		if rc.Opts != nil {
			params = rc.Opts.AppendParams(nil)
		}
		if _, err := ParseRcptParams(string(params), allowed); err != nil {
			return nil, fmt.Errorf("smtp: RCPT parameters for <%s>: %w", rc.To, err)
		}
		tx.rcpts = append(tx.rcpts, "RCPT TO:<"+rc.To.String()+">"+string(params))
	}
	return tx, nil
}

// paramSet returns the parameters the server's extensions allow.
func (c *Client) paramSet() ParamSet {
	var p ParamSet
	for _, e := range [...]struct {
		ext string
		set ParamSet
	}{
		{"SIZE", ParamSize},
		{"8BITMIME", ParamBody8BIT},
		{"BINARYMIME", ParamBodyBinary},
		{"SMTPUTF8", ParamSMTPUTF8},
		{"REQUIRETLS", ParamRequireTLS},
		{"DSN", ParamDSN},
		{"AUTH", ParamAuth},
	} {
		if c.Supports(e.ext) {
			p |= e.set
		}
	}
	return p
}

// clientCheckPath checks that p is sent as itself: its String form parses
// back to the same path, so it cannot carry anything else onto the wire.
func clientCheckPath(p Path, mail bool) error {
	s := "<" + p.String() + ">"
	q, rest, err := ParsePath(s, PathOptions{UTF8: true, AllowNull: mail, AllowPostmaster: !mail})
	if err == nil && (rest != "" || q.Local != p.Local || q.Domain != p.Domain) {
		err = pathErr(ErrPathSyntax, "path does not survive a round trip")
	}
	if err != nil {
		return fmt.Errorf("smtp: invalid address %q: %w", s, err)
	}
	return nil
}

// sendData sends the content after a 354 reply and reads the replies.
func (c *Client) sendData(ctx context.Context, r io.Reader, res *SendResult, n int) error {
	src := &clientSource{r: r}
	dw := wire.NewDataWriter(c.w, true)
	_, err := io.Copy(dw, src)
	if err == nil {
		err = ctx.Err() // not cancelled while r was read: commit
	}
	if err == nil {
		err = dw.Close()
	}
	if err == nil {
		err = c.w.Flush()
	}
	if err != nil {
		switch {
		case src.err != nil:
			err = fmt.Errorf("smtp: reading message: %w", src.err)
		case err != ctx.Err():
			err = fmt.Errorf("smtp: writing message: %w", err)
		}
		c.fail(err)
		res.fill(err, c.opts.LMTP, n)
		return err
	}
	return c.finalReplies(res, n)
}

// sendBDAT sends the content in BDAT chunks and reads the replies.
func (c *Client) sendBDAT(ctx context.Context, r io.Reader, binary bool, res *SendResult, n int) error {
	var buf bytes.Buffer
	var w io.Writer = &buf
	var dw *wire.DataWriter
	if !binary {
		dw = wire.NewDataWriter(&buf, false)
		w = dw
	}
	for {
		// Writes to buf cannot fail, so an error is r's.
		_, rerr := io.CopyN(w, r, clientChunkSize)
		last := rerr == io.EOF
		if rerr != nil && !last {
			err := fmt.Errorf("smtp: reading message: %w", rerr)
			res.fill(err, c.opts.LMTP, n)
			// RFC 3030 §2: RSET abandons the chunks sent so far.
			if _, rsetErr := c.do("RSET", "RSET", 2); c.err != nil {
				return rsetErr
			}
			return err
		}
		if last && ctx.Err() != nil {
			// Cancelled while r was read: do not commit the message.
			err := c.fail(ctx.Err())
			res.fill(err, c.opts.LMTP, n)
			return err
		}
		if last && dw != nil {
			dw.Close()
		}
		cmd := "BDAT " + strconv.Itoa(buf.Len())
		if last {
			cmd += " LAST"
		}
		c.w.WriteString(cmd + "\r\n")
		c.w.Write(buf.Bytes())
		if err := c.w.Flush(); err != nil {
			err = c.fail(fmt.Errorf("smtp: writing message: %w", err))
			res.fill(err, c.opts.LMTP, n)
			return err
		}
		if last {
			return c.finalReplies(res, n)
		}
		buf.Reset()
		if _, err := c.readExpect(2, "BDAT"); err != nil {
			// RFC 3030 §2: after a failed chunk, no more chunks.
			res.fill(err, c.opts.LMTP, n)
			if c.err == nil {
				if _, rsetErr := c.do("RSET", "RSET", 2); c.err != nil {
					return rsetErr
				}
			}
			return err
		}
	}
}

// finalReplies reads the replies to the end of the content: one, or for
// LMTP one per accepted recipient (RFC 2033 §4.2). It returns nil if the
// message was accepted for at least one recipient, else the first refusal.
func (c *Client) finalReplies(res *SendResult, n int) error {
	res.fill(nil, c.opts.LMTP, n)
	var first error
	ok := false
	for i := range res.Data {
		rep, err := c.readExpect(2, "message content")
		if c.err != nil {
			for j := i; j < len(res.Data); j++ {
				res.Data[j] = err
			}
			return err
		}
		res.Data[i] = err
		switch {
		case err == nil && !ok:
			ok = true
			res.Reply = rep.text
		case err != nil && first == nil:
			first = err
		}
	}
	if ok {
		return nil
	}
	return first
}

// clientSource records the error of the message reader, to tell it from
// a write error.
type clientSource struct {
	r   io.Reader
	err error
}

func (s *clientSource) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		s.err = err
	}
	return n, err
}

// begin prepares the connection for one operation bounded by ctx: its
// deadline becomes the connection's, and its cancellation closes the
// connection. The caller must defer end(&err), which marks the client
// unusable if ctx ended the operation and makes err say so.
func (c *Client) begin(ctx context.Context) (end func(*error), err error) {
	if c.err != nil {
		return nil, c.err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	deadline, _ := ctx.Deadline() // zero: none
	if err := c.raw.SetDeadline(deadline); err != nil {
		return nil, c.fail(fmt.Errorf("smtp: %w", err))
	}
	raw := c.raw
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	return func(errp *error) {
		fired := !stop()
		cerr := ctx.Err()
		if d, ok := ctx.Deadline(); ok && cerr == nil && c.err != nil && !time.Now().Before(d) {
			// The connection's deadline passed before ctx's timer fired.
			cerr = context.DeadlineExceeded
		}
		if cerr == nil || !fired && c.err == nil {
			return
		}
		// ctx ended while the operation used the connection: the
		// connection is closed or timed out, the session state unknown.
		c.fail(cerr)
		if *errp != nil && !errors.Is(*errp, cerr) {
			*errp = fmt.Errorf("%w: %w", cerr, *errp)
		}
	}, nil
}

// fail marks the client unusable, closes the connection and returns err.
func (c *Client) fail(err error) error {
	if c.err == nil {
		c.err = err
		c.raw.Close()
	}
	return err
}

// writeAsync writes b in its own goroutine, so that the server's replies
// can be read while a long pipelined group is still being sent. wait
// waits for the write and returns its error, having marked the client
// failed; it may be called more than once.
func (c *Client) writeAsync(b []byte) (wait func() error) {
	done := make(chan error, 1)
	conn := c.conn
	go func() {
		_, err := conn.Write(b)
		if err != nil {
			err = fmt.Errorf("smtp: %w", err)
		}
		done <- err
	}()
	var (
		err      error
		finished bool
	)
	return func() error {
		if !finished {
			err, finished = <-done, true
			if err != nil {
				c.fail(err)
			}
		}
		return err
	}
}

// clientReply is one reply (RFC 5321 §4.2).
type clientReply struct {
	code     int
	enhanced string // RFC 3463 code, "" if none
	text     string // the lines' text joined with "\n", without enhanced codes
}

// cmd sends one command line and reads the reply.
func (c *Client) cmd(line string) (clientReply, error) {
	c.w.WriteString(line)
	c.w.WriteString("\r\n")
	if err := c.w.Flush(); err != nil {
		return clientReply{}, c.fail(fmt.Errorf("smtp: %w", err))
	}
	return c.readReply()
}

// do sends one command line and checks its reply with expect.
func (c *Client) do(line, verb string, class int) (clientReply, error) {
	rep, err := c.cmd(line)
	if err != nil {
		return rep, err
	}
	return rep, c.expect(rep, class, verb)
}

// step is do, or with pipelining (the command already sent) readExpect.
func (c *Client) step(pipelined bool, line, verb string, class int) (clientReply, error) {
	if pipelined {
		return c.readExpect(class, verb)
	}
	return c.do(line, verb, class)
}

// readExpect reads a reply and checks it with expect.
func (c *Client) readExpect(class int, verb string) (clientReply, error) {
	rep, err := c.readReply()
	if err != nil {
		return rep, err
	}
	return rep, c.expect(rep, class, verb)
}

// expect returns nil for a reply of the wanted class (2 for 2yz, 3 for
// 3yz), an *Error for 4yz and 5yz, and otherwise a protocol error that
// fails the client. 421 fails the client too (RFC 5321 §3.8).
func (c *Client) expect(rep clientReply, class int, verb string) error {
	switch rep.code / 100 {
	case class:
		return nil
	case 4, 5:
		e := &Error{Code: rep.code, EnhancedCode: rep.enhanced, Message: rep.text}
		if rep.code == 421 {
			c.fail(e)
		}
		return e
	}
	return c.fail(fmt.Errorf("smtp: unexpected reply to %s: %d %s", verb, rep.code, clientQuote(rep.text)))
}

// readReply reads one reply, single- or multi-line (RFC 5321 §4.2.1). An
// I/O error or a malformed reply fails the client.
func (c *Client) readReply() (clientReply, error) {
	var (
		rep  clientReply
		text strings.Builder
	)
	for n := 0; ; n++ {
		if c.maxLines > 0 && n == c.maxLines {
			return rep, c.fail(fmt.Errorf("smtp: reply longer than %d lines", c.maxLines))
		}
		line, err := c.r.ReadLine(clientMaxReplyLine)
		if errors.Is(err, wire.ErrLineTooLong) {
			return rep, c.fail(fmt.Errorf("smtp: reply line longer than %d octets", clientMaxReplyLine))
		}
		if err == io.EOF {
			err = io.ErrUnexpectedEOF // the server hung up without a reply
		}
		if err != nil {
			return rep, c.fail(fmt.Errorf("smtp: reading reply: %w", err))
		}
		code, more, lineText, ok := clientParseLine(line)
		if !ok {
			return rep, c.fail(fmt.Errorf("smtp: malformed reply line %s", clientQuote(string(line))))
		}
		if n == 0 {
			rep.code = code
		} else if code != rep.code {
			return rep, c.fail(fmt.Errorf("smtp: reply code %d in a multi-line reply of %d", code, rep.code))
		}
		if c.enhanced {
			// RFC 2034 §3: each line starts with the enhanced code.
			if enh, rest, ok := clientCutEnhanced(lineText, code); ok && (n == 0 || enh == rep.enhanced) {
				rep.enhanced, lineText = enh, rest
			}
		}
		if n > 0 {
			text.WriteByte('\n')
		}
		text.WriteString(lineText)
		if !more {
			rep.text = text.String()
			return rep, nil
		}
	}
}

// clientParseLine splits a reply line: Reply-code, then " " or "-" and
// text, or nothing (RFC 5321 §4.2). The code's first digit is 2 to 5 and
// its second 0 to 5 (§4.2.1). Control characters in the text become
// spaces, invalid UTF-8 U+FFFD.
func clientParseLine(line []byte) (code int, more bool, text string, ok bool) {
	if len(line) < 3 || line[0] < '2' || line[0] > '5' || line[1] < '0' || line[1] > '5' || line[2] < '0' || line[2] > '9' {
		return 0, false, "", false
	}
	code = int(line[0]-'0')*100 + int(line[1]-'0')*10 + int(line[2]-'0')
	if len(line) == 3 {
		return code, false, "", true
	}
	switch line[3] {
	case ' ':
	case '-':
		more = true
	default:
		return 0, false, "", false
	}
	b := bytes.Clone(line[4:])
	for i, c := range b {
		if c < ' ' || c == 0x7f {
			b[i] = ' '
		}
	}
	return code, more, strings.ToValidUTF8(string(b), "\uFFFD"), true
}

// clientCutEnhanced cuts an enhanced status code (RFC 3463 §2: class
// "." subject "." detail, class 2, 4 or 5 as the reply code's first digit,
// subject and detail of one to three digits) and the spaces after it from
// the start of text.
func clientCutEnhanced(text string, code int) (enh, rest string, ok bool) {
	class := code / 100
	if class != 2 && class != 4 && class != 5 || len(text) < 5 || text[0] != byte('0'+class) || text[1] != '.' {
		return "", text, false
	}
	i := 2
	for part := 0; part < 2; part++ {
		start := i
		for i < len(text) && i-start < 4 && '0' <= text[i] && text[i] <= '9' {
			i++
		}
		if n := i - start; n == 0 || n > 3 {
			return "", text, false
		}
		if part == 0 {
			if i == len(text) || text[i] != '.' {
				return "", text, false
			}
			i++
		}
	}
	if i < len(text) && text[i] != ' ' {
		return "", text, false
	}
	return text[:i], strings.TrimLeft(text[i:], " "), true
}

// clientQuote quotes server text for an error message, shortened.
func clientQuote(s string) string {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return strconv.Quote(s)
}
