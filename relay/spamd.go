// Spamd: a client of SpamAssassin's spamd, SPAMC/SPAMD protocol 1.5.
//
// Supported: the HEADERS request with Content-length and User headers; the
// response's status line, Spam header (verdict, score, threshold) and the
// X-Spam-* header fields SpamAssassin adds, which are copied to the
// message; skipping messages larger than MaxSize, as spamc does.
//
// Not supported: the other requests (CHECK, SYMBOLS, REPORT, PROCESS, PING,
// TELL for learning), compression (Compress: zlib), TLS to spamd (spamc -S),
// and rewriting the message (report_safe): the message is never changed,
// only header fields are added.

package relay

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/postyard/postyard/smtp"
)

// Defaults of a Spamd.
const (
	// DefaultSpamdTimeout bounds one check.
	DefaultSpamdTimeout = 2 * time.Minute
	// DefaultSpamdMaxSize is spamc's default size limit (-s): 500 KiB.
	DefaultSpamdMaxSize = 500 << 10
)

// ErrSpamRejected is Spamd's default reply for a message it rejects.
var ErrSpamRejected = &smtp.Error{Code: 550, EnhancedCode: "5.7.1", Message: "Message rejected as spam"}

// Spamd is a Filter that asks SpamAssassin's spamd about each message at
// the end of DATA (SPAMC/SPAMD protocol 1.5, the HEADERS request). It opens
// one spamd connection per message; MAIL and RCPT are not checked.
//
// A message spamd calls spam gets SpamAction (quarantine by default), or
// ActionReject if its score reaches RejectScore. Every checked message gets
// the X-Spam-* header fields spamd's configuration adds (by default
// X-Spam-Checker-Version, X-Spam-Level, X-Spam-Status, and X-Spam-Flag for
// spam), at the top of the message; if spamd sends no X-Spam-Status, one
// is made from the score: "Yes, score=7.3 required=5.0".
//
// A message larger than MaxSize is not checked and passes unmarked, as
// with spamc. When spamd cannot be reached, times out or answers with an
// error, OnError decides. A Spamd is safe for concurrent use; its fields
// must not change once it is in use.
type Spamd struct {
	// Network and Address of spamd, as for net.Dial: "tcp",
	// "127.0.0.1:783" or "unix", "/run/spamd.sock".
	Network, Address string
	// DialContext, if set, connects instead of a net.Dialer.
	DialContext func(ctx context.Context, network, address string) (net.Conn, error)
	// User is sent in the User header: whose preferences spamd applies.
	// "" sends none (spamd's default user).
	User string
	// Timeout bounds a check, connecting included. Zero means
	// DefaultSpamdTimeout (2 min); negative means no limit but the
	// context's.
	Timeout time.Duration
	// MaxSize is the largest message checked, in octets. Zero means
	// DefaultSpamdMaxSize (500 KiB); negative means no limit.
	MaxSize int64
	// SpamAction is the Verdict for spam: ActionDefault means
	// ActionQuarantine; ActionReject refuses it (with Reply).
	SpamAction Action
	// RejectScore, if positive, rejects messages whose score is at least
	// this, whatever SpamAction says (quarantine at spamd's threshold,
	// reject far above it).
	RejectScore float64
	// Reply is sent when spam is rejected; nil means ErrSpamRejected
	// (550 5.7.1).
	Reply *smtp.Error
	// OnError is what happens when spamd fails: ActionDefault or
	// ActionTempfail make the stage fail (451 4.7.1); ActionAccept lets
	// the message through unchecked; ActionReject and ActionQuarantine
	// give that Verdict.
	OnError Action
	// Logger; nil means slog.Default().
	Logger *slog.Logger
}

// NewSession implements Filter.
func (sd *Spamd) NewSession(ctx context.Context, c *smtp.ConnInfo) (FilterSession, error) {
	return (&FilterFuncs{Data: sd.check}).NewSession(ctx, c)
}

func (sd *Spamd) logger() *slog.Logger {
	if sd.Logger != nil {
		return sd.Logger
	}
	return slog.Default()
}

// spamdResult is spamd's answer.
type spamdResult struct {
	spam             bool
	score, threshold float64
	fields           []Field
}

func (sd *Spamd) check(ctx context.Context, tx *Transaction, msg *Message) (Verdict, error) {
	max := sd.MaxSize
	if max == 0 {
		max = DefaultSpamdMaxSize
	}
	if max > 0 && msg.Size() > max {
		sd.logger().Debug("spamd: message not checked: larger than MaxSize", "size", msg.Size(), "max", max)
		return Verdict{}, nil
	}
	res, err := sd.ask(ctx, msg)
	if err != nil {
		err = fmt.Errorf("spamd %s %s: %w", sd.Network, sd.Address, err)
		return onToolError(sd.logger(), sd.OnError, err)
	}
	v := Verdict{Headers: res.fields, Reason: fmt.Sprintf("spamd: score %.1f/%.1f", res.score, res.threshold)}
	if !res.spam {
		return v, nil
	}
	v.Action = sd.SpamAction
	if v.Action == ActionDefault {
		v.Action = ActionQuarantine
	}
	if sd.RejectScore > 0 && res.score >= sd.RejectScore {
		v.Action = ActionReject
	}
	if v.Action == ActionReject {
		v.Reply = sd.Reply
		if v.Reply == nil {
			v.Reply = ErrSpamRejected
		}
	}
	return v, nil
}

// onToolError is the Verdict or error for a tool that failed, by onError.
func onToolError(log *slog.Logger, onError Action, err error) (Verdict, error) {
	switch onError {
	case ActionDefault, ActionTempfail:
		return Verdict{}, err
	case ActionAccept:
		log.Warn("filter failed; message let through unchecked", "err", err)
		return Verdict{}, nil
	}
	return Verdict{Action: onError, Reason: err.Error()}, nil
}

// dialTool connects to a tool for one exchange bounded by timeout (zero:
// def; negative: none) and ctx's deadline; the end of ctx interrupts it.
// stop must be called when the exchange is over; it reports ctx's error
// if ctx ended it.
func dialTool(ctx context.Context, dial func(context.Context, string, string) (net.Conn, error), network, address string, timeout, def time.Duration) (c net.Conn, stop func() error, err error) {
	if timeout == 0 {
		timeout = def
	}
	cancel := func() {}
	if timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, timeout)
	}
	if dial == nil {
		dial = new(net.Dialer).DialContext
	}
	c, err = dial(ctx, network, address)
	if err != nil {
		cancel()
		return nil, nil, err
	}
	if d, ok := ctx.Deadline(); ok {
		c.SetDeadline(d)
	}
	after := context.AfterFunc(ctx, func() { c.SetDeadline(toolAbandoned) })
	return c, func() error {
		after()
		err := ctx.Err()
		cancel()
		return err
	}, nil
}

// ask sends msg to spamd and reads its answer.
func (sd *Spamd) ask(ctx context.Context, msg *Message) (*spamdResult, error) {
	c, stop, err := dialTool(ctx, sd.DialContext, sd.Network, sd.Address, sd.Timeout, DefaultSpamdTimeout)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	res, err := sd.exchange(c, msg)
	if cerr := stop(); cerr != nil && err != nil {
		err = errors.Join(cerr, err)
	}
	return res, err
}

func (sd *Spamd) exchange(c net.Conn, msg *Message) (*spamdResult, error) {
	bw := bufio.NewWriter(c)
	fmt.Fprintf(bw, "HEADERS SPAMC/1.5\r\nContent-length: %d\r\n", msg.Size())
	if u := sd.User; u != "" && !strings.ContainsAny(u, "\r\n") {
		fmt.Fprintf(bw, "User: %s\r\n", u)
	}
	bw.WriteString("\r\n")
	if _, err := io.Copy(bw, msg.Open()); err != nil {
		return nil, err
	}
	if err := bw.Flush(); err != nil {
		return nil, err
	}
	// The response: at most the header section sent back, plus 64 KiB.
	limit := int64(len(msg.Header())) + 64<<10
	return readSpamdResponse(io.LimitReader(c, limit+4096))
}

// readSpamdResponse parses a response to HEADERS:
//
//	SPAMD/1.1 0 EX_OK
//	Content-length: 565
//	Spam: True ; 1005.2 / 5.0
//
//	<the message's header section, with spamd's fields>
func readSpamdResponse(r io.Reader) (*spamdResult, error) {
	br := bufio.NewReader(r)
	line, err := readSpamdLine(br)
	if err != nil {
		return nil, err
	}
	proto, rest, _ := strings.Cut(line, " ")
	code, text, _ := strings.Cut(rest, " ")
	if !strings.HasPrefix(proto, "SPAMD/") {
		return nil, fmt.Errorf("not a spamd response: %.100q", line)
	}
	if code != "0" {
		return nil, fmt.Errorf("spamd error %s %.100s", code, text)
	}
	res := &spamdResult{}
	length, haveSpam := int64(-1), false
	for {
		line, err := readSpamdLine(br)
		if err != nil {
			return nil, err
		}
		if line == "" {
			break
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("bad spamd response header %.100q", line)
		}
		value = strings.TrimSpace(value)
		switch strings.ToLower(name) {
		case "content-length":
			if length, err = strconv.ParseInt(value, 10, 64); err != nil || length < 0 {
				return nil, fmt.Errorf("bad spamd Content-length %.100q", value)
			}
		case "spam":
			// "True ; 1005.2 / 5.0"
			flag, nums, _ := strings.Cut(value, ";")
			score, threshold, _ := strings.Cut(nums, "/")
			res.score, err = strconv.ParseFloat(strings.TrimSpace(score), 64)
			if err == nil {
				res.threshold, err = strconv.ParseFloat(strings.TrimSpace(threshold), 64)
			}
			if err != nil {
				return nil, fmt.Errorf("bad spamd Spam header %.100q", value)
			}
			switch strings.ToLower(strings.TrimSpace(flag)) {
			case "true", "yes":
				res.spam = true
			case "false", "no":
			default:
				return nil, fmt.Errorf("bad spamd Spam header %.100q", value)
			}
			haveSpam = true
		}
	}
	if !haveSpam {
		return nil, errors.New("spamd response without a Spam header")
	}
	var body []byte
	if length >= 0 {
		body = make([]byte, length)
		_, err = io.ReadFull(br, body)
	} else {
		body, err = io.ReadAll(br)
	}
	if err != nil {
		return nil, fmt.Errorf("reading spamd's headers: %w", err)
	}
	haveStatus := false
	for name, value := range milterHeaderFields(body) {
		if len(name) > 7 && strings.EqualFold(name[:7], "X-Spam-") {
			res.fields = append(res.fields, Field{Name: name, Value: value})
			haveStatus = haveStatus || strings.EqualFold(name, "X-Spam-Status")
		}
	}
	if !haveStatus {
		yes := "No"
		if res.spam {
			yes = "Yes"
		}
		res.fields = append(res.fields, Field{Name: "X-Spam-Status", Value: fmt.Sprintf("%s, score=%.1f required=%.1f", yes, res.score, res.threshold)})
	}
	return res, nil
}

// readSpamdLine reads a CRLF- or LF-terminated line of at most 1000 octets.
func readSpamdLine(br *bufio.Reader) (string, error) {
	var b []byte
	for {
		part, isPrefix, err := br.ReadLine()
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return "", fmt.Errorf("reading spamd's response: %w", err)
		}
		b = append(b, part...)
		if len(b) > 1000 {
			return "", errors.New("spamd response line too long")
		}
		if !isPrefix {
			return string(b), nil
		}
	}
}
