package filequeue

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"time"

	"github.com/postyard/postyard/queue"
	"github.com/postyard/postyard/smtp"
)

// The two record formats, described in doc.go ("Files"). Integers are
// unsigned or zig-zag varints (encoding/binary) unless said otherwise,
// strings are a varint length and the octets, and every record ends with
// the CRC-32C (Castagnoli) of everything before it, little-endian.

const (
	msgMagic   = "PYQM" // message file
	stateMagic = "PYQS" // state record
	version    = 1

	// Offsets in the fixed prefix of a message file.
	offHeaderLen = 6  // uint32 LE: length of the header, CRC included
	offSize      = 10 // uint64 LE: length of the content
	offCRC       = 18 // uint32 LE: CRC-32C of the content
	prefixLen    = 22

	// maxHeader bounds the header a reader accepts: 1000 recipients of
	// the longest paths and ORCPTs fit many times over.
	maxHeader = 16 << 20
	// maxState bounds a state record the same way.
	maxState = 16 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrCorrupt is the error (wrapped, test with [errors.Is]) for a queue
// file that fails its checks: a record whose checksum, magic, version or
// structure is wrong, or content whose length or checksum does not match
// its header. Open moves such files to the quarantine folder; a reader
// from [Queue.Open] returns it instead of io.EOF if the content it served
// was not what was enqueued.
var ErrCorrupt = errors.New("filequeue: corrupt queue file")

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
}

// header is the immutable part of a message's record, kept at the start
// of its message file.
type header struct {
	id       queue.ID
	enqueued time.Time
	env      queue.Envelope
	size     int64  // content length
	crc      uint32 // content CRC-32C
	length   int    // encoded length of the header, CRC included
}

// state is the mutable part of a message's record, kept in its state
// file; a message without a state file has its initial state.
type state struct {
	id    queue.ID
	held  bool
	rcpts []queue.RecipientStatus
}

// encoder appends the primitive types to b.
type encoder struct{ b []byte }

func (e *encoder) uvarint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) varint(v int64)   { e.b = binary.AppendVarint(e.b, v) }
func (e *encoder) byte(c byte)      { e.b = append(e.b, c) }

func (e *encoder) str(s string) {
	e.uvarint(uint64(len(s)))
	e.b = append(e.b, s...)
}

// unixToYear1 is the Unix time of 0001-01-01 UTC, the zero time.Time.
const unixToYear1 = -62135596800

// time writes t as seconds since the zero time (so that the zero time
// takes one octet) and nanoseconds. The subtraction wraps, so every
// time.Time round-trips; location and monotonic reading are dropped.
func (e *encoder) time(t time.Time) {
	e.varint(t.Unix() - unixToYear1)
	e.uvarint(uint64(t.Nanosecond()))
}

func (e *encoder) path(p smtp.Path) {
	e.str(p.Local)
	e.str(p.Domain)
	e.uvarint(uint64(len(p.SourceRoute)))
	for _, s := range p.SourceRoute {
		e.str(s)
	}
}

func (e *encoder) crc() {
	e.b = binary.LittleEndian.AppendUint32(e.b, crc32.Checksum(e.b, castagnoli))
}

// Flags of the envelope and of recipient statuses.
const (
	flagUTF8       = 1 << 0
	flagRequireTLS = 1 << 1
	flagHold       = 1 << 2 // Envelope.Hold: enqueued on hold

	flagDelayReported = 1 << 0
	flagErr           = 1 << 1
	flagErrPermanent  = 1 << 2
)

// encodeHeader returns the header of a message file for h, with h.size
// and h.crc in place (sealHeader puts in the final ones).
func encodeHeader(h *header) []byte {
	e := &encoder{b: make([]byte, prefixLen, 256)}
	copy(e.b, msgMagic)
	e.b[4] = version
	e.str(string(h.id))
	e.time(h.enqueued)
	env := &h.env
	e.path(env.From)
	o := &env.Options
	e.varint(o.Size)
	e.str(string(o.Body))
	var flags byte
	if o.UTF8 {
		flags |= flagUTF8
	}
	if o.RequireTLS {
		flags |= flagRequireTLS
	}
	if env.Hold {
		flags |= flagHold
	}
	e.byte(flags)
	e.str(string(o.Return))
	e.str(o.EnvelopeID)
	e.str(o.Auth)
	e.uvarint(uint64(len(env.Recipients)))
	for _, r := range env.Recipients {
		e.path(r.To)
		e.byte(byte(r.Options.Notify))
		e.str(r.Options.OriginalRcpt)
		e.str(r.Options.OriginalRcptType)
	}
	b := append(e.b, 0, 0, 0, 0)
	sealHeader(b, h.size, h.crc)
	return b
}

// sealHeader writes the content's size and CRC into an encoded header
// and recomputes the header's own CRC.
func sealHeader(b []byte, size int64, crc uint32) {
	binary.LittleEndian.PutUint32(b[offHeaderLen:], uint32(len(b)))
	binary.LittleEndian.PutUint64(b[offSize:], uint64(size))
	binary.LittleEndian.PutUint32(b[offCRC:], crc)
	n := len(b) - 4
	binary.LittleEndian.PutUint32(b[n:], crc32.Checksum(b[:n], castagnoli))
}

// headerLen returns the header length that the fixed prefix of a message
// file announces, checking magic and version.
func headerLen(prefix []byte) (int, error) {
	if len(prefix) < prefixLen {
		return 0, corrupt("message file shorter than its header")
	}
	if string(prefix[:4]) != msgMagic {
		return 0, corrupt("not a message file")
	}
	if prefix[4] != version {
		return 0, corrupt("message file version %d", prefix[4])
	}
	if prefix[5] != 0 {
		return 0, corrupt("message file flags %#x", prefix[5])
	}
	n := binary.LittleEndian.Uint32(prefix[offHeaderLen:])
	if n < prefixLen+4 || n > maxHeader {
		return 0, corrupt("header length %d", n)
	}
	return int(n), nil
}

// checkCRC checks the CRC-32C at the end of b and returns what precedes it.
func checkCRC(b []byte, what string) ([]byte, error) {
	if len(b) < 4 {
		return nil, corrupt("%s too short", what)
	}
	n := len(b) - 4
	if crc32.Checksum(b[:n], castagnoli) != binary.LittleEndian.Uint32(b[n:]) {
		return nil, corrupt("%s checksum mismatch", what)
	}
	return b[:n], nil
}

// decodeHeader decodes the header of a message file: b holds exactly the
// header, as long as headerLen said.
func decodeHeader(b []byte) (*header, error) {
	n, err := headerLen(b)
	if err != nil {
		return nil, err
	}
	if n != len(b) {
		return nil, corrupt("header length %d, have %d", n, len(b))
	}
	body, err := checkCRC(b, "message header")
	if err != nil {
		return nil, err
	}
	h, err := parseHeader(body)
	if err != nil {
		return nil, err
	}
	h.length = n
	return h, nil
}

// parseHeader parses a header whose CRC was checked (or, when fuzzing,
// was not): the fixed prefix and the fields after it.
func parseHeader(b []byte) (*header, error) {
	if len(b) < prefixLen {
		return nil, corrupt("header too short")
	}
	size := binary.LittleEndian.Uint64(b[offSize:])
	if size > math.MaxInt64 {
		return nil, corrupt("content size %d", size)
	}
	h := &header{size: int64(size), crc: binary.LittleEndian.Uint32(b[offCRC:])}
	d := newDecoder(b[prefixLen:])
	h.id = queue.ID(d.str())
	h.enqueued = d.time()
	env := &h.env
	env.From = d.path()
	o := &env.Options
	o.Size = d.varint()
	o.Body = smtp.BodyType(d.str())
	flags := d.byte()
	o.UTF8, o.RequireTLS = flags&flagUTF8 != 0, flags&flagRequireTLS != 0
	env.Hold = flags&flagHold != 0
	o.Return = smtp.DSNReturn(d.str())
	o.EnvelopeID = d.str()
	o.Auth = d.str()
	// A recipient takes at least 6 octets: four empty strings, an empty
	// source route and the NOTIFY octet.
	n := d.count(6)
	if n > 0 {
		env.Recipients = make([]queue.Recipient, n)
	}
	for i := range env.Recipients {
		r := &env.Recipients[i]
		r.To = d.path()
		r.Options.Notify = smtp.Notify(d.byte())
		r.Options.OriginalRcpt = d.str()
		r.Options.OriginalRcptType = d.str()
	}
	if err := d.end("message header"); err != nil {
		return nil, err
	}
	switch {
	case !h.id.Valid():
		return nil, corrupt("message ID %q", h.id)
	case flags&^(flagUTF8|flagRequireTLS|flagHold) != 0:
		return nil, corrupt("envelope flags %#x", flags)
	case n == 0:
		return nil, corrupt("no recipients")
	}
	return h, nil
}

// encodeState returns the state record of m.
func encodeState(m *queue.Message) []byte {
	e := &encoder{b: make([]byte, 5, 64+40*len(m.Recipients))}
	copy(e.b, stateMagic)
	e.b[4] = version
	e.str(string(m.ID))
	held := byte(0)
	if m.Held {
		held = 1
	}
	e.byte(held)
	e.uvarint(uint64(len(m.Recipients)))
	for i := range m.Recipients {
		rs := &m.Recipients[i]
		e.byte(byte(rs.State))
		e.uvarint(uint64(rs.Attempts))
		e.time(rs.LastAttempt)
		e.time(rs.NextAttempt)
		var flags byte
		if rs.DelayReported {
			flags |= flagDelayReported
		}
		if rs.Err != nil {
			flags |= flagErr
			if rs.Err.Permanent {
				flags |= flagErrPermanent
			}
		}
		e.byte(flags)
		if de := rs.Err; de != nil {
			e.varint(int64(de.Code))
			e.str(de.EnhancedCode)
			e.str(de.Message)
			e.str(de.RemoteMTA)
		}
		e.str(rs.RemoteMTA)
	}
	e.crc()
	return e.b
}

// decodeState decodes a whole state file.
func decodeState(b []byte) (*state, error) {
	if len(b) > maxState {
		return nil, corrupt("state record of %d octets", len(b))
	}
	body, err := checkCRC(b, "state record")
	if err != nil {
		return nil, err
	}
	return parseState(body)
}

// parseState parses a state record whose CRC was checked (or, when
// fuzzing, was not).
func parseState(b []byte) (*state, error) {
	if len(b) < 5 || string(b[:4]) != stateMagic {
		return nil, corrupt("not a state record")
	}
	if b[4] != version {
		return nil, corrupt("state record version %d", b[4])
	}
	d := newDecoder(b[5:])
	st := &state{id: queue.ID(d.str())}
	held := d.byte()
	st.held = held == 1
	// A status takes at least 7 octets: state, attempts, two times of
	// two octets, flags, an empty RemoteMTA.
	n := d.count(7)
	if n > 0 {
		st.rcpts = make([]queue.RecipientStatus, n)
	}
	for i := range st.rcpts {
		rs := &st.rcpts[i]
		s := d.byte()
		rs.State = queue.RecipientState(s)
		attempts := d.uvarint()
		rs.Attempts = int(min(attempts, math.MaxInt32))
		rs.LastAttempt = d.time()
		rs.NextAttempt = d.time()
		flags := d.byte()
		rs.DelayReported = flags&flagDelayReported != 0
		if flags&flagErr != 0 {
			de := &queue.DeliveryError{Permanent: flags&flagErrPermanent != 0}
			de.Code = int(d.varint())
			de.EnhancedCode = d.str()
			de.Message = d.str()
			de.RemoteMTA = d.str()
			rs.Err = de
		}
		rs.RemoteMTA = d.str()
		if d.err == nil && (s > byte(queue.RecipientFailed) || attempts > math.MaxInt32 ||
			flags&^(flagDelayReported|flagErr|flagErrPermanent) != 0 || flags&(flagErr|flagErrPermanent) == flagErrPermanent) {
			return nil, corrupt("recipient %d status", i)
		}
	}
	if err := d.end("state record"); err != nil {
		return nil, err
	}
	if !st.id.Valid() || held > 1 || n == 0 {
		return nil, corrupt("state record of %q", st.id)
	}
	return st, nil
}

// decoder reads the primitive types from b; the first error sticks and
// makes every later read return a zero value. The strings it returns
// share one copy of b, one allocation per record.
type decoder struct {
	b   []byte
	s   string // b as a string
	pos int
	err error
}

func newDecoder(b []byte) *decoder { return &decoder{b: b, s: string(b)} }

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = corrupt("truncated or malformed %s", what)
	}
	d.pos = len(d.b)
}

// took consumes the n octets of a varint that binary.(U)varint read,
// n <= 0 meaning a malformed one.
func (d *decoder) took(n int) bool {
	if n <= 0 {
		d.fail("varint")
		return false
	}
	d.pos += n
	return true
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b[d.pos:])
	if !d.took(n) {
		return 0
	}
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b[d.pos:])
	if !d.took(n) {
		return 0
	}
	return v
}

func (d *decoder) byte() byte {
	if d.pos == len(d.b) {
		d.fail("octet")
		return 0
	}
	d.pos++
	return d.b[d.pos-1]
}

func (d *decoder) str() string {
	n := d.uvarint()
	if n > uint64(len(d.b)-d.pos) {
		d.fail("string")
		return ""
	}
	s := d.s[d.pos : d.pos+int(n)]
	d.pos += int(n)
	return s
}

// count reads the length of a list whose elements take at least min
// octets each, so that a corrupt length cannot make the decoder allocate
// more than the record's size.
func (d *decoder) count(min int) int {
	n := d.uvarint()
	if n > uint64((len(d.b)-d.pos)/min) {
		d.fail("list length")
		return 0
	}
	return int(n)
}

func (d *decoder) time() time.Time {
	sec := d.varint() + unixToYear1
	nsec := d.uvarint()
	if nsec >= 1e9 {
		d.fail("time")
		return time.Time{}
	}
	if d.err != nil {
		return time.Time{}
	}
	return time.Unix(sec, int64(nsec)).UTC()
}

func (d *decoder) path() smtp.Path {
	p := smtp.Path{Local: d.str(), Domain: d.str()}
	if n := d.count(1); n > 0 {
		p.SourceRoute = make([]string, n)
		for i := range p.SourceRoute {
			p.SourceRoute[i] = d.str()
		}
	}
	return p
}

// end reports the first error, or that bytes were left over.
func (d *decoder) end(what string) error {
	if d.err != nil {
		return fmt.Errorf("%s: %w", what, d.err)
	}
	if d.pos != len(d.b) {
		return corrupt("%d octets after the %s", len(d.b)-d.pos, what)
	}
	return nil
}
