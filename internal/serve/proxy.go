package serve

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// DefaultProxyHeaderTimeout is the time ReadProxyHeader allows for the
// whole header when its timeout argument is zero.
const DefaultProxyHeaderTimeout = 10 * time.Second

// MaxProxyV2Length is the largest PROXY v2 address-and-TLV block that
// ReadProxyHeader accepts (the length field in bytes 15 and 16). Addresses
// take at most 216 bytes; the rest leaves room for TLVs such as SSL
// information and unique IDs.
const MaxProxyV2Length = 4096

// proxyV1MaxLen is the longest v1 line including CRLF (spec §2.1).
const proxyV1MaxLen = 107

// ErrInvalidProxyHeader is wrapped by the errors ReadProxyHeader returns
// when the peer sent something other than a valid PROXY protocol header.
var ErrInvalidProxyHeader = errors.New("invalid PROXY protocol header")

var proxyV2Sig = [12]byte{0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A}

// ReadProxyHeader reads a PROXY protocol version 1 or 2 header from c,
// which must not have been read from yet, and returns a net.Conn whose
// RemoteAddr and LocalAddr are the source and destination the proxy
// reported, as *net.TCPAddr. For v1 "UNKNOWN", v2 LOCAL, and v2 families or
// transports other than TCP over IPv4/IPv6, the addresses are c's own.
// Bytes the client sent after the header are returned by the returned
// conn's Read; its other methods, including Close, are c's. The returned
// conn has a NetConn method that returns c.
//
// The whole header must arrive within timeout: zero means
// DefaultProxyHeaderTimeout (10s), negative means no deadline. The read
// deadline is cleared afterwards. At most 107 bytes are accepted for v1 and
// 16+MaxProxyV2Length for v2. Invalid input yields an error wrapping
// ErrInvalidProxyHeader; I/O errors (including the timeout) are returned
// wrapped. On error the caller should close c. See the package
// documentation for when it is safe to call.
func ReadProxyHeader(c net.Conn, timeout time.Duration) (net.Conn, error) {
	if timeout == 0 {
		timeout = DefaultProxyHeaderTimeout
	}
	if timeout > 0 {
		if err := c.SetReadDeadline(time.Now().Add(timeout)); err != nil {
			return nil, err
		}
	}
	// A small buffer: the header is read with Peek/ReadByte/Discard and
	// never needs to fit. Whatever the client sent after the header in the
	// same segment stays buffered and is served by proxyConn.Read.
	br := bufio.NewReaderSize(c, 256)
	src, dst, err := readProxyHeader(br)
	if err != nil {
		return nil, err
	}
	if timeout > 0 {
		if err := c.SetReadDeadline(time.Time{}); err != nil {
			return nil, err
		}
	}
	if src == nil && br.Buffered() == 0 {
		return c, nil
	}
	pc := &proxyConn{Conn: c}
	if src != nil {
		pc.remote, pc.local = src, dst
	}
	if br.Buffered() > 0 {
		pc.r = br
	}
	return pc, nil
}

func invalidProxy(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidProxyHeader}, args...)...)
}

func proxyReadErr(err error) error {
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("reading PROXY protocol header: %w", err)
}

// readProxyHeader consumes one header from br and returns the reported
// addresses, or nil ones if the real endpoints are to be used.
func readProxyHeader(br *bufio.Reader) (src, dst *net.TCPAddr, err error) {
	b, err := br.Peek(1)
	if err != nil {
		return nil, nil, proxyReadErr(err)
	}
	switch b[0] {
	case 'P':
		return readProxyV1(br)
	case proxyV2Sig[0]:
		return readProxyV2(br)
	}
	return nil, nil, invalidProxy("no PROXY signature")
}

// readProxyV1 reads a "PROXY ...\r\n" line byte by byte from br (which
// buffers), never consuming past the LF.
func readProxyV1(br *bufio.Reader) (src, dst *net.TCPAddr, err error) {
	const prefix = "PROXY "
	var line [proxyV1MaxLen]byte
	n := 0
	for {
		ch, err := br.ReadByte()
		if err != nil {
			return nil, nil, proxyReadErr(err)
		}
		if n == len(line) {
			return nil, nil, invalidProxy("v1 line longer than %d bytes", proxyV1MaxLen)
		}
		line[n] = ch
		n++
		if n <= len(prefix) && ch != prefix[n-1] {
			return nil, nil, invalidProxy("no PROXY signature")
		}
		if ch == '\n' {
			break
		}
	}
	if n < len(prefix)+2 || line[n-2] != '\r' {
		return nil, nil, invalidProxy("v1 line not terminated by CRLF")
	}
	return parseProxyV1(line[len(prefix) : n-2])
}

// parseProxyV1 parses what follows "PROXY " up to CRLF, for example
// "TCP4 192.0.2.1 192.0.2.2 56324 25".
func parseProxyV1(b []byte) (src, dst *net.TCPAddr, err error) {
	for _, ch := range b {
		if ch < 0x20 || ch > 0x7e {
			return nil, nil, invalidProxy("v1 line contains control character %#02x", ch)
		}
	}
	f := strings.Split(string(b), " ")
	if f[0] == "UNKNOWN" {
		// The rest of the line, if any, must be ignored (spec §2.1).
		return nil, nil, nil
	}
	if len(f) != 5 {
		return nil, nil, invalidProxy("v1 line has %d fields, want 5", len(f)+1)
	}
	var want4 bool
	switch f[0] {
	case "TCP4":
		want4 = true
	case "TCP6":
	default:
		return nil, nil, invalidProxy("v1 unknown protocol %q", f[0])
	}
	var ips [2]netip.Addr
	for i, s := range f[1:3] {
		ip, err := netip.ParseAddr(s)
		if err != nil || ip.Zone() != "" || ip.Is4() != want4 {
			return nil, nil, invalidProxy("v1 bad %s address %q", f[0], s)
		}
		ips[i] = ip
	}
	var ports [2]uint16
	for i, s := range f[3:5] {
		p, ok := parseProxyPort(s)
		if !ok {
			return nil, nil, invalidProxy("v1 bad port %q", s)
		}
		ports[i] = p
	}
	src = net.TCPAddrFromAddrPort(netip.AddrPortFrom(ips[0], ports[0]))
	dst = net.TCPAddrFromAddrPort(netip.AddrPortFrom(ips[1], ports[1]))
	return src, dst, nil
}

// parseProxyPort parses a decimal port without sign or leading zeros.
func parseProxyPort(s string) (uint16, bool) {
	if s == "" || len(s) > 5 || (s[0] == '0' && len(s) > 1) {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	p, err := strconv.ParseUint(s, 10, 16)
	return uint16(p), err == nil
}

// readProxyV2 reads a binary header (spec §2.2) from br.
func readProxyV2(br *bufio.Reader) (src, dst *net.TCPAddr, err error) {
	// Check the signature as bytes arrive so that garbage fails early.
	for checked := 0; checked < len(proxyV2Sig); {
		if _, err := br.Peek(checked + 1); err != nil {
			return nil, nil, proxyReadErr(err)
		}
		avail := min(br.Buffered(), len(proxyV2Sig))
		b, _ := br.Peek(avail)
		if !bytes.Equal(b, proxyV2Sig[:avail]) {
			return nil, nil, invalidProxy("no PROXY signature")
		}
		checked = avail
	}
	hdr, err := br.Peek(16)
	if err != nil {
		return nil, nil, proxyReadErr(err)
	}
	ver, cmd := hdr[12]>>4, hdr[12]&0x0f
	fam, proto := hdr[13]>>4, hdr[13]&0x0f
	length := int(binary.BigEndian.Uint16(hdr[14:16]))
	switch {
	case ver != 2:
		return nil, nil, invalidProxy("v2 bad version %d", ver)
	case cmd > 1:
		return nil, nil, invalidProxy("v2 bad command %#x", cmd)
	case fam > 3:
		return nil, nil, invalidProxy("v2 bad address family %#x", fam)
	case proto > 2:
		return nil, nil, invalidProxy("v2 bad transport protocol %#x", proto)
	case length > MaxProxyV2Length:
		return nil, nil, invalidProxy("v2 length %d exceeds %d", length, MaxProxyV2Length)
	}
	if _, err := br.Discard(16); err != nil {
		return nil, nil, proxyReadErr(err)
	}

	const (
		cmdProxy    = 1
		famInet     = 1
		famInet6    = 2
		protoStream = 1
	)
	var need int // address bytes we parse
	if cmd == cmdProxy && proto == protoStream {
		switch fam {
		case famInet:
			need = 2*4 + 2*2
		case famInet6:
			need = 2*16 + 2*2
		}
	}
	if length < need {
		return nil, nil, invalidProxy("v2 length %d too short for address family %#x", length, fam)
	}
	var addr [36]byte
	if _, err := io.ReadFull(br, addr[:need]); err != nil {
		return nil, nil, proxyReadErr(err)
	}
	// Skip the rest: UNIX addresses, TLVs.
	if _, err := br.Discard(length - need); err != nil {
		return nil, nil, proxyReadErr(err)
	}
	if need == 0 {
		// LOCAL, AF_UNSPEC, AF_UNIX, UNSPEC or DGRAM: use the real
		// endpoints (spec §2.2).
		return nil, nil, nil
	}
	alen := (need - 4) / 2
	a := addr[:need]
	sip, _ := netip.AddrFromSlice(a[:alen])
	dip, _ := netip.AddrFromSlice(a[alen : 2*alen])
	sport := binary.BigEndian.Uint16(a[2*alen:])
	dport := binary.BigEndian.Uint16(a[2*alen+2:])
	src = net.TCPAddrFromAddrPort(netip.AddrPortFrom(sip, sport))
	dst = net.TCPAddrFromAddrPort(netip.AddrPortFrom(dip, dport))
	return src, dst, nil
}

// proxyConn is the net.Conn returned by ReadProxyHeader.
type proxyConn struct {
	net.Conn
	r             *bufio.Reader // bytes read past the header; nil once drained
	remote, local net.Addr      // nil: use Conn's
}

func (c *proxyConn) Read(p []byte) (int, error) {
	if c.r != nil {
		if c.r.Buffered() > 0 {
			return c.r.Read(p)
		}
		c.r = nil
	}
	return c.Conn.Read(p)
}

func (c *proxyConn) RemoteAddr() net.Addr {
	if c.remote != nil {
		return c.remote
	}
	return c.Conn.RemoteAddr()
}

func (c *proxyConn) LocalAddr() net.Addr {
	if c.local != nil {
		return c.local
	}
	return c.Conn.LocalAddr()
}

// NetConn returns the connection the header was read from.
func (c *proxyConn) NetConn() net.Conn { return c.Conn }
