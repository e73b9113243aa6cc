package queue

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-message"
	"github.com/postyard/postyard/smtp"
)

// Limits on what a report copies from its input.
const (
	reportMaxHeader = 256 << 10 // returned header section, octets
	reportMaxText   = 500       // one field value from a DeliveryError, octets
)

// Report is a delivery status notification (DSN, RFC 3464) about some
// recipients of one message, all with the same Action: a
// multipart/report (RFC 6522) with a human-readable part, a
// message/delivery-status part (message/global-delivery-status under
// RFC 6533 when the envelope is internationalized), and the returned
// message or its header.
//
// A Report is a plain value; build it, then call [Report.Envelope] and
// [Report.Write]. Queues do this through [SendReports].
type Report struct {
	// Message is the record of the message reported on, after [Settle]:
	// the recipients' states, errors and attempt times are taken from it.
	Message *Message
	// Action and Recipients (indexes) say what is reported.
	Action     Action
	Recipients []int
	// Hostname names the reporting MTA (Reporting-MTA, From:
	// MAILER-DAEMON@Hostname). Required.
	Hostname string
	// Date is the report's Date; zero means time.Now().
	Date time.Time
	// Deadline, if set, is given as Will-Retry-Until for delayed
	// recipients (RFC 3464 §2.3.9).
	Deadline time.Time
	// ReturnLimit is the largest content returned in full; a larger
	// message has only its header returned. Zero means 1 MiB; negative
	// means no limit.
	ReturnLimit int64
}

// Global reports whether the report is internationalized (RFC 6533): the
// envelope needs SMTPUTF8.
func (r *Report) Global() bool { return r.Message.Envelope.UTF8() }

// ReturnsContent reports whether the report returns the whole message
// rather than its header: only failure reports do, when RET is not HDRS
// (RFC 3461 §4.3; without RET the queue returns the content), the message
// did not ask for REQUIRETLS (RFC 8689 §5), is not BINARYMIME (which
// cannot be returned as message/rfc822 over 8BITMIME), and is not larger
// than ReturnLimit.
func (r *Report) ReturnsContent() bool {
	env := &r.Message.Envelope
	limit := r.ReturnLimit
	if limit == 0 {
		limit = DefaultReturnLimit
	}
	return r.Action == ActionFailed &&
		env.Options.Return != smtp.DSNReturnHeaders &&
		!env.Options.RequireTLS &&
		env.Options.Body != smtp.BodyBinaryMIME &&
		(limit < 0 || r.Message.Size <= limit)
}

// Envelope returns the envelope to enqueue the report with: the null
// reverse-path (so that it is never reported on itself, RFC 3461 §6.2),
// the original reverse-path as the only recipient, SMTPUTF8 if the report
// is internationalized, BODY=8BITMIME if it may contain 8-bit data, and
// REQUIRETLS if the original had it (RFC 8689 §5). It returns nil for a
// message with the null reverse-path: such messages get no report.
func (r *Report) Envelope() *Envelope {
	orig := &r.Message.Envelope
	if orig.From.IsNull() {
		return nil
	}
	env := &Envelope{
		Recipients: []Recipient{{To: orig.From, Options: smtp.RcptOptions{Notify: smtp.NotifyNever}}},
	}
	env.Recipients[0].To.SourceRoute = nil
	env.Options.UTF8 = r.Global()
	env.Options.RequireTLS = orig.Options.RequireTLS
	if env.Options.UTF8 || r.ReturnsContent() && orig.Options.Body == smtp.Body8BitMIME {
		env.Options.Body = smtp.Body8BitMIME
	}
	return env
}

// subjects of reports, by Action.
var reportSubjects = map[Action]string{
	ActionFailed:    "Undelivered Mail Returned to Sender",
	ActionDelayed:   "Delayed Mail (still being retried)",
	ActionDelivered: "Successful Mail Delivery Report",
	ActionRelayed:   "Mail Relayed Without Further Reports",
	ActionExpanded:  "Mail Delivered to an Alias",
}

// Write writes the report as an Internet message with CRLF line endings
// to w. content is the reported message's content; Write reads it
// (streaming, never whole into memory) to return it or its header, and
// does not close it. The content is copied byte for byte, except that a
// line longer than 998 octets is broken and a bare LF becomes CRLF, so
// that the report is a valid message even if the content is not. A
// returned header is cut after 256 KiB, at a line end. content may be
// nil, in which case nothing is returned and the report has two parts.
func (r *Report) Write(w io.Writer, content io.Reader) error {
	if r.Hostname == "" {
		return errors.New("queue: Report.Hostname not set")
	}
	m := r.Message
	global := r.Global()
	date := r.Date
	if date.IsZero() {
		date = time.Now()
	}

	var h message.Header
	h.Set("From", "Mail Delivery System <MAILER-DAEMON@"+r.Hostname+">")
	h.Set("To", "<"+r.text(m.Envelope.From.String())+">")
	subject := reportSubjects[r.Action]
	if subject == "" {
		subject = "Delivery Status Notification"
	}
	h.Set("Subject", subject)
	h.Set("Date", date.Format(time.RFC1123Z))
	h.Set("Message-ID", "<"+string(NewID(date))+"@"+r.Hostname+">")
	h.Set("Auto-Submitted", "auto-replied") // RFC 3834 §5
	h.Set("MIME-Version", "1.0")
	h.SetContentType("multipart/report", map[string]string{"report-type": "delivery-status"})
	mw, err := message.CreateWriter(w, h)
	if err != nil {
		return err
	}

	// Part 1: for humans (RFC 6522 §3).
	var ph message.Header
	ph.SetContentType("text/plain", map[string]string{"charset": "utf-8"})
	ph.Set("Content-Description", "Notification")
	if global {
		ph.Set("Content-Transfer-Encoding", "8bit")
	} else {
		ph.Set("Content-Transfer-Encoding", "7bit")
	}
	if err := writePart(mw, ph, func(pw io.Writer) error { return r.writeText(pw) }); err != nil {
		return err
	}

	// Part 2: message/delivery-status (RFC 3464 §2).
	var sh message.Header
	if global {
		sh.SetContentType("message/global-delivery-status", nil)
		sh.Set("Content-Transfer-Encoding", "8bit")
	} else {
		sh.SetContentType("message/delivery-status", nil)
		sh.Set("Content-Transfer-Encoding", "7bit")
	}
	sh.Set("Content-Description", "Delivery report")
	if err := writePart(mw, sh, func(pw io.Writer) error { return r.writeStatus(pw, global) }); err != nil {
		return err
	}

	// Part 3: the message or its header (RFC 6522 §3, RFC 6533 §4).
	if content != nil {
		full := r.ReturnsContent()
		var ch message.Header
		switch {
		case full && global:
			ch.SetContentType("message/global", nil)
		case full:
			ch.SetContentType("message/rfc822", nil)
		case global:
			ch.SetContentType("message/global-headers", nil)
		default:
			ch.SetContentType("text/rfc822-headers", nil)
		}
		if full {
			ch.Set("Content-Description", "Undelivered message")
		} else {
			ch.Set("Content-Description", "Message header")
		}
		// go-message wraps lines over 998 octets and turns bare LF into
		// CRLF for these encodings, as RFC 5322 §2.1.1 and §2.3 require
		// of a message/rfc822 part.
		if m.Envelope.Options.Body == smtp.Body8BitMIME || global {
			ch.Set("Content-Transfer-Encoding", "8bit")
		} else {
			ch.Set("Content-Transfer-Encoding", "7bit")
		}
		err := writePart(mw, ch, func(pw io.Writer) error {
			if full {
				_, err := io.Copy(pw, content)
				return err
			}
			return copyHeader(pw, content, reportMaxHeader)
		})
		if err != nil {
			return err
		}
	}
	return mw.Close()
}

// writePart writes one part of mw with header h and the body fill writes.
func writePart(mw *message.Writer, h message.Header, fill func(io.Writer) error) error {
	pw, err := mw.CreatePart(h)
	if err != nil {
		return err
	}
	if err := fill(pw); err != nil {
		pw.Close()
		return err
	}
	return pw.Close()
}

// copyHeader copies the header section of the message read from r (up to
// and including the empty line that ends it, or to EOF) to w, at most
// limit octets of it: whole lines only.
func copyHeader(w io.Writer, r io.Reader, limit int) error {
	br := bufio.NewReaderSize(r, 4096)
	n := 0
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// An overlong line: copy it up to the limit, then drop the rest.
			for errors.Is(err, bufio.ErrBufferFull) && n+len(line) <= limit {
				if _, werr := w.Write(line); werr != nil {
					return werr
				}
				n += len(line)
				line, err = br.ReadSlice('\n')
			}
			if errors.Is(err, bufio.ErrBufferFull) {
				_, werr := io.WriteString(w, "\r\n")
				return werr
			}
		}
		if len(line) > 0 {
			if n+len(line) > limit {
				return nil
			}
			if bytes.Equal(line, []byte("\r\n")) || bytes.Equal(line, []byte("\n")) {
				return nil // the body starts; the part ends the header itself
			}
			if _, werr := w.Write(line); werr != nil {
				return werr
			}
			n += len(line)
		}
		switch {
		case err == io.EOF:
			if len(line) > 0 && line[len(line)-1] != '\n' {
				_, werr := io.WriteString(w, "\r\n")
				return werr
			}
			return nil
		case err != nil:
			return err
		}
	}
}

// writeText writes the human-readable part.
func (r *Report) writeText(w io.Writer) error {
	m := r.Message
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "This is the mail system at host %s.\r\n\r\n", r.Hostname)
	switch r.Action {
	case ActionFailed:
		bw.WriteString("Your message could not be delivered to one or more\r\n" +
			"recipients. The reasons are given below; no further attempts\r\n" +
			"will be made for them.\r\n")
	case ActionDelayed:
		bw.WriteString("Your message has not yet been delivered to one or more\r\n" +
			"recipients. This is a warning only: delivery will be retried,\r\n" +
			"and you need not send the message again.\r\n")
		if !r.Deadline.IsZero() {
			fmt.Fprintf(bw, "Attempts will continue until %s.\r\n", r.Deadline.Format(time.RFC1123Z))
		}
	case ActionDelivered:
		bw.WriteString("Your message was delivered to the recipients below, as\r\n" +
			"you asked to be notified.\r\n")
	default:
		fmt.Fprintf(bw, "Status of your message (action %s) for the recipients below.\r\n", r.Action)
	}
	global := r.Global()
	for _, i := range r.Recipients {
		if i < 0 || i >= len(m.Recipients) {
			continue
		}
		rs := &m.Recipients[i]
		fmt.Fprintf(bw, "\r\n<%s>:", r.textFor(m.Envelope.Recipients[i].To.String(), global))
		switch {
		case r.Action == ActionDelivered && rs.RemoteMTA != "":
			fmt.Fprintf(bw, " delivered to %s", r.textFor(rs.RemoteMTA, global))
		case r.Action == ActionDelivered:
			bw.WriteString(" delivered")
		case rs.Err == nil:
		case rs.Err.Code != 0 && rs.Err.RemoteMTA != "":
			fmt.Fprintf(bw, " host %s said: %d %s %s", r.textFor(rs.Err.RemoteMTA, global),
				rs.Err.Code, rs.Err.Status(), r.textFor(rs.Err.Message, global))
		default:
			fmt.Fprintf(bw, " %s %s", rs.Err.Status(), r.textFor(rs.Err.Message, global))
		}
		if r.Action == ActionFailed && rs.Expired() {
			bw.WriteString(" (delivery time expired)")
		}
		bw.WriteString("\r\n")
	}
	return bw.Flush()
}

// writeStatus writes the message/delivery-status body: per-message
// fields, then a block per recipient (RFC 3464 §2.1).
func (r *Report) writeStatus(w io.Writer, global bool) error {
	m := r.Message
	bw := bufio.NewWriter(w)
	field := func(name, value string) {
		bw.WriteString(name)
		bw.WriteString(": ")
		bw.WriteString(value)
		bw.WriteString("\r\n")
	}
	// RFC 3464 §2.2.
	if id := m.Envelope.Options.EnvelopeID; id != "" {
		field("Original-Envelope-Id", r.textFor(id, false))
	}
	field("Reporting-MTA", "dns; "+r.textFor(r.Hostname, false))
	field("X-Postyard-Queue-ID", string(m.ID))
	if !m.Enqueued.IsZero() {
		field("Arrival-Date", m.Enqueued.Format(time.RFC1123Z))
	}
	for _, i := range r.Recipients {
		if i < 0 || i >= len(m.Recipients) {
			continue
		}
		rcpt := &m.Envelope.Recipients[i]
		rs := &m.Recipients[i]
		bw.WriteString("\r\n")
		// RFC 3464 §2.3.
		if o := rcpt.Options.OriginalRcpt; o != "" {
			field("Original-Recipient", r.addressField(rcpt.Options.OriginalRcptType, o, global))
		}
		field("Final-Recipient", r.addressField("", rcpt.To.String(), global))
		field("Action", string(r.Action))
		field("Status", r.status(rs))
		remote := rs.RemoteMTA
		if rs.Err != nil && rs.Err.RemoteMTA != "" && r.Action != ActionDelivered {
			remote = rs.Err.RemoteMTA
		}
		if remote != "" {
			field("Remote-MTA", "dns; "+r.textFor(remote, false))
		}
		if e := rs.Err; e != nil && r.Action != ActionDelivered {
			switch {
			case e.Code != 0:
				// RFC 3464 §2.3.6, RFC 6533 §3 (smtp diagnostic may be UTF-8).
				field("Diagnostic-Code", "smtp; "+strconv.Itoa(e.Code)+" "+e.Status()+" "+r.textFor(e.Message, global))
			case e.Message != "":
				field("Diagnostic-Code", "X-Postyard; "+r.textFor(e.Message, false))
			}
		}
		if !rs.LastAttempt.IsZero() {
			field("Last-Attempt-Date", rs.LastAttempt.Format(time.RFC1123Z))
		}
		if r.Action == ActionDelayed && !r.Deadline.IsZero() {
			field("Will-Retry-Until", r.Deadline.Format(time.RFC1123Z))
		}
	}
	return bw.Flush()
}

// status returns the Status field for a recipient (RFC 3463).
func (r *Report) status(rs *RecipientStatus) string {
	switch {
	case r.Action == ActionDelivered:
		return "2.0.0"
	case r.Action == ActionFailed && rs.Expired():
		return "5.4.7" // RFC 3463: delivery time expired
	case rs.Err != nil:
		return rs.Err.Status()
	case r.Action == ActionDelayed:
		return "4.0.0"
	}
	return "5.0.0"
}

// addressField returns the value of Original-Recipient or
// Final-Recipient: address-type ";" address (RFC 3464 §2.3.1, §2.3.2).
// An empty typ means "rfc822" for an ASCII address, "utf-8" otherwise.
// The "utf-8" type is written as utf-8-address in a global report and as
// utf-8-addr-xtext in an ASCII one (RFC 6533 §3).
func (r *Report) addressField(typ, addr string, global bool) string {
	if typ == "" {
		typ = "rfc822"
		if !isASCII(addr) {
			typ = "utf-8"
		}
	}
	typ = strings.ToLower(typ)
	switch {
	case typ == "utf-8" && !global:
		return typ + "; " + string(AppendUTF8AddrXtext(nil, addr))
	case typ == "rfc822" || typ == "utf-8":
		return typ + "; " + r.textFor(addr, global)
	}
	return r.textFor(typ, false) + "; " + r.textFor(addr, false)
}

// text is textFor with the report's own globalness.
func (r *Report) text(s string) string { return r.textFor(s, r.Global()) }

// textFor makes s safe as (part of) a header field value or a text line:
// control characters become spaces, and non-ASCII characters become "?"
// unless utf8ok, and it is cut to reportMaxText octets.
func (r *Report) textFor(s string, utf8ok bool) string {
	var b strings.Builder
	for _, c := range s {
		if b.Len() >= reportMaxText {
			b.WriteString("...")
			break
		}
		switch {
		case c < ' ' || c == 0x7f || 0x80 <= c && c < 0xa0:
			b.WriteByte(' ')
		case c >= utf8.RuneSelf && (!utf8ok || c == utf8.RuneError):
			b.WriteByte('?')
		default:
			b.WriteRune(c)
		}
	}
	return b.String()
}

// AppendUTF8AddrXtext appends the utf-8-addr-xtext form of addr (RFC 6533
// §3) to dst: printable ASCII other than "+", "=" and "\" as itself, any
// other character as "\x{HEX}" with its code point in upper-case
// hexadecimal (two digits below U+0100, no leading zeros above).
func AppendUTF8AddrXtext(dst []byte, addr string) []byte {
	for _, c := range addr {
		if '!' <= c && c <= '~' && c != '+' && c != '=' && c != '\\' {
			dst = append(dst, byte(c))
			continue
		}
		digits := strconv.AppendUint(nil, uint64(c), 16)
		dst = append(dst, `\x{`...)
		if len(digits) < 2 {
			dst = append(dst, '0')
		}
		dst = append(dst, bytes.ToUpper(digits)...)
		dst = append(dst, '}')
	}
	return dst
}

// SendReports builds and enqueues on q a [Report] for each notice about
// m (the record after [Settle]), as Complete must, and returns an
// EventReported for each report enqueued. open returns the content of m;
// it is called once per report, and the reader is closed. o holds the
// queue's resolved options (Hostname, ReturnLimit, Schedule). A message
// with the null reverse-path gets no report. The caller must not hold
// locks that q.Enqueue takes.
func SendReports(ctx context.Context, q Queue, m *Message, notices []Notice, open func() (io.ReadCloser, error), o *Options, now time.Time) ([]Event, error) {
	var events []Event
	deadline, _ := o.Schedule.Deadline(m.Enqueued)
	for _, n := range notices {
		rep := &Report{
			Message: m, Action: n.Action, Recipients: n.Recipients,
			Hostname: o.Hostname, Date: now, ReturnLimit: o.ReturnLimit,
		}
		if n.Action == ActionDelayed {
			rep.Deadline = deadline
		}
		env := rep.Envelope()
		if env == nil {
			continue
		}
		content, err := open()
		if err != nil {
			return events, err
		}
		pr, pw := io.Pipe()
		done := make(chan struct{})
		go func() {
			defer close(done)
			pw.CloseWithError(rep.Write(pw, content))
		}()
		id, err := q.Enqueue(ctx, env, pr)
		pr.CloseWithError(errors.New("queue: report not consumed"))
		<-done
		content.Close()
		if err != nil {
			return events, fmt.Errorf("queue: enqueue %s report for %s: %w", n.Action, m.ID, err)
		}
		events = append(events, Event{Kind: EventReported, ID: m.ID, Time: now, Recipient: -1, Report: id, Action: n.Action})
	}
	return events, nil
}
