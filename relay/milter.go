// Milter: a client of the Sendmail/Postfix mail filter protocol, version 6
// (libmilter's), through github.com/emersion/go-milter v0.5.0. It is what
// rspamd's proxy worker, spamass-milter, clamav-milter and OpenDKIM speak.
//
// Supported: option negotiation (the milter may turn off events and their
// replies); the connect, HELO, MAIL, RCPT, header, end-of-header, body and
// end-of-message events with the macros listed on Milter; abort and quit;
// the replies accept, continue, reject, tempfail, discard, a reply code
// (smfi_setreply, smfi_setmlreply), progress; the modifications add header,
// insert header and quarantine.
//
// Not supported: changing or deleting header fields, replacing the body,
// adding or removing recipients and changing the sender are offered to the
// milter (so that milters asking for them still negotiate) but ignored,
// and logged once per Milter. The DATA event (SMFIC_DATA) and unknown
// commands are not sent; skipping the rest of the body (SMFIP_SKIP, which
// go-milter cannot parse), reporting rejected recipients (SMFIP_RCPT_REJ)
// and header values with their leading space (SMFIP_HDR_LEADSPC) are not
// offered; protocol versions before 6 are not spoken.

package relay

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	milter "github.com/emersion/go-milter"

	"github.com/postyard/postyard/smtp"
)

// Default timeouts of a Milter, Postfix's (milter_connect_timeout,
// milter_command_timeout, milter_content_timeout).
const (
	DefaultMilterConnectTimeout = 30 * time.Second
	DefaultMilterCommandTimeout = 30 * time.Second
	DefaultMilterEOMTimeout     = 5 * time.Minute
)

// Milter is a Filter that hands each transaction to a mail filter speaking
// the milter protocol (version 6), as Postfix and Sendmail do: rspamd (its
// proxy worker with milter = yes), spamass-milter, clamav-milter, OpenDKIM.
//
// Each SMTP connection gets its own milter connection, opened at the first
// MAIL FROM (with the connect and HELO events) and closed with the SMTP
// connection. MAIL and RCPT are passed as they come; at the end of DATA the
// header fields (values unfolded into lines joined by LF, as Postfix sends
// them), then the body (CRLF line endings, in chunks of at most 65535
// octets) and the end-of-message event.
//
// The milter's replies become Verdicts: continue lets the next filter run;
// accept ends the milter's part in the transaction (the connection, if given
// at connect or HELO) and, unless AcceptEndsChain is set, lets the next
// filter run; reject and tempfail refuse (the recipient only, at RCPT),
// with the milter's reply text if it set one; discard drops the message;
// quarantine at end of message is ActionQuarantine. A reject or tempfail at
// connect or HELO refuses every MAIL FROM of the connection.
//
// Header fields the milter adds (add header, and insert header whatever its
// index) become Verdict.Headers: they are placed at the top of the message,
// not at the end of the header section where Postfix appends them.
// Changing or deleting fields, replacing the body and changing the envelope
// are ignored (see the file comment in milter.go), and logged once.
//
// Macros sent (Sendmail's names): at connect j, {daemon_name},
// {daemon_addr}, {daemon_port}, v, _, {client_addr}, {client_port},
// {client_name}, {client_ptr}; at HELO {tls_version} and {cipher} on a TLS
// connection; at MAIL i, {auth_authen}, {mail_addr}, {mail_host},
// {mail_mailer}; at RCPT {rcpt_addr}, {rcpt_host}, {rcpt_mailer}; at end
// of header and end of message i. The client is never looked up in the
// DNS: {client_name} is "unknown" and the connect event's host name is the
// address in brackets, as Sendmail gives for a client without a name. i is
// a random identifier of the transaction (the queue ID is not known yet).
//
// When the milter cannot be reached, times out or breaks the protocol,
// OnError decides. A Milter is safe for concurrent use; its fields must not
// change once it is in use, and it must not be copied.
type Milter struct {
	// Network and Address of the milter, as for net.Dial: "tcp",
	// "127.0.0.1:11332" or "unix", "/run/rspamd/milter.sock".
	Network, Address string
	// DialContext, if set, connects to the milter instead of a net.Dialer
	// (through a proxy, or to a test double).
	DialContext func(ctx context.Context, network, address string) (net.Conn, error)
	// ConnectTimeout bounds connecting and option negotiation;
	// CommandTimeout each other event; EOMTimeout the end of the message
	// (the milter's scan). Zero means DefaultMilterConnectTimeout (30 s),
	// DefaultMilterCommandTimeout (30 s) and DefaultMilterEOMTimeout
	// (5 min); negative means no limit but the context's. The context's
	// deadline applies in any case.
	ConnectTimeout, CommandTimeout, EOMTimeout time.Duration
	// OnError is what happens when the milter fails: ActionDefault or
	// ActionTempfail make the stage fail (451 4.7.1, the client retries);
	// ActionAccept lets the mail through as if the milter were not
	// configured; ActionReject and ActionQuarantine give that Verdict.
	// Postfix's milter_default_action.
	OnError Action
	// AcceptEndsChain makes the milter's accept an ActionAccept, which skips
	// the filters after this one for the rest of the transaction (as
	// Sendmail does). False (the default) makes it end only this milter's
	// part (as Postfix does).
	AcceptEndsChain bool
	// Hostname is the macro j (our host name). "" means os.Hostname().
	Hostname string
	// DaemonName is the macro {daemon_name}. "" means "postyard".
	DaemonName string
	// Logger; nil means slog.Default().
	Logger *slog.Logger

	// ignored records which unsupported modifications were logged.
	ignored [256]atomic.Bool
}

// milterActions are the modifications offered to milters: all that
// go-milter parses, so that milters asking for them negotiate.
const milterActions = milter.OptAddHeader | milter.OptChangeBody | milter.OptAddRcpt |
	milter.OptRemoveRcpt | milter.OptChangeHeader | milter.OptQuarantine | milter.OptChangeFrom

// milterProtocol are the protocol steps the milter may turn off: any event
// and any reply. SMFIP_SKIP is not offered: go-milter v0.5.0 does not parse
// the skip reply.
const milterProtocol = milter.OptNoConnect | milter.OptNoHelo | milter.OptNoMailFrom |
	milter.OptNoRcptTo | milter.OptNoBody | milter.OptNoHeaders | milter.OptNoEOH |
	milter.OptNoUnknown | milter.OptNoData | milter.OptNoHeaderReply |
	milter.OptNoConnReply | milter.OptNoHeloReply | milter.OptNoMailReply |
	milter.OptNoRcptReply | milter.OptNoDataReply | milter.OptNoUnknownReply |
	milter.OptNoEOHReply | milter.OptNoBodyReply

// NewSession implements Filter. The milter is connected to at the first
// MAIL FROM, so that connections that send no mail cost it nothing.
func (m *Milter) NewSession(ctx context.Context, c *smtp.ConnInfo) (FilterSession, error) {
	return &milterSession{m: m}, nil
}

func (m *Milter) logger() *slog.Logger {
	if m.Logger != nil {
		return m.Logger
	}
	return slog.Default()
}

func milterTimeout(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// fail is the Verdict or error for a failed milter.
func (m *Milter) fail(stage string, err error) (Verdict, error) {
	err = fmt.Errorf("milter %s %s: %s: %w", m.Network, m.Address, stage, err)
	return onToolError(m.logger(), m.OnError, err)
}

// ignore logs an unsupported modification the first time it is seen.
func (m *Milter) ignore(code milter.ModifyActCode, what, name string) {
	if !m.ignored[byte(code)].Swap(true) {
		m.logger().Warn("milter modification not supported; ignored (logged once)", "milter", m.Address, "modification", what, "field", name)
	}
}

// milterSession is a Milter's state for one SMTP connection.
type milterSession struct {
	m    *Milter
	raw  net.Conn
	cs   *milter.ClientSession
	helo string // the HELO name sent, to send it again if it changes

	// connVerdict is the milter's refusal at connect or HELO; connDone is
	// set when it accepted the connection.
	connVerdict *Verdict
	connDone    bool

	// The transaction's state: inTx from MAIL sent until the milter's
	// final reply; txVerdict once the milter decided for the message
	// (accept or discard before the end); txFailed after a failure.
	inTx      bool
	txVerdict *Verdict
	txFailed  error
	id        string
}

// toolAbandoned is a deadline in the past, to interrupt a blocked call.
var toolAbandoned = time.Unix(1, 0)

// call runs f with the connection's deadline set from timeout and ctx; the
// end of ctx interrupts it.
func (s *milterSession) call(ctx context.Context, timeout time.Duration, f func() error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var d time.Time
	if timeout > 0 {
		d = time.Now().Add(timeout)
	}
	if cd, ok := ctx.Deadline(); ok && (d.IsZero() || cd.Before(d)) {
		d = cd
	}
	raw := s.raw
	raw.SetDeadline(d)
	stop := context.AfterFunc(ctx, func() { raw.SetDeadline(toolAbandoned) })
	err := f()
	if !stop() && ctx.Err() != nil {
		err = errors.Join(ctx.Err(), err)
	}
	return err
}

// connect dials the milter and negotiates.
func (s *milterSession) connect(ctx context.Context) error {
	var cancel context.CancelFunc
	if t := milterTimeout(s.m.ConnectTimeout, DefaultMilterConnectTimeout); t > 0 {
		ctx, cancel = context.WithTimeoutCause(ctx, t, errors.New("connect timeout"))
	} else {
		ctx, cancel = context.WithCancel(ctx)
	}
	defer cancel()
	d := &milterDialer{ctx: ctx, dial: s.m.DialContext}
	c := milter.NewClientWithOptions(s.m.Network, s.m.Address, milter.ClientOptions{
		Dialer:       d,
		ActionMask:   milterActions,
		ProtocolMask: milterProtocol,
	})
	stop := context.AfterFunc(ctx, d.interrupt)
	cs, err := c.Session()
	stop()
	if err != nil {
		d.close() // go-milter leaves it open when negotiation fails
		if cause := context.Cause(ctx); cause != nil {
			err = errors.Join(cause, err)
		}
		return err
	}
	s.raw, s.cs = d.conn, cs
	return nil
}

// milterDialer dials with a context and keeps the connection, which
// go-milter does not expose.
type milterDialer struct {
	ctx  context.Context
	dial func(ctx context.Context, network, address string) (net.Conn, error)
	mu   sync.Mutex
	conn net.Conn
}

func (d *milterDialer) Dial(network, addr string) (net.Conn, error) {
	dial := d.dial
	if dial == nil {
		dial = new(net.Dialer).DialContext
	}
	c, err := dial(d.ctx, network, addr)
	if err != nil {
		return nil, err
	}
	if dl, ok := d.ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	d.mu.Lock()
	d.conn = c
	done := d.ctx.Err() != nil
	d.mu.Unlock()
	if done {
		c.SetDeadline(toolAbandoned)
	}
	return c, nil
}

func (d *milterDialer) interrupt() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.conn != nil {
		d.conn.SetDeadline(toolAbandoned)
	}
}

func (d *milterDialer) close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.conn != nil {
		d.conn.Close()
	}
}

// drop closes a connection that failed.
func (s *milterSession) drop() {
	if s.raw != nil {
		s.raw.Close()
	}
	s.raw, s.cs, s.helo = nil, nil, ""
}

func (s *milterSession) commandTimeout() time.Duration {
	return milterTimeout(s.m.CommandTimeout, DefaultMilterCommandTimeout)
}

// open connects and sends the connect and HELO events.
func (s *milterSession) open(ctx context.Context, c *smtp.ConnInfo) error {
	if err := s.connect(ctx); err != nil {
		return err
	}
	var act *milter.Action
	err := s.call(ctx, s.commandTimeout(), func() error {
		host, family, port, addr := milterClient(c.RemoteAddr)
		kv := []string{"j", s.m.hostname(), "{daemon_name}", s.m.daemonName(), "v", "postyard"}
		if ip, p, ok := milterTCPAddr(c.LocalAddr); ok {
			kv = append(kv, "{daemon_addr}", ip, "{daemon_port}", p)
		}
		if family != milter.FamilyUnknown {
			kv = append(kv, "_", host, "{client_addr}", addr, "{client_port}", strconv.Itoa(int(port)),
				"{client_name}", "unknown", "{client_ptr}", "unknown")
		}
		if err := s.cs.Macros(milter.CodeConn, kv...); err != nil {
			return err
		}
		var err error
		act, err = s.cs.Conn(host, family, port, addr)
		return err
	})
	if err != nil {
		return err
	}
	if s.connStage(act) {
		return nil
	}
	return s.sendHelo(ctx, c)
}

// sendHelo sends the HELO event (again, after a new EHLO).
func (s *milterSession) sendHelo(ctx context.Context, c *smtp.ConnInfo) error {
	var act *milter.Action
	err := s.call(ctx, s.commandTimeout(), func() error {
		var kv []string
		if c.TLS != nil {
			kv = append(kv, "{tls_version}", milterTLSVersion(c.TLS.Version), "{cipher}", tls.CipherSuiteName(c.TLS.CipherSuite))
		}
		if len(kv) > 0 {
			if err := s.cs.Macros(milter.CodeHelo, kv...); err != nil {
				return err
			}
		}
		var err error
		act, err = s.cs.Helo(c.Hello)
		return err
	})
	if err != nil {
		return err
	}
	s.helo = c.Hello
	s.connStage(act)
	return nil
}

// connStage records the milter's reply at connect or HELO; it reports
// whether the milter is done with the connection.
func (s *milterSession) connStage(act *milter.Action) bool {
	switch act.Code {
	case milter.ActAccept:
		s.connDone = true
	case milter.ActReject, milter.ActTempFail, milter.ActReplyCode:
		v := s.verdict(act, nil)
		s.connVerdict = &v
	default:
		return false
	}
	s.quit()
	return true
}

func (s *milterSession) quit() {
	if s.cs == nil {
		return
	}
	s.raw.SetDeadline(time.Now().Add(s.commandTimeout()))
	s.cs.Close()
	s.drop()
}

// Mail implements FilterSession.
func (s *milterSession) Mail(ctx context.Context, tx *Transaction) (Verdict, error) {
	if s.cs == nil && s.connVerdict == nil && !s.connDone {
		if err := s.open(ctx, tx.Conn); err != nil {
			s.drop()
			s.txFailed = err
			return s.m.fail("connect", err)
		}
	}
	switch {
	case s.connVerdict != nil:
		return *s.connVerdict, nil
	case s.connDone:
		return s.accepted(), nil
	}
	if tx.Conn.Hello != s.helo {
		if err := s.sendHelo(ctx, tx.Conn); err != nil {
			return s.failed("helo", err)
		}
		switch {
		case s.connVerdict != nil:
			return *s.connVerdict, nil
		case s.connDone:
			return s.accepted(), nil
		}
	}
	s.id = newMilterID()
	var act *milter.Action
	err := s.call(ctx, s.commandTimeout(), func() error {
		kv := []string{"i", s.id, "{mail_addr}", tx.From.String(), "{mail_mailer}", "smtp"}
		if tx.From.Domain != "" {
			kv = append(kv, "{mail_host}", tx.From.Domain)
		}
		if tx.Conn.User != "" {
			kv = append(kv, "{auth_authen}", tx.Conn.User)
		}
		if err := s.cs.Macros(milter.CodeMail, kv...); err != nil {
			return err
		}
		var err error
		act, err = s.cs.Mail(tx.From.String(), milterMailArgs(tx.Options))
		return err
	})
	if err != nil {
		return s.failed("mail", err)
	}
	s.inTx = true
	return s.envelopeStage(act), nil
}

// Rcpt implements FilterSession.
func (s *milterSession) Rcpt(ctx context.Context, tx *Transaction, to smtp.Path) (Verdict, error) {
	if v, ok := s.decided(); ok {
		return v, nil
	}
	if s.txFailed != nil || s.cs == nil {
		return s.m.fail("rcpt", milterErrOr(s.txFailed, errors.New("not connected")))
	}
	var act *milter.Action
	err := s.call(ctx, s.commandTimeout(), func() error {
		kv := []string{"{rcpt_addr}", to.String(), "{rcpt_mailer}", "smtp"}
		if to.Domain != "" {
			kv = append(kv, "{rcpt_host}", to.Domain)
		}
		if err := s.cs.Macros(milter.CodeRcpt, kv...); err != nil {
			return err
		}
		var err error
		act, err = s.cs.Rcpt(to.String(), nil)
		return err
	})
	if err != nil {
		return s.failed("rcpt", err)
	}
	return s.envelopeStage(act), nil
}

// decided returns the Verdict for a transaction the milter already decided
// on, or that it has no part in.
func (s *milterSession) decided() (Verdict, bool) {
	switch {
	case s.connVerdict != nil:
		return *s.connVerdict, true
	case s.connDone:
		return s.accepted(), true
	case s.txVerdict != nil:
		return *s.txVerdict, true
	}
	return Verdict{}, false
}

// envelopeStage maps the reply to MAIL or RCPT. Reject and tempfail at RCPT
// concern that recipient only; at MAIL they end the transaction, which the
// chain does by refusing MAIL.
func (s *milterSession) envelopeStage(act *milter.Action) Verdict {
	switch act.Code {
	case milter.ActAccept:
		v := s.accepted()
		s.txVerdict, s.inTx = &v, false
		return v
	case milter.ActDiscard:
		v := Verdict{Action: ActionDiscard, Reason: "milter: discard"}
		s.txVerdict, s.inTx = &v, false
		return v
	case milter.ActReject, milter.ActTempFail, milter.ActReplyCode:
		return s.verdict(act, nil)
	}
	return Verdict{}
}

func (s *milterSession) accepted() Verdict {
	if s.m.AcceptEndsChain {
		return Verdict{Action: ActionAccept, Reason: "milter: accept"}
	}
	return Verdict{}
}

// failed drops the connection after a failure in a transaction.
func (s *milterSession) failed(stage string, err error) (Verdict, error) {
	s.drop()
	s.txFailed = err
	s.inTx = false
	return s.m.fail(stage, err)
}

// Data implements FilterSession.
func (s *milterSession) Data(ctx context.Context, tx *Transaction, msg *Message) (Verdict, error) {
	if v, ok := s.decided(); ok {
		return v, nil
	}
	if s.txFailed != nil || s.cs == nil {
		return s.m.fail("data", milterErrOr(s.txFailed, errors.New("not connected")))
	}
	act, err := s.sendHeader(ctx, msg)
	if err != nil {
		return s.failed("header", err)
	}
	if act.Code != milter.ActContinue {
		s.inTx = false
		return s.final(act, nil), nil
	}
	var mods []milter.ModifyAction
	act, mods, err = s.sendBody(ctx, msg)
	if err != nil {
		return s.failed("body", err)
	}
	s.inTx = false
	return s.final(act, mods), nil
}

func milterErrOr(err, def error) error {
	if err != nil {
		return err
	}
	return def
}

// sendHeader sends the header fields and the end of the header.
func (s *milterSession) sendHeader(ctx context.Context, msg *Message) (*milter.Action, error) {
	var act *milter.Action
	err := s.call(ctx, s.commandTimeout(), func() error {
		if err := s.cs.Macros(milter.CodeEOH, "i", s.id); err != nil {
			return err
		}
		for name, value := range milterHeaderFields(msg.Header()) {
			var err error
			if act, err = s.cs.HeaderField(name, value); err != nil || act.Code != milter.ActContinue {
				return err
			}
		}
		var err error
		act, err = s.cs.HeaderEnd()
		return err
	})
	return act, err
}

// sendBody sends the body and the end of the message, and returns the
// milter's final reply and modifications.
func (s *milterSession) sendBody(ctx context.Context, msg *Message) (*milter.Action, []milter.ModifyAction, error) {
	var act *milter.Action
	var mods []milter.ModifyAction
	err := s.call(ctx, milterTimeout(s.m.EOMTimeout, DefaultMilterEOMTimeout), func() error {
		r := msg.Open()
		if _, err := io.CopyN(io.Discard, r, int64(len(msg.Header()))); err != nil {
			return err
		}
		buf := make([]byte, milter.MaxBodyChunk)
		for {
			n, err := io.ReadFull(r, buf)
			if n > 0 {
				a, err := s.cs.BodyChunk(buf[:n])
				if err != nil {
					return err
				}
				if a.Code != milter.ActContinue {
					act = a
					return nil
				}
			}
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				break
			}
			if err != nil {
				return err
			}
		}
		if err := s.cs.Macros(milter.CodeEOB, "i", s.id); err != nil {
			return err
		}
		var err error
		mods, act, err = s.cs.End()
		return err
	})
	return act, mods, err
}

// final maps the milter's reply at the end of the message and its
// modifications.
func (s *milterSession) final(act *milter.Action, mods []milter.ModifyAction) Verdict {
	var v Verdict
	quarantine := ""
	for _, mod := range mods {
		switch mod.Code {
		case milter.ActAddHeader, milter.ActInsertHeader:
			v.Headers = append(v.Headers, Field{Name: mod.HeaderName, Value: strings.TrimLeft(mod.HeaderValue, " \t")})
		case milter.ActQuarantine:
			quarantine = "milter: quarantine: " + mod.Reason
		case milter.ActChangeHeader:
			s.m.ignore(mod.Code, "change header", mod.HeaderName)
		case milter.ActReplBody:
			s.m.ignore(mod.Code, "replace body", "")
		case milter.ActAddRcpt:
			s.m.ignore(mod.Code, "add recipient", "")
		case milter.ActDelRcpt:
			s.m.ignore(mod.Code, "delete recipient", "")
		case milter.ActChangeFrom:
			s.m.ignore(mod.Code, "change sender", "")
		}
	}
	switch act.Code {
	case milter.ActReject, milter.ActTempFail, milter.ActReplyCode:
		return s.verdict(act, v.Headers)
	case milter.ActDiscard:
		v.Action, v.Reason = ActionDiscard, "milter: discard"
	case milter.ActAccept:
		v.Action = s.accepted().Action
		v.Reason = "milter: accept"
	}
	if quarantine != "" {
		v.Action, v.Reason = ActionQuarantine, quarantine
	}
	return v
}

// verdict maps reject, tempfail and a reply code.
func (s *milterSession) verdict(act *milter.Action, headers []Field) Verdict {
	switch act.Code {
	case milter.ActReject:
		return Verdict{Action: ActionReject, Reason: "milter: reject"}
	case milter.ActTempFail:
		return Verdict{Action: ActionTempfail, Reason: "milter: tempfail"}
	}
	r := milterReply(act.SMTPCode, act.SMTPText)
	if r == nil {
		s.m.logger().Warn("milter reply code not 4xx or 5xx; continuing", "milter", s.m.Address, "code", act.SMTPCode)
		return Verdict{Headers: headers}
	}
	v := Verdict{Action: ActionReject, Reply: r, Reason: "milter: " + strconv.Itoa(r.Code) + " " + r.Message}
	if r.Code/100 == 4 {
		v.Action = ActionTempfail
	}
	return v
}

// milterReply makes the reply a milter set (smfi_setreply, or
// smfi_setmlreply whose lines are joined), nil if code is not a 4xx or
// 5xx.
func milterReply(code int, text string) *smtp.Error {
	if code < 400 || code > 599 {
		return nil
	}
	var enh string
	var words []string
	for i, line := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n") {
		if i > 0 {
			// Continuation lines of smfi_setmlreply start "NNN-" or "NNN ".
			if len(line) >= 4 && line[:3] == strconv.Itoa(code) && (line[3] == '-' || line[3] == ' ') {
				line = line[4:]
			}
		}
		line = strings.TrimSpace(line)
		if e, rest, ok := strings.Cut(line, " "); ok || rest == "" {
			if milterEnhancedCode(e, code/100) {
				if enh == "" {
					enh = e
				}
				line = strings.TrimSpace(rest)
			}
		}
		if line != "" {
			words = append(words, line)
		}
	}
	msg := strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, strings.Join(words, " "))
	if len(msg) > 400 {
		msg = msg[:400]
	}
	if msg == "" {
		msg = "Message refused by filter"
	}
	return &smtp.Error{Code: code, EnhancedCode: enh, Message: msg}
}

// isEnhancedCode reports whether s is class.subject.detail (RFC 3463).
func milterEnhancedCode(s string, class int) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 3 || parts[0] != strconv.Itoa(class) {
		return false
	}
	for _, p := range parts[1:] {
		if len(p) < 1 || len(p) > 3 {
			return false
		}
		for _, c := range p {
			if c < '0' || c > '9' {
				return false
			}
		}
	}
	return true
}

// Reset implements FilterSession: a transaction the milter has not ended is
// aborted.
func (s *milterSession) Reset(ctx context.Context) {
	if s.inTx && s.cs != nil {
		if err := s.call(ctx, s.commandTimeout(), s.cs.Abort); err != nil {
			s.drop()
		}
	}
	s.inTx, s.txVerdict, s.txFailed, s.id = false, nil, nil, ""
}

// Close implements FilterSession.
func (s *milterSession) Close() error {
	s.quit()
	return nil
}

func (m *Milter) hostname() string {
	if m.Hostname != "" {
		return m.Hostname
	}
	if h, err := os.Hostname(); err == nil {
		return h
	}
	return "localhost"
}

func (m *Milter) daemonName() string {
	if m.DaemonName != "" {
		return m.DaemonName
	}
	return "postyard"
}

// milterClient gives the connect event's fields for the client address.
func milterClient(a net.Addr) (host string, family milter.ProtoFamily, port uint16, addr string) {
	ta, ok := a.(*net.TCPAddr)
	if !ok || ta.IP == nil {
		return "localhost", milter.FamilyUnknown, 0, ""
	}
	ip := ta.AddrPort().Addr().Unmap()
	family = milter.FamilyInet
	if ip.Is6() {
		family = milter.FamilyInet6
	}
	return "[" + ip.String() + "]", family, uint16(ta.Port), ip.String()
}

func milterTCPAddr(a net.Addr) (ip, port string, ok bool) {
	ta, ok := a.(*net.TCPAddr)
	if !ok || ta.IP == nil {
		return "", "", false
	}
	return ta.AddrPort().Addr().Unmap().String(), strconv.Itoa(ta.Port), true
}

func milterTLSVersion(v uint16) string {
	switch v {
	case tls.VersionTLS10:
		return "TLSv1"
	case tls.VersionTLS11:
		return "TLSv1.1"
	case tls.VersionTLS12:
		return "TLSv1.2"
	case tls.VersionTLS13:
		return "TLSv1.3"
	}
	return tls.VersionName(v)
}

// mailArgs are the ESMTP parameters of MAIL passed to the milter.
func milterMailArgs(o *smtp.MailOptions) []string {
	if o == nil {
		return nil
	}
	var args []string
	if o.Size > 0 {
		args = append(args, "SIZE="+strconv.FormatInt(o.Size, 10))
	}
	if o.Body != "" {
		args = append(args, "BODY="+string(o.Body))
	}
	if o.UTF8 {
		args = append(args, "SMTPUTF8")
	}
	if o.RequireTLS {
		args = append(args, "REQUIRETLS")
	}
	return args
}

func newMilterID() string {
	var b [6]byte
	rand.Read(b[:])
	return strings.ToUpper(hex.EncodeToString(b[:]))
}

// headerFields yields the fields of a header section: the name, and the
// value without the space after the colon, its lines joined by LF (the
// CR removed), as Sendmail and Postfix pass them to milters. A line that is
// not a field (no colon) is passed with an empty value under its text, so
// nothing is hidden from the milter.
func milterHeaderFields(hdr []byte) iter.Seq2[string, string] {
	return func(yield func(name, value string) bool) {
		var name string
		var value []byte
		have := false
		flush := func() bool {
			if !have {
				return true
			}
			have = false
			return yield(name, string(value))
		}
		sc := bufio.NewScanner(bytes.NewReader(hdr))
		sc.Buffer(nil, len(hdr)+1)
		for sc.Scan() {
			line := bytes.TrimSuffix(sc.Bytes(), []byte("\r"))
			if len(line) == 0 {
				break // the end of the header section
			}
			if line[0] == ' ' || line[0] == '\t' {
				if have {
					value = append(append(value, '\n'), line...)
					continue
				}
			}
			if !flush() {
				return
			}
			n, v, ok := bytes.Cut(line, []byte(":"))
			if !ok {
				n, v = line, nil
			}
			name = string(bytes.TrimRight(n, " \t"))
			value = append([]byte(nil), bytes.TrimLeft(v, " \t")...)
			have = true
		}
		flush()
	}
}
