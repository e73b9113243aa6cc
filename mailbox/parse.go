package mailbox

import (
	"bufio"
	"bytes"
	"io"
	"maps"
	"mime"
	"net/mail"
	"slices"
	"strings"
	"sync"

	"github.com/emersion/go-message/textproto"
	"golang.org/x/text/encoding/htmlindex"
)

// Parse limits: the defaults of ParseOptions.
const (
	DefaultMaxHeaderSize = 64 << 10
	DefaultMaxDepth      = 32
	DefaultMaxParts      = 1000
)

// ParseOptions bound the work and memory of Parse. Zero fields mean the
// defaults, negative ones no limit.
type ParseOptions struct {
	// MaxHeaderSize is the number of bytes of each header block that are
	// parsed (default 64 KiB); the rest of a longer header is skipped.
	// All header blocks together are parsed up to 16 times this size.
	MaxHeaderSize int
	// MaxDepth is the deepest nesting of multiparts and encapsulated
	// messages that is parsed (default 32, the IMAP nesting limit);
	// deeper entities are reported as leaves (a multipart as text/plain).
	MaxDepth int
	// MaxParts is the number of MIME parts parsed (default 1000); the
	// parts of a multipart beyond it are skipped.
	MaxParts int
}

func orDefault(v, def int) int {
	switch {
	case v == 0:
		return def
	case v < 0:
		return int(^uint(0) >> 2)
	}
	return v
}

// Parse reads a raw message from r to EOF and returns its Metadata. It
// holds no more than the bounds of opts in memory (opts may be nil), so a
// Store can run it on an io.TeeReader of what it writes to disk. Parse
// never fails on malformed content: whatever cannot be parsed is reported
// as plain data, since IMAP servers must still serve such messages. The
// only errors are r's.
func Parse(r io.Reader, opts *ParseOptions) (*Metadata, error) {
	if opts == nil {
		opts = &ParseOptions{}
	}
	p := &parser{
		br:        bufio.NewReaderSize(r, 16<<10),
		maxHeader: orDefault(opts.MaxHeaderSize, DefaultMaxHeaderSize),
		maxDepth:  orDefault(opts.MaxDepth, DefaultMaxDepth),
		maxParts:  orDefault(opts.MaxParts, DefaultMaxParts),
	}
	p.headerBudget = p.maxHeader * 16
	root := &Part{}
	h := p.entity(root, 0, false) // ends only at EOF: bounds is empty
	if p.err != nil {
		return nil, p.err
	}
	m := &Metadata{Body: root, Envelope: envelope(h)}
	if d := h.Get("Date"); d != "" {
		if t, err := mail.ParseDate(d); err == nil {
			m.Date = t
		}
	}
	for f := h.Fields(); f.Next(); {
		if IsCachedField(f.Key()) {
			m.Fields = append(m.Fields, Field{Name: f.Key(), Value: decodeText(f.Value())})
		}
	}
	return m, nil
}

// parser is a line scanner over a message that tracks offsets and line
// counts, and the stack of multipart boundaries that end entities.
type parser struct {
	br  *bufio.Reader
	err error // of br, other than io.EOF

	maxHeader, maxDepth, maxParts int
	headerBudget                  int
	parts                         int

	off       int64  // offset of the next byte
	nl        int64  // number of '\n' before off
	lastNLEnd int64  // offset after the last '\n'
	prevTerm  int64  // terminator length of the last complete line
	prevLen   int64  // content length of the last complete line
	curLen    int64  // length so far of the line being read
	lastByte  byte   // last byte read
	line      []byte // current fragment, valid until the next call of next
	lineStart bool   // the fragment starts a line
	eof       bool

	// State at the start of the current line.
	startNL, startPrevLen, startPrevTerm int64

	bounds []string // boundaries of the enclosing multiparts, outermost first

	// The delimiter line that ended the innermost entities, if hit: its
	// index in bounds, whether it closes ("--b--"), its offset and the
	// state before it.
	hit                             bool
	hitIndex                        int
	hitClose                        bool
	hitOff, hitNL, hitPrev, hitTerm int64
}

// next reads the next fragment into p.line: a whole line, or a piece of a
// line longer than the buffer. It returns false at EOF or on error.
func (p *parser) next() bool {
	if p.eof {
		return false
	}
	p.lineStart = p.curLen == 0
	if p.lineStart {
		p.startNL, p.startPrevLen, p.startPrevTerm = p.nl, p.prevLen, p.prevTerm
	}
	line, err := p.br.ReadSlice('\n')
	if err != nil && err != bufio.ErrBufferFull {
		p.eof = true
		if err != io.EOF {
			p.err = err
			return false
		}
		if len(line) == 0 {
			return false
		}
	}
	p.line = line
	p.off += int64(len(line))
	p.curLen += int64(len(line))
	if line[len(line)-1] == '\n' {
		term := int64(1)
		if len(line) >= 2 && line[len(line)-2] == '\r' || len(line) == 1 && p.lastByte == '\r' && p.curLen > 1 {
			term = 2
		}
		p.nl++
		p.lastNLEnd = p.off
		p.prevTerm = term
		p.prevLen = p.curLen - term
		p.curLen = 0
	}
	p.lastByte = line[len(line)-1]
	return true
}

// boundary reports whether the current fragment is a delimiter line of an
// enclosing multipart (RFC 2046 §5.1.1), and records the hit if so.
func (p *parser) boundary() bool {
	l := p.line
	if !p.lineStart || len(p.bounds) == 0 || len(l) < 3 || l[0] != '-' || l[1] != '-' {
		return false
	}
	if l[len(l)-1] != '\n' && !p.eof {
		return false // a line too long for the buffer is no delimiter
	}
	for i := len(p.bounds) - 1; i >= 0; i-- {
		rest, ok := bytes.CutPrefix(l[2:], []byte(p.bounds[i]))
		if !ok {
			continue
		}
		closing := bytes.HasPrefix(rest, []byte("--"))
		if closing {
			rest = rest[2:]
		}
		if len(bytes.TrimLeft(rest, " \t\r\n")) != 0 {
			continue
		}
		p.hit, p.hitIndex, p.hitClose = true, i, closing
		p.hitOff = p.off - int64(len(l))
		p.hitNL, p.hitPrev, p.hitTerm = p.startNL, p.startPrevLen, p.startPrevTerm
		return true
	}
	return false
}

// skip reads lines up to the next delimiter of an enclosing multipart or
// EOF.
func (p *parser) skip() {
	for p.next() {
		if p.boundary() {
			return
		}
	}
}

// finish sets the end, size and line count of pt's body, which started
// when p.nl was nlStart and ended at the current hit or at EOF. The CRLF
// before a delimiter belongs to the delimiter (RFC 2046 §5.1.1).
func (p *parser) finish(pt *Part, nlStart int64) {
	if p.hit {
		pt.End = max(p.hitOff-p.hitTerm, pt.BodyOffset)
		if n := p.hitNL - nlStart; n > 0 {
			pt.Lines = n
			if p.hitPrev == 0 {
				pt.Lines--
			}
		}
	} else {
		pt.End = p.off
		pt.Lines = p.nl - nlStart
		if p.off > max(p.lastNLEnd, pt.BodyOffset) {
			pt.Lines++
		}
	}
	// A child that began right after a delimiter line whose CRLF is also
	// the next delimiter's ("--i\r\n--o--") ends after that CRLF.
	if n := len(pt.Parts); n > 0 {
		pt.End = max(pt.End, pt.Parts[n-1].End)
	}
	if pt.Message != nil {
		pt.End = max(pt.End, pt.Message.End)
	}
	pt.Size = pt.End - pt.BodyOffset
}

// entity parses one MIME entity starting at the current offset: header,
// then body, up to the delimiter that ends it or EOF. It returns the
// header.
func (p *parser) entity(pt *Part, depth int, inDigest bool) textproto.Header {
	p.parts++
	p.hit = false
	pt.HeaderOffset = p.off
	var hdr []byte
	full := false
	for p.next() {
		if p.boundary() {
			break
		}
		if p.lineStart && (len(p.line) == 1 && p.line[0] == '\n' || len(p.line) == 2 && p.line[0] == '\r' && p.line[1] == '\n') {
			break
		}
		if !full && len(hdr)+len(p.line) <= min(p.maxHeader, p.headerBudget) {
			hdr = append(hdr, p.line...)
		} else if !full {
			full = true
			if i := bytes.LastIndexByte(hdr, '\n'); i >= 0 {
				hdr = hdr[:i+1]
			} else {
				hdr = hdr[:0]
			}
		}
	}
	p.headerBudget -= len(hdr)
	h := parseHeader(hdr)
	boundary := describe(pt, h, inDigest)
	if p.hit || p.eof {
		// No body: the header ran into a delimiter or EOF.
		pt.BodyOffset = p.off
		if p.hit {
			pt.BodyOffset = max(p.hitOff-p.hitTerm, pt.HeaderOffset)
		}
		pt.End = pt.BodyOffset
		plainIfEmpty(pt)
		return h
	}
	pt.BodyOffset = p.off
	nlStart := p.nl
	deeper := depth < p.maxDepth && p.parts < p.maxParts
	switch {
	case pt.Type == "multipart" && boundary != "" && deeper:
		p.multipart(pt, depth, boundary)
	case pt.Type == "message" && (pt.Subtype == "rfc822" || pt.Subtype == "global") && deeper &&
		(pt.Encoding == "7BIT" || pt.Encoding == "8BIT" || pt.Encoding == "BINARY"):
		child := &Part{}
		ch := p.entity(child, depth+1, false)
		pt.Message, pt.Envelope = child, envelope(ch)
	default:
		p.skip()
	}
	plainIfEmpty(pt)
	p.finish(pt, nlStart)
	return h
}

// plainIfEmpty reports a multipart without parts (no boundary, no
// delimiter, too deep) as plain data, so that a multipart always has
// parts, as IMAP's body-type-mpart needs.
func plainIfEmpty(pt *Part) {
	if pt.Type == "multipart" && len(pt.Parts) == 0 {
		pt.Type, pt.Subtype, pt.Params = "text", "plain", []Param{{"charset", "us-ascii"}}
	}
}

// multipart parses the body of a multipart: preamble, parts, epilogue.
func (p *parser) multipart(pt *Part, depth int, boundary string) {
	p.bounds = append(p.bounds, boundary)
	mine := len(p.bounds) - 1
	p.skip() // preamble
	for p.hit && p.hitIndex == mine && !p.hitClose {
		if p.parts >= p.maxParts {
			p.hit = false
			p.skip()
			continue
		}
		child := &Part{}
		p.entity(child, depth+1, pt.Subtype == "digest")
		pt.Parts = append(pt.Parts, child)
	}
	p.bounds = p.bounds[:mine]
	if p.hit && p.hitIndex == mine {
		p.hit = false
		p.skip() // epilogue
	}
}

// parseHeader parses a header block leniently: lines that are neither
// fields nor continuations are dropped instead of ending the header.
func parseHeader(b []byte) textproto.Header {
	var clean []byte
	keep := false
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line = b[:i+1]
		}
		b = b[len(line):]
		switch {
		case line[0] == ' ' || line[0] == '\t':
			// continuation of a kept field
		default:
			i := bytes.IndexByte(line, ':')
			keep = i > 0 && validKey(line[:i])
		}
		if keep {
			clean = append(clean, line...)
			if line[len(line)-1] != '\n' {
				clean = append(clean, '\r', '\n')
			}
		}
	}
	clean = append(clean, '\r', '\n')
	hr := headerReaders.Get().(*headerReader)
	hr.r.Reset(clean)
	hr.br.Reset(&hr.r)
	h, _ := textproto.ReadHeader(hr.br) // copies what it keeps
	hr.r.Reset(nil)
	hr.br.Reset(&hr.r)
	headerReaders.Put(hr)
	return h
}

// headerReader is what parseHeader reads a header block through; the
// pool spares a 4 KiB buffer a header (a delivery parses one a MIME
// part).
type headerReader struct {
	r  bytes.Reader
	br *bufio.Reader
}

var headerReaders = sync.Pool{New: func() any {
	hr := &headerReader{}
	hr.br = bufio.NewReader(&hr.r)
	return hr
}}

func validKey(k []byte) bool {
	k = bytes.TrimRight(k, " \t")
	for _, c := range k {
		if c < 33 || c > 126 {
			return false
		}
	}
	return len(k) > 0
}

// describe fills pt's MIME fields from its header and returns the
// multipart boundary ("" if none).
func describe(pt *Part, h textproto.Header, inDigest bool) string {
	pt.Type, pt.Subtype = "text", "plain"
	if inDigest {
		pt.Type, pt.Subtype = "message", "rfc822"
	}
	var boundary string
	if ct := h.Get("Content-Type"); ct != "" {
		// On ErrInvalidMediaParameter the type is still returned.
		t, params, _ := mime.ParseMediaType(ct)
		if typ, sub, ok := strings.Cut(t, "/"); ok && typ != "" && sub != "" {
			pt.Type, pt.Subtype = typ, sub
			pt.Params = sortedParams(params)
			boundary = params["boundary"]
		}
	} else if !inDigest {
		pt.Params = []Param{{"charset", "us-ascii"}}
	}
	pt.ID = h.Get("Content-Id")
	pt.Description = h.Get("Content-Description")
	pt.MD5 = h.Get("Content-Md5")
	pt.Location = h.Get("Content-Location")
	pt.Encoding = strings.ToUpper(strings.TrimSpace(h.Get("Content-Transfer-Encoding")))
	if pt.Encoding == "" {
		pt.Encoding = "7BIT"
	}
	if cd := h.Get("Content-Disposition"); cd != "" {
		if d, params, _ := mime.ParseMediaType(cd); d != "" {
			pt.Disposition, pt.DispositionParams = d, sortedParams(params)
		}
	}
	for l := range strings.SplitSeq(h.Get("Content-Language"), ",") {
		if l = strings.TrimSpace(l); l != "" {
			pt.Language = append(pt.Language, l)
		}
	}
	return boundary
}

func sortedParams(m map[string]string) []Param {
	var ps []Param
	for _, k := range slices.Sorted(maps.Keys(m)) {
		ps = append(ps, Param{k, m[k]})
	}
	return ps
}

// envelope builds the IMAP envelope of a message header.
func envelope(h textproto.Header) *Envelope {
	e := &Envelope{
		Date:      h.Get("Date"),
		Subject:   h.Get("Subject"),
		From:      parseAddressList(h.Get("From")),
		Sender:    parseAddressList(h.Get("Sender")),
		ReplyTo:   parseAddressList(h.Get("Reply-To")),
		To:        parseAddressList(h.Get("To")),
		Cc:        parseAddressList(h.Get("Cc")),
		Bcc:       parseAddressList(h.Get("Bcc")),
		InReplyTo: h.Get("In-Reply-To"),
		MessageID: h.Get("Message-Id"),
	}
	if len(e.Sender) == 0 {
		e.Sender = e.From
	}
	if len(e.ReplyTo) == 0 {
		e.ReplyTo = e.From
	}
	return e
}

// charsetReader decodes any charset the WHATWG encoding standard knows.
func charsetReader(charset string, input io.Reader) (io.Reader, error) {
	enc, err := htmlindex.Get(charset)
	if err != nil {
		return nil, err
	}
	return enc.NewDecoder().Reader(input), nil
}

// decodeText decodes the RFC 2047 encoded words of a header value; a value
// that cannot be decoded is returned as it is.
func decodeText(s string) string {
	if !strings.Contains(s, "=?") {
		return s
	}
	wd := mime.WordDecoder{CharsetReader: charsetReader}
	d, err := wd.DecodeHeader(s)
	if err != nil {
		return s
	}
	return d
}
