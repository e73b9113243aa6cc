package wire_test

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/postyard/postyard/internal/wire"
)

// countingReader counts the octets read from it, so that what a Reader has
// consumed is counted minus Buffered.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// seedData adds the smuggling variants, with and without what follows them.
func seedData(f *testing.F, add func(in string)) {
	for _, tt := range smuggling {
		add(tt.in)
		add(tt.in + "RSET\r\n")
		add(strings.TrimSuffix(tt.in, ".\r\n"))
	}
	add("")
	add("\r\n.\r\n")
	add(".\r\n")
	add("a\r\n.\r")
	add(strings.Repeat("x", 4094) + "\r\n.\r\n")
	add(strings.Repeat("x", 4095) + "\r\n.\r\n")
	add(strings.Repeat("x\n", 3000) + "\r\n.\r\n")
}

// FuzzDataReader checks the DATA decoder against refData: it must not
// panic, must end the data exactly at the first <CRLF>.<CRLF>, must report
// bare line endings in strict mode and never emit one in normalise mode.
func FuzzDataReader(f *testing.F) {
	seedData(f, func(in string) {
		f.Add([]byte(in), false, uint16(0), uint8(0))
		f.Add([]byte(in), true, uint16(0), uint8(1))
	})
	f.Add([]byte("abcdef\r\n.\r\n"), true, uint16(5), uint8(3))
	f.Add([]byte("a\nb\r\n.\r\n"), false, uint16(3), uint8(2))
	f.Fuzz(func(t *testing.T, in []byte, normalize bool, maxSize uint16, mode uint8) {
		content, consumed, bare, ok := refData(string(in))
		bufSize := []int{1, 2, 3, 7, 512, 4096, 10000}[int(mode>>1)%7]
		src := &countingReader{r: bytes.NewReader(in)}
		var rs io.Reader = src
		if mode&1 != 0 {
			rs = iotest.OneByteReader(src)
		}
		r := wire.NewReader(rs)
		dr := r.DataReader(wire.DataOptions{MaxSize: int64(maxSize), Normalize: normalize})
		got, err := readAll(dr, bufSize)
		if normalize && hasBare(got) {
			t.Fatalf("bare line ending in normalised output %q", got)
		}
		if maxSize > 0 && len(got) > int(maxSize) {
			t.Fatalf("%d octets returned, over MaxSize %d", len(got), maxSize)
		}
		derr := dr.Drain()
		if !ok {
			if err == nil {
				t.Fatalf("no end marker, but the data ended: %q", got)
			}
			if derr != io.ErrUnexpectedEOF {
				t.Fatalf("no end marker: Drain = %v, want io.ErrUnexpectedEOF", derr)
			}
			return
		}
		if used := src.n - int64(r.Buffered()); used != int64(consumed) {
			t.Fatalf("consumed %d octets, want %d (the first end marker ends at %d)", used, consumed, consumed)
		}
		if !bytes.HasPrefix([]byte(content), got) {
			t.Fatalf("got %q, not a prefix of %q", got, content)
		}
		tooBig := maxSize > 0 && len(content) > int(maxSize)
		switch {
		case err == nil:
			if tooBig || bare && !normalize || string(got) != content {
				t.Fatalf("got %q, nil; want %q (tooBig=%v bare=%v)", got, content, tooBig, bare)
			}
		case err == wire.ErrTooLarge:
			if !tooBig {
				t.Fatalf("ErrTooLarge for %d octets, MaxSize %d", len(content), maxSize)
			}
		case err == wire.ErrBareLineEnding:
			if normalize || !bare {
				t.Fatalf("ErrBareLineEnding, normalize=%v bare=%v", normalize, bare)
			}
		default:
			t.Fatalf("unexpected error %v", err)
		}
		if derr != err {
			t.Fatalf("Drain = %v, Read gave %v", derr, err)
		}
		if err == nil && dr.Size() != int64(len(content)) {
			t.Fatalf("Size() = %d, want %d", dr.Size(), len(content))
		}
	})
}

// FuzzChunkReader checks the BDAT line-ending checker against refChunk.
func FuzzChunkReader(f *testing.F) {
	seedData(f, func(in string) {
		f.Add([]byte(in), false, uint8(0))
		f.Add([]byte(in), true, uint8(1))
	})
	f.Fuzz(func(t *testing.T, in []byte, normalize bool, mode uint8) {
		content, bare := refChunk(string(in))
		bufSize := []int{1, 2, 3, 7, 512, 4096, 10000}[int(mode>>1)%7]
		var src io.Reader = bytes.NewReader(in)
		if mode&1 != 0 {
			src = iotest.OneByteReader(src)
		}
		got, err := readAll(wire.NewChunkReader(src, wire.DataOptions{Normalize: normalize}), bufSize)
		switch {
		case normalize || !bare:
			if err != nil || string(got) != content {
				t.Fatalf("got %q, %v; want %q", got, err, content)
			}
		case err != wire.ErrBareLineEnding:
			t.Fatalf("got %q, %v; want ErrBareLineEnding", got, err)
		}
	})
}

// FuzzRoundTrip checks that decoding what the DataWriter encodes gives back
// the input with line endings fixed, in strict mode, without error.
func FuzzRoundTrip(f *testing.F) {
	seedData(f, func(in string) {
		f.Add([]byte(in), uint8(0))
		f.Add([]byte(in), uint8(1))
	})
	f.Fuzz(func(t *testing.T, in []byte, step uint8) {
		checkRoundTrip(t, in, int(step%16))
	})
}

// FuzzReadLine checks ReadLine against a direct split of the input at LF.
func FuzzReadLine(f *testing.F) {
	for _, s := range []string{
		"EHLO a\r\nMAIL FROM:<>\r\n", "a\nb\r\n", "a\r\r\n", "abc", "\r\n\r\n",
		strings.Repeat("x", 5000) + "\r\nQUIT\r\n", strings.Repeat("y", 4095) + "\r\n",
	} {
		f.Add([]byte(s), uint16(10), false)
		f.Add([]byte(s), uint16(4094), true)
		f.Add([]byte(s), uint16(6000), false)
	}
	f.Fuzz(func(t *testing.T, in []byte, max16 uint16, oneByte bool) {
		max := int(max16 % 10000)
		var src io.Reader = bytes.NewReader(in)
		if oneByte {
			src = iotest.OneByteReader(src)
		}
		r := wire.NewReader(src)
		rest := in
		for {
			line, err := r.ReadLine(max)
			i := bytes.IndexByte(rest, '\n')
			if i < 0 {
				want := io.EOF
				if len(rest) > 0 {
					want = io.ErrUnexpectedEOF
				}
				if err != want {
					t.Fatalf("at the end: got %q, %v; want %v", trunc(line), err, want)
				}
				return
			}
			want := bytes.TrimSuffix(rest[:i], []byte("\r"))
			rest = rest[i+1:]
			if len(want) > max {
				if err != wire.ErrLineTooLong {
					t.Fatalf("got %q, %v; want ErrLineTooLong (%d > %d)", trunc(line), err, len(want), max)
				}
				continue
			}
			if err != nil || !bytes.Equal(line, want) {
				t.Fatalf("got %q, %v; want %q", trunc(line), err, trunc(want))
			}
		}
	})
}
