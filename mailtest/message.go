package mailtest

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"net/textproto"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-message"
)

// Message is a message the server accepted, or, for a Fault's matchers,
// what is known of it at the stage of the fault. A Message is never
// changed once recorded; its methods are safe for concurrent use.
type Message struct {
	// ID is the ID sent in the 250 reply to DATA ("queued as ID").
	ID string
	// From is the envelope sender (MAIL FROM), "" for the null sender.
	From string
	// To are the envelope recipients (RCPT TO), in order.
	To []string
	// Hello is the name the client gave in HELO or EHLO.
	Hello string
	// User is the SMTP AUTH user, "" without AUTH.
	User string
	// TLS reports whether the message came over TLS.
	TLS bool
	// Received is when the server got the whole message.
	Received time.Time
	// Raw is the message exactly as the client sent it (dot-stuffing
	// undone), CRLF line endings. The server adds no header.
	Raw []byte
	// Header is the parsed header; nil if Raw has none that net/mail can
	// parse (see HeaderErr).
	Header mail.Header
	// HeaderErr is why Header could not be parsed.
	HeaderErr error

	body      []byte // Raw after the header
	partsOnce sync.Once
	parts     []Part
	partsErr  error
}

// parse fills Header and body from Raw.
func (m *Message) parse() {
	mm, err := mail.ReadMessage(bytes.NewReader(m.Raw))
	if err != nil {
		m.HeaderErr = err
		m.body = m.Raw
		return
	}
	m.Header = mm.Header
	m.body, _ = io.ReadAll(mm.Body)
}

// Body returns the raw body: Raw after the header and the empty line.
func (m *Message) Body() []byte { return m.body }

// Subject returns the Subject header field, with RFC 2047 encoded words
// decoded.
func (m *Message) Subject() string { return m.HeaderValue("Subject") }

// HeaderValue returns the first value of the header field name, with RFC
// 2047 encoded words decoded; "" if there is none.
func (m *Message) HeaderValue(name string) string {
	return decodeWords(m.Header.Get(name))
}

// Part is a leaf of a message's MIME structure (the message itself if it
// is not multipart).
type Part struct {
	// Header is the part's header.
	Header message.Header
	// ContentType is the media type, lower case ("text/plain").
	ContentType string
	// Params are the Content-Type parameters (charset, name, ...).
	Params map[string]string
	// Filename is the file name of an attachment, "" if none.
	Filename string
	// Body is the content with its transfer encoding (base64,
	// quoted-printable) undone. Text in charsets other than UTF-8 and
	// US-ASCII is not converted.
	Body []byte
}

// Parts returns the leaf parts of the message, in order. It returns an
// error if the MIME structure cannot be parsed, with the parts read
// before it.
func (m *Message) Parts() ([]Part, error) {
	m.partsOnce.Do(func() {
		e, err := message.Read(bytes.NewReader(m.Raw))
		if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
			m.partsErr = err
			return
		}
		m.partsErr = e.Walk(func(path []int, e *message.Entity, err error) error {
			if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
				return err
			}
			p := Part{Header: e.Header}
			p.ContentType, p.Params, _ = e.Header.ContentType()
			if strings.HasPrefix(p.ContentType, "multipart/") {
				return nil
			}
			if p.ContentType == "" {
				p.ContentType = "text/plain"
			}
			if _, dp, err := e.Header.ContentDisposition(); err == nil {
				p.Filename = dp["filename"]
			}
			if p.Filename == "" {
				p.Filename = p.Params["name"]
			}
			var err2 error
			p.Body, err2 = io.ReadAll(e.Body)
			if err2 != nil {
				return err2
			}
			m.parts = append(m.parts, p)
			return nil
		})
	})
	return m.parts, m.partsErr
}

// Text returns the body of the first text/plain part, decoded, or the
// raw body if there is none.
func (m *Message) Text() string {
	parts, _ := m.Parts()
	for _, p := range parts {
		if p.ContentType == "text/plain" && p.Filename == "" {
			return string(p.Body)
		}
	}
	return string(m.body)
}

// String summarises the message in one line, as in failure reports.
func (m *Message) String() string {
	var b strings.Builder
	if m.ID != "" {
		b.WriteString(m.ID + " ")
	}
	fmt.Fprintf(&b, "from <%s> to %v", m.From, bracket(m.To))
	if m.Header != nil {
		fmt.Fprintf(&b, " subject %q", m.Subject())
	}
	fmt.Fprintf(&b, " (%d octets)", len(m.Raw))
	return b.String()
}

func bracket(as []string) string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = "<" + a + ">"
	}
	return "[" + strings.Join(out, " ") + "]"
}

func textprotoKey(name string) string { return textproto.CanonicalMIMEHeaderKey(name) }

// decodeWords decodes RFC 2047 encoded words, leaving v as it is if it
// cannot.
func decodeWords(v string) string {
	if d, err := new(mime.WordDecoder).DecodeHeader(v); err == nil {
		return d
	}
	return v
}
