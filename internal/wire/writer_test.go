package wire_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/postyard/postyard/internal/wire"
)

// encode runs x through a DataWriter, writing it in pieces of size step (all
// at once if step <= 0).
func encode(t testing.TB, x []byte, dots bool, step int) []byte {
	t.Helper()
	var out bytes.Buffer
	w := wire.NewDataWriter(&out, dots)
	if step <= 0 {
		step = len(x) + 1
	}
	for p := x; len(p) > 0; {
		k := min(step, len(p))
		if n, err := w.Write(p[:k]); n != k || err != nil {
			t.Fatalf("Write = %d, %v; want %d, nil", n, err, k)
		}
		p = p[k:]
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	return out.Bytes()
}

func TestDataWriter(t *testing.T) {
	tests := []struct {
		in, dots, noDots string
	}{
		{"", ".\r\n", ""},
		{"a", "a\r\n.\r\n", "a\r\n"},
		{"a\r\n", "a\r\n.\r\n", "a\r\n"},
		{".", "..\r\n.\r\n", ".\r\n"},
		{".x\r\n", "..x\r\n.\r\n", ".x\r\n"},
		{"a\r\n.\r\n", "a\r\n..\r\n.\r\n", "a\r\n.\r\n"},
		{"a\r\n..\r\nb.\r\n", "a\r\n...\r\nb.\r\n.\r\n", "a\r\n..\r\nb.\r\n"},
		{"a\nb", "a\r\nb\r\n.\r\n", "a\r\nb\r\n"},
		{"a\rb", "a\r\nb\r\n.\r\n", "a\r\nb\r\n"},
		{"a\r", "a\r\n.\r\n", "a\r\n"},
		{"a\n", "a\r\n.\r\n", "a\r\n"},
		{"\r", "\r\n.\r\n", "\r\n"},
		{"\n", "\r\n.\r\n", "\r\n"},
		{"a\r\r\n", "a\r\n\r\n.\r\n", "a\r\n\r\n"},
		{"a\n\r\n", "a\r\n\r\n.\r\n", "a\r\n\r\n"},
		{"a\n\n", "a\r\n\r\n.\r\n", "a\r\n\r\n"},
		{"a\r\r", "a\r\n\r\n.\r\n", "a\r\n\r\n"},
		// Smuggling payloads come out as harmless, dot-stuffed lines.
		{"a\n.\nMAIL FROM:<x@y>\n", "a\r\n..\r\nMAIL FROM:<x@y>\r\n.\r\n", "a\r\n.\r\nMAIL FROM:<x@y>\r\n"},
		{"a\r.\r", "a\r\n..\r\n.\r\n", "a\r\n.\r\n"},
		{"a\r\n.\r", "a\r\n..\r\n.\r\n", "a\r\n.\r\n"},
		{"a\r\n.\n", "a\r\n..\r\n.\r\n", "a\r\n.\r\n"},
		{"\n.\r\n", "\r\n..\r\n.\r\n", "\r\n.\r\n"},
		{"x\x00\xff", "x\x00\xff\r\n.\r\n", "x\x00\xff\r\n"},
	}
	for _, tt := range tests {
		for _, step := range []int{0, 1, 2, 3} {
			if got := encode(t, []byte(tt.in), true, step); string(got) != tt.dots {
				t.Errorf("%q step %d dots: got %q, want %q", tt.in, step, got, tt.dots)
			}
			if got := encode(t, []byte(tt.in), false, step); string(got) != tt.noDots {
				t.Errorf("%q step %d no dots: got %q, want %q", tt.in, step, got, tt.noDots)
			}
		}
	}
}

func TestDataWriterLarge(t *testing.T) {
	// Many dots and bare line endings, far beyond the internal buffer.
	x := bytes.Repeat([]byte(".\n.\r.\r\n"), 10000)
	got := encode(t, x, true, 0)
	want := strings.Repeat("..\r\n..\r\n..\r\n", 10000) + ".\r\n"
	if string(got) != want {
		t.Fatalf("got %d octets, want %d", len(got), len(want))
	}
}

func TestDataWriterError(t *testing.T) {
	boom := errors.New("boom")
	w := wire.NewDataWriter(errWriter{boom}, true)
	if _, err := w.Write([]byte("hello\r\n")); err != boom {
		t.Fatalf("Write = %v, want boom", err)
	}
	if _, err := w.Write(bytes.Repeat([]byte("x"), 10000)); err != boom {
		t.Fatalf("long Write = %v, want boom", err)
	}
	if err := w.Close(); err != boom {
		t.Fatalf("Close = %v, want boom", err)
	}
}

type errWriter struct{ err error }

func (e errWriter) Write([]byte) (int, error) { return 0, e.err }

// wantRoundTrip is what decoding the encoding of x gives: x with bare line
// endings turned into CRLF and a final CRLF if it lacked one.
func wantRoundTrip(x []byte) []byte {
	s, _ := refChunk(string(x))
	if s != "" && !strings.HasSuffix(s, "\r\n") {
		s += "\r\n"
	}
	return []byte(s)
}

// checkRoundTrip checks the encoder→decoder property for x.
func checkRoundTrip(t testing.TB, x []byte, step int) {
	t.Helper()
	enc := encode(t, x, true, step)
	if hasBare(enc) {
		t.Fatalf("encoding of %q has a bare line ending: %q", x, enc)
	}
	if i := bytes.Index(append([]byte("\r\n"), enc...), []byte("\r\n.\r\n")); i != len(enc)-3 {
		t.Fatalf("encoding of %q has an end marker at %d, not only at the end: %q", x, i, enc)
	}
	r := wire.NewReader(io.MultiReader(bytes.NewReader(enc), strings.NewReader("RSET\r\n")))
	got, err := io.ReadAll(r.DataReader(wire.DataOptions{})) // strict
	if err != nil {
		t.Fatalf("decoding the encoding of %q: %v", x, err)
	}
	if want := wantRoundTrip(x); !bytes.Equal(got, want) {
		t.Fatalf("round trip of %q: got %q, want %q", x, got, want)
	}
	if line, err := r.ReadLine(100); err != nil || string(line) != "RSET" {
		t.Fatalf("round trip of %q: after the data got %q, %v", x, line, err)
	}
	// Without dots the encoding is the round trip itself.
	if got, want := encode(t, x, false, step), wantRoundTrip(x); !bytes.Equal(got, want) {
		t.Fatalf("no-dots encoding of %q: got %q, want %q", x, got, want)
	}
	got, err = io.ReadAll(wire.NewChunkReader(bytes.NewReader(encode(t, x, false, step)), wire.DataOptions{}))
	if err != nil || !bytes.Equal(got, wantRoundTrip(x)) {
		t.Fatalf("no-dots round trip of %q: got %q, %v", x, got, err)
	}
}

func TestDataWriterRoundTrip(t *testing.T) {
	for _, tt := range smuggling {
		for _, step := range []int{0, 1, 7} {
			checkRoundTrip(t, []byte(tt.in), step)
			checkRoundTrip(t, []byte(tt.in+"RSET\r\n"), step)
		}
	}
	// Random inputs over an alphabet rich in line endings and dots.
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte("\r\n.\r\n.a\x00")
	for range 5000 {
		x := make([]byte, rng.IntN(40))
		for i := range x {
			x[i] = alphabet[rng.IntN(len(alphabet))]
		}
		checkRoundTrip(t, x, rng.IntN(5))
	}
}

func TestWriteReply(t *testing.T) {
	tests := []struct {
		code           int
		enhanced, text string
		want           string
	}{
		{250, "", "OK", "250 OK\r\n"},
		{250, "2.0.0", "OK", "250 2.0.0 OK\r\n"},
		{354, "", "Start mail input; end with <CRLF>.<CRLF>", "354 Start mail input; end with <CRLF>.<CRLF>\r\n"},
		{250, "", "mx.example\nPIPELINING\n8BITMIME",
			"250-mx.example\r\n250-PIPELINING\r\n250 8BITMIME\r\n"},
		{550, "5.7.1", "Message rejected\nSee https://example/why",
			"550-5.7.1 Message rejected\r\n550 5.7.1 See https://example/why\r\n"},
		{250, "", "a\r\nb", "250-a\r\n250 b\r\n"},
		{250, "", "", "250 \r\n"},
		{250, "2.0.0", "", "250 2.0.0\r\n"},
		{250, "", "a\n", "250-a\r\n250 \r\n"},
		{250, "", "\n", "250-\r\n250 \r\n"},
		// Control characters cannot split or forge a reply.
		{250, "", "ok\rMAIL FROM:<x@y>", "250 ok MAIL FROM:<x@y>\r\n"},
		{250, "", "a\x00b\x7fc\td\x1b", "250 a b c d \r\n"},
		{250, "", "ok\r", "250 ok \r\n"},
		{250, "2.0.0\r\n250 forged", "x", "250 2.0.0  250 forged x\r\n"},
		{250, "", "caf\xc3\xa9", "250 caf\xc3\xa9\r\n"}, // UTF-8 passes (RFC 6531)
		// Odd codes still give three digits.
		{5, "", "x", "005 x\r\n"},
		{42, "", "x", "042 x\r\n"},
		{1250, "", "x", "250 x\r\n"},
		{-421, "", "x", "421 x\r\n"},
	}
	for _, tt := range tests {
		var b bytes.Buffer
		w := bufio.NewWriter(&b)
		if err := wire.WriteReply(w, tt.code, tt.enhanced, tt.text); err != nil {
			t.Fatal(err)
		}
		w.Flush()
		if b.String() != tt.want {
			t.Errorf("WriteReply(%d, %q, %q) = %q, want %q", tt.code, tt.enhanced, tt.text, b.String(), tt.want)
		}
	}
}

func TestWriteReplyLong(t *testing.T) {
	var b bytes.Buffer
	w := bufio.NewWriterSize(&b, 16)
	text := strings.Repeat("line\n", 100) + "end"
	if err := wire.WriteReply(w, 250, "2.0.0", text); err != nil {
		t.Fatal(err)
	}
	w.Flush()
	want := strings.Repeat("250-2.0.0 line\r\n", 100) + "250 2.0.0 end\r\n"
	if b.String() != want {
		t.Fatalf("got %q", b.String())
	}
}

func TestWriteReplyError(t *testing.T) {
	boom := errors.New("boom")
	w := bufio.NewWriterSize(errWriter{boom}, 16)
	if err := wire.WriteReply(w, 250, "", strings.Repeat("x", 100)); err != boom {
		t.Fatalf("got %v, want boom", err)
	}
	w = bufio.NewWriterSize(shortWriter{}, 16)
	if err := wire.WriteReply(w, 250, "", strings.Repeat("x\n", 100)); err != io.ErrShortWrite {
		t.Fatalf("got %v, want io.ErrShortWrite", err)
	}
}

type shortWriter struct{}

func (shortWriter) Write(p []byte) (int, error) { return len(p) / 2, nil }

// Every reply is well-formed whatever the text (RFC 5321 §4.2).
func TestWriteReplyWellFormed(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 2000 {
		text := make([]byte, rng.IntN(30))
		for i := range text {
			text[i] = byte(rng.IntN(256))
			if rng.IntN(4) == 0 {
				text[i] = "\r\n"[rng.IntN(2)]
			}
		}
		checkReply(t, string(text))
	}
}

func checkReply(t testing.TB, text string) {
	t.Helper()
	var b bytes.Buffer
	w := bufio.NewWriter(&b)
	if err := wire.WriteReply(w, 451, "4.3.0", text); err != nil {
		t.Fatal(err)
	}
	w.Flush()
	out := b.Bytes()
	if hasBare(out) || !bytes.HasSuffix(out, []byte("\r\n")) {
		t.Fatalf("text %q: bad line endings in %q", text, out)
	}
	lines := strings.Split(strings.TrimSuffix(string(out), "\r\n"), "\r\n")
	if want := strings.Count(text, "\n") + 1; len(lines) != want {
		t.Fatalf("text %q: %d lines, want %d: %q", text, len(lines), want, out)
	}
	for i, line := range lines {
		sep := "-"
		if i == len(lines)-1 {
			sep = " "
		}
		if !strings.HasPrefix(line, "451"+sep+"4.3.0") {
			t.Fatalf("text %q: line %q", text, line)
		}
		for _, c := range []byte(line) {
			if c < ' ' || c == 0x7f {
				t.Fatalf("text %q: control character in %q", text, line)
			}
		}
	}
}
