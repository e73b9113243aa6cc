// Clamd: a client of ClamAV's clamd, its INSTREAM command.
//
// Supported: zINSTREAM (the message in chunks, each preceded by its length
// as 4 octets in network order, ended by a zero length; the reply
// NUL-terminated) over TCP or a Unix socket; the replies "stream: OK",
// "stream: <name> FOUND", "INSTREAM size limit exceeded" (clamd's
// StreamMaxLength) and other errors.
//
// Not supported: the other commands (SCAN, CONTSCAN, MULTISCAN with paths,
// FILDES, the session mode IDSESSION/END, PING, VERSION, STATS, RELOAD):
// one connection scans one message.

package relay

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/postyard/postyard/smtp"
)

// Defaults of a Clamd.
const (
	// DefaultClamdTimeout bounds one scan.
	DefaultClamdTimeout = 2 * time.Minute
	// DefaultClamdMaxSize is clamd's default StreamMaxLength: 25 MiB.
	DefaultClamdMaxSize = 25 << 20
)

// clamdChunk is the size of the chunks sent to clamd.
const clamdChunk = 64 << 10

// ErrClamdTooBig is returned (wrapped) by a scan that clamd refused
// because the message exceeds its StreamMaxLength.
var ErrClamdTooBig = errors.New("clamd: INSTREAM size limit exceeded")

// Clamd is a Filter that has ClamAV's clamd scan each message at the end
// of DATA (its INSTREAM command), one clamd connection per message; MAIL
// and RCPT are not checked.
//
// A message with a virus gets VirusAction: ActionReject by default, with
// 554 5.7.1 naming the virus ("Virus found: Eicar-Signature"). A clean
// message passes (ActionDefault), with an X-Virus-Scanned field if Scanned
// is set.
//
// A message larger than MaxSize, or than clamd's StreamMaxLength when that
// is smaller, is not scanned: TooBig decides. When clamd cannot be
// reached, times out or answers with an error, OnError decides. A Clamd is
// safe for concurrent use; its fields must not change once it is in use.
type Clamd struct {
	// Network and Address of clamd, as for net.Dial: "unix",
	// "/run/clamav/clamd.ctl" or "tcp", "127.0.0.1:3310".
	Network, Address string
	// DialContext, if set, connects instead of a net.Dialer.
	DialContext func(ctx context.Context, network, address string) (net.Conn, error)
	// Timeout bounds a scan, connecting included. Zero means
	// DefaultClamdTimeout (2 min); negative means no limit but the
	// context's.
	Timeout time.Duration
	// MaxSize is the largest message sent to clamd, in octets; set it to
	// clamd's StreamMaxLength. Zero means DefaultClamdMaxSize (25 MiB,
	// clamd's default); negative means no limit.
	MaxSize int64
	// VirusAction is the Verdict for a message with a virus: ActionDefault
	// means ActionReject (554 5.7.1 naming the virus); ActionQuarantine
	// and ActionDiscard are the alternatives.
	VirusAction Action
	// TooBig is the Verdict for a message too large to scan: ActionDefault
	// lets it through unscanned (as clamav-milter does), logged;
	// ActionReject refuses it with 552 5.3.4, ActionTempfail with 452
	// 4.3.4; ActionQuarantine quarantines it.
	TooBig Action
	// Scanned, if not "", is the value of an X-Virus-Scanned field added to
	// clean messages ("ClamAV at mx.example.org", say).
	Scanned string
	// OnError is what happens when clamd fails: ActionDefault or
	// ActionTempfail make the stage fail (451 4.7.1); ActionAccept lets
	// the message through unscanned; ActionReject and ActionQuarantine
	// give that Verdict.
	OnError Action
	// Logger; nil means slog.Default().
	Logger *slog.Logger
}

// NewSession implements Filter.
func (cd *Clamd) NewSession(ctx context.Context, c *smtp.ConnInfo) (FilterSession, error) {
	return (&FilterFuncs{Data: cd.check}).NewSession(ctx, c)
}

func (cd *Clamd) logger() *slog.Logger {
	if cd.Logger != nil {
		return cd.Logger
	}
	return slog.Default()
}

func (cd *Clamd) check(ctx context.Context, tx *Transaction, msg *Message) (Verdict, error) {
	max := cd.MaxSize
	if max == 0 {
		max = DefaultClamdMaxSize
	}
	var virus string
	err := ErrClamdTooBig
	if max < 0 || msg.Size() <= max {
		virus, err = cd.scan(ctx, msg.Open())
	}
	switch {
	case errors.Is(err, ErrClamdTooBig):
		return cd.tooBig(msg.Size())
	case err != nil:
		err = fmt.Errorf("clamd %s %s: %w", cd.Network, cd.Address, err)
		return onToolError(cd.logger(), cd.OnError, err)
	case virus == "":
		if cd.Scanned == "" {
			return Verdict{}, nil
		}
		return Verdict{Headers: []Field{{Name: "X-Virus-Scanned", Value: cd.Scanned}}}, nil
	}
	v := Verdict{Action: cd.VirusAction, Reason: "clamd: virus found: " + virus}
	if v.Action == ActionDefault {
		v.Action = ActionReject
	}
	if v.Action == ActionReject {
		v.Reply = &smtp.Error{Code: 554, EnhancedCode: "5.7.1", Message: "Virus found: " + virus}
	}
	return v, nil
}

func (cd *Clamd) tooBig(size int64) (Verdict, error) {
	v := Verdict{Action: cd.TooBig, Reason: fmt.Sprintf("clamd: message of %d octets too large to scan", size)}
	switch cd.TooBig {
	case ActionDefault:
		cd.logger().Warn("clamd: message too large to scan; let through unscanned", "size", size)
	case ActionReject:
		v.Reply = &smtp.Error{Code: 552, EnhancedCode: "5.3.4", Message: "Message too large to scan"}
	case ActionTempfail:
		v.Reply = &smtp.Error{Code: 452, EnhancedCode: "4.3.4", Message: "Message too large to scan"}
	}
	return v, nil
}

// scan streams r to clamd and returns the name of the virus found, "" for
// a clean message.
func (cd *Clamd) scan(ctx context.Context, r io.Reader) (string, error) {
	c, stop, err := dialTool(ctx, cd.DialContext, cd.Network, cd.Address, cd.Timeout, DefaultClamdTimeout)
	if err != nil {
		return "", err
	}
	defer c.Close()
	virus, err := clamdExchange(c, r)
	if cerr := stop(); cerr != nil && err != nil {
		err = errors.Join(cerr, err)
	}
	return virus, err
}

// clamdExchange sends the stream and reads the reply. The reply is read
// while the stream is sent: clamd answers and closes the connection as soon
// as the stream exceeds its StreamMaxLength.
func clamdExchange(c net.Conn, r io.Reader) (string, error) {
	type result struct {
		reply string
		err   error
	}
	replies := make(chan result, 1)
	go func() {
		reply, err := readClamdReply(c)
		replies <- result{reply, err}
	}()
	werr := writeClamdStream(c, r)
	var ne net.Error
	if werr != nil && !(errors.As(werr, &ne) && ne.Timeout()) {
		// clamd may have answered and closed early (its size limit): give
		// the reader a moment to get the reply.
		c.SetReadDeadline(time.Now().Add(time.Second))
	}
	res := <-replies
	if res.err != nil {
		if werr != nil {
			return "", werr
		}
		return "", res.err
	}
	return parseClamdReply(res.reply)
}

// writeClamdStream writes "zINSTREAM\0", r in chunks with their lengths,
// and the zero length that ends the stream.
func writeClamdStream(w io.Writer, r io.Reader) error {
	bw := bufio.NewWriterSize(w, clamdChunk+4)
	bw.WriteString("zINSTREAM\x00")
	buf := make([]byte, clamdChunk)
	for {
		n, err := io.ReadFull(r, buf)
		if n > 0 {
			var l [4]byte
			binary.BigEndian.PutUint32(l[:], uint32(n))
			bw.Write(l[:])
			if _, werr := bw.Write(buf[:n]); werr != nil {
				return werr
			}
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return err
		}
	}
	bw.Write([]byte{0, 0, 0, 0})
	return bw.Flush()
}

// readClamdReply reads a NUL-terminated reply of at most 4096 octets (or
// one ended by the connection's end).
func readClamdReply(r io.Reader) (string, error) {
	var b []byte
	buf := make([]byte, 512)
	for {
		n, err := r.Read(buf)
		b = append(b, buf[:n]...)
		if i := bytes.IndexByte(b, 0); i >= 0 {
			return string(b[:i]), nil
		}
		if len(b) > 4096 {
			return "", errors.New("clamd reply too long")
		}
		if err == io.EOF && len(b) > 0 {
			return string(b), nil
		}
		if err == io.EOF {
			return "", errors.New("clamd closed the connection without a reply")
		}
		if err != nil {
			return "", err
		}
	}
}

// parseClamdReply maps "stream: OK", "stream: Name FOUND", "INSTREAM size
// limit exceeded. ERROR" and "... ERROR".
func parseClamdReply(reply string) (string, error) {
	reply = strings.TrimRight(reply, "\r\n")
	body, _ := strings.CutPrefix(reply, "stream: ")
	switch {
	case body == "OK":
		return "", nil
	case strings.HasSuffix(body, " FOUND"):
		name := strings.TrimSpace(strings.TrimSuffix(body, " FOUND"))
		if name == "" {
			return "", fmt.Errorf("bad clamd reply %.100q", reply)
		}
		return clamdVirusName(name), nil
	case strings.Contains(reply, "size limit exceeded"):
		return "", ErrClamdTooBig
	case strings.HasSuffix(body, " ERROR"):
		return "", fmt.Errorf("clamd error: %.200s", strings.TrimSuffix(body, " ERROR"))
	}
	return "", fmt.Errorf("bad clamd reply %.100q", reply)
}

// sanitizeVirusName keeps a name fit for an SMTP reply: printable ASCII,
// at most 100 octets.
func clamdVirusName(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c < 0x21 || c > 0x7e {
			b[i] = '?'
		}
	}
	if len(b) > 100 {
		b = b[:100]
	}
	return string(b)
}
