package wire_test

import (
	"io"
	"strings"
	"testing"

	"github.com/postyard/postyard/internal/wire"
)

var testLimits = wire.IMAPLimits{MaxLine: 200, MaxLiteral: 100, MaxNonSync: 50, MaxTotal: 1000, MaxDepth: 3}

// scan reads one command and returns its tokens as the scanner sees them:
// atoms, strings (quoted, with their content), lists as "(" ... ")".
func scanAll(s *wire.IMAPScanner) ([]string, error) {
	var toks []string
	var elem func() error
	elem = func() error {
		switch {
		case s.Peek() == '(':
			toks = append(toks, "(")
			err := s.List(true, elem)
			toks = append(toks, ")")
			return err
		case s.Peek() == '"' || s.IsLiteral():
			str, err := s.String()
			toks = append(toks, "s:"+str)
			return err
		}
		a, err := s.AString()
		toks = append(toks, a)
		return err
	}
	for {
		if err := elem(); err != nil {
			return toks, err
		}
		if s.EOL() {
			return toks, nil
		}
		if err := s.SP(); err != nil {
			return toks, err
		}
	}
}

func TestIMAPScanner(t *testing.T) {
	tests := []struct {
		in, want string
		conts    int
		err      string
	}{
		{in: "a1 NOOP\r\n", want: "a1|NOOP"},
		{in: `a2 LOGIN "us\"er" pass` + "\r\n", want: `a2|LOGIN|s:us"er|pass`},
		{in: "a3 LOGIN {4}\r\nuser {4+}\r\npass\r\n", want: "a3|LOGIN|s:user|s:pass", conts: 1},
		{in: "a4 X (a (b c) ())\r\n", want: "a4|X|(|a|(|b|c|)|(|)|)"},
		{in: "a5 X ((((a))))\r\n", err: "nested"},
		{in: "a6 X {101}\r\n", err: "too big"},
		{in: "a7 X \"abc\r\n", err: "unterminated"},
		{in: "a8 X \"a\\b\"\r\n", err: "escape"},
		{in: "a9 X {51+}\r\n" + strings.Repeat("x", 51) + "\r\n", err: "non-synchronizing"},
		{in: strings.Repeat("x", 201) + "\r\n", err: "line too long"},
	}
	for _, tt := range tests {
		r := wire.NewReader(strings.NewReader(tt.in))
		s := wire.NewIMAPScanner(r)
		conts := 0
		err := s.Begin(testLimits, func(int64) error { conts++; return nil })
		var toks []string
		if err == nil {
			toks, err = scanAll(s)
		}
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q: err %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tt.in, err)
			continue
		}
		if got := strings.Join(toks, "|"); got != tt.want || conts != tt.conts {
			t.Errorf("%q: got %s (%d continuations), want %s (%d)", tt.in, got, conts, tt.want, tt.conts)
		}
	}
}

func TestIMAPScannerLiteralReader(t *testing.T) {
	in := "a APPEND INBOX ~{5}\r\nhello extra\r\nb NOOP\r\n"
	r := wire.NewReader(strings.NewReader(in))
	s := wire.NewIMAPScanner(r)
	if err := s.Begin(testLimits, func(int64) error { return nil }); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		s.AString()
		s.SP()
	}
	lr, n, binary, err := s.LiteralReader(10)
	if err != nil || n != 5 || !binary {
		t.Fatalf("LiteralReader: %v %d %v", err, n, binary)
	}
	b, _ := io.ReadAll(lr)
	if string(b) != "hello" {
		t.Fatalf("literal %q", b)
	}
	if err := s.Next(); err != nil {
		t.Fatal(err)
	}
	if string(s.Rest()) != " extra" {
		t.Fatalf("rest %q", s.Rest())
	}
	// Discard skips the rest; the next command is intact.
	if err := s.Discard(); err != nil {
		t.Fatal(err)
	}
	if err := s.Begin(testLimits, nil); err != nil || string(s.Rest()) != "b NOOP" {
		t.Fatalf("next command: %v %q", err, s.Rest())
	}
}

func TestIMAPScannerDiscardNonSync(t *testing.T) {
	in := "a BAD( {3+}\r\nabc {2+}\r\nxy\r\nb NOOP\r\n"
	s := wire.NewIMAPScanner(wire.NewReader(strings.NewReader(in)))
	if err := s.Begin(testLimits, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Discard(); err != nil {
		t.Fatal(err)
	}
	if err := s.Begin(testLimits, nil); err != nil || string(s.Rest()) != "b NOOP" {
		t.Fatalf("next command: %v %q", err, s.Rest())
	}
}

func FuzzIMAPScanner(f *testing.F) {
	for _, s := range []string{
		"a1 NOOP\r\n", "a LOGIN {4}\r\nuser {4+}\r\npass\r\n", `a X ("a" (b) NIL {0}` + "\r\n\r\n",
		"a X ((((a))))\r\n", "a X {99999999999999999999+}\r\n", "a APPEND x ~{3}\r\nabc\r\n", "\"\\",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		s := wire.NewIMAPScanner(wire.NewReader(strings.NewReader(in)))
		for range 10 {
			if err := s.Begin(testLimits, func(int64) error { return nil }); err != nil {
				if _, ok := wire.IsIMAPError(err); !ok {
					return
				}
				continue
			}
			if _, err := scanAll(s); err != nil {
				if e, ok := wire.IsIMAPError(err); ok && e.Fatal {
					return
				}
				if s.Discard() != nil {
					return
				}
			}
		}
	})
}
