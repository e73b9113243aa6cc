package wire_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/postyard/postyard/internal/wire"
)

// refData is a direct reading of RFC 5321 §4.5.2 and §2.3.8, written
// independently of the decoder's state machine: the DATA content ends at the
// first <CRLF>.<CRLF>, where the CRLF may be the one that ended the DATA
// command; lines are separated by CRLF only; a leading "." is removed from
// each line; any CR or LF left inside a line is bare. It returns the
// normalised content, the octets of in that make up the data including the
// end marker, whether there was a bare line ending, and whether the end
// marker was found at all.
func refData(in string) (content string, consumed int, bare, ok bool) {
	idx := strings.Index("\r\n"+in, "\r\n.\r\n")
	if idx < 0 {
		return "", 0, false, false
	}
	// The marker's CRLF is in[idx-2:idx]; in[:idx] is the content with its
	// final CRLF (empty when the data is just ".\r\n").
	body := in[:idx]
	var b strings.Builder
	if body != "" {
		lines := strings.Split(strings.TrimSuffix(body, "\r\n"), "\r\n")
		for _, line := range lines {
			line = strings.TrimPrefix(line, ".")
			if strings.ContainsAny(line, "\r\n") {
				bare = true
			}
			b.WriteString(fixBare(line))
			b.WriteString("\r\n")
		}
	}
	return b.String(), idx + 3, bare, true
}

// refChunk is refData for BDAT content: no dots, no end marker.
func refChunk(in string) (content string, bare bool) {
	var b strings.Builder
	for i, line := range strings.Split(in, "\r\n") {
		if i > 0 {
			b.WriteString("\r\n")
		}
		if strings.ContainsAny(line, "\r\n") {
			bare = true
		}
		b.WriteString(fixBare(line))
	}
	return b.String(), bare
}

// fixBare turns every CR and LF in a string that holds no CRLF into CRLF.
func fixBare(s string) string {
	return strings.NewReplacer("\r", "\r\n", "\n", "\r\n").Replace(s)
}

// hasBare reports whether b holds a CR not followed by LF or an LF not
// preceded by CR.
func hasBare(b []byte) bool {
	for i, c := range b {
		switch c {
		case '\r':
			if i+1 == len(b) || b[i+1] != '\n' {
				return true
			}
		case '\n':
			if i == 0 || b[i-1] != '\r' {
				return true
			}
		}
	}
	return false
}

// readAll reads r to the end with reads of size bufSize.
func readAll(r io.Reader, bufSize int) ([]byte, error) {
	var out []byte
	buf := make([]byte, bufSize)
	for {
		n, err := r.Read(buf)
		if n < 0 || n > len(buf) {
			return out, fmt.Errorf("Read returned %d for a %d-byte buffer", n, len(buf))
		}
		out = append(out, buf[:n]...)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
}

// smuggling holds DATA payloads that try to end or split a message with
// something other than <CRLF>.<CRLF>. Each in ends with the one real end
// marker (sometimes a real marker hides inside the payload itself, as in
// "a\r\r\n.\r\n"); norm is the content in normalise mode; bare says whether
// strict mode must reject it.
var smuggling = []struct {
	name string
	in   string
	norm string
	bare bool
}{
	{"lf dot lf with pipelined commands",
		"a\n.\nMAIL FROM:<evil@example>\nRCPT TO:<victim@example>\nDATA\nforged\n\r\n.\r\n",
		"a\r\n.\r\nMAIL FROM:<evil@example>\r\nRCPT TO:<victim@example>\r\nDATA\r\nforged\r\n\r\n", true},
	{"lf dot crlf", "a\n.\r\nx\r\n.\r\n", "a\r\n.\r\nx\r\n", true},
	{"cr dot cr", "a\r.\rx\r\n.\r\n", "a\r\n.\r\nx\r\n", true},
	{"crlf dot lf", "a\r\n.\nx\r\n.\r\n", "a\r\n\r\nx\r\n", true},
	{"crlf dot cr", "a\r\n.\r\r\n.\r\n", "a\r\n\r\n\r\n", true},
	{"lf dot lf", "a\n.\n\r\n.\r\n", "a\r\n.\r\n\r\n", true},
	{"crlf dot cr X", "a\r\n.\rX\r\n.\r\n", "a\r\n\r\nX\r\n", true},
	{"lf dot dot crlf", "a\n..\r\nx\r\n.\r\n", "a\r\n..\r\nx\r\n", true},
	{"leading lf dot crlf", "\n.\r\nx\r\n.\r\n", "\r\n.\r\nx\r\n", true},
	{"cr crlf dot crlf", "a\r\r\n.\r\n", "a\r\n\r\n", true},
	{"lf crlf dot crlf", "a\n\r\n.\r\n", "a\r\n\r\n", true},
	{"crlf lf dot crlf", "a\r\n\n.\r\nx\r\n.\r\n", "a\r\n\r\n.\r\nx\r\n", true},
	{"cr dot crlf", "a\r.\r\nx\r\n.\r\n", "a\r\n.\r\nx\r\n", true},
	{"crlf cr dot crlf", "a\r\n\r.\r\nx\r\n.\r\n", "a\r\n\r\n.\r\nx\r\n", true},
	{"leading cr dot crlf", "\r.\r\nx\r\n.\r\n", "\r\n.\r\nx\r\n", true},
	{"lf lf dot lf lf", "a\n\n.\n\n\r\n.\r\n", "a\r\n\r\n.\r\n\r\n\r\n", true},
	{"crlf dot lf dot crlf", "a\r\n.\n.\r\n\r\n.\r\n", "a\r\n\r\n.\r\n\r\n", true},
	{"cr cr lf", "a\r\r\rb\r\n.\r\n", "a\r\n\r\n\r\nb\r\n", true},
	{"lf at start", "\nMAIL FROM:<x@y>\r\n.\r\n", "\r\nMAIL FROM:<x@y>\r\n", true},
	{"cr at start", "\r.\r\r\n.\r\n", "\r\n.\r\n\r\n", true},
	{"long line then lf dot lf",
		strings.Repeat("x", 5000) + "\n.\nRSET\n\r\n.\r\n",
		strings.Repeat("x", 5000) + "\r\n.\r\nRSET\r\n\r\n", true},
	{"null bytes", "a\x00\r\n.\x00\r\n\x00.\r\n.\x00\n\r\n.\r\n", "a\x00\r\n\x00\r\n\x00.\r\n\x00\r\n\r\n", true},
	{"null bytes clean", "a\x00\r\n.\x00\r\n\x00.\r\n.\r\n", "a\x00\r\n\x00\r\n\x00.\r\n", false},
	{"dot dot space", "a\r\n.. \r\n.\r\n", "a\r\n. \r\n", false},
	{"dot space", "a\r\n. \r\n.\r\n", "a\r\n \r\n", false},
	{"dot dot", "a\r\n..\r\n.\r\n", "a\r\n.\r\n", false},
	{"dot tab", "a\r\n.\t\r\n.\r\n", "a\r\n\t\r\n", false},
	{"dot nul crlf", "a\r\n.\x00\r\n.\r\n", "a\r\n\x00\r\n", false},
	{"plain", "a\r\n.\r\n", "a\r\n", false},
	{"empty", ".\r\n", "", false},
	{"empty line", "\r\n.\r\n", "\r\n", false},
	{"real marker after bare-free crlf crlf", "a\r\n\r\n.\r\n", "a\r\n\r\n", false},
}

func TestSmugglingTable(t *testing.T) {
	for _, tt := range smuggling {
		norm, consumed, bare, ok := refData(tt.in)
		if !ok || consumed != len(tt.in) || norm != tt.norm || bare != tt.bare {
			t.Errorf("%s: table disagrees with the reference: %q, %d of %d, bare=%v, ok=%v",
				tt.name, norm, consumed, len(tt.in), bare, ok)
		}
	}
	if len(smuggling) < 20 {
		t.Fatalf("only %d smuggling variants", len(smuggling))
	}
}

// readConfigs are the ways the data is delivered and read: whole, one byte
// at a time from the connection, and with tiny Read buffers.
var readConfigs = []struct {
	name    string
	oneByte bool
	bufSize int
}{
	{"whole", false, 32 << 10},
	{"one-byte-source", true, 32 << 10},
	{"read-1", false, 1},
	{"read-2", false, 2},
	{"read-3", false, 3},
	{"one-byte-source read-1", true, 1},
	{"read-4095", false, 4095},
}

func newReader(in string, oneByte bool) *wire.Reader {
	var src io.Reader = strings.NewReader(in)
	if oneByte {
		src = iotest.OneByteReader(src)
	}
	return wire.NewReader(src)
}

// expectNext checks that the only thing left after the data is one RSET.
func expectNext(t *testing.T, r *wire.Reader) {
	t.Helper()
	if line, err := r.ReadLine(512); err != nil || string(line) != "RSET" {
		t.Fatalf("after the data: got %q, %v; want RSET", line, err)
	}
	if line, err := r.ReadLine(512); err != io.EOF {
		t.Fatalf("after RSET: got %q, %v; want io.EOF (the message was split)", line, err)
	}
}

func TestDataSmuggling(t *testing.T) {
	for _, tt := range smuggling {
		in := tt.in + "RSET\r\n"
		for _, rc := range readConfigs {
			t.Run(tt.name+"/"+rc.name, func(t *testing.T) {
				// (a) Strict: rejected, drained to the real marker.
				r := newReader(in, rc.oneByte)
				dr := r.DataReader(wire.DataOptions{})
				got, err := readAll(dr, rc.bufSize)
				if tt.bare {
					if err != wire.ErrBareLineEnding {
						t.Fatalf("strict: got %q, %v; want ErrBareLineEnding", got, err)
					}
					if !strings.HasPrefix(tt.norm, string(got)) {
						t.Fatalf("strict: before the error got %q, not a prefix of %q", got, tt.norm)
					}
				} else if err != nil || string(got) != tt.norm {
					t.Fatalf("strict: got %q, %v; want %q", got, err, tt.norm)
				}
				if err2 := dr.Drain(); err2 != err {
					t.Fatalf("strict: Drain = %v, want %v", err2, err)
				}
				wantAfter := err
				if err == nil {
					wantAfter = io.EOF
				}
				if n, err2 := dr.Read(make([]byte, 10)); n != 0 || err2 != wantAfter {
					t.Fatalf("strict: Read after Drain = %d, %v; want %v", n, err2, wantAfter)
				}
				expectNext(t, r)

				// (b) Normalise: one message, no bare line ending, ends at
				// the real marker.
				r = newReader(in, rc.oneByte)
				dr = r.DataReader(wire.DataOptions{Normalize: true})
				got, err = readAll(dr, rc.bufSize)
				if err != nil || string(got) != tt.norm {
					t.Fatalf("normalise: got %q, %v; want %q", got, err, tt.norm)
				}
				if hasBare(got) {
					t.Fatalf("normalise: bare line ending in %q", got)
				}
				if dr.Size() != int64(len(got)) {
					t.Fatalf("normalise: Size() = %d, want %d", dr.Size(), len(got))
				}
				if err := dr.Drain(); err != nil {
					t.Fatalf("normalise: Drain = %v", err)
				}
				// (c) Nothing left but the next command.
				expectNext(t, r)
			})
		}
	}
}

// Drain without any Read consumes exactly the data too.
func TestDataDrainOnly(t *testing.T) {
	for _, tt := range smuggling {
		for _, oneByte := range []bool{false, true} {
			r := newReader(tt.in+"RSET\r\n", oneByte)
			err := r.DataReader(wire.DataOptions{}).Drain()
			want := error(nil)
			if tt.bare {
				want = wire.ErrBareLineEnding
			}
			if err != want {
				t.Fatalf("%s: Drain = %v, want %v", tt.name, err, want)
			}
			expectNext(t, r)
		}
	}
}

// The same Reader decodes several pipelined messages one after the other.
func TestDataPipelined(t *testing.T) {
	var in strings.Builder
	for _, tt := range smuggling {
		in.WriteString("DATA\r\n" + tt.in)
	}
	in.WriteString("RSET\r\n")
	for _, oneByte := range []bool{false, true} {
		r := newReader(in.String(), oneByte)
		for _, tt := range smuggling {
			if line, err := r.ReadLine(512); err != nil || string(line) != "DATA" {
				t.Fatalf("%s: got %q, %v; want DATA", tt.name, line, err)
			}
			got, err := io.ReadAll(r.DataReader(wire.DataOptions{Normalize: true}))
			if err != nil || string(got) != tt.norm {
				t.Fatalf("%s: got %q, %v; want %q", tt.name, got, err, tt.norm)
			}
		}
		expectNext(t, r)
	}
}

func TestDataDotUnstuffing(t *testing.T) {
	tests := []struct{ in, want string }{
		{"..x\r\n.\r\n", ".x\r\n"},
		{".x\r\n.\r\n", "x\r\n"},
		{"...\r\n.\r\n", "..\r\n"},
		{"..\r\n.\r\n", ".\r\n"},
		{"a.\r\nb..\r\n.\r\n", "a.\r\nb..\r\n"},
		{"x\r\n..\r\n..\r\n.\r\n", "x\r\n.\r\n.\r\n"},
		{"x\r\n.\r\n", "x\r\n"},
		{".\r\n", ""},
		{"..\r\n..\r\n.\r\n", ".\r\n.\r\n"},
		{"x\r\n.y.\r\n.\r\n", "x\r\ny.\r\n"},
	}
	for _, tt := range tests {
		for _, rc := range readConfigs {
			for _, norm := range []bool{false, true} {
				r := newReader(tt.in+"RSET\r\n", rc.oneByte)
				got, err := readAll(r.DataReader(wire.DataOptions{Normalize: norm}), rc.bufSize)
				if err != nil || string(got) != tt.want {
					t.Fatalf("%q %s normalise=%v: got %q, %v; want %q", tt.in, rc.name, norm, got, err, tt.want)
				}
				expectNext(t, r)
			}
		}
	}
}

func TestDataUnexpectedEOF(t *testing.T) {
	for _, in := range []string{
		"", "a", "a\r\n", "a\r\n.", "a\r\n.\r", "a\n.\n", "a\r\n..\r\n", "\r\n.\n", ".", ".\r",
		"a\r\n.\rb", strings.Repeat("y", 10000),
	} {
		for _, rc := range readConfigs {
			for _, norm := range []bool{false, true} {
				r := newReader(in, rc.oneByte)
				dr := r.DataReader(wire.DataOptions{Normalize: norm})
				_, err := readAll(dr, rc.bufSize)
				// In strict mode a bare line ending may be seen first.
				if err != io.ErrUnexpectedEOF &&
					(norm || err != wire.ErrBareLineEnding || !hasBare([]byte(strings.TrimSuffix(in, "\r")))) {
					t.Fatalf("%q %s normalise=%v: Read error %v, want io.ErrUnexpectedEOF", in, rc.name, norm, err)
				}
				if err := r.DataReader(wire.DataOptions{Normalize: norm}).Drain(); err != io.ErrUnexpectedEOF {
					t.Fatalf("%q %s: Drain = %v, want io.ErrUnexpectedEOF", in, rc.name, err)
				}
			}
		}
	}
}

func TestDataIOError(t *testing.T) {
	boom := errors.New("boom")
	r := wire.NewReader(io.MultiReader(strings.NewReader("a\r\nb"), iotest.ErrReader(boom)))
	dr := r.DataReader(wire.DataOptions{})
	got, err := io.ReadAll(dr)
	if err != boom || !strings.HasPrefix("a\r\nb", string(got)) {
		t.Fatalf("got %q, %v; want boom", got, err)
	}
	if err := dr.Drain(); err != boom {
		t.Fatalf("Drain = %v, want boom", err)
	}
}

func TestDataMaxSize(t *testing.T) {
	line := strings.Repeat("x", 68) + "\r\n" // 70 octets
	msg := strings.Repeat(line, 100)         // 7000 octets
	in := msg + ".\r\nRSET\r\n"
	for _, rc := range readConfigs {
		for _, max := range []int64{0, -1, 7000, 7001, 1 << 20} {
			r := newReader(in, rc.oneByte)
			dr := r.DataReader(wire.DataOptions{MaxSize: max})
			got, err := readAll(dr, rc.bufSize)
			if err != nil || string(got) != msg {
				t.Fatalf("%s MaxSize=%d: got %d octets, %v; want the message", rc.name, max, len(got), err)
			}
			expectNext(t, r)
		}
		for _, max := range []int64{1, 69, 70, 4096, 6999} {
			r := newReader(in, rc.oneByte)
			dr := r.DataReader(wire.DataOptions{MaxSize: max})
			got, err := readAll(dr, rc.bufSize)
			if err != wire.ErrTooLarge {
				t.Fatalf("%s MaxSize=%d: got %d octets, %v; want ErrTooLarge", rc.name, max, len(got), err)
			}
			if int64(len(got)) > max {
				t.Fatalf("%s MaxSize=%d: returned %d octets", rc.name, max, len(got))
			}
			if err := dr.Drain(); err != wire.ErrTooLarge {
				t.Fatalf("%s MaxSize=%d: Drain = %v, want ErrTooLarge", rc.name, max, err)
			}
			expectNext(t, r)
		}
	}
}

// MaxSize counts octets after unstuffing and normalisation.
func TestDataMaxSizeCounts(t *testing.T) {
	tests := []struct {
		in   string
		norm bool
		size int64 // of the content
	}{
		{"..\r\n.\r\n", false, 3},
		{"a\nb\r\n.\r\n", true, 6},
		{"a\r\r\r\n.\r\n", true, 7},
	}
	for _, tt := range tests {
		for _, max := range []int64{tt.size - 1, tt.size} {
			r := newReader(tt.in+"RSET\r\n", false)
			dr := r.DataReader(wire.DataOptions{MaxSize: max, Normalize: tt.norm})
			_, err := io.ReadAll(dr)
			if (err == wire.ErrTooLarge) != (max < tt.size) || (err != nil && err != wire.ErrTooLarge) {
				t.Fatalf("%q MaxSize=%d: got %v", tt.in, max, err)
			}
			dr.Drain()
			expectNext(t, r)
		}
	}
}

// A message much larger than the buffer, read in every way, gives the same
// octets.
func TestDataLarge(t *testing.T) {
	var msg, in bytes.Buffer
	for i := 0; msg.Len() < 200<<10; i++ {
		line := fmt.Sprintf("%s%05d %s", strings.Repeat(".", i%3), i, strings.Repeat("m", i%150))
		in.WriteString(line + "\r\n")
		msg.WriteString(strings.TrimPrefix(line, ".") + "\r\n")
	}
	in.WriteString(".\r\nRSET\r\n")
	for _, rc := range readConfigs {
		for _, norm := range []bool{false, true} {
			r := newReader(in.String(), rc.oneByte)
			got, err := readAll(r.DataReader(wire.DataOptions{Normalize: norm}), rc.bufSize)
			if err != nil || !bytes.Equal(got, msg.Bytes()) {
				t.Fatalf("%s: got %d octets, %v; want %d", rc.name, len(got), err, msg.Len())
			}
			expectNext(t, r)
		}
	}
}

// Data after the end marker stays buffered for the next command, even when
// it arrived in the same read as the data.
func TestDataLeavesPipelinedInput(t *testing.T) {
	r := wire.NewReader(strings.NewReader("DATA\r\nhello\r\n.\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n"))
	r.ReadLine(100)
	if got, err := io.ReadAll(r.DataReader(wire.DataOptions{})); err != nil || string(got) != "hello\r\n" {
		t.Fatalf("got %q, %v", got, err)
	}
	lines, err := readLines(r, 100)
	if !equalStrings(lines, []string{"MAIL FROM:<a@b>", "RCPT TO:<c@d>"}) || err != io.EOF {
		t.Fatalf("got %q, %v", lines, err)
	}
}

func TestChunkReaderSmuggling(t *testing.T) {
	for _, tt := range smuggling {
		want, bare := refChunk(tt.in)
		for _, rc := range readConfigs {
			var src io.Reader = strings.NewReader(tt.in)
			if rc.oneByte {
				src = iotest.OneByteReader(src)
			}
			got, err := readAll(wire.NewChunkReader(src, wire.DataOptions{}), rc.bufSize)
			if bare {
				if err != wire.ErrBareLineEnding {
					t.Fatalf("%s %s strict: got %q, %v; want ErrBareLineEnding", tt.name, rc.name, got, err)
				}
			} else if err != nil || string(got) != tt.in {
				t.Fatalf("%s %s strict: got %q, %v; want it unchanged", tt.name, rc.name, got, err)
			}
			src = strings.NewReader(tt.in)
			if rc.oneByte {
				src = iotest.OneByteReader(src)
			}
			got, err = readAll(wire.NewChunkReader(src, wire.DataOptions{Normalize: true}), rc.bufSize)
			if err != nil || string(got) != want || hasBare(got) {
				t.Fatalf("%s %s normalise: got %q, %v; want %q", tt.name, rc.name, got, err, want)
			}
		}
	}
}

func TestChunkReader(t *testing.T) {
	tests := []struct {
		in, norm string
		bare     bool
	}{
		{"", "", false},
		{".\r\n", ".\r\n", false},
		{"..x\r\n.y\r\n.\r\n", "..x\r\n.y\r\n.\r\n", false},
		{"no final crlf", "no final crlf", false},
		{"a\r\nb", "a\r\nb", false},
		{"a\r", "a\r\n", true},
		{"\r", "\r\n", true},
		{"a\r\n\r", "a\r\n\r\n", true},
		{"a\n", "a\r\n", true},
		{"\n", "\r\n", true},
		{"a\r\r\n", "a\r\n\r\n", true},
		{"a\rb", "a\r\nb", true},
		{"\x00\xff\r\n", "\x00\xff\r\n", false},
	}
	for _, tt := range tests {
		if norm, bare := refChunk(tt.in); norm != tt.norm || bare != tt.bare {
			t.Errorf("%q: table disagrees with the reference: %q, %v", tt.in, norm, bare)
		}
		for _, rc := range readConfigs {
			var src io.Reader = strings.NewReader(tt.in)
			if rc.oneByte {
				src = iotest.OneByteReader(src)
			}
			cr := wire.NewChunkReader(src, wire.DataOptions{})
			got, err := readAll(cr, rc.bufSize)
			if tt.bare {
				if err != wire.ErrBareLineEnding {
					t.Fatalf("%q %s strict: got %q, %v", tt.in, rc.name, got, err)
				}
				if err := cr.Drain(); err != wire.ErrBareLineEnding {
					t.Fatalf("%q %s strict: Drain = %v", tt.in, rc.name, err)
				}
			} else if err != nil || string(got) != tt.in {
				t.Fatalf("%q %s strict: got %q, %v", tt.in, rc.name, got, err)
			}
			src = strings.NewReader(tt.in)
			if rc.oneByte {
				src = iotest.OneByteReader(src)
			}
			cr = wire.NewChunkReader(src, wire.DataOptions{Normalize: true})
			got, err = readAll(cr, rc.bufSize)
			if err != nil || string(got) != tt.norm {
				t.Fatalf("%q %s normalise: got %q, %v; want %q", tt.in, rc.name, got, err, tt.norm)
			}
			if cr.Size() != int64(len(tt.norm)) {
				t.Fatalf("%q: Size() = %d, want %d", tt.in, cr.Size(), len(tt.norm))
			}
		}
	}
}

// CRLF split across two BDAT chunks is one line ending, not a bare CR and a
// bare LF.
func TestChunkReaderAcrossChunks(t *testing.T) {
	r := wire.NewReader(strings.NewReader("BDAT 2\r\na\rBDAT 3 LAST\r\n\nb\r"))
	var chunks []io.Reader
	for range 2 {
		line, _ := r.ReadLine(100)
		var n int64
		fmt.Sscanf(string(line), "BDAT %d", &n)
		b, err := io.ReadAll(r.Chunk(n))
		if err != nil {
			t.Fatal(err)
		}
		chunks = append(chunks, bytes.NewReader(b))
	}
	got, err := io.ReadAll(wire.NewChunkReader(io.MultiReader(chunks...), wire.DataOptions{}))
	if err != wire.ErrBareLineEnding {
		t.Fatalf("got %q, %v; want ErrBareLineEnding for the final CR", got, err)
	}
	chunks[0].(*bytes.Reader).Seek(0, io.SeekStart)
	chunks[1].(*bytes.Reader).Seek(0, io.SeekStart)
	got, err = io.ReadAll(wire.NewChunkReader(io.MultiReader(chunks...), wire.DataOptions{Normalize: true}))
	if err != nil || string(got) != "a\r\nb\r\n" {
		t.Fatalf("got %q, %v", got, err)
	}
}

// A chunk cut short by the connection closing is an error, not a message.
func TestChunkReaderTruncated(t *testing.T) {
	r := wire.NewReader(strings.NewReader("hello\r\nwor"))
	_, err := io.ReadAll(wire.NewChunkReader(r.Chunk(100), wire.DataOptions{}))
	if err != io.ErrUnexpectedEOF {
		t.Fatalf("got %v, want io.ErrUnexpectedEOF", err)
	}
}

func TestChunkReaderMaxSize(t *testing.T) {
	tests := []struct {
		in   string
		norm bool
		max  int64
		err  error
	}{
		{"abc\r\n", false, 5, nil},
		{"abc\r\n", false, 4, wire.ErrTooLarge},
		{"abc\r", true, 5, nil},
		{"abc\r", true, 4, wire.ErrTooLarge}, // the final CR becomes CRLF
		{strings.Repeat("z", 10000), false, 9999, wire.ErrTooLarge},
		{strings.Repeat("z", 10000), false, 10000, nil},
	}
	for _, tt := range tests {
		cr := wire.NewChunkReader(strings.NewReader(tt.in), wire.DataOptions{MaxSize: tt.max, Normalize: tt.norm})
		if _, err := io.ReadAll(cr); err != tt.err {
			t.Errorf("%.10q MaxSize=%d: got %v, want %v", tt.in, tt.max, err, tt.err)
		}
		cr = wire.NewChunkReader(strings.NewReader(tt.in), wire.DataOptions{MaxSize: tt.max, Normalize: tt.norm})
		if err := cr.Drain(); err != tt.err {
			t.Errorf("%.10q MaxSize=%d: Drain = %v, want %v", tt.in, tt.max, err, tt.err)
		}
	}
}

// An error that comes with the last data is returned after that data.
func TestChunkReaderDataWithError(t *testing.T) {
	boom := errors.New("boom")
	cr := wire.NewChunkReader(iotest.DataErrReader(strings.NewReader("ab\r\ncd")), wire.DataOptions{})
	if got, err := io.ReadAll(cr); err != nil || string(got) != "ab\r\ncd" {
		t.Fatalf("got %q, %v", got, err)
	}
	cr = wire.NewChunkReader(&dataErr{data: "ab\r\ncd", err: boom}, wire.DataOptions{})
	if got, err := io.ReadAll(cr); err != boom || string(got) != "ab\r\ncd" {
		t.Fatalf("got %q, %v; want all the data, then boom", got, err)
	}
	cr = wire.NewChunkReader(&dataErr{data: "ab\r\ncd", err: boom}, wire.DataOptions{})
	if err := cr.Drain(); err != boom {
		t.Fatalf("Drain = %v, want boom", err)
	}
}

// dataErr returns its data and err from the same Read.
type dataErr struct {
	data string
	err  error
}

func (d *dataErr) Read(p []byte) (int, error) {
	n := copy(p, d.data)
	d.data = d.data[n:]
	if d.data == "" {
		return n, d.err
	}
	return n, nil
}

type stuck struct{}

func (stuck) Read([]byte) (int, error) { return 0, nil }

func TestChunkReaderNoProgress(t *testing.T) {
	if _, err := io.ReadAll(wire.NewChunkReader(stuck{}, wire.DataOptions{})); err != io.ErrNoProgress {
		t.Fatalf("got %v, want io.ErrNoProgress", err)
	}
}
