package wire_test

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/postyard/postyard/internal/wire"
)

// loopReader returns its data over and over, like a client that never stops
// sending.
type loopReader struct {
	data []byte
	off  int
}

func (l *loopReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], l.data[l.off:])
		n += c
		l.off = (l.off + c) % len(l.data)
	}
	return n, nil
}

// message returns a message of about size octets in 70-octet lines (68
// characters and CRLF), as text mail is, some of them starting with a dot.
func message(size int, eol string) []byte {
	var b strings.Builder
	for i := 0; b.Len() < size; i++ {
		line := fmt.Sprintf("%06d Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do", i)
		if i%50 == 0 {
			line = "." + line[1:]
		}
		b.WriteString(line[:68] + eol)
	}
	return []byte(b.String())
}

func BenchmarkReadLine(b *testing.B) {
	for _, bc := range []struct {
		name string
		line string
		max  int
	}{
		{"command", "RCPT TO:<someone.with.a.long.name@subdomain.example.com> NOTIFY=NEVER\r\n", 512},
		{"long-8k", strings.Repeat("x", 8000) + "\r\n", 10000},
		{"too-long-8k", strings.Repeat("x", 8000) + "\r\n", 512},
	} {
		b.Run(bc.name, func(b *testing.B) {
			r := wire.NewReader(&loopReader{data: []byte(strings.Repeat(bc.line, 64))})
			b.SetBytes(int64(len(bc.line)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := r.ReadLine(bc.max); err != nil && err != wire.ErrLineTooLong {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDataReader(b *testing.B) {
	for _, size := range []int{4 << 10, 100 << 10} {
		for _, normalize := range []bool{false, true} {
			name := fmt.Sprintf("%dKiB/strict", size>>10)
			if normalize {
				name = fmt.Sprintf("%dKiB/normalize", size>>10)
			}
			b.Run(name, func(b *testing.B) {
				msg := message(size, "\r\n")
				r := wire.NewReader(&loopReader{data: append(msg, ".\r\n"...)})
				buf := make([]byte, 32<<10)
				opts := wire.DataOptions{MaxSize: 10 << 20, Normalize: normalize}
				b.SetBytes(int64(len(msg)))
				b.ReportAllocs()
				for b.Loop() {
					dr := r.DataReader(opts)
					n := 0
					for {
						k, err := dr.Read(buf)
						n += k
						if err == io.EOF {
							break
						}
						if err != nil {
							b.Fatal(err)
						}
					}
					if n != len(msg)-len(msg)/(50*70)-1 {
						b.Fatalf("read %d octets of %d", n, len(msg))
					}
				}
			})
		}
	}
}

func BenchmarkDataWriter(b *testing.B) {
	for _, size := range []int{4 << 10, 100 << 10} {
		for _, eol := range []string{"\r\n", "\n"} {
			name := fmt.Sprintf("%dKiB/crlf", size>>10)
			if eol == "\n" {
				name = fmt.Sprintf("%dKiB/lf", size>>10)
			}
			b.Run(name, func(b *testing.B) {
				msg := message(size, eol)
				w := wire.NewDataWriter(io.Discard, true)
				b.SetBytes(int64(len(msg)))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := w.Write(msg); err != nil {
						b.Fatal(err)
					}
					if err := w.Close(); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func BenchmarkWriteReply(b *testing.B) {
	w := bufio.NewWriter(io.Discard)
	b.ReportAllocs()
	for b.Loop() {
		wire.WriteReply(w, 250, "", "mx.example Hello client.example\nPIPELINING\nSIZE 52428800\n8BITMIME\nSMTPUTF8\nCHUNKING")
	}
}
