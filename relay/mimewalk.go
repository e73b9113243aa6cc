package relay

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"math"
	"strings"

	"github.com/emersion/go-message/textproto"
)

// Defaults for MIMELimits.
const (
	// DefaultMIMEMaxParts bounds the MIME entities examined in one
	// message: the message itself, each body part, each multipart and
	// each enclosed message.
	DefaultMIMEMaxParts = 500
	// DefaultMIMEMaxDepth bounds the nesting of multiparts and enclosed
	// messages (the message itself is at depth 0).
	DefaultMIMEMaxDepth = 20
	// DefaultMIMEMaxHeaderBytes bounds the header section of each body
	// part or enclosed message (the message's own header section is
	// bounded when it is received).
	DefaultMIMEMaxHeaderBytes = 64 << 10
)

// MIMELimits bound the walk through a message's MIME structure (RFC 2045,
// RFC 2046) that the content rules ([AttachmentRule], [DLP]) make. A
// message beyond them cannot be checked completely; the rule that met the
// limit says what happens to it.
type MIMELimits struct {
	// MaxParts bounds the entities examined. Zero means
	// DefaultMIMEMaxParts (500); negative means unlimited.
	MaxParts int
	// MaxDepth bounds the nesting of multiparts and message/rfc822
	// parts. Zero means DefaultMIMEMaxDepth (20); negative means
	// unlimited.
	MaxDepth int
	// MaxHeaderBytes bounds the header section of each body part and
	// enclosed message, in octets. Zero means DefaultMIMEMaxHeaderBytes
	// (64 KiB); negative means unlimited.
	MaxHeaderBytes int
}

func (l MIMELimits) resolved() MIMELimits {
	return MIMELimits{
		MaxParts:       mimeLimitOr(l.MaxParts, DefaultMIMEMaxParts),
		MaxDepth:       mimeLimitOr(l.MaxDepth, DefaultMIMEMaxDepth),
		MaxHeaderBytes: mimeLimitOr(l.MaxHeaderBytes, DefaultMIMEMaxHeaderBytes),
	}
}

// mimeLimitOr applies the limit convention: zero is def, negative unlimited.
func mimeLimitOr(v, def int) int {
	switch {
	case v == 0:
		return def
	case v < 0:
		return math.MaxInt
	}
	return v
}

// mimeLimitError says which MIMELimits bound a message exceeded.
type mimeLimitError struct{ what string }

func (e *mimeLimitError) Error() string { return "relay: MIME structure exceeds " + e.what }

// isMIMELimit reports whether err is a mimeLimitError.
func isMIMELimit(err error) bool {
	var le *mimeLimitError
	return errors.As(err, &le)
}

// mimeEntity is one MIME entity (RFC 2045 §2.4) met by a mimeWalker: the
// message itself, a body part, or an enclosed message.
type mimeEntity struct {
	Header textproto.Header
	// MediaType is the lower-case type/subtype of Content-Type, or the
	// default when it is absent or invalid: text/plain (RFC 2045 §5.2),
	// message/rfc822 in a multipart/digest (RFC 2046 §5.1.5).
	MediaType string
	// Params are the Content-Type parameters, names lower-case, values
	// decoded (RFC 2231); of a repeated parameter the first counts.
	Params map[string]string
	// Disposition is the lower-case Content-Disposition type (RFC 2183),
	// "" if none.
	Disposition string
	// Names are the decoded file names the entity gives: every
	// Content-Disposition filename and Content-Type name parameter, plain,
	// RFC 2231 or RFC 2047 encoded, without duplicates. Mail clients
	// pick different ones, so a check must look at all.
	Names []string
	// Encoding is the lower-case Content-Transfer-Encoding, "" if none.
	Encoding string
	// Depth is the number of multiparts and enclosed messages around the
	// entity.
	Depth int
	// Container is true for a multipart or an enclosed message: the
	// walker visits its parts next, and Body is empty.
	Container bool
	// Body is the body as transmitted (still transfer-encoded). It is
	// valid until the next call to Next.
	Body io.Reader
}

// decoded returns the body with its Content-Transfer-Encoding undone
// (RFC 2045 §6), leniently: what a mail client would show.
func (e *mimeEntity) decoded() io.Reader {
	switch e.Encoding {
	case "base64":
		return newBase64Reader(e.Body)
	case "quoted-printable":
		return newQPReader(e.Body)
	}
	return e.Body
}

// text returns the decoded body converted from its charset to UTF-8; a
// charset that is unknown leaves the octets as they are.
func (e *mimeEntity) text() io.Reader {
	return charsetText(e.Params["charset"], e.decoded())
}

// The walker's states between entities.
const (
	walkHeader   = iota // an entity's header comes next
	walkBody            // the current leaf's body is being read
	walkPreamble        // skipping to the first delimiter of a multipart
	walkEpilogue        // skipping after a close delimiter
	walkHit             // a delimiter was read and not yet acted on
	walkEOF
)

// mimeFrame is an open multipart.
type mimeFrame struct {
	dash   []byte // "--" + boundary
	depth  int    // of the multipart entity
	digest bool   // multipart/digest: parts default to message/rfc822
}

// mimeWalker reads a message and returns its MIME entities in order, depth
// first, in one pass over the input (RFC 2046 §5.1). It keeps only the
// current header section in memory.
//
// It is lenient where mail clients are, so that content they would show
// is not missed: a delimiter of any enclosing multipart ends the parts
// nested deeper (a missing close delimiter), lines that are not header
// fields are skipped, bare LF line endings are accepted, and transfer
// encodings are decoded past errors.
type mimeWalker struct {
	src      *bufio.Reader
	lim      MIMELimits
	frames   []mimeFrame
	parts    int
	state    int
	depth    int    // of the entity whose header comes next
	defType  string // its default media type
	hitFrame int    // walkHit: the frame of the delimiter
	hitClose bool   // walkHit: it was the close delimiter
	atStart  bool   // the next read starts a line
	body     *mimeBody
	err      error
}

// newMIMEWalker returns a walker of the message r (header section and
// body).
func newMIMEWalker(r io.Reader, lim MIMELimits) *mimeWalker {
	return &mimeWalker{
		src:     bufio.NewReaderSize(r, 8<<10),
		lim:     lim.resolved(),
		state:   walkHeader,
		defType: "text/plain",
		atStart: true,
	}
}

// line returns the next line, or the next piece of a line longer than the
// buffer, and whether it starts a line. It is valid until the next read.
func (w *mimeWalker) line() ([]byte, bool, error) {
	atStart := w.atStart
	b, err := w.src.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		err = nil
	}
	if len(b) > 0 {
		w.atStart = b[len(b)-1] == '\n'
		return b, atStart, nil
	}
	if err == nil {
		err = io.EOF
	}
	return nil, atStart, err
}

// delimiter reports whether line is the delimiter of an open multipart
// (the innermost first), which frame, and whether it closes it: "--"
// boundary, then "--" for the close delimiter, then optional white space
// (RFC 2046 §5.1.1).
func (w *mimeWalker) delimiter(line []byte) (frame int, close, ok bool) {
	if len(w.frames) == 0 || len(line) < 3 || line[0] != '-' || line[1] != '-' {
		return 0, false, false
	}
	for i := len(w.frames) - 1; i >= 0; i-- {
		rest, found := bytes.CutPrefix(line, w.frames[i].dash)
		if !found {
			continue
		}
		rest, close = bytes.CutPrefix(rest, []byte("--"))
		if len(bytes.TrimLeft(rest, " \t\r\n")) == 0 {
			return i, close, true
		}
	}
	return 0, false, false
}

// Next returns the next entity, or io.EOF after the last. An error other
// than io.EOF (a read error, a *mimeLimitError) ends the walk.
func (w *mimeWalker) Next() (*mimeEntity, error) {
	if w.err != nil {
		return nil, w.err
	}
	if w.state == walkBody {
		if _, err := io.Copy(io.Discard, w.body); err != nil {
			w.err = err
			return nil, err
		}
	}
	w.body = nil
	for {
		switch w.state {
		case walkEOF:
			return nil, io.EOF
		case walkHit:
			w.frames = w.frames[:w.hitFrame+1]
			f := w.frames[w.hitFrame]
			if w.hitClose {
				w.frames = w.frames[:w.hitFrame]
				w.state = walkEpilogue
				continue
			}
			w.state, w.depth, w.defType = walkHeader, f.depth+1, "text/plain"
			if f.digest {
				w.defType = "message/rfc822"
			}
		case walkPreamble, walkEpilogue:
			for w.state != walkHit {
				b, atStart, err := w.line()
				if err == io.EOF {
					w.state = walkEOF
					break
				} else if err != nil {
					w.err = err
					return nil, err
				}
				if atStart {
					if i, c, ok := w.delimiter(b); ok {
						w.state, w.hitFrame, w.hitClose = walkHit, i, c
					}
				}
			}
		case walkHeader:
			e, err := w.entity()
			if err != nil {
				w.err = err
				return nil, err
			}
			return e, nil
		}
	}
}

// entity reads the header of the next entity and decides what follows it.
func (w *mimeWalker) entity() (*mimeEntity, error) {
	w.parts++
	if w.parts > w.lim.MaxParts {
		return nil, &mimeLimitError{"the number of parts"}
	}
	if w.depth > w.lim.MaxDepth {
		return nil, &mimeLimitError{"the nesting depth"}
	}
	raw, ended, err := w.readHeader()
	if err != nil {
		return nil, err
	}
	e := &mimeEntity{Depth: w.depth, Body: strings.NewReader("")}
	e.Header, _ = textproto.ReadHeader(bufio.NewReader(bytes.NewReader(raw)))
	ct := e.Header.Get("Content-Type")
	mt, params := parseMIMEParams(ct)
	if !validMediaType(mt) {
		mt = w.defType
	}
	e.MediaType, e.Params = mt, firstParams(params)
	if d, _ := parseMIMEParams(e.Header.Get("Content-Disposition")); d != "" {
		e.Disposition = d
	}
	e.Encoding = strings.ToLower(strings.TrimSpace(e.Header.Get("Content-Transfer-Encoding")))
	e.Names = entityNames(e.Header)
	if ended {
		// EOF or a delimiter ended the header section: no body.
		return e, nil
	}
	boundary := e.Params["boundary"]
	switch {
	case strings.HasPrefix(mt, "multipart/") && boundary != "" && len(boundary) <= 200:
		if w.depth+1 > w.lim.MaxDepth {
			return nil, &mimeLimitError{"the nesting depth"}
		}
		w.frames = append(w.frames, mimeFrame{dash: []byte("--" + boundary), depth: w.depth, digest: mt == "multipart/digest"})
		w.state = walkPreamble
		e.Container = true
	case (mt == "message/rfc822" || mt == "message/global") && !encoded(e.Encoding):
		if w.depth+1 > w.lim.MaxDepth {
			return nil, &mimeLimitError{"the nesting depth"}
		}
		w.state, w.depth, w.defType = walkHeader, w.depth+1, "text/plain"
		e.Container = true
	default:
		w.body = &mimeBody{w: w}
		w.state = walkBody
		e.Body = w.body
	}
	return e, nil
}

// encoded reports whether a Content-Transfer-Encoding hides the content
// from a line-based walk.
func encoded(enc string) bool { return enc == "base64" || enc == "quoted-printable" }

// readHeader reads a header section up to the empty line that ends it.
// It keeps the lines that are header fields or their continuations
// (RFC 5322 §2.2), ending each in CRLF, and skips others. ended is true
// when EOF or a delimiter came before the empty line: the entity has no
// body, and the walker's state says what follows.
func (w *mimeWalker) readHeader() (raw []byte, ended bool, err error) {
	var b []byte
	keep := false // whether the field being read is kept
	for {
		line, atStart, err := w.line()
		if err == io.EOF {
			w.state = walkEOF
			return append(b, "\r\n"...), true, nil
		} else if err != nil {
			return nil, false, err
		}
		complete := line[len(line)-1] == '\n'
		text := bytes.TrimRight(line, "\r\n")
		if atStart {
			if i, c, ok := w.delimiter(line); ok {
				w.state, w.hitFrame, w.hitClose = walkHit, i, c
				return append(b, "\r\n"...), true, nil
			}
			if len(text) == 0 && complete {
				return append(b, "\r\n"...), false, nil
			}
			switch {
			case len(text) > 0 && (text[0] == ' ' || text[0] == '\t'):
				// A continuation line (RFC 5322 §2.2.3).
			default:
				keep = isFieldStart(text)
			}
		}
		if keep {
			b = append(b, text...)
			if complete {
				b = append(b, "\r\n"...)
			}
		}
		if len(b) > w.lim.MaxHeaderBytes {
			return nil, false, &mimeLimitError{"the header size"}
		}
	}
}

// isFieldStart reports whether line starts a header field: a name of
// printable ASCII other than ":" (RFC 5322 §3.6.8), optional white space
// (obsolete syntax, RFC 5322 §4.5), and ":".
func isFieldStart(line []byte) bool {
	i := 0
	for i < len(line) && line[i] > ' ' && line[i] < 127 && line[i] != ':' {
		i++
	}
	if i == 0 {
		return false
	}
	for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
		i++
	}
	return i < len(line) && line[i] == ':'
}

// mimeBody reads a leaf's body up to the delimiter that ends it, which is
// not part of it, nor is the line break before the delimiter (RFC 2046
// §5.1.1).
type mimeBody struct {
	w    *mimeWalker
	eol  string // the held-back line break of the last line
	pre  string // the line break to return before buf
	buf  []byte // data to return; points into the walker's buffer
	done bool
}

func (b *mimeBody) Read(p []byte) (int, error) {
	for len(b.pre) == 0 && len(b.buf) == 0 {
		if b.done {
			return 0, io.EOF
		}
		w := b.w
		line, atStart, err := w.line()
		if err == io.EOF {
			b.pre, b.eol, b.done = b.eol, "", true
			w.state = walkEOF
			continue
		} else if err != nil {
			return 0, err
		}
		if atStart {
			if i, c, ok := w.delimiter(line); ok {
				w.state, w.hitFrame, w.hitClose = walkHit, i, c
				b.done = true
				continue
			}
		}
		b.pre, b.eol = b.eol, ""
		switch {
		case bytes.HasSuffix(line, []byte("\r\n")):
			b.buf, b.eol = line[:len(line)-2], "\r\n"
		case line[len(line)-1] == '\n':
			b.buf, b.eol = line[:len(line)-1], "\n"
		default:
			b.buf = line
		}
	}
	n := copy(p, b.pre)
	b.pre = b.pre[n:]
	if len(b.pre) == 0 {
		m := copy(p[n:], b.buf)
		b.buf = b.buf[m:]
		n += m
	}
	return n, nil
}

// validMediaType reports whether t is "type/subtype" of token characters
// (RFC 2045 §5.1).
func validMediaType(t string) bool {
	typ, sub, ok := strings.Cut(t, "/")
	return ok && isMIMEToken(typ) && isMIMEToken(sub)
}

// isMIMEToken reports whether s is a token (RFC 2045 §5.1).
func isMIMEToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 127 || strings.IndexByte(`()<>@,;:\"/[]?=`, c) >= 0 {
			return false
		}
	}
	return true
}
