package serve_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/postyard/postyard/internal/serve"
)

// memConn is a net.Conn that reads from r in chunks of at most chunk bytes.
type memConn struct {
	r     io.Reader
	chunk int
}

var (
	memRemote = &net.TCPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 40000}
	memLocal  = &net.TCPAddr{IP: net.IPv4(10, 0, 0, 2), Port: 25}
)

func (c *memConn) Read(p []byte) (int, error) {
	if c.chunk > 0 && len(p) > c.chunk {
		p = p[:c.chunk]
	}
	return c.r.Read(p)
}
func (c *memConn) Write(p []byte) (int, error)      { return len(p), nil }
func (c *memConn) Close() error                     { return nil }
func (c *memConn) LocalAddr() net.Addr              { return memLocal }
func (c *memConn) RemoteAddr() net.Addr             { return memRemote }
func (c *memConn) SetDeadline(time.Time) error      { return nil }
func (c *memConn) SetReadDeadline(time.Time) error  { return nil }
func (c *memConn) SetWriteDeadline(time.Time) error { return nil }

var v6max = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"

var v2sig = "\r\n\r\n\x00\r\nQUIT\n"

// v2 builds a PROXY v2 header: version/command byte, family/protocol byte,
// and the address block (its length is filled in).
func v2(verCmd, famProto byte, block ...[]byte) string {
	b := []byte(v2sig)
	b = append(b, verCmd, famProto)
	body := bytes.Join(block, nil)
	b = binary.BigEndian.AppendUint16(b, uint16(len(body)))
	return string(append(b, body...))
}

func ports(src, dst uint16) []byte {
	return binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(nil, src), dst)
}

func ip(s string) []byte {
	a := net.ParseIP(s)
	if a4 := a.To4(); a4 != nil && !strings.Contains(s, ":") {
		return a4
	}
	return a.To16()
}

// tlv builds a PROXY v2 TLV.
func tlv(typ byte, value string) []byte {
	b := binary.BigEndian.AppendUint16([]byte{typ}, uint16(len(value)))
	return append(b, value...)
}

var proxyTests = []struct {
	name   string
	in     string
	remote string // "" means unchanged
	local  string
	rest   string // bytes after the header
	err    error  // errors.Is target; nil means success
}{
	// Version 1.
	{name: "v1 tcp4", in: "PROXY TCP4 192.0.2.1 198.51.100.25 56324 25\r\nEHLO x\r\n",
		remote: "192.0.2.1:56324", local: "198.51.100.25:25", rest: "EHLO x\r\n"},
	{name: "v1 tcp6", in: "PROXY TCP6 2001:db8::1 2001:db8::25 65535 0\r\n",
		remote: "[2001:db8::1]:65535", local: "[2001:db8::25]:0"},
	{name: "v1 tcp6 mapped", in: "PROXY TCP6 ::ffff:192.0.2.1 ::1 1 2\r\n",
		remote: "192.0.2.1:1", local: "[::1]:2"},
	{name: "v1 longest", in: "PROXY UNKNOWN " + v6max + " " + v6max + " 65535 65535\r\nX", rest: "X"},
	{name: "v1 one byte too long", in: "PROXY UNKNOWN " + v6max + " " + v6max + " 65535 655355\r\n", err: serve.ErrInvalidProxyHeader},
	{name: "v1 unknown", in: "PROXY UNKNOWN\r\n"},
	{name: "v1 unknown with addresses", in: "PROXY UNKNOWN ffff:f::f:ffff ffff:f::f:ffff 65535 65535\r\nQUIT\r\n", rest: "QUIT\r\n"},
	{name: "v1 tcp4 with v6 address", in: "PROXY TCP4 2001:db8::1 192.0.2.2 1 2\r\n", err: serve.ErrInvalidProxyHeader},
	{name: "v1 tcp6 with v4 address", in: "PROXY TCP6 192.0.2.1 2001:db8::2 1 2\r\n", err: serve.ErrInvalidProxyHeader},
	{name: "v1 zone", in: "PROXY TCP6 fe80::1%eth0 fe80::2 1 2\r\n", err: serve.ErrInvalidProxyHeader},
	{name: "v1 ipv4 leading zero", in: "PROXY TCP4 192.0.2.01 192.0.2.2 1 2\r\n", err: serve.ErrInvalidProxyHeader},
	{name: "v1 port too big", in: "PROXY TCP4 192.0.2.1 192.0.2.2 65536 2\r\n", err: serve.ErrInvalidProxyHeader},
	{name: "v1 port leading zero", in: "PROXY TCP4 192.0.2.1 192.0.2.2 025 2\r\n", err: serve.ErrInvalidProxyHeader},
	{name: "v1 port sign", in: "PROXY TCP4 192.0.2.1 192.0.2.2 +25 2\r\n", err: serve.ErrInvalidProxyHeader},
	{name: "v1 port missing", in: "PROXY TCP4 192.0.2.1 192.0.2.2 25\r\n", err: serve.ErrInvalidProxyHeader},
	{name: "v1 extra field", in: "PROXY TCP4 192.0.2.1 192.0.2.2 1 2 3\r\n", err: serve.ErrInvalidProxyHeader},
	{name: "v1 double space", in: "PROXY TCP4  192.0.2.1 192.0.2.2 1 2\r\n", err: serve.ErrInvalidProxyHeader},
	{name: "v1 udp", in: "PROXY UDP4 192.0.2.1 192.0.2.2 1 2\r\n", err: serve.ErrInvalidProxyHeader},
	{name: "v1 bare LF", in: "PROXY TCP4 192.0.2.1 192.0.2.2 1 2\n", err: serve.ErrInvalidProxyHeader},
	{name: "v1 bare CR", in: "PROXY TCP4 192.0.2.1 192.0.2.2 1 2\r", err: io.ErrUnexpectedEOF},
	{name: "v1 CR inside", in: "PROXY UNKNOWN\rx\r\n", err: serve.ErrInvalidProxyHeader},
	{name: "v1 NUL inside", in: "PROXY UNKNOWN \x00\r\n", err: serve.ErrInvalidProxyHeader},
	{name: "v1 too long", in: "PROXY UNKNOWN " + strings.Repeat("x", 200) + "\r\n", err: serve.ErrInvalidProxyHeader},
	{name: "v1 lowercase", in: "proxy TCP4 192.0.2.1 192.0.2.2 1 2\r\n", err: serve.ErrInvalidProxyHeader},
	{name: "v1 no space", in: "PROXYTCP4\r\n", err: serve.ErrInvalidProxyHeader},
	{name: "v1 empty", in: "PROXY \r\n", err: serve.ErrInvalidProxyHeader},
	{name: "v1 truncated", in: "PROXY TCP4 192.0.2.1", err: io.ErrUnexpectedEOF},
	{name: "not proxy", in: "EHLO client.example\r\n", err: serve.ErrInvalidProxyHeader},
	{name: "tls hello", in: "\x16\x03\x01\x02\x00", err: serve.ErrInvalidProxyHeader},
	{name: "empty", in: "", err: io.ErrUnexpectedEOF},

	// Version 2.
	{name: "v2 tcp4", in: v2(0x21, 0x11, ip("192.0.2.1"), ip("198.51.100.25"), ports(56324, 25)) + "EHLO x\r\n",
		remote: "192.0.2.1:56324", local: "198.51.100.25:25", rest: "EHLO x\r\n"},
	{name: "v2 tcp6", in: v2(0x21, 0x21, ip("2001:db8::1"), ip("2001:db8::25"), ports(1, 65535)),
		remote: "[2001:db8::1]:1", local: "[2001:db8::25]:65535"},
	{name: "v2 tcp4 with tlvs", in: v2(0x21, 0x11, ip("192.0.2.1"), ip("192.0.2.2"), ports(1, 2),
		tlv(0x01, "smtp"), tlv(0x05, strings.Repeat("u", 128)), tlv(0x20, "\x01\x00\x00\x00\x00")) + "rest",
		remote: "192.0.2.1:1", local: "192.0.2.2:2", rest: "rest"},
	{name: "v2 local", in: v2(0x20, 0x00) + "rest", rest: "rest"},
	{name: "v2 local with addresses", in: v2(0x20, 0x11, ip("192.0.2.1"), ip("192.0.2.2"), ports(1, 2))},
	{name: "v2 unspec", in: v2(0x21, 0x00, []byte("whatever"))},
	{name: "v2 udp4", in: v2(0x21, 0x12, ip("192.0.2.1"), ip("192.0.2.2"), ports(1, 2))},
	{name: "v2 unix", in: v2(0x21, 0x31, make([]byte, 216)) + "x", rest: "x"},
	{name: "v2 max length", in: v2(0x21, 0x11, ip("192.0.2.1"), ip("192.0.2.2"), ports(1, 2), tlv(0x04, strings.Repeat("\x00", serve.MaxProxyV2Length-15))),
		remote: "192.0.2.1:1", local: "192.0.2.2:2"},
	{name: "v2 too long", in: v2(0x21, 0x11, ip("192.0.2.1"), ip("192.0.2.2"), ports(1, 2), tlv(0x04, strings.Repeat("\x00", serve.MaxProxyV2Length-14))),
		err: serve.ErrInvalidProxyHeader},
	{name: "v2 length 65535", in: v2sig + "\x21\x11\xff\xff", err: serve.ErrInvalidProxyHeader},
	{name: "v2 tcp4 short", in: v2(0x21, 0x11, ip("192.0.2.1"), ip("192.0.2.2")), err: serve.ErrInvalidProxyHeader},
	{name: "v2 tcp6 short", in: v2(0x21, 0x21, ip("192.0.2.1"), ip("192.0.2.2"), ports(1, 2)), err: serve.ErrInvalidProxyHeader},
	{name: "v2 version 1", in: v2(0x11, 0x11, ip("192.0.2.1"), ip("192.0.2.2"), ports(1, 2)), err: serve.ErrInvalidProxyHeader},
	{name: "v2 version 3", in: v2(0x31, 0x11, ip("192.0.2.1"), ip("192.0.2.2"), ports(1, 2)), err: serve.ErrInvalidProxyHeader},
	{name: "v2 bad command", in: v2(0x22, 0x11, ip("192.0.2.1"), ip("192.0.2.2"), ports(1, 2)), err: serve.ErrInvalidProxyHeader},
	{name: "v2 bad family", in: v2(0x21, 0x41, ip("192.0.2.1"), ip("192.0.2.2"), ports(1, 2)), err: serve.ErrInvalidProxyHeader},
	{name: "v2 bad protocol", in: v2(0x21, 0x13, ip("192.0.2.1"), ip("192.0.2.2"), ports(1, 2)), err: serve.ErrInvalidProxyHeader},
	{name: "v2 bad signature", in: "\r\n\r\n\x00\r\nQUIT\r" + "\x21\x11\x00\x00", err: serve.ErrInvalidProxyHeader},
	{name: "v2 short signature", in: "\r\n\r\n", err: io.ErrUnexpectedEOF},
	{name: "v2 truncated header", in: v2sig + "\x21\x11\x00", err: io.ErrUnexpectedEOF},
	{name: "v2 truncated addresses", in: v2(0x21, 0x11, ip("192.0.2.1"), ip("192.0.2.2"), ports(1, 2))[:20], err: io.ErrUnexpectedEOF},
	{name: "v2 truncated tlv", in: v2(0x21, 0x11, ip("192.0.2.1"), ip("192.0.2.2"), ports(1, 2), tlv(1, "abc"))[:30], err: io.ErrUnexpectedEOF},
}

func TestReadProxyHeader(t *testing.T) {
	for _, tt := range proxyTests {
		for _, chunk := range []int{0, 1, 5} {
			mc := &memConn{r: strings.NewReader(tt.in), chunk: chunk}
			c, err := serve.ReadProxyHeader(mc, 0)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Errorf("%s (chunk %d): err %v, want %v", tt.name, chunk, err, tt.err)
				}
				continue
			}
			if err != nil {
				t.Errorf("%s (chunk %d): %v", tt.name, chunk, err)
				continue
			}
			wantRemote, wantLocal := tt.remote, tt.local
			if wantRemote == "" {
				wantRemote, wantLocal = memRemote.String(), memLocal.String()
			}
			if got := c.RemoteAddr().String(); got != wantRemote {
				t.Errorf("%s (chunk %d): RemoteAddr %s, want %s", tt.name, chunk, got, wantRemote)
			}
			if got := c.LocalAddr().String(); got != wantLocal {
				t.Errorf("%s (chunk %d): LocalAddr %s, want %s", tt.name, chunk, got, wantLocal)
			}
			if tt.remote != "" {
				if _, ok := c.RemoteAddr().(*net.TCPAddr); !ok {
					t.Errorf("%s: RemoteAddr is %T, want *net.TCPAddr", tt.name, c.RemoteAddr())
				}
			}
			rest, err := io.ReadAll(c)
			if err != nil || string(rest) != tt.rest {
				t.Errorf("%s (chunk %d): rest %q, %v; want %q", tt.name, chunk, rest, err, tt.rest)
			}
		}
	}
}

// The header is read without waiting for more bytes than it has, so a
// client that waits for the server's greeting is not stuck.
func TestReadProxyHeaderNoOverRead(t *testing.T) {
	for _, in := range []string{
		"PROXY UNKNOWN\r\n",
		"PROXY TCP4 192.0.2.1 192.0.2.2 1 2\r\n",
		v2(0x20, 0x00),
		v2(0x21, 0x11, ip("192.0.2.1"), ip("192.0.2.2"), ports(1, 2), tlv(4, "pad")),
	} {
		synctest.Test(t, func(t *testing.T) {
			cli, srv := net.Pipe()
			defer cli.Close()
			defer srv.Close()
			go func() {
				// The header in pieces, then wait for the greeting; answer
				// after longer than the header timeout.
				io.WriteString(cli, in[:3])
				io.WriteString(cli, in[3:])
				buf := make([]byte, 5)
				io.ReadFull(cli, buf)
				<-time.After(time.Hour)
				io.WriteString(cli, "QUIT\r\n")
			}()
			start := time.Now()
			c, err := serve.ReadProxyHeader(srv, 0)
			if err != nil {
				t.Fatalf("%q: %v", in, err)
			}
			if d := time.Since(start); d != 0 {
				t.Errorf("%q: took %v", in, d)
			}
			io.WriteString(c, "220 \n")
			// The read deadline was cleared.
			buf := make([]byte, 6)
			if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "QUIT\r\n" {
				t.Errorf("%q: read %q, %v", in, buf, err)
			}
			if d := time.Since(start); d != time.Hour {
				t.Errorf("%q: QUIT read after %v", in, d)
			}
		})
	}
}

func TestReadProxyHeaderTimeout(t *testing.T) {
	for _, tc := range []struct {
		timeout, want time.Duration
	}{
		{0, serve.DefaultProxyHeaderTimeout},
		{time.Second, time.Second},
	} {
		synctest.Test(t, func(t *testing.T) {
			cli, srv := net.Pipe()
			defer cli.Close()
			defer srv.Close()
			go io.WriteString(cli, "PROXY TCP4 ")
			start := time.Now()
			_, err := serve.ReadProxyHeader(srv, tc.timeout)
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Errorf("err %v, want deadline exceeded", err)
			}
			if d := time.Since(start); d != tc.want {
				t.Errorf("timed out after %v, want %v", d, tc.want)
			}
		})
	}
}

func FuzzReadProxyHeader(f *testing.F) {
	for _, tt := range proxyTests {
		f.Add([]byte(tt.in), uint8(0))
	}
	f.Add([]byte(v2(0x21, 0x21, ip("::1"), ip("::2"), ports(1, 2), tlv(0x20, "x"))), uint8(3))
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8) {
		mc := &memConn{r: bytes.NewReader(data), chunk: int(chunk % 17)}
		c, err := serve.ReadProxyHeader(mc, -1)
		if err != nil {
			if c != nil {
				t.Fatal("non-nil conn with error")
			}
			return
		}
		rest, err := io.ReadAll(c)
		if err != nil {
			t.Fatal(err)
		}
		n := len(data) - len(rest)
		if n <= 0 || !bytes.Equal(rest, data[n:]) {
			t.Fatalf("bytes after the header lost or changed: header %d bytes, rest %q", n, rest)
		}
		max := 16 + serve.MaxProxyV2Length
		if data[0] == 'P' {
			max = 107
		}
		if n > max {
			t.Fatalf("accepted a %d-byte header", n)
		}
		if c.RemoteAddr() == nil || c.LocalAddr() == nil {
			t.Fatal("nil address")
		}
	})
}
