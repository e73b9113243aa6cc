package sieve

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"
	"sync"

	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/encoding/ianaindex"
)

// Message is the message a script is evaluated against. It holds the raw
// bytes; the header is parsed on first use and MIME parts only when a body
// test asks for them. A Message is safe for concurrent use by several
// evaluations and is never modified by them (editheader edits are kept per
// evaluation and returned in the Result).
type Message struct {
	raw []byte

	once    sync.Once
	header  Header
	bodyOff int

	partsOnce sync.Once
	parts     []bodyPart
}

// NewMessage returns a Message for raw, a message in RFC 5322 form (CRLF
// or LF line endings). The Message keeps raw; the caller must not change
// it afterwards.
func NewMessage(raw []byte) *Message { return &Message{raw: raw} }

// ReadMessage reads a whole message from r, at most max bytes (max <= 0:
// 64 MiB), and returns it as a Message.
func ReadMessage(r io.Reader, max int64) (*Message, error) {
	if max <= 0 {
		max = 64 << 20
	}
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("sieve: message larger than %d bytes: %w", max, ErrLimit)
	}
	return NewMessage(b), nil
}

// Size returns the size of the message in bytes.
func (m *Message) Size() int { return len(m.raw) }

// Raw returns the message as given. The caller must not modify it.
func (m *Message) Raw() []byte { return m.raw }

// Header returns the parsed header fields in message order. The caller
// must not modify the result.
func (m *Message) Header() Header {
	m.parse()
	return m.header
}

// Body returns the body: the bytes after the blank line that ends the
// header. The caller must not modify it.
func (m *Message) Body() []byte {
	m.parse()
	return m.raw[m.bodyOff:]
}

// WriteTo writes the message with header h in place of its own (h as an
// action or Result carries it after editheader changes; nil means the
// original header). It returns the number of bytes written.
func (m *Message) WriteTo(w io.Writer, h Header) (int64, error) {
	if h == nil {
		n, err := w.Write(m.raw)
		return int64(n), err
	}
	var b bytes.Buffer
	for _, f := range h {
		b.WriteString(f.Name)
		b.WriteString(":")
		b.WriteString(f.Value)
		b.WriteString("\r\n")
	}
	b.WriteString("\r\n")
	n, err := w.Write(b.Bytes())
	if err != nil {
		return int64(n), err
	}
	n2, err := w.Write(m.Body())
	return int64(n + n2), err
}

// HeaderField is one header field: its name as written and its raw value
// (everything after the colon, folding kept, without the final line
// break).
type HeaderField struct {
	Name  string
	Value string
}

// Header is a list of header fields in message order.
type Header []HeaderField

// Values returns the unfolded, RFC 2047-decoded values of the fields named
// name (case-insensitively), in order.
func (h Header) Values(name string) []string {
	var out []string
	for _, f := range h {
		if strings.EqualFold(f.Name, name) {
			out = append(out, decodeHeaderValue(f.Value))
		}
	}
	return out
}

func (m *Message) parse() {
	m.once.Do(func() { m.header, m.bodyOff = parseHeader(m.raw) })
}

// parseHeader splits raw into header fields and the offset of the body.
// Lines without a colon are skipped; a line starting with white space
// continues the previous field.
func parseHeader(raw []byte) (Header, int) {
	var h Header
	off := 0
	for off < len(raw) {
		end := bytes.IndexByte(raw[off:], '\n')
		var line []byte
		next := len(raw)
		if end >= 0 {
			line = raw[off : off+end]
			next = off + end + 1
		} else {
			line = raw[off:]
		}
		line = trimCR(line)
		if len(line) == 0 {
			return h, next
		}
		if (line[0] == ' ' || line[0] == '\t') && len(h) > 0 {
			h[len(h)-1].Value += "\r\n" + string(line)
		} else if colon := bytes.IndexByte(line, ':'); colon > 0 {
			name := string(bytes.TrimRight(line[:colon], " \t"))
			h = append(h, HeaderField{Name: name, Value: string(line[colon+1:])})
		}
		off = next
	}
	return h, len(raw)
}

// unfold removes the line breaks of folding (RFC 5322 §2.2.3) and trims
// white space at both ends.
func unfold(v string) string {
	if strings.ContainsAny(v, "\r\n") {
		// The white space that starts a continuation line becomes one
		// space, as Dovecot unfolds.
		v = strings.NewReplacer("\r\n\t", " ", "\n\t", " ", "\r\n", "", "\n", "", "\r", "").Replace(v)
	}
	return strings.Trim(v, " \t")
}

// charsetReader decodes any charset the WHATWG encoding standard or IANA
// knows.
func charsetReader(charset string, input io.Reader) (io.Reader, error) {
	cs := strings.ToLower(strings.TrimSpace(charset))
	switch cs {
	case "", "utf-8", "utf8", "us-ascii", "ascii":
		return input, nil
	}
	enc, err := htmlindex.Get(cs)
	if err != nil || enc == nil {
		enc, err = ianaindex.MIME.Encoding(cs)
	}
	if err != nil || enc == nil {
		return nil, fmt.Errorf("unknown charset %q", charset)
	}
	return enc.NewDecoder().Reader(input), nil
}

var wordDecoder = &mime.WordDecoder{CharsetReader: charsetReader}

// decodeHeaderValue unfolds v and decodes RFC 2047 encoded words. Words
// that do not decode are kept as they are.
func decodeHeaderValue(v string) string {
	v = unfold(v)
	if !strings.Contains(v, "=?") {
		return v
	}
	d, err := wordDecoder.DecodeHeader(v)
	if err != nil {
		return v
	}
	return d
}

// Envelope is the SMTP envelope of the message (RFC 5228 §5.4).
type Envelope struct {
	// From is the reverse-path (MAIL FROM) without angle brackets; "" is
	// the null sender.
	From string
	// To is the recipient this evaluation is for (RCPT TO, the original
	// recipient as given, before aliasing or subaddress handling).
	To string
	// Auth is the authenticated submitter (RFC 4954 AUTH=), the
	// "auth" envelope part; "" if unknown.
	Auth string
}

// bodyPart is one leaf of the MIME tree, decoded.
type bodyPart struct {
	ctype string // lower case type/subtype
	text  string // transfer-decoded, converted to UTF-8 for text/*
}

// Bounds on MIME parsing for the body test.
const (
	maxMIMEDepth = 16
	maxMIMEParts = 1000
)

var errTooManyParts = errors.New("too many MIME parts")
