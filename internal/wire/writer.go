package wire

import (
	"bufio"
	"io"
	"strings"
)

// DataWriter encodes message content for DATA (RFC 5321 §4.5.2): it
// dot-stuffs lines that begin with ".", turns every bare CR and bare LF into
// CRLF so that no smuggling payload is ever sent on, and Close ends the data
// with <CRLF>.<CRLF>. Without dot-stuffing (for BDAT) it only fixes line
// endings. After Close the DataWriter starts afresh, so one can encode
// several messages in turn. It is not safe for concurrent use.
type DataWriter struct {
	w     io.Writer
	dots  bool
	state int // stBOL, stData or stCR
	buf   []byte
}

// NewDataWriter returns a DataWriter writing to w. dots selects
// dot-stuffing and the end marker (DATA); without it the writer only turns
// bare CR and LF into CRLF (BDAT).
func NewDataWriter(w io.Writer, dots bool) *DataWriter {
	return &DataWriter{w: w, dots: dots, buf: make([]byte, 0, bufSize+bufSize/2)}
}

// Write implements io.Writer; n counts input octets.
func (e *DataWriter) Write(p []byte) (int, error) {
	b := e.buf[:0]
	for n := 0; n < len(p); {
		switch c := p[n]; c {
		case '\r':
			if e.state == stCR {
				b = append(b, '\n', '\r') // previous CR was bare
			} else {
				b = append(b, '\r')
			}
			e.state = stCR
			n++
		case '\n':
			if e.state != stCR {
				b = append(b, '\r')
			}
			b = append(b, '\n')
			e.state = stBOL
			n++
		default:
			if e.state == stCR {
				b = append(b, '\n') // bare CR
				e.state = stBOL
			}
			if e.state == stBOL && c == '.' && e.dots {
				b = append(b, '.') // RFC 5321 §4.5.2
			}
			// Copy the run of ordinary octets that fits in the buffer.
			run := p[n:min(len(p), n+max(bufSize-len(b), 1))]
			i := lineEnd(run)
			b = append(b, run[:i]...)
			e.state = stData
			n += i
		}
		if len(b) >= bufSize {
			if _, err := e.w.Write(b); err != nil {
				return n, err
			}
			b = b[:0]
		}
	}
	e.buf = b[:0]
	if len(b) > 0 {
		if _, err := e.w.Write(b); err != nil {
			return len(p), err
		}
	}
	return len(p), nil
}

// Close completes the last line with CRLF if it was unterminated and, in dot
// mode, writes the end marker ".\r\n". It does not close the underlying
// writer.
func (e *DataWriter) Close() error {
	var tail string
	switch e.state {
	case stCR:
		tail = "\n"
	case stData:
		tail = "\r\n"
	}
	if e.dots {
		tail += ".\r\n"
	}
	e.state = stBOL
	if tail == "" {
		return nil
	}
	_, err := io.WriteString(e.w, tail)
	return err
}

// WriteReply writes an SMTP reply (RFC 5321 §4.2): code, an optional
// enhanced status code (RFC 3463, e.g. "2.0.0"; "" for none) and text, where
// each "\n"-separated line of text becomes one line of a multi-line reply
// ("250-..." then "250 ...", RFC 5321 §4.2.1); a CR before the "\n" is
// dropped. CR and other control characters in text and enhanced are replaced
// by spaces so a reply can never be split or forged. code should be a
// three-digit reply code; any other value is written as three digits of
// |code % 1000|, never as anything else. WriteReply does not flush w; it
// returns w's first write error.
func WriteReply(w *bufio.Writer, code int, enhanced, text string) error {
	c := code % 1000
	if c < 0 {
		c = -c
	}
	for {
		line, rest, more := strings.Cut(text, "\n")
		if more {
			line = strings.TrimSuffix(line, "\r")
		}
		w.WriteByte('0' + byte(c/100))
		w.WriteByte('0' + byte(c/10%10))
		w.WriteByte('0' + byte(c%10))
		if more {
			w.WriteByte('-')
		} else {
			w.WriteByte(' ')
		}
		if enhanced != "" {
			writeText(w, enhanced)
			if line != "" {
				w.WriteByte(' ')
			}
		}
		writeText(w, line)
		_, err := w.WriteString("\r\n")
		if !more || err != nil {
			return err
		}
		text = rest
	}
}

// writeText writes s with control characters replaced by spaces.
func writeText(w *bufio.Writer, s string) {
	for len(s) > 0 {
		i := 0
		for i < len(s) && s[i] >= ' ' && s[i] != 0x7f {
			i++
		}
		w.WriteString(s[:i])
		if i == len(s) {
			return
		}
		w.WriteByte(' ')
		s = s[i+1:]
	}
}
