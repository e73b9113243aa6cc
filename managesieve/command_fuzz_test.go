package managesieve

import (
	"bufio"
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/postyard/postyard/internal/wire"
)

// FuzzCommand runs the command scanner over arbitrary input the way the
// server does: a command name, then strings, numbers or atoms, then the
// end of the command, skipping the rest of a malformed one. It checks that
// nothing panics or reads past its limits, that every string is within
// its bounds, and that every string the server would write reads back as
// itself.
func FuzzCommand(f *testing.F) {
	for _, s := range []string{
		"", "NOOP\r\n", "noop \"tag\"\r\n", "PUTSCRIPT \"a\" {5+}\r\nkeep;\r\n",
		"PUTSCRIPT {1}\r\na {3}\r\nabc\r\n", "HAVESPACE \"a\" 4294967295\r\n", "HAVESPACE \"a\" 4294967296\r\n",
		"GETSCRIPT \"a\\\"b\\\\c\"\r\n", "GETSCRIPT \"a\\x\"\r\n", "X {99999999999999999999+}\r\n",
		"X \"unterminated\r\nNOOP\r\n", "X {3+}\r\nab", "A {0+}\r\n{0+}\r\n{0+}\r\n{0+}\r\n{0+}\r\n{0+}\r\n{0+}\r\n{0+}\r\n{0+}\r\n",
		"AUTHENTICATE PLAIN \"AGFsaWNlAHNlY3JldA==\"\r\n*\r\n", "X \"\x00\"\r\n", "X  \"a\"  \r\n", "\n\n\r\n",
		"RENAMESCRIPT {3+}\r\nfoo \"bar\"\r\n", strings.Repeat("x", 300) + "\r\nNOOP\r\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, input string) {
		const maxLine, maxLit = 200, 64
		sc := scanner{r: wire.NewReader(strings.NewReader(input)), maxLine: maxLine, discard: 128}
		for range len(input) + 2 { // each command consumes at least one octet
			err := sc.begin()
			if err == nil {
				err = parseAny(t, &sc, maxLit)
			}
			var se *syntaxError
			switch {
			case err == nil:
				continue
			case errors.As(err, &se) && !se.fatal:
				if serr := sc.skip(); serr != nil {
					return
				}
				continue
			}
			return
		}
		t.Fatal("more commands than octets")
	})
}

// parseAny reads the rest of a command of any shape.
func parseAny(t *testing.T, sc *scanner, maxLit int64) error {
	name := sc.atom()
	for _, c := range []byte(name) {
		if !isAtomChar(c) {
			t.Fatalf("command name %q", name)
		}
	}
	for n := 0; sc.more(); n++ {
		switch c := sc.peek(); {
		case c == '"' || c == '{':
			quoted := c == '"'
			b, err := sc.str(maxLit)
			if err != nil {
				return err
			}
			if !quoted && int64(len(b)) > maxLit {
				t.Fatalf("literal of %d octets, limit %d", len(b), maxLit)
			}
			if quoted && (len(b) > sc.maxLine || bytes.IndexByte(b, 0) >= 0 || bytes.ContainsAny(b, "\r\n")) {
				t.Fatalf("quoted string %q", b)
			}
			roundTrip(t, b)
		case '0' <= c && c <= '9':
			v, err := sc.number()
			if err != nil {
				return err
			}
			if v < 0 || v > 1<<32-1 {
				t.Fatalf("number %d", v)
			}
		default:
			if sc.atom() == "" {
				return sc.unexpected("an argument")
			}
		}
	}
	return sc.end()
}

// roundTrip checks that b, written as the server writes strings, reads
// back as b.
func roundTrip(t *testing.T, b []byte) {
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	writeString(w, string(b))
	w.WriteString("\r\n")
	w.Flush()
	sc := scanner{r: wire.NewReader(&buf), maxLine: 1 << 20, discard: 0}
	if err := sc.begin(); err != nil {
		t.Fatalf("reading back %q: %v", buf.Bytes(), err)
	}
	got, err := sc.str(1 << 20)
	if err == nil {
		err = sc.end()
	}
	if err != nil || !bytes.Equal(got, b) {
		t.Fatalf("%q written as %q reads back as %q, %v", b, buf.Bytes(), got, err)
	}
}

// FuzzName checks that cleanName and ValidName agree, and that a valid
// name is one a DirStore can use as a file name.
func FuzzName(f *testing.F) {
	for _, s := range []string{"", "a", "a/b", "e\u0301", "\u2028", ".", "..", "=x", strings.Repeat("é", 128), strings.Repeat("é", 129), "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		clean, ok := cleanName(name)
		if ok != ValidName(clean) {
			t.Fatalf("cleanName(%q) = %q, %v; ValidName %v", name, clean, ok, ValidName(clean))
		}
		if ValidName(name) && clean != name {
			t.Fatalf("cleanName changed valid name %q to %q", name, clean)
		}
		if !ok {
			return
		}
		base, _ := fileBase(clean)
		if len(base)+len(scriptExt) > 255 || strings.ContainsAny(base, "/\x00") || base[0] == '.' {
			t.Fatalf("name %q: file name %q", clean, base)
		}
	})
}
