package wire_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/postyard/postyard/internal/wire"
)

// readLines reads lines until an error and returns them with that error.
func readLines(r *wire.Reader, max int) ([]string, error) {
	var lines []string
	for {
		line, err := r.ReadLine(max)
		if err != nil {
			return lines, err
		}
		lines = append(lines, string(line))
	}
}

func TestReadLine(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
		err  error // after the lines
	}{
		{"crlf", "EHLO a\r\nMAIL FROM:<>\r\n", []string{"EHLO a", "MAIL FROM:<>"}, io.EOF},
		{"bare lf", "EHLO a\nQUIT\n", []string{"EHLO a", "QUIT"}, io.EOF},
		{"mixed", "A\r\nB\nC\r\n", []string{"A", "B", "C"}, io.EOF},
		{"empty lines", "\r\n\n\r\n", []string{"", "", ""}, io.EOF},
		{"one cr removed", "A\r\r\n", []string{"A\r"}, io.EOF},
		{"cr inside", "A\rB\r\n", []string{"A\rB"}, io.EOF},
		{"empty input", "", nil, io.EOF},
		{"eof mid-line", "A\r\nNOOP", []string{"A"}, io.ErrUnexpectedEOF},
		{"eof after cr", "A\r\nNOOP\r", []string{"A"}, io.ErrUnexpectedEOF},
		{"nul kept", "A\x00B\r\n", []string{"A\x00B"}, io.EOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, oneByte := range []bool{false, true} {
				var src io.Reader = strings.NewReader(tt.in)
				if oneByte {
					src = iotest.OneByteReader(src)
				}
				got, err := readLines(wire.NewReader(src), 512)
				if !equalStrings(got, tt.want) || err != tt.err {
					t.Errorf("oneByte=%v: got %q, %v; want %q, %v", oneByte, got, err, tt.want, tt.err)
				}
			}
		})
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestReadLineLimit checks the limit at and around max for short lines and
// for lines longer than the 4096-byte buffer, with both line endings.
func TestReadLineLimit(t *testing.T) {
	for _, max := range []int{0, 1, 10, 510, 1000, 4093, 4094, 4095, 4096, 4097, 5000, 20000} {
		for _, eol := range []string{"\r\n", "\n"} {
			for _, n := range []int{max - 1, max, max + 1, max + 2, max + 4096} {
				if n < 0 {
					continue
				}
				long := strings.Repeat("x", n)
				in := long + eol + "NEXT" + eol + strings.Repeat("y", max) + eol
				for _, oneByte := range []bool{false, true} {
					if oneByte && n > 5000 {
						continue
					}
					var src io.Reader = strings.NewReader(in)
					if oneByte {
						src = iotest.OneByteReader(src)
					}
					r := wire.NewReader(src)
					line, err := r.ReadLine(max)
					if n <= max {
						if err != nil || string(line) != long {
							t.Fatalf("max=%d n=%d eol=%q: got %d bytes, %v; want the line", max, n, eol, len(line), err)
						}
					} else if err != wire.ErrLineTooLong || line != nil {
						t.Fatalf("max=%d n=%d eol=%q: got %d bytes, %v; want ErrLineTooLong", max, n, eol, len(line), err)
					}
					// The rest of the long line is consumed.
					if line, err := r.ReadLine(max + 4); err != nil || string(line) != "NEXT" {
						t.Fatalf("max=%d n=%d eol=%q: next line %q, %v; want NEXT", max, n, eol, trunc(line), err)
					}
					if line, err := r.ReadLine(max); err != nil || len(line) != max {
						t.Fatalf("max=%d n=%d eol=%q: third line of %d bytes, %v; want %d", max, n, eol, len(line), err, max)
					}
					if _, err := r.ReadLine(max); err != io.EOF {
						t.Fatalf("max=%d n=%d eol=%q: got %v at the end, want io.EOF", max, n, eol, err)
					}
				}
			}
		}
	}
}

func trunc(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "..."
	}
	return string(b)
}

func TestReadLineVeryLong(t *testing.T) {
	// 1 MiB without a line ending, then EOF: the reader must not hold it all.
	huge := strings.Repeat("z", 1<<20)
	r := wire.NewReader(strings.NewReader(huge))
	if _, err := r.ReadLine(1000); err != io.ErrUnexpectedEOF {
		t.Fatalf("got %v, want io.ErrUnexpectedEOF", err)
	}
	// 1 MiB line, then a good one.
	r = wire.NewReader(strings.NewReader(huge + "\r\nQUIT\r\n"))
	if _, err := r.ReadLine(1000); err != wire.ErrLineTooLong {
		t.Fatalf("got %v, want ErrLineTooLong", err)
	}
	if line, err := r.ReadLine(1000); err != nil || string(line) != "QUIT" {
		t.Fatalf("got %q, %v, want QUIT", trunc(line), err)
	}
	// A long line accepted, then a short one from the buffer.
	line10k := strings.Repeat("ab", 5000)
	r = wire.NewReader(strings.NewReader(line10k + "\r\nQUIT\r\n"))
	if line, err := r.ReadLine(20000); err != nil || string(line) != line10k {
		t.Fatalf("got %d bytes, %v, want the 10000-byte line", len(line), err)
	}
	if line, err := r.ReadLine(20000); err != nil || string(line) != "QUIT" {
		t.Fatalf("got %q, %v, want QUIT", trunc(line), err)
	}
}

func TestReadLineError(t *testing.T) {
	boom := errors.New("boom")
	r := wire.NewReader(io.MultiReader(strings.NewReader("A\r\nB"), iotest.ErrReader(boom)))
	lines, err := readLines(r, 100)
	if !equalStrings(lines, []string{"A"}) || err != boom {
		t.Fatalf("got %q, %v; want [A], boom", lines, err)
	}
	r = wire.NewReader(io.MultiReader(strings.NewReader(strings.Repeat("x", 5000)), iotest.ErrReader(boom)))
	if _, err := r.ReadLine(10000); err != boom {
		t.Fatalf("long line: got %v, want boom", err)
	}
}

func TestReset(t *testing.T) {
	r := wire.NewReader(strings.NewReader("STARTTLS\r\nMAIL FROM:<evil@example>\r\n"))
	if line, err := r.ReadLine(100); err != nil || string(line) != "STARTTLS" {
		t.Fatalf("got %q, %v", line, err)
	}
	if r.Buffered() == 0 {
		t.Fatal("the pipelined command is not buffered")
	}
	r.Reset(strings.NewReader("EHLO after.tls\r\n"))
	if n := r.Buffered(); n != 0 {
		t.Fatalf("Buffered() = %d after Reset, want 0", n)
	}
	lines, err := readLines(r, 100)
	if !equalStrings(lines, []string{"EHLO after.tls"}) || err != io.EOF {
		t.Fatalf("after Reset got %q, %v; want only the new input", lines, err)
	}
}

func TestChunk(t *testing.T) {
	r := wire.NewReader(strings.NewReader("BDAT 7\r\n.\r\nx\r\nyBDAT 0 LAST\r\n"))
	if line, _ := r.ReadLine(100); string(line) != "BDAT 7" {
		t.Fatalf("got %q", line)
	}
	got, err := io.ReadAll(iotest.OneByteReader(r.Chunk(7)))
	if err != nil || string(got) != ".\r\nx\r\ny" {
		t.Fatalf("chunk: got %q, %v", got, err)
	}
	if line, err := r.ReadLine(100); err != nil || string(line) != "BDAT 0 LAST" {
		t.Fatalf("after chunk: got %q, %v", line, err)
	}
	// Zero and negative sizes are empty.
	for _, n := range []int64{0, -1} {
		if got, err := io.ReadAll(r.Chunk(n)); err != nil || len(got) != 0 {
			t.Fatalf("Chunk(%d): got %q, %v", n, got, err)
		}
	}
}

// A chunk cut short by the end of the input must not look complete.
func TestChunkTruncated(t *testing.T) {
	r := wire.NewReader(strings.NewReader("abc"))
	got, err := io.ReadAll(r.Chunk(10))
	if err != io.ErrUnexpectedEOF || string(got) != "abc" {
		t.Fatalf("got %q, %v; want abc, io.ErrUnexpectedEOF", got, err)
	}
}

func TestChunkLarge(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789"), 10000)
	r := wire.NewReader(bytes.NewReader(append(body, "QUIT\r\n"...)))
	got, err := io.ReadAll(r.Chunk(int64(len(body))))
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("got %d bytes, %v", len(got), err)
	}
	if line, err := r.ReadLine(100); err != nil || string(line) != "QUIT" {
		t.Fatalf("after chunk: got %q, %v", line, err)
	}
}

func TestReadFull(t *testing.T) {
	r := wire.NewReader(iotest.HalfReader(strings.NewReader("A001 APPEND {5}\r\nhello)\r\n")))
	if line, _ := r.ReadLine(100); string(line) != "A001 APPEND {5}" {
		t.Fatalf("got %q", line)
	}
	p := make([]byte, 5)
	if n, err := r.ReadFull(p); n != 5 || err != nil || string(p) != "hello" {
		t.Fatalf("got %d, %v, %q", n, err, p)
	}
	if line, err := r.ReadLine(100); err != nil || string(line) != ")" {
		t.Fatalf("got %q, %v", line, err)
	}
	if n, err := r.ReadFull(p); n != 0 || err != io.EOF {
		t.Fatalf("at EOF: got %d, %v; want 0, io.EOF", n, err)
	}
	r = wire.NewReader(strings.NewReader("abc"))
	if n, err := r.ReadFull(p); n != 3 || err != io.ErrUnexpectedEOF {
		t.Fatalf("short: got %d, %v; want 3, io.ErrUnexpectedEOF", n, err)
	}
}

func TestDiscard(t *testing.T) {
	body := strings.Repeat("x", 10000)
	r := wire.NewReader(strings.NewReader("BDAT 10000\r\n" + body + "RSET\r\n"))
	r.ReadLine(100)
	if err := r.Discard(10000); err != nil {
		t.Fatal(err)
	}
	if line, err := r.ReadLine(100); err != nil || string(line) != "RSET" {
		t.Fatalf("got %q, %v", line, err)
	}
	if err := r.Discard(0); err != nil {
		t.Fatalf("Discard(0) = %v", err)
	}
	if err := r.Discard(-1); err != nil {
		t.Fatalf("Discard(-1) = %v", err)
	}
	if err := r.Discard(1); err != io.ErrUnexpectedEOF {
		t.Fatalf("Discard past the end = %v, want io.ErrUnexpectedEOF", err)
	}
	r = wire.NewReader(strings.NewReader("abc"))
	if err := r.Discard(4); err != io.ErrUnexpectedEOF {
		t.Fatalf("short Discard = %v, want io.ErrUnexpectedEOF", err)
	}
}
