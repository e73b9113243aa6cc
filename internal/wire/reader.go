package wire

import (
	"bufio"
	"errors"
	"io"
)

// ErrLineTooLong is returned by [Reader.ReadLine] when a line exceeds the
// limit. The rest of the line has been consumed, so the reader is positioned
// at the start of the next line.
var ErrLineTooLong = errors.New("wire: line too long")

// bufSize is the size of the read buffer. Lines up to this length are
// returned without copying.
const bufSize = 4096

// Reader reads protocol lines and data from a connection. It is not safe for
// concurrent use.
type Reader struct {
	br   *bufio.Reader
	long []byte // reused for lines longer than the buffer
}

// NewReader returns a Reader reading from r.
func NewReader(r io.Reader) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, bufSize)}
}

// Reset discards any buffered input and reads from r from now on. After
// STARTTLS this drops whatever the client pipelined before the handshake
// (RFC 3207 §4.2).
func (r *Reader) Reset(rd io.Reader) { r.br.Reset(rd) }

// Buffered reports how many bytes are buffered but not yet read.
func (r *Reader) Buffered() int { return r.br.Buffered() }

// ReadLine returns the next line without its line ending. Lines end in CRLF;
// a bare LF is accepted as a command line ending too, as most servers do, and
// a CR before it is removed. max is the longest line accepted, without the
// line ending. A longer line is consumed up to its end and ErrLineTooLong is
// returned. The returned slice is valid until the next call on r.
func (r *Reader) ReadLine(max int) ([]byte, error) {
	line, err := r.br.ReadSlice('\n')
	if err == nil {
		return trimEOL(line, max)
	}
	if err != bufio.ErrBufferFull {
		return nil, unexpectedEOF(err, len(line))
	}
	r.long = append(r.long[:0], line...)
	for {
		line, err = r.br.ReadSlice('\n')
		if len(r.long) <= max+2 {
			r.long = append(r.long, line...)
		}
		switch err {
		case nil:
			if len(r.long) > max+2 {
				return nil, ErrLineTooLong
			}
			return trimEOL(r.long, max)
		case bufio.ErrBufferFull:
		default:
			return nil, unexpectedEOF(err, 1)
		}
	}
}

func trimEOL(line []byte, max int) ([]byte, error) {
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	if len(line) > max {
		return nil, ErrLineTooLong
	}
	return line, nil
}

// unexpectedEOF turns io.EOF in the middle of a line into io.ErrUnexpectedEOF.
func unexpectedEOF(err error, partial int) error {
	if err == io.EOF && partial > 0 {
		return io.ErrUnexpectedEOF
	}
	return err
}

// ReadFull reads exactly len(p) bytes, for length-counted input such as BDAT
// chunks and IMAP literals.
func (r *Reader) ReadFull(p []byte) (int, error) { return io.ReadFull(r.br, p) }

// Discard skips n bytes. Input that ends first gives io.ErrUnexpectedEOF.
func (r *Reader) Discard(n int64) error {
	for n > 0 {
		d, err := r.br.Discard(int(min(n, 1<<30)))
		n -= int64(d)
		if err != nil {
			return unexpectedEOF(err, 1)
		}
	}
	return nil
}

// Chunk returns a reader of the next n bytes, for BDAT chunks and literals.
// It returns io.EOF after n bytes, and io.ErrUnexpectedEOF if the input ends
// before that, so a truncated chunk is never mistaken for a complete one.
// The caller must read the chunk to its end (or [Reader.Discard] the rest)
// before reading the next line.
func (r *Reader) Chunk(n int64) io.Reader { return &chunkReader{br: r.br, n: n} }

type chunkReader struct {
	br *bufio.Reader
	n  int64 // bytes left
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if c.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > c.n {
		p = p[:c.n]
	}
	n, err := c.br.Read(p)
	c.n -= int64(n)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}
