package relay

import "io"

// base64Reader decodes base64 (RFC 2045 §6.8) leniently, as mail clients
// do: characters outside the alphabet are ignored (§6.8 says so for line
// breaks and the like), "=" ends a quantum wherever it appears (some
// encoders concatenate padded blocks), and an incomplete quantum at the
// end gives the octets it holds.
type base64Reader struct {
	r   io.Reader
	in  [4096]byte
	out []byte
	buf [3 * 4096 / 4 * 2]byte
	q   uint32 // the sextets of the quantum so far
	n   int    // how many
	err error
}

func newBase64Reader(r io.Reader) *base64Reader { return &base64Reader{r: r} }

// base64Value maps an octet to its sextet, or 0xff.
var base64Value = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for i := 0; i < len(alphabet); i++ {
		t[alphabet[i]] = byte(i)
	}
	return t
}()

func (d *base64Reader) Read(p []byte) (int, error) {
	for len(d.out) == 0 {
		if d.err != nil {
			return 0, d.err
		}
		n, err := d.r.Read(d.in[:])
		out := d.buf[:0]
		for _, c := range d.in[:n] {
			v := base64Value[c]
			if v != 0xff {
				d.q = d.q<<6 | uint32(v)
				d.n++
				if d.n == 4 {
					out = append(out, byte(d.q>>16), byte(d.q>>8), byte(d.q))
					d.q, d.n = 0, 0
				}
			} else if c == '=' {
				out = d.flush(out)
			}
		}
		if err != nil {
			out = d.flush(out)
			d.err = err
		}
		d.out = out
	}
	n := copy(p, d.out)
	d.out = d.out[n:]
	return n, nil
}

// flush appends the octets of an incomplete quantum (RFC 2045 §6.8: two
// sextets hold one octet, three hold two) and starts a new one.
func (d *base64Reader) flush(out []byte) []byte {
	switch d.n {
	case 2:
		out = append(out, byte(d.q>>4))
	case 3:
		out = append(out, byte(d.q>>10), byte(d.q>>2))
	}
	d.q, d.n = 0, 0
	return out
}

// qpReader decodes quoted-printable (RFC 2045 §6.7) leniently: "=" and two
// hex digits give an octet (either case), "=" at the end of a line
// (possibly after white space) is a soft line break, white space at the
// end of a line is removed, and anything else, invalid "=" sequences and
// control characters included, passes as it is. Line breaks are kept as
// they are (CRLF or LF).
type qpReader struct {
	r     io.Reader
	in    [4096]byte
	out   []byte
	buf   []byte
	state int
	hi    byte   // qpHex: the first hex digit
	ws    []byte // white space held back until the line goes on
	err   error
}

// States of qpReader between input octets.
const (
	qpText  = iota
	qpEq          // after "="
	qpHex         // after "=" and a hex digit
	qpSoft        // after "=" and white space
	qpEqCR        // after "=" (and white space) and CR
	qpCR          // after CR in text
	qpMaxWS = 256 // white space held back at most
)

func newQPReader(r io.Reader) *qpReader { return &qpReader{r: r} }

func (d *qpReader) Read(p []byte) (int, error) {
	for len(d.out) == 0 {
		if d.err != nil {
			return 0, d.err
		}
		n, err := d.r.Read(d.in[:])
		d.buf = d.buf[:0]
		for _, c := range d.in[:n] {
			d.octet(c)
		}
		if err != nil {
			d.end()
			d.err = err
		}
		d.out = d.buf
	}
	n := copy(p, d.out)
	d.out = d.out[n:]
	return n, nil
}

func (d *qpReader) octet(c byte) {
	switch d.state {
	case qpEq:
		if _, ok := unhex(c); ok {
			d.hi, d.state = c, qpHex
			return
		}
		switch c {
		case '\r':
			d.state = qpEqCR
		case '\n':
			d.state = qpText // soft line break
		case ' ', '\t':
			d.state = qpSoft
		default:
			d.buf = append(d.buf, '=')
			d.state = qpText
			d.octet(c)
		}
		return
	case qpHex:
		if l, ok := unhex(c); ok {
			h, _ := unhex(d.hi)
			d.buf = append(d.buf, h<<4|l)
			d.state = qpText
			return
		}
		d.buf = append(d.buf, '=', d.hi)
		d.state = qpText
		d.octet(c)
		return
	case qpSoft:
		switch c {
		case ' ', '\t':
		case '\r':
			d.state = qpEqCR
		case '\n':
			d.state = qpText
		default:
			// Not a soft line break after all: "=" and white space in
			// the middle of a line.
			d.buf = append(d.buf, '=', ' ')
			d.state = qpText
			d.octet(c)
		}
		return
	case qpEqCR:
		d.state = qpText
		if c != '\n' {
			d.octet(c) // a soft line break with a bare CR
		}
		return
	case qpCR:
		d.state = qpText
		if c == '\n' {
			d.ws = d.ws[:0]
			d.buf = append(d.buf, '\r', '\n')
			return
		}
		d.flushWS()
		d.buf = append(d.buf, '\r')
		d.octet(c)
		return
	}
	switch c {
	case '=':
		d.flushWS()
		d.state = qpEq
	case ' ', '\t':
		if len(d.ws) >= qpMaxWS {
			d.flushWS()
		}
		d.ws = append(d.ws, c)
	case '\r':
		d.state = qpCR
	case '\n':
		d.ws = d.ws[:0] // trailing white space (RFC 2045 §6.7 (3))
		d.buf = append(d.buf, '\n')
	default:
		d.flushWS()
		d.buf = append(d.buf, c)
	}
}

func (d *qpReader) flushWS() {
	d.buf = append(d.buf, d.ws...)
	d.ws = d.ws[:0]
}

// end flushes what is held at the end of the input.
func (d *qpReader) end() {
	switch d.state {
	case qpEq:
		d.buf = append(d.buf, '=')
	case qpHex:
		d.buf = append(d.buf, '=', d.hi)
	case qpCR:
		d.buf = append(d.buf, '\r')
	}
	d.ws = d.ws[:0] // trailing white space at the end of the body
	d.state = qpText
}
