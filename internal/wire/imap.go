package wire

import (
	"errors"
	"fmt"
	"io"
	"strconv"
)

// IMAPLimits bound one IMAP command (RFC 9051 §2.2, §4.3; RFC 7888). Every
// field must be positive; the protocol server turns its configuration (zero
// for the default, negative for unlimited) into these numbers.
type IMAPLimits struct {
	// MaxLine is the longest line of a command, without CRLF.
	MaxLine int
	// MaxLiteral is the longest literal read into memory.
	MaxLiteral int64
	// MaxNonSync is the longest non-synchronizing literal ({n+}); LITERAL-
	// servers use 4096 (RFC 7888 §4).
	MaxNonSync int64
	// MaxTotal bounds all lines and in-memory literals of one command.
	MaxTotal int64
	// MaxDepth bounds the nesting of parenthesized lists.
	MaxDepth int
}

// IMAPError is a malformed or oversized IMAP command. The server answers it
// with a tagged BAD (or NO when Code is "TOOBIG" and the client is waiting
// for a continuation), and closes the connection when Fatal is set because
// the rest of the command cannot be told from the next one.
type IMAPError struct {
	Msg   string
	Code  string // response code, e.g. "TOOBIG"; "" for none
	Fatal bool
}

func (e *IMAPError) Error() string { return "imap: " + e.Msg }

func syntaxErr(format string, args ...any) error {
	return &IMAPError{Msg: fmt.Sprintf(format, args...)}
}

// IsIMAPError reports whether err is an *IMAPError, and returns it.
func IsIMAPError(err error) (*IMAPError, bool) {
	var e *IMAPError
	ok := errors.As(err, &e)
	return e, ok
}

// IMAPScanner reads the tokens of IMAP commands (RFC 9051 §9) from a
// Reader: atoms, quoted strings, literals ({n}, {n+}, ~{n} for BINARY),
// and parenthesized lists, across the lines a literal splits a command
// into. It holds at most one line and one in-memory literal, within
// IMAPLimits. Literals can also be streamed (APPEND). An IMAPScanner is not
// safe for concurrent use.
type IMAPScanner struct {
	r     *Reader
	lim   IMAPLimits
	cont  func(n int64) error
	line  []byte
	pos   int
	total int64
	depth int
	buf   []byte
}

// NewIMAPScanner returns a scanner reading from r.
func NewIMAPScanner(r *Reader) *IMAPScanner { return &IMAPScanner{r: r} }

// Begin reads the first line of the next command. cont is called before a
// synchronizing literal of n octets is read, to send the continuation
// request ("+ ...") and flush it. A line over the limit gives an
// *IMAPError and the line is skipped.
func (s *IMAPScanner) Begin(lim IMAPLimits, cont func(n int64) error) error {
	s.lim, s.cont = lim, cont
	s.total, s.depth = 0, 0
	s.line, s.pos = nil, 0
	return s.nextLine()
}

func (s *IMAPScanner) nextLine() error {
	line, err := s.r.ReadLine(s.lim.MaxLine)
	if errors.Is(err, ErrLineTooLong) {
		s.line, s.pos = nil, 0
		return &IMAPError{Msg: "line too long", Code: "TOOBIG"}
	}
	if err != nil {
		return err
	}
	s.total += int64(len(line)) + 2
	if s.total > s.lim.MaxTotal {
		s.line, s.pos = nil, 0
		return &IMAPError{Msg: "command too long", Code: "TOOBIG", Fatal: true}
	}
	s.line, s.pos = line, 0
	return nil
}

// Rest returns the unread part of the current line, without consuming it.
func (s *IMAPScanner) Rest() []byte { return s.line[s.pos:] }

// Peek returns the next octet of the line, or 0 at its end.
func (s *IMAPScanner) Peek() byte {
	if s.pos < len(s.line) {
		return s.line[s.pos]
	}
	return 0
}

// EOL reports whether the line (and so the command, unless it ends in a
// literal) has been read to its end.
func (s *IMAPScanner) EOL() bool { return s.pos >= len(s.line) }

// Accept consumes c if it is next, case-insensitively for letters.
func (s *IMAPScanner) Accept(c byte) bool {
	if s.pos < len(s.line) && lowerASCII(s.line[s.pos]) == lowerASCII(c) {
		s.pos++
		return true
	}
	return false
}

// AcceptFold consumes the ASCII string w if it is next, case-insensitively.
func (s *IMAPScanner) AcceptFold(w string) bool {
	if len(s.line)-s.pos < len(w) {
		return false
	}
	for i := 0; i < len(w); i++ {
		if lowerASCII(s.line[s.pos+i]) != lowerASCII(w[i]) {
			return false
		}
	}
	s.pos += len(w)
	return true
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// Expect consumes c or returns a syntax error.
func (s *IMAPScanner) Expect(c byte) error {
	if !s.Accept(c) {
		return s.unexpected(strconv.QuoteRune(rune(c)))
	}
	return nil
}

// SP consumes one space.
func (s *IMAPScanner) SP() error { return s.Expect(' ') }

func (s *IMAPScanner) unexpected(want string) error {
	if s.EOL() {
		return syntaxErr("expected %s at end of line", want)
	}
	return syntaxErr("expected %s at column %d", want, s.pos+1)
}

// End checks that the command is complete.
func (s *IMAPScanner) End() error {
	if !s.EOL() {
		return syntaxErr("unexpected text at column %d", s.pos+1)
	}
	return nil
}

// IsAtomChar reports whether c is an ATOM-CHAR (RFC 9051 §9): a 7-bit
// character other than a control, space, or one of (){%*"\].
func IsAtomChar(c byte) bool {
	if c <= ' ' || c >= 0x7f {
		return false
	}
	switch c {
	case '(', ')', '{', '%', '*', '"', '\\', ']':
		return false
	}
	return true
}

// Token consumes a run of ATOM-CHARs and of the octets in extra, and
// returns it ("" if there is none).
func (s *IMAPScanner) Token(extra string) string {
	start := s.pos
	for s.pos < len(s.line) {
		c := s.line[s.pos]
		if !IsAtomChar(c) && !containsByte(extra, c) {
			break
		}
		s.pos++
	}
	return string(s.line[start:s.pos])
}

func containsByte(s string, c byte) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return true
		}
	}
	return false
}

// TokenFunc consumes a run of octets for which ok is true, and returns it.
func (s *IMAPScanner) TokenFunc(ok func(byte) bool) string {
	start := s.pos
	for s.pos < len(s.line) && ok(s.line[s.pos]) {
		s.pos++
	}
	return string(s.line[start:s.pos])
}

// Atom reads an atom.
func (s *IMAPScanner) Atom() (string, error) { return s.need(s.Token(""), "atom") }

func (s *IMAPScanner) need(tok, what string) (string, error) {
	if tok == "" {
		return "", s.unexpected(what)
	}
	return tok, nil
}

// Number reads a number (RFC 9051 §9: 32-bit unsigned).
func (s *IMAPScanner) Number() (uint32, error) {
	n, err := s.Number64()
	if err != nil || n > 1<<32-1 {
		return 0, syntaxErr("bad number")
	}
	return uint32(n), nil
}

// Number64 reads a 63-bit unsigned number (RFC 9051 number64).
func (s *IMAPScanner) Number64() (uint64, error) {
	start := s.pos
	for s.pos < len(s.line) && '0' <= s.line[s.pos] && s.line[s.pos] <= '9' {
		s.pos++
	}
	n, err := strconv.ParseUint(string(s.line[start:s.pos]), 10, 63)
	if err != nil {
		s.pos = start
		return 0, s.unexpected("number")
	}
	return n, nil
}

// Quoted reads a quoted string, allowing the escapes \" and \\ and, as
// IMAP4rev2 and UTF8=ACCEPT do, 8-bit octets (the caller checks UTF-8).
func (s *IMAPScanner) Quoted() (string, error) {
	if !s.Accept('"') {
		return "", s.unexpected("quoted string")
	}
	s.buf = s.buf[:0]
	for s.pos < len(s.line) {
		c := s.line[s.pos]
		s.pos++
		switch c {
		case '"':
			return string(s.buf), nil
		case '\\':
			if s.pos < len(s.line) && (s.line[s.pos] == '"' || s.line[s.pos] == '\\') {
				s.buf = append(s.buf, s.line[s.pos])
				s.pos++
				continue
			}
			return "", syntaxErr("bad escape in quoted string")
		case '\r', '\n', 0:
			return "", syntaxErr("bad character in quoted string")
		}
		s.buf = append(s.buf, c)
	}
	return "", syntaxErr("unterminated quoted string")
}

// IsLiteral reports whether a literal ({n}, {n+} or ~{n}) is next.
func (s *IMAPScanner) IsLiteral() bool {
	c := s.Peek()
	return c == '{' || c == '~' && s.pos+1 < len(s.line) && s.line[s.pos+1] == '{'
}

// literalHeader consumes a literal's "{n}" or "{n+}" (with "~" if binary
// is allowed), which must end the line.
func (s *IMAPScanner) literalHeader(allowBinary bool) (n int64, sync, binary bool, err error) {
	start := s.pos
	if s.Accept('~') {
		if !allowBinary {
			s.pos = start
			return 0, false, false, syntaxErr("literal8 not allowed here")
		}
		binary = true
	}
	if !s.Accept('{') {
		s.pos = start
		return 0, false, false, s.unexpected("literal")
	}
	u, err := s.Number64()
	if err != nil {
		s.pos = start
		return 0, false, false, syntaxErr("bad literal length")
	}
	sync = !s.Accept('+')
	if !s.Accept('}') || !s.EOL() {
		s.pos = start
		return 0, false, false, syntaxErr("bad literal")
	}
	return int64(u), sync, binary, nil
}

// startLiteral checks n against max and asks for a synchronizing
// literal's data.
func (s *IMAPScanner) startLiteral(n int64, sync bool, max int64) error {
	if !sync && n > s.lim.MaxNonSync {
		// RFC 7888 §4: the client sends the data anyway; we cannot tell it
		// from the next command.
		return &IMAPError{Msg: "non-synchronizing literal too big", Code: "TOOBIG", Fatal: true}
	}
	if n > max {
		return &IMAPError{Msg: "literal too big", Code: "TOOBIG"}
	}
	if sync && s.cont != nil {
		return s.cont(n)
	}
	return nil
}

// Literal reads a literal into memory, and the line after it. The result
// is valid until the next call on s.
func (s *IMAPScanner) Literal() ([]byte, error) {
	n, sync, _, err := s.literalHeader(false)
	if err != nil {
		return nil, err
	}
	max := min(s.lim.MaxLiteral, s.lim.MaxTotal-s.total)
	if err := s.startLiteral(n, sync, max); err != nil {
		return nil, err
	}
	s.total += n
	if cap(s.buf) < int(n) {
		s.buf = make([]byte, n)
	}
	s.buf = s.buf[:n]
	if _, err := s.r.ReadFull(s.buf); err != nil {
		return nil, unexpectedEOF(err, 1)
	}
	data := s.buf
	// The line after the literal goes in a new buffer's place: data stays
	// valid because nextLine does not use s.buf.
	if err := s.nextLine(); err != nil {
		return nil, err
	}
	return data, nil
}

// LiteralReader starts a literal that is streamed rather than held in
// memory (APPEND): it returns a reader of its n octets, and whether it is
// a literal8 (~{n}, RFC 3516). The caller reads it to EOF and then calls
// Next to read the rest of the command. max bounds n; over it the error
// has Code "TOOBIG".
func (s *IMAPScanner) LiteralReader(max int64) (r io.Reader, n int64, binary bool, err error) {
	n, sync, binary, err := s.literalHeader(true)
	if err != nil {
		return nil, 0, false, err
	}
	if err := s.startLiteral(n, sync, max); err != nil {
		return nil, 0, false, err
	}
	return s.r.Chunk(n), n, binary, nil
}

// Next reads the line that follows a streamed literal.
func (s *IMAPScanner) Next() error { return s.nextLine() }

// String reads a quoted string or a literal.
func (s *IMAPScanner) String() (string, error) {
	if s.IsLiteral() {
		b, err := s.Literal()
		return string(b), err
	}
	return s.Quoted()
}

// IsAStringChar reports whether c is an ASTRING-CHAR: an ATOM-CHAR or "]".
func IsAStringChar(c byte) bool { return IsAtomChar(c) || c == ']' }

// AString reads an astring: an atom (which may contain "]") or a string.
func (s *IMAPScanner) AString() (string, error) {
	switch c := s.Peek(); {
	case c == '"' || s.IsLiteral():
		return s.String()
	}
	return s.need(s.Token("]"), "string")
}

// NString reads a string or NIL; ok is false for NIL.
func (s *IMAPScanner) NString() (str string, ok bool, err error) {
	if s.Peek() == 'N' || s.Peek() == 'n' {
		save := s.pos
		if s.AcceptFold("NIL") && !IsAtomChar(s.Peek()) {
			return "", false, nil
		}
		s.pos = save
	}
	str, err = s.String()
	return str, err == nil, err
}

// List reads a parenthesized list, calling elem for each element; the
// elements are separated by single spaces. An empty list "()" is accepted
// if empty is set.
func (s *IMAPScanner) List(empty bool, elem func() error) error {
	if err := s.Expect('('); err != nil {
		return err
	}
	s.depth++
	defer func() { s.depth-- }()
	if s.depth > s.lim.MaxDepth {
		return syntaxErr("lists nested too deeply")
	}
	if s.Accept(')') {
		if !empty {
			return syntaxErr("empty list")
		}
		return nil
	}
	for {
		if err := elem(); err != nil {
			return err
		}
		if s.Accept(')') {
			return nil
		}
		if err := s.SP(); err != nil {
			return s.unexpected(`")" or " "`)
		}
	}
}

// Nest counts a level of nesting that is not a List, such as a SEARCH
// key; the returned function ends it. Over MaxDepth it returns an error.
func (s *IMAPScanner) Nest() (func(), error) {
	s.depth++
	if s.depth > s.lim.MaxDepth {
		s.depth--
		return nil, syntaxErr("nested too deeply")
	}
	return func() { s.depth-- }, nil
}

// Discard skips the rest of the command after an error: the rest of the
// line and, as long as the line ends in a non-synchronizing literal, that
// literal and the next line. It stops at a synchronizing literal, which
// the client sends only after a continuation request.
func (s *IMAPScanner) Discard() error {
	for {
		rest := s.line[s.pos:]
		s.pos = len(s.line)
		n, ok := nonSyncSuffix(rest)
		if !ok {
			return nil
		}
		if n > s.lim.MaxNonSync {
			return &IMAPError{Msg: "non-synchronizing literal too big", Code: "TOOBIG", Fatal: true}
		}
		if err := s.r.Discard(n); err != nil {
			return err
		}
		if err := s.nextLine(); err != nil {
			if e, ok := IsIMAPError(err); ok && !e.Fatal {
				continue
			}
			return err
		}
	}
}

// nonSyncSuffix reports whether line ends in a non-synchronizing literal
// "{n+}" and returns n.
func nonSyncSuffix(line []byte) (int64, bool) {
	if len(line) < 4 || line[len(line)-1] != '}' || line[len(line)-2] != '+' {
		return 0, false
	}
	i := len(line) - 3
	for i >= 0 && '0' <= line[i] && line[i] <= '9' {
		i--
	}
	if i < 0 || line[i] != '{' || i == len(line)-3 {
		return 0, false
	}
	n, err := strconv.ParseInt(string(line[i+1:len(line)-2]), 10, 64)
	if err != nil {
		return 1 << 62, true
	}
	return n, true
}
