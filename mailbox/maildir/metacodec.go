package maildir

import (
	"encoding/binary"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/postyard/postyard/mailbox"
)

// The metadata cache holds one blob per message: the mailbox.Metadata the
// store parsed when it stored the message, in a compact binary form that
// decodes with few allocations (every string of a blob shares one
// backing string). A blob that fails its checksum is rebuilt from the
// message file: the cache is never the only copy of anything.
//
// Version 2 (written now) keeps the envelope and the body structure in
// sections with their lengths in front, so that a listing that needs only
// some parts of the metadata (FetchOptions.Metadata) skips the others
// without decoding them:
//
//	blob     = 2 counts envelope-section body-section date fields
//	counts   = envelope-addresses addresses parts params children fields (uvarints)
//	section  = length:uvarint bytes
//
// An envelope's Sender and Reply-To lists that are the From list (as
// Parse makes them when the fields are missing) are written as a 0 count
// and decode to the From slice; other lists as their length plus one. A
// cached field's name is written as its number in fieldNames (0 and the
// name for others), and its value, when it is one of the envelope's
// strings (Date, Subject, Message-Id and In-Reply-To most often are), as
// a reference to those bytes of the envelope section:
//
//	value    = (2 × length):uvarint bytes | (2 × offset + 1):uvarint length:uvarint
//
// Version 1 blobs (no sections, every list and field written out) are
// still read.

const (
	metaV1 = 1
	metaV2 = 2
)

// maxMetaDepth bounds the nesting of parts the decoder accepts.
const maxMetaDepth = 64

var errCorrupt = errors.New("maildir: corrupt record")

type encoder struct {
	b []byte
	// refs are envelope strings fields may refer to, with their offsets
	// from the start of the envelope section.
	refs [4]struct {
		s   string
		off int
	}
}

// fieldNames are the header fields mailbox.Metadata caches
// (mailbox.IsCachedField), numbered in blobs from 1.
var fieldNames = [...]string{
	"Bcc", "Cc", "Date", "From", "In-Reply-To", "List-Id", "Message-Id",
	"References", "Reply-To", "Sender", "Subject", "To",
}

func (e *encoder) uvarint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) varint(v int64)   { e.b = binary.AppendVarint(e.b, v) }
func (e *encoder) str(s string)     { e.uvarint(uint64(len(s))); e.b = append(e.b, s...) }
func (e *encoder) bool(v bool) {
	if v {
		e.b = append(e.b, 1)
	} else {
		e.b = append(e.b, 0)
	}
}

// section writes what fn encodes with its length in front.
func (e *encoder) section(fn func()) {
	start := len(e.b)
	fn()
	var n [binary.MaxVarintLen64]byte
	k := binary.PutUvarint(n[:], uint64(len(e.b)-start))
	e.b = slices.Insert(e.b, start, n[:k]...)
}

// counts are the numbers of addresses, parts, parameters and child
// pointers in a blob, written first so that the decoder allocates each
// kind once.
type counts struct{ addrs, parts, params, children int }

func (c *counts) envelope(env *mailbox.Envelope) {
	if env != nil {
		c.addrs += len(env.From) + len(env.To) + len(env.Cc) + len(env.Bcc)
		if !slices.Equal(env.Sender, env.From) {
			c.addrs += len(env.Sender)
		}
		if !slices.Equal(env.ReplyTo, env.From) {
			c.addrs += len(env.ReplyTo)
		}
	}
}

func (c *counts) part(p *mailbox.Part) {
	c.parts++
	c.params += len(p.Params) + len(p.DispositionParams)
	c.children += len(p.Parts)
	c.envelope(p.Envelope)
	for _, ch := range p.Parts {
		c.part(ch)
	}
	if p.Message != nil {
		c.part(p.Message)
	}
}

// encodeMetadata appends the blob of m to b.
func encodeMetadata(b []byte, m *mailbox.Metadata) []byte {
	e := encoder{b: b}
	e.b = append(e.b, metaV2)
	var env, body counts
	env.envelope(m.Envelope)
	if m.Body != nil {
		body.part(m.Body)
	}
	for _, n := range [...]int{env.addrs, body.addrs, body.parts, body.params, body.children, len(m.Fields)} {
		e.uvarint(uint64(n))
	}
	e.section(func() {
		start := len(e.b)
		e.envelope(m.Envelope)
		if env := m.Envelope; env != nil {
			// The strings were written last to first just before the
			// Message-Id's end: find them from the end.
			end := len(e.b)
			for i, v := range [...]string{env.MessageID, env.InReplyTo} {
				end -= len(v)
				e.refs[i].s, e.refs[i].off = v, end-start
				end -= uvarintLen(uint64(len(v)))
			}
			off := 1 // past the presence flag
			for i, v := range [...]string{env.Date, env.Subject} {
				off += uvarintLen(uint64(len(v)))
				e.refs[2+i].s, e.refs[2+i].off = v, off
				off += len(v)
			}
		}
	})
	e.section(func() {
		e.bool(m.Body != nil)
		if m.Body != nil {
			e.part(m.Body)
		}
	})
	if m.Date.IsZero() {
		e.bool(false)
	} else {
		e.bool(true)
		_, off := m.Date.Zone()
		e.varint(m.Date.Unix())
		e.uvarint(uint64(m.Date.Nanosecond()))
		e.varint(int64(off))
	}
	for _, f := range m.Fields {
		e.field(f)
	}
	return e.b
}

func uvarintLen(v uint64) int {
	var b [binary.MaxVarintLen64]byte
	return binary.PutUvarint(b[:], v)
}

// field writes a cached header field.
func (e *encoder) field(f mailbox.Field) {
	if i := slices.Index(fieldNames[:], f.Name); i >= 0 {
		e.uvarint(uint64(i) + 1)
	} else {
		e.uvarint(0)
		e.str(f.Name)
	}
	if f.Value != "" {
		for _, r := range e.refs {
			if r.s == f.Value {
				e.uvarint(uint64(r.off)<<1 | 1)
				e.uvarint(uint64(len(r.s)))
				return
			}
		}
	}
	e.uvarint(uint64(len(f.Value)) << 1)
	e.b = append(e.b, f.Value...)
}

func (e *encoder) envelope(env *mailbox.Envelope) {
	e.bool(env != nil)
	if env == nil {
		return
	}
	e.str(env.Date)
	e.str(env.Subject)
	for i, l := range [...][]mailbox.Address{env.From, env.Sender, env.ReplyTo, env.To, env.Cc, env.Bcc} {
		if (i == 1 || i == 2) && slices.Equal(l, env.From) {
			e.uvarint(0) // the From list
			continue
		}
		e.uvarint(uint64(len(l)) + 1)
		for _, a := range l {
			var fl byte
			if a.GroupStart {
				fl |= 1
			}
			if a.GroupEnd {
				fl |= 2
			}
			e.b = append(e.b, fl)
			e.str(a.Name)
			e.str(a.Mailbox)
			e.str(a.Host)
		}
	}
	e.str(env.InReplyTo)
	e.str(env.MessageID)
}

func (e *encoder) params(ps []mailbox.Param) {
	e.uvarint(uint64(len(ps)))
	for _, p := range ps {
		e.str(p.Name)
		e.str(p.Value)
	}
}

func (e *encoder) part(p *mailbox.Part) {
	e.str(p.Type)
	e.str(p.Subtype)
	e.params(p.Params)
	e.str(p.ID)
	e.str(p.Description)
	e.str(p.MD5)
	e.str(p.Location)
	e.str(p.Encoding)
	e.str(p.Disposition)
	e.params(p.DispositionParams)
	e.uvarint(uint64(len(p.Language)))
	for _, l := range p.Language {
		e.str(l)
	}
	e.uvarint(uint64(len(p.Parts)))
	for _, c := range p.Parts {
		e.part(c)
	}
	e.envelope(p.Envelope)
	e.bool(p.Message != nil)
	if p.Message != nil {
		e.part(p.Message)
	}
	for _, v := range [...]int64{p.Size, p.Lines, p.HeaderOffset, p.BodyOffset, p.End} {
		e.varint(v)
	}
}

// decoder reads a blob. s is the whole blob as one string, so that
// decoded strings are substrings of it and cost no allocation each.
type decoder struct {
	s   string
	i   int
	err error
	v   byte // blob version

	// Pools the blob's addresses, parts, parameters and child pointers
	// are taken from.
	addrs     []mailbox.Address
	parts     []mailbox.Part
	paramPool []mailbox.Param
	children  []*mailbox.Part
}

// take returns the next n elements of *pool, failing if it has fewer.
func take[T any](d *decoder, pool *[]T, n int) []T {
	if n > len(*pool) {
		d.fail()
		return nil
	}
	s := (*pool)[:n:n]
	*pool = (*pool)[n:]
	return s
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = errCorrupt
	}
	d.i = len(d.s)
}

// uvarint reads an unsigned varint. One byte is the common case
// (lengths of short strings, counts, flags), and inlined.
func (d *decoder) uvarint() uint64 {
	if i := d.i; i < len(d.s) && d.s[i] < 0x80 {
		d.i = i + 1
		return uint64(d.s[i])
	}
	return d.uvarintLong()
}

//go:noinline
func (d *decoder) uvarintLong() uint64 {
	var v uint64
	for shift := uint(0); ; shift += 7 {
		if d.i >= len(d.s) || shift > 63 {
			d.fail()
			return 0
		}
		c := d.s[d.i]
		d.i++
		v |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return v
		}
	}
}

func (d *decoder) varint() int64 {
	u := d.uvarint()
	v := int64(u >> 1)
	if u&1 != 0 {
		v = ^v
	}
	return v
}

func (d *decoder) byte() byte {
	if d.i >= len(d.s) {
		d.fail()
		return 0
	}
	c := d.s[d.i]
	d.i++
	return c
}

func (d *decoder) bool() bool { return d.byte() != 0 }

func (d *decoder) str() string {
	// A length of one byte is the common case.
	if i := d.i; i < len(d.s) {
		if n := int(d.s[i]); n < 0x80 && n < len(d.s)-i {
			d.i = i + 1 + n
			return d.s[i+1 : d.i]
		}
	}
	return d.strLong()
}

func (d *decoder) strLong() string {
	n := d.uvarint()
	if n > uint64(len(d.s)-d.i) {
		d.fail()
		return ""
	}
	i := d.i
	d.i = i + int(n)
	return d.s[i:d.i]
}

// count reads a list length, failing if the rest of the blob cannot hold
// that many elements of at least min bytes each.
func (d *decoder) count(min int) int {
	n := d.uvarint()
	if n > uint64((len(d.s)-d.i)/min) {
		d.fail()
		return 0
	}
	return int(n)
}

// section reads a section's length and returns the decoder's position
// after it; it fails if the blob is shorter.
func (d *decoder) section() int {
	n := d.uvarint()
	if n > uint64(len(d.s)-d.i) {
		d.fail()
		return len(d.s)
	}
	return d.i + int(n)
}

// decodeMetadata decodes a blob made by encodeMetadata. zc caches time
// zones; nil allocates one per date.
func decodeMetadata(blob []byte, zc *zoneCache) (*mailbox.Metadata, error) {
	return decodeMetaString(string(blob), mailbox.MetadataAll, zc, nil)
}

// metaEnvelope is a Metadata and its envelope, allocated together.
type metaEnvelope struct {
	m mailbox.Metadata
	e mailbox.Envelope
}

// metaCounts are the numbers of things a version 2 blob holds, from its
// header.
type metaCounts struct {
	envAddrs, addrs, parts, params, children, fields int
}

// readCounts reads the header of a blob; ok is false if it is not a
// version 2 blob or the counts are impossible. Every address takes at
// least 4 bytes, every part 20, every parameter, child and field 2:
// counts beyond that are corrupt.
func (d *decoder) readCounts() (c metaCounts, ok bool) {
	if d.v = d.byte(); d.v != metaV2 {
		return c, false
	}
	c = metaCounts{d.count(4), d.count(4), d.count(20), d.count(2), d.count(2), d.count(2)}
	return c, d.err == nil
}

// metaArena is the memory decoded metadata are made of: one slice of
// each kind of thing for many blobs, instead of several allocations a
// message. Decoded metadata keep their arena alive, so an arena serves a
// bounded run of blobs (or, reused, one chunk of a listing whose caller
// asked for FetchOptions.Reuse).
type metaArena struct {
	// What is left to carve from; all is the memory they were cut from.
	metaPools
	all metaPools
	// bufs holds the blobs read, buf what is not in use yet.
	bufs, buf []byte
}

// runBuf returns n bytes of the arena's buffer for blobs; they stay in
// use until the arena is next reserved for blobs of other messages.
func (a *metaArena) runBuf(n int) []byte {
	if len(a.buf)-len(a.bufs) < n {
		// Earlier runs keep the old buffer (their strings point into
		// it) until the next chunk.
		a.buf = make([]byte, max(2*len(a.buf), n, 64<<10))
		a.bufs = a.buf[:0]
	}
	b := a.buf[len(a.bufs) : len(a.bufs)+n : len(a.bufs)+n]
	a.bufs = a.buf[:len(a.bufs)+n]
	return b
}

type metaPools struct {
	mes      []metaEnvelope
	ms       []mailbox.Metadata
	addrs    []mailbox.Address
	parts    []mailbox.Part
	params   []mailbox.Param
	children []*mailbox.Part
	fields   []mailbox.Field
}

// add adds to total what decoding parts of a blob with counts c takes.
func (total *metaCounts) add(c metaCounts, parts mailbox.MetadataParts) {
	if parts&mailbox.MetadataEnvelope != 0 {
		total.envAddrs += c.envAddrs
	}
	if parts&mailbox.MetadataBody != 0 {
		total.addrs += c.addrs
		total.parts += c.parts
		total.params += c.params
		total.children += c.children
	}
	if parts&mailbox.MetadataFields != 0 {
		total.fields += c.fields
	}
}

// reserve makes room in a for n blobs holding total, cleared (an arena is
// reused only once the metadata decoded before are dead).
func (a *metaArena) reserve(n int, total metaCounts, parts mailbox.MetadataParts) {
	p := &a.all
	if parts&mailbox.MetadataEnvelope != 0 {
		p.mes = room(p.mes, n)
		p.ms = p.ms[:0]
	} else {
		p.ms = room(p.ms, n)
		p.mes = p.mes[:0]
	}
	p.addrs = room(p.addrs, total.envAddrs+total.addrs)
	p.parts = room(p.parts, total.parts)
	p.params = room(p.params, total.params)
	p.children = room(p.children, total.children)
	p.fields = room(p.fields, total.fields)
	a.metaPools = *p
}

func room[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	s = s[:n]
	clear(s)
	return s
}

// carve returns the next n elements of *pool, or new ones if it has too
// few (a blob that says it holds less than it does fails to decode).
func carve[T any](pool *[]T, n int) []T {
	if n == 0 {
		return nil
	}
	if n > len(*pool) {
		return make([]T, n)
	}
	s := (*pool)[:n:n]
	*pool = (*pool)[n:]
	return s
}

// decodeMetaString decodes the parts of a blob held in a string; the
// strings of the result are substrings of it. The rest of the result is
// taken from a (nil: allocated). A version 1 blob is decoded whole.
func decodeMetaString(blob string, parts mailbox.MetadataParts, zc *zoneCache, a *metaArena) (*mailbox.Metadata, error) {
	d := decoder{s: blob}
	if blob != "" && blob[0] == metaV1 {
		d.i, d.v = 1, metaV1
		return d.metadataV1(zc)
	}
	c, ok := d.readCounts()
	if !ok {
		return nil, errCorrupt
	}
	if a == nil {
		a = &metaArena{}
	}
	var m *mailbox.Metadata
	envEnd := d.section()
	env := d.s[d.i:envEnd]
	if parts&mailbox.MetadataEnvelope != 0 && d.err == nil {
		me := &carve(&a.mes, 1)[0]
		d.addrs = carve(&a.addrs, c.envAddrs)
		m = &me.m
		m.Envelope = d.envelopeInto(&me.e)
		if d.i != envEnd || len(d.addrs) != 0 {
			d.fail()
		}
	} else {
		m = &carve(&a.ms, 1)[0]
	}
	d.i = max(d.i, envEnd)
	bodyEnd := d.section()
	if parts&mailbox.MetadataBody != 0 && d.err == nil {
		d.addrs = carve(&a.addrs, c.addrs)
		d.parts = carve(&a.parts, c.parts)
		d.paramPool = carve(&a.params, c.params)
		d.children = carve(&a.children, c.children)
		if d.bool() {
			m.Body = d.part(0)
		}
		if d.i != bodyEnd {
			d.fail()
		}
	}
	d.i = max(d.i, bodyEnd)
	d.date(m, parts&mailbox.MetadataDate != 0, zc)
	if parts&mailbox.MetadataFields != 0 {
		if c.fields > 0 {
			m.Fields = carve(&a.fields, c.fields)
			for i := range m.Fields {
				m.Fields[i] = d.field(env)
			}
		}
	} else {
		d.i = len(d.s) // nothing after the fields
	}
	if d.err != nil || d.i != len(d.s) {
		return nil, errCorrupt
	}
	return m, nil
}

// field reads a cached header field of a version 2 blob whose envelope
// section is env.
func (d *decoder) field(env string) mailbox.Field {
	var f mailbox.Field
	if k := d.uvarint(); k == 0 {
		f.Name = d.str()
	} else if k <= uint64(len(fieldNames)) {
		f.Name = fieldNames[k-1]
	} else {
		d.fail()
	}
	x := d.uvarint()
	if x&1 == 0 {
		n := x >> 1
		if n > uint64(len(d.s)-d.i) {
			d.fail()
			return f
		}
		f.Value = d.s[d.i : d.i+int(n)]
		d.i += int(n)
		return f
	}
	off, n := x>>1, d.uvarint()
	if off > uint64(len(env)) || n > uint64(len(env))-off {
		d.fail()
		return f
	}
	f.Value = env[off : off+n]
	return f
}

// date reads the date; into m if set.
func (d *decoder) date(m *mailbox.Metadata, set bool, zc *zoneCache) {
	if !d.bool() {
		return
	}
	sec, nsec, off := d.varint(), d.uvarint(), d.varint()
	if nsec >= 1e9 || off < -24*3600 || off > 24*3600 {
		d.fail()
	} else if set {
		m.Date = time.Unix(sec, int64(nsec)).In(zc.zone(int(off)))
	}
}

// metadataV1 decodes the rest of a version 1 blob.
func (d *decoder) metadataV1(zc *zoneCache) (*mailbox.Metadata, error) {
	na, np, nq, nc := d.count(4), d.count(20), d.count(2), d.count(2)
	if d.err != nil {
		return nil, errCorrupt
	}
	d.addrs = make([]mailbox.Address, na)
	d.parts = make([]mailbox.Part, np)
	d.paramPool = make([]mailbox.Param, nq)
	d.children = make([]*mailbox.Part, nc)
	me := &metaEnvelope{}
	m := &me.m
	m.Envelope = d.envelopeInto(&me.e)
	if d.bool() {
		m.Body = d.part(0)
	}
	d.date(m, true, zc)
	if n := d.count(2); n > 0 {
		m.Fields = make([]mailbox.Field, n)
		for i := range m.Fields {
			m.Fields[i] = mailbox.Field{Name: d.str(), Value: d.str()}
		}
	}
	if d.err != nil || d.i != len(d.s) {
		return nil, errCorrupt
	}
	return m, nil
}

func (d *decoder) envelope() *mailbox.Envelope { return d.envelopeInto(nil) }

// envelopeInto decodes an envelope into env, or a new one if env is nil.
func (d *decoder) envelopeInto(env *mailbox.Envelope) *mailbox.Envelope {
	if !d.bool() {
		return nil
	}
	if env == nil {
		env = &mailbox.Envelope{}
	}
	env.Date, env.Subject = d.str(), d.str()
	for i, l := range [...]*[]mailbox.Address{&env.From, &env.Sender, &env.ReplyTo, &env.To, &env.Cc, &env.Bcc} {
		n := d.count(4)
		if d.v >= metaV2 {
			if n == 0 {
				if i == 1 || i == 2 {
					*l = env.From
				} else {
					d.fail()
				}
				continue
			}
			n--
		}
		if n == 0 {
			continue
		}
		as := take(d, &d.addrs, n)
		for i := range as {
			fl := d.byte()
			as[i] = mailbox.Address{GroupStart: fl&1 != 0, GroupEnd: fl&2 != 0, Name: d.str(), Mailbox: d.str(), Host: d.str()}
		}
		*l = as
	}
	env.InReplyTo = d.str()
	env.MessageID = d.str()
	return env
}

func (d *decoder) params() []mailbox.Param {
	n := d.count(2)
	if n == 0 {
		return nil
	}
	ps := take(d, &d.paramPool, n)
	for i := range ps {
		ps[i] = mailbox.Param{Name: d.str(), Value: d.str()}
	}
	return ps
}

func (d *decoder) part(depth int) *mailbox.Part {
	if depth > maxMetaDepth {
		d.fail()
		return nil
	}
	ps := take(d, &d.parts, 1)
	if ps == nil {
		return nil
	}
	p := &ps[0]
	p.Type, p.Subtype, p.Params = d.str(), d.str(), d.params()
	p.ID, p.Description, p.MD5, p.Location = d.str(), d.str(), d.str(), d.str()
	p.Encoding, p.Disposition, p.DispositionParams = d.str(), d.str(), d.params()
	if n := d.count(1); n > 0 {
		p.Language = make([]string, n)
		for i := range p.Language {
			p.Language[i] = d.str()
		}
	}
	if n := d.count(16); n > 0 {
		p.Parts = take(d, &d.children, n)
		for i := range p.Parts {
			p.Parts[i] = d.part(depth + 1)
			if d.err != nil {
				return nil
			}
		}
	}
	p.Envelope = d.envelope()
	if d.bool() {
		p.Message = d.part(depth + 1)
	}
	p.Size, p.Lines, p.HeaderOffset, p.BodyOffset, p.End = d.varint(), d.varint(), d.varint(), d.varint(), d.varint()
	return p
}

// zoneCache holds fixed zones by offset, so decoding a date does not
// allocate a Location. The zero value is ready; methods are safe for
// concurrent use, also on a nil *zoneCache (which caches nothing).
type zoneCache struct{ m sync.Map } // int -> *time.Location

func (c *zoneCache) zone(off int) *time.Location {
	if off == 0 {
		return time.UTC
	}
	if c == nil {
		return time.FixedZone("", off)
	}
	if z, ok := c.m.Load(off); ok {
		return z.(*time.Location)
	}
	z, _ := c.m.LoadOrStore(off, time.FixedZone("", off))
	return z.(*time.Location)
}
