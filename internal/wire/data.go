package wire

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// ErrBareLineEnding reports a CR not followed by LF, or an LF not preceded by
// CR, in message data. Such line endings are what SMTP smuggling is made of,
// and RFC 5321 §2.3.8 forbids them.
var ErrBareLineEnding = errors.New("wire: bare CR or LF in message data")

// ErrTooLarge reports message data over the size limit.
var ErrTooLarge = errors.New("wire: message too large")

// DataOptions configures a [DataReader].
type DataOptions struct {
	// MaxSize is the largest message accepted, in octets after dot-unstuffing
	// and normalisation. Zero or negative means unlimited.
	MaxSize int64
	// Normalize turns every bare CR and bare LF into CRLF instead of failing
	// with ErrBareLineEnding. Either way the message ends only at
	// <CRLF>.<CRLF>: normalisation never makes a line start that could end
	// or split the message.
	Normalize bool
}

// decoder states. A line starts only after CRLF (or at the beginning of the
// data); bare line endings never start one, so "<LF>.<LF>" is plain content.
const (
	stBOL   = iota // at the beginning of a line
	stData         // inside a line
	stCR           // after a CR inside a line, or at the beginning of one
	stDot          // after a "." at the beginning of a line (dot mode)
	stDotCR        // after ".<CR>" at the beginning of a line (dot mode)
	stEnd          // after <CRLF>.<CRLF>
)

// decoder is the dot-unstuffing and line-ending state machine shared by DATA
// and BDAT.
type decoder struct {
	opts  DataOptions
	dots  bool
	state int
	n     int64 // octets produced
	err   error // first error (ErrBareLineEnding or ErrTooLarge)
}

// transform decodes src into dst. It returns the octets written and consumed.
// dst must have room for at least 2 octets. It stops at the end marker (state
// becomes stEnd) or when dst is nearly full. After an error is recorded it
// keeps consuming src but writes nothing, so the caller can drain to the end.
func (d *decoder) transform(dst, src []byte) (nd, ns int) {
	// Each step writes at most 2 octets.
	for ns < len(src) && nd+2 <= len(dst) && d.state != stEnd {
		c := src[ns]
		switch d.state {
		case stBOL:
			ns++
			switch {
			case c == '.' && d.dots:
				d.state = stDot
			case c == '\r':
				d.state = stCR
			case c == '\n':
				nd = d.bare(dst, nd)
				d.state = stData
			default:
				nd = d.put(dst, nd, c)
				d.state = stData
			}
		case stData:
			switch c {
			case '\r':
				ns++
				d.state = stCR
			case '\n':
				ns++
				nd = d.bare(dst, nd)
			default:
				// Fast path: copy the run of ordinary octets that fits.
				run := src[ns:min(len(src), ns+len(dst)-nd)]
				i := lineEnd(run)
				if d.err == nil {
					nd += copy(dst[nd:], run[:i])
				}
				ns += i
			}
		case stCR:
			switch c {
			case '\n':
				ns++
				nd = d.crlf(dst, nd)
				d.state = stBOL
			case '\r':
				ns++
				nd = d.bare(dst, nd) // the first CR was bare; stay in stCR for this one
			default:
				nd = d.bare(dst, nd)
				d.state = stData // reprocess c inside the line
			}
		case stDot:
			ns++
			switch c {
			case '\r':
				d.state = stDotCR
			case '\n':
				nd = d.bare(dst, nd)
				d.state = stData
			default:
				nd = d.put(dst, nd, c) // RFC 5321 §4.5.2: the leading dot is removed
				d.state = stData
			}
		case stDotCR:
			if c == '\n' {
				ns++
				d.state = stEnd
				continue
			}
			nd = d.bare(dst, nd) // ".<CR>" then something else: a bare CR
			d.state = stData     // reprocess c inside the line
		}
	}
	d.n += int64(nd)
	if d.opts.MaxSize > 0 && d.n > d.opts.MaxSize && d.err == nil {
		d.err = ErrTooLarge
	}
	if d.err != nil {
		nd = 0
	}
	return nd, ns
}

// put writes c at dst[nd] unless an error has been recorded.
func (d *decoder) put(dst []byte, nd int, c byte) int {
	if d.err != nil {
		return nd
	}
	dst[nd] = c
	return nd + 1
}

// crlf writes CRLF at dst[nd:] unless an error has been recorded.
func (d *decoder) crlf(dst []byte, nd int) int {
	if d.err != nil {
		return nd
	}
	dst[nd], dst[nd+1] = '\r', '\n'
	return nd + 2
}

// bare handles a bare CR or LF: CRLF in its place when normalising, else
// ErrBareLineEnding.
func (d *decoder) bare(dst []byte, nd int) int {
	if d.opts.Normalize {
		return d.crlf(dst, nd)
	}
	if d.err == nil {
		d.err = ErrBareLineEnding
	}
	return nd
}

// lineEnd returns the index of the first CR or LF in b, or len(b).
func lineEnd(b []byte) int {
	i := bytes.IndexByte(b, '\r')
	if i < 0 {
		i = len(b)
	}
	if j := bytes.IndexByte(b[:i], '\n'); j >= 0 {
		i = j
	}
	return i
}

// finish handles the end of BDAT data: a final bare CR is an error like any
// other, or becomes CRLF, which it returns for the caller to emit.
func (d *decoder) finish() string {
	st := d.state
	d.state = stEnd
	if st != stCR {
		return ""
	}
	if !d.opts.Normalize {
		if d.err == nil {
			d.err = ErrBareLineEnding
		}
		return ""
	}
	d.n += 2
	if d.opts.MaxSize > 0 && d.n > d.opts.MaxSize && d.err == nil {
		d.err = ErrTooLarge
		return ""
	}
	return "\r\n"
}

// DataReader decodes message content. Made by [Reader.DataReader] it reads
// SMTP DATA content up to <CRLF>.<CRLF> (RFC 5321 §4.5.2, §4.1.1.4), removes
// dot-stuffing, and leaves what follows buffered for the next command. Made by
// [NewChunkReader] it checks line endings of length-counted content (BDAT).
//
// Read returns ErrBareLineEnding or ErrTooLarge as soon as it sees the
// problem; the caller must then call [DataReader.Drain] to consume the rest of
// the data before replying. Errors are sticky: every later Read returns the
// same one. A DataReader is not safe for concurrent use.
type DataReader struct {
	d    decoder
	br   *bufio.Reader // DATA: read directly from the line reader's buffer
	src  io.Reader     // BDAT: read through buf
	serr error         // BDAT: error from src not yet returned
	buf  []byte
	bs   []byte // unconsumed part of buf
	pend []byte // decoded octets that did not fit a short Read
	tmp  [2]byte
}

// DataReader returns a reader of DATA content that follows on r. It reads
// through r's buffer, so r must not be used until the DataReader has returned
// io.EOF or Drain has returned; then r is positioned just after the end
// marker. Each call allocates one small DataReader.
func (r *Reader) DataReader(opts DataOptions) *DataReader {
	return &DataReader{d: decoder{opts: opts, dots: true}, br: r.br}
}

// NewChunkReader returns a reader that checks (or normalises) line endings of
// binary-safe, length-counted content such as the concatenated BDAT chunks of
// a message whose BODY is not BINARYMIME. It does no dot handling. A bare CR
// at the very end of src counts. The caller keeps ownership of src, which is
// not closed.
func NewChunkReader(src io.Reader, opts DataOptions) *DataReader {
	return &DataReader{d: decoder{opts: opts}, src: src, buf: make([]byte, bufSize)}
}

// Size reports the octets produced so far.
func (r *DataReader) Size() int64 { return r.d.n }

// input returns the undecoded input available, reading more if none is. It
// returns nil, nil at the end of a BDAT source.
func (r *DataReader) input() ([]byte, error) {
	if r.br != nil {
		if r.br.Buffered() == 0 {
			if _, err := r.br.Peek(1); err != nil {
				return nil, unexpectedEOF(err, 1)
			}
		}
		b, _ := r.br.Peek(r.br.Buffered())
		return b, nil
	}
	for empty := 0; len(r.bs) == 0; empty++ {
		if err := r.serr; err != nil {
			// Like bufio, an error is returned once, after the data that
			// came with it.
			r.serr = nil
			if err == io.EOF {
				return nil, nil
			}
			return nil, err
		}
		if empty == 100 {
			return nil, io.ErrNoProgress
		}
		var n int
		n, r.serr = r.src.Read(r.buf)
		r.bs = r.buf[:n]
	}
	return r.bs, nil
}

// step decodes one batch of input into dst.
func (r *DataReader) step(dst []byte) (int, error) {
	src, err := r.input()
	if err != nil {
		return 0, err
	}
	if src == nil {
		return copy(dst, r.d.finish()), nil
	}
	nd, ns := r.d.transform(dst, src)
	if r.br != nil {
		r.br.Discard(ns)
	} else {
		r.bs = r.bs[ns:]
	}
	return nd, nil
}

// Read implements io.Reader. It returns io.EOF at the end of the data.
func (r *DataReader) Read(p []byte) (int, error) {
	if len(r.pend) > 0 {
		n := copy(p, r.pend)
		r.pend = r.pend[n:]
		return n, nil
	}
	for {
		if r.d.err != nil {
			return 0, r.d.err
		}
		if r.d.state == stEnd {
			return 0, io.EOF
		}
		dst := p
		if len(p) < len(r.tmp) {
			dst = r.tmp[:]
		}
		n, err := r.step(dst)
		if err != nil {
			return 0, err
		}
		if r.d.err != nil {
			return 0, r.d.err
		}
		if n > 0 {
			if len(p) < len(r.tmp) {
				c := copy(p, r.tmp[:n])
				r.pend = r.tmp[c:n]
				return c, nil
			}
			return n, nil
		}
	}
}

// Drain consumes the rest of the data, up to and including the end marker
// (DATA) or the end of the source (BDAT), discarding it. It returns the first
// error that Read reported (ErrBareLineEnding or ErrTooLarge), nil if the data
// was good, or the I/O error that stopped it.
func (r *DataReader) Drain() error {
	var scratch [bufSize]byte
	for r.d.state != stEnd {
		if _, err := r.step(scratch[:]); err != nil {
			return err
		}
	}
	return r.d.err
}
