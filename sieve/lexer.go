package sieve

import (
	"bytes"
	"strings"
	"unicode/utf8"
)

// The lexical structure of RFC 5228 §2 and §8.1.

type tokKind uint8

const (
	tEOF tokKind = iota
	tIdent
	tTag
	tNumber
	tString
	tLBracket
	tRBracket
	tLBrace
	tRBrace
	tLParen
	tRParen
	tComma
	tSemi
)

func (k tokKind) String() string {
	switch k {
	case tEOF:
		return "end of script"
	case tIdent:
		return "identifier"
	case tTag:
		return "tagged argument"
	case tNumber:
		return "number"
	case tString:
		return "string"
	case tLBracket:
		return "'['"
	case tRBracket:
		return "']'"
	case tLBrace:
		return "'{'"
	case tRBrace:
		return "'}'"
	case tLParen:
		return "'('"
	case tRParen:
		return "')'"
	case tComma:
		return "','"
	case tSemi:
		return "';'"
	}
	return "token"
}

type token struct {
	kind tokKind
	pos  Pos
	s    string // identifier (lower case), tag (lower case, without ':'), string value
	n    uint64
}

type lexer struct {
	src  []byte
	off  int
	line int
	col  int
}

func newLexer(src []byte) *lexer {
	return &lexer{src: src, line: 1, col: 1}
}

func (l *lexer) pos() Pos { return Pos{l.line, l.col} }

// advance moves over n bytes, tracking lines and columns.
func (l *lexer) advance(n int) {
	for n > 0 && l.off < len(l.src) {
		c := l.src[l.off]
		if c == '\n' {
			l.line++
			l.col = 1
			l.off++
			n--
			continue
		}
		_, sz := utf8.DecodeRune(l.src[l.off:])
		if sz > n {
			sz = n
		}
		l.off += sz
		n -= sz
		l.col++
	}
}

func (l *lexer) peekByte(i int) byte {
	if l.off+i < len(l.src) {
		return l.src[l.off+i]
	}
	return 0
}

// skip skips white space and comments (RFC 5228 §2.3).
func (l *lexer) skip() *Error {
	for l.off < len(l.src) {
		c := l.src[l.off]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			l.advance(1)
		case c == '#':
			for l.off < len(l.src) && l.src[l.off] != '\n' {
				l.advance(1)
			}
		case c == '/' && l.peekByte(1) == '*':
			p := l.pos()
			end := bytes.Index(l.src[l.off+2:], []byte("*/"))
			if end < 0 {
				return errorf(p, "unterminated bracket comment")
			}
			l.advance(end + 4)
		default:
			return nil
		}
	}
	return nil
}

func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func (l *lexer) next() (token, *Error) {
	if err := l.skip(); err != nil {
		return token{}, err
	}
	p := l.pos()
	if l.off >= len(l.src) {
		return token{kind: tEOF, pos: p}, nil
	}
	c := l.src[l.off]
	switch c {
	case '[':
		l.advance(1)
		return token{kind: tLBracket, pos: p}, nil
	case ']':
		l.advance(1)
		return token{kind: tRBracket, pos: p}, nil
	case '{':
		l.advance(1)
		return token{kind: tLBrace, pos: p}, nil
	case '}':
		l.advance(1)
		return token{kind: tRBrace, pos: p}, nil
	case '(':
		l.advance(1)
		return token{kind: tLParen, pos: p}, nil
	case ')':
		l.advance(1)
		return token{kind: tRParen, pos: p}, nil
	case ',':
		l.advance(1)
		return token{kind: tComma, pos: p}, nil
	case ';':
		l.advance(1)
		return token{kind: tSemi, pos: p}, nil
	case '"':
		return l.quoted(p)
	case ':':
		l.advance(1)
		if l.off >= len(l.src) || !isAlpha(l.src[l.off]) {
			return token{}, errorf(p, "expected identifier after ':'")
		}
		id := l.ident()
		return token{kind: tTag, pos: p, s: id}, nil
	}
	if isDigit(c) {
		return l.number(p)
	}
	if isAlpha(c) {
		id := l.ident()
		if id == "text" && l.peekByte(0) == ':' {
			l.advance(1)
			return l.multiline(p)
		}
		return token{kind: tIdent, pos: p, s: id}, nil
	}
	r, _ := utf8.DecodeRune(l.src[l.off:])
	return token{}, errorf(p, "unexpected character %q", r)
}

func (l *lexer) ident() string {
	start := l.off
	for l.off < len(l.src) && (isAlpha(l.src[l.off]) || isDigit(l.src[l.off])) {
		l.off++
		l.col++
	}
	return strings.ToLower(string(l.src[start:l.off]))
}

// number reads a number with an optional quantifier (RFC 5228 §2.4.1).
func (l *lexer) number(p Pos) (token, *Error) {
	var n uint64
	for l.off < len(l.src) && isDigit(l.src[l.off]) {
		d := uint64(l.src[l.off] - '0')
		if n > (1<<64-1-d)/10 {
			return token{}, errorf(p, "number is too large")
		}
		n = n*10 + d
		l.advance(1)
	}
	if l.off < len(l.src) {
		var shift uint
		switch l.src[l.off] {
		case 'k', 'K':
			shift = 10
		case 'm', 'M':
			shift = 20
		case 'g', 'G':
			shift = 30
		}
		if shift > 0 {
			l.advance(1)
			if n > (1<<64-1)>>shift {
				return token{}, errorf(p, "number is too large")
			}
			n <<= shift
		}
	}
	if l.off < len(l.src) && (isAlpha(l.src[l.off]) || isDigit(l.src[l.off])) {
		return token{}, errorf(l.pos(), "unexpected character %q after number", l.src[l.off])
	}
	return token{kind: tNumber, pos: p, n: n}, nil
}

// quoted reads a quoted string (RFC 5228 §2.4.2): \" and \\ are the only
// escapes; a backslash before any other character is dropped.
func (l *lexer) quoted(p Pos) (token, *Error) {
	l.advance(1)
	var b strings.Builder
	for {
		if l.off >= len(l.src) {
			return token{}, errorf(p, "unterminated string")
		}
		c := l.src[l.off]
		switch c {
		case '"':
			l.advance(1)
			return token{kind: tString, pos: p, s: b.String()}, nil
		case '\\':
			if l.off+1 >= len(l.src) {
				return token{}, errorf(p, "unterminated string")
			}
			l.advance(1)
			c = l.src[l.off]
		}
		if c == '\r' && l.peekByte(1) == '\n' {
			// CRLF inside a quoted string stays CRLF; a bare LF is taken as is.
			b.WriteString("\r\n")
			l.advance(2)
			continue
		}
		if c == '\n' {
			b.WriteString("\r\n")
			l.advance(1)
			continue
		}
		b.WriteByte(c)
		l.advance(1)
	}
}

// multiline reads the rest of a "text:" string (RFC 5228 §2.4.2): optional
// white space and a hash comment, a line break, then lines up to a line
// holding a single ".". A leading ".." loses one dot. Line ends become CRLF.
func (l *lexer) multiline(p Pos) (token, *Error) {
	for l.off < len(l.src) && (l.src[l.off] == ' ' || l.src[l.off] == '\t') {
		l.advance(1)
	}
	if l.off < len(l.src) && l.src[l.off] == '#' {
		for l.off < len(l.src) && l.src[l.off] != '\n' {
			l.advance(1)
		}
	}
	if l.off < len(l.src) && l.src[l.off] == '\r' {
		l.advance(1)
	}
	if l.off >= len(l.src) || l.src[l.off] != '\n' {
		return token{}, errorf(l.pos(), "expected line break after 'text:'")
	}
	l.advance(1)
	var b strings.Builder
	for {
		if l.off >= len(l.src) {
			return token{}, errorf(p, "unterminated multi-line string")
		}
		end := l.off
		for end < len(l.src) && l.src[end] != '\n' {
			end++
		}
		line := l.src[l.off:end]
		line = trimCR(line)
		if len(line) == 1 && line[0] == '.' {
			l.advance(end - l.off)
			if l.off < len(l.src) {
				l.advance(1)
			}
			return token{kind: tString, pos: p, s: b.String()}, nil
		}
		if len(line) >= 2 && line[0] == '.' && line[1] == '.' {
			line = line[1:]
		}
		b.Write(line)
		b.WriteString("\r\n")
		if end >= len(l.src) {
			return token{}, errorf(p, "unterminated multi-line string")
		}
		l.advance(end + 1 - l.off)
	}
}

func trimCR(b []byte) []byte {
	if len(b) > 0 && b[len(b)-1] == '\r' {
		return b[:len(b)-1]
	}
	return b
}
