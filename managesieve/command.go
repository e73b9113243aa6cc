package managesieve

import (
	"errors"
	"io"
	"strconv"

	"github.com/postyard/postyard/internal/wire"
)

// syntaxError is a malformed or oversized command. The server answers it
// with NO and goes on with the next command, or, when fatal is set because
// the rest of the command cannot be told from the next one, with BYE.
type syntaxError struct {
	msg    string
	tooBig bool // a literal over its limit, skipped
	fatal  bool
}

func (e *syntaxError) Error() string { return "managesieve: " + e.msg }

func syntaxErr(msg string) error { return &syntaxError{msg: msg} }

// maxContinuations bounds the lines of one command: every argument but
// the last may be a literal, and no command has more than three arguments.
// Discarding a bad command follows at most this many literals too.
const maxContinuations = 8

// scanner reads the tokens of ManageSieve commands (RFC 5804 §4) from a
// wire.Reader: atoms, numbers, quoted strings and literals, across the
// lines a literal splits a command into. Literals are never synchronizing
// in ManageSieve: "{n}" and "{n+}" from the client are both followed by
// the data at once. A scanner is not safe for concurrent use.
type scanner struct {
	r       *wire.Reader
	maxLine int   // longest line, CRLF excluded
	discard int64 // longest literal skipped after an error instead of closing
	line    []byte
	pos     int
	lines   int // lines of the current command
	buf     []byte
}

// begin reads the first line of the next command.
func (s *scanner) begin() error {
	s.lines = 0
	return s.nextLine()
}

func (s *scanner) nextLine() error {
	s.lines++
	line, err := s.r.ReadLine(s.maxLine)
	if errors.Is(err, wire.ErrLineTooLong) {
		s.line, s.pos = nil, 0
		return &syntaxError{msg: "Line too long"}
	}
	if err != nil {
		s.line, s.pos = nil, 0
		return err
	}
	s.line, s.pos = line, 0
	return nil
}

// eol reports whether the current line has been read to its end.
func (s *scanner) eol() bool { return s.pos >= len(s.line) }

func (s *scanner) peek() byte {
	if s.pos < len(s.line) {
		return s.line[s.pos]
	}
	return 0
}

// sp consumes the space before an argument. Further spaces are tolerated.
func (s *scanner) sp() error {
	if s.peek() != ' ' {
		return s.unexpected("a space")
	}
	for s.peek() == ' ' {
		s.pos++
	}
	return nil
}

// more consumes the space before an optional argument and reports whether
// one follows.
func (s *scanner) more() bool {
	save := s.pos
	for s.peek() == ' ' {
		s.pos++
	}
	if s.eol() {
		s.pos = save
		return false
	}
	return s.pos > save
}

func (s *scanner) unexpected(want string) error {
	if s.eol() {
		return syntaxErr("Expected " + want + " at end of line")
	}
	return syntaxErr("Expected " + want + " at column " + strconv.Itoa(s.pos+1))
}

// end checks that the command is complete (trailing spaces are
// tolerated).
func (s *scanner) end() error {
	for s.peek() == ' ' {
		s.pos++
	}
	if !s.eol() {
		return syntaxErr("Unexpected text at column " + strconv.Itoa(s.pos+1))
	}
	return nil
}

// isAtomChar reports whether c may be part of a command name or an atom:
// a printable 7-bit character other than the string delimiters.
func isAtomChar(c byte) bool {
	return c > ' ' && c < 0x7f && c != '"' && c != '{' && c != '}' && c != '(' && c != ')' && c != '\\'
}

// atom reads an atom; "" if there is none.
func (s *scanner) atom() string {
	start := s.pos
	for s.pos < len(s.line) && isAtomChar(s.line[s.pos]) {
		s.pos++
	}
	return string(s.line[start:s.pos])
}

// number reads a number: a 32-bit unsigned integer (RFC 5804 §4).
func (s *scanner) number() (int64, error) {
	start := s.pos
	for s.pos < len(s.line) && '0' <= s.line[s.pos] && s.line[s.pos] <= '9' {
		s.pos++
	}
	if s.pos == start {
		return 0, s.unexpected("a number")
	}
	n, err := strconv.ParseUint(string(s.line[start:s.pos]), 10, 32)
	if err != nil {
		return 0, syntaxErr("Number too large")
	}
	return int64(n), nil
}

// isString reports whether a quoted string or a literal is next.
func (s *scanner) isString() bool { return s.peek() == '"' || s.peek() == '{' }

// str reads a string: quoted or literal. max bounds a literal's length; a
// longer one gives a *syntaxError with tooBig set. The result is a new
// slice. (RFC 5804 §4 limits quoted strings to 1024 octets; longer ones,
// up to the line length, are accepted.)
func (s *scanner) str(max int64) ([]byte, error) {
	switch s.peek() {
	case '"':
		return s.quoted()
	case '{':
		return s.literal(max)
	}
	return nil, s.unexpected("a string")
}

// quoted reads a quoted string: any octet but NUL, CR and LF, with "\"
// escaping only "\" and `"`.
func (s *scanner) quoted() ([]byte, error) {
	s.pos++
	s.buf = s.buf[:0]
	for s.pos < len(s.line) {
		c := s.line[s.pos]
		s.pos++
		switch c {
		case '"':
			return append([]byte(nil), s.buf...), nil
		case '\\':
			if s.pos < len(s.line) && (s.line[s.pos] == '"' || s.line[s.pos] == '\\') {
				s.buf = append(s.buf, s.line[s.pos])
				s.pos++
				continue
			}
			return nil, syntaxErr("Invalid escape in quoted string")
		case 0, '\r':
			return nil, syntaxErr("Invalid character in quoted string")
		}
		s.buf = append(s.buf, c)
	}
	return nil, syntaxErr("Unterminated quoted string")
}

// literalHeader parses "{n}" or "{n+}", which must be all of line. A
// length too large for an int64 comes back as hugeLiteral.
func literalHeader(line []byte) (n int64, ok bool) {
	if len(line) < 3 || line[0] != '{' || line[len(line)-1] != '}' {
		return 0, false
	}
	digits := line[1 : len(line)-1]
	if len(digits) > 0 && digits[len(digits)-1] == '+' {
		digits = digits[:len(digits)-1]
	}
	if len(digits) == 0 {
		return 0, false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
		if n > hugeLiteral/10 {
			return hugeLiteral, true
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// hugeLiteral stands for the length of a literal too long to count.
const hugeLiteral = 1 << 62

// literal reads a literal whose header ends the line, then the line that
// continues the command after it.
func (s *scanner) literal(max int64) ([]byte, error) {
	n, ok := literalHeader(s.line[s.pos:])
	if !ok {
		return nil, syntaxErr("Invalid literal")
	}
	s.pos = len(s.line)
	if n > max {
		// The client sends the data without waiting: skip it, or give up
		// on the connection when it is too much to skip.
		if n > s.discard {
			return nil, &syntaxError{msg: "Literal too large", tooBig: true, fatal: true}
		}
		if err := s.r.Discard(n); err != nil {
			return nil, err
		}
		if err := s.continuation(); err != nil {
			return nil, err
		}
		// The rest of the command is discarded by the caller.
		return nil, &syntaxError{msg: "Literal too large", tooBig: true}
	}
	data := make([]byte, n)
	if _, err := s.r.ReadFull(data); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	if err := s.continuation(); err != nil {
		return nil, err
	}
	return data, nil
}

// continuation reads the line after a literal.
func (s *scanner) continuation() error {
	if s.lines >= maxContinuations {
		return &syntaxError{msg: "Too many literals in one command", fatal: true}
	}
	return s.nextLine()
}

// skip discards the rest of a command after an error: the rest of the
// line and, as long as it ends in a literal header, the literal and the
// line after it. It returns a fatal *syntaxError when that cannot be done
// within the limits.
func (s *scanner) skip() error {
	for {
		rest := s.line[s.pos:]
		s.pos = len(s.line)
		i := lastByte(rest, '{')
		if i < 0 {
			return nil
		}
		n, ok := literalHeader(rest[i:])
		if !ok {
			return nil
		}
		if n > s.discard || s.lines >= maxContinuations {
			return &syntaxError{msg: "Literal too large", fatal: true}
		}
		if err := s.r.Discard(n); err != nil {
			return err
		}
		s.lines++
		line, err := s.r.ReadLine(s.maxLine)
		if err != nil && !errors.Is(err, wire.ErrLineTooLong) {
			return err
		}
		s.line, s.pos = line, 0
	}
}

func lastByte(b []byte, c byte) int {
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == c {
			return i
		}
	}
	return -1
}
