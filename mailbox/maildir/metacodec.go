package maildir

import (
	"encoding/binary"
	"errors"
	"sync"
	"time"

	"github.com/postyard/postyard/mailbox"
)

// The metadata cache holds one blob per message: the mailbox.Metadata the
// store parsed when it stored the message, in a compact binary form that
// decodes with few allocations (every string of a blob shares one
// backing string). A blob that fails its checksum is rebuilt from the
// message file: the cache is never the only copy of anything.

const metaVersion = 1

// maxMetaDepth bounds the nesting of parts the decoder accepts.
const maxMetaDepth = 64

var errCorrupt = errors.New("maildir: corrupt record")

type encoder struct{ b []byte }

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

// counts are the numbers of addresses, parts, parameters and child
// pointers in a blob, written first so that the decoder allocates each
// kind once.
type counts struct{ addrs, parts, params, children int }

func (c *counts) envelope(env *mailbox.Envelope) {
	if env != nil {
		c.addrs += len(env.From) + len(env.Sender) + len(env.ReplyTo) + len(env.To) + len(env.Cc) + len(env.Bcc)
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
	e := encoder{b}
	e.b = append(e.b, metaVersion)
	var c counts
	c.envelope(m.Envelope)
	if m.Body != nil {
		c.part(m.Body)
	}
	for _, n := range [...]int{c.addrs, c.parts, c.params, c.children} {
		e.uvarint(uint64(n))
	}
	e.envelope(m.Envelope)
	e.bool(m.Body != nil)
	if m.Body != nil {
		e.part(m.Body)
	}
	if m.Date.IsZero() {
		e.bool(false)
	} else {
		e.bool(true)
		_, off := m.Date.Zone()
		e.varint(m.Date.Unix())
		e.uvarint(uint64(m.Date.Nanosecond()))
		e.varint(int64(off))
	}
	e.uvarint(uint64(len(m.Fields)))
	for _, f := range m.Fields {
		e.str(f.Name)
		e.str(f.Value)
	}
	return e.b
}

func (e *encoder) envelope(env *mailbox.Envelope) {
	e.bool(env != nil)
	if env == nil {
		return
	}
	e.str(env.Date)
	e.str(env.Subject)
	for _, l := range [...][]mailbox.Address{env.From, env.Sender, env.ReplyTo, env.To, env.Cc, env.Bcc} {
		e.uvarint(uint64(len(l)))
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

func (d *decoder) uvarint() uint64 {
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
	n := d.uvarint()
	if n > uint64(len(d.s)-d.i) {
		d.fail()
		return ""
	}
	s := d.s[d.i : d.i+int(n)]
	d.i += int(n)
	return s
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

// decodeMetadata decodes a blob made by encodeMetadata. zc caches time
// zones; nil allocates one per date.
func decodeMetadata(blob []byte, zc *zoneCache) (*mailbox.Metadata, error) {
	return decodeMetaString(string(blob), zc)
}

// decodeMetaString decodes a blob held in a string; the strings of the
// result are substrings of it.
func decodeMetaString(blob string, zc *zoneCache) (*mailbox.Metadata, error) {
	d := decoder{s: blob}
	if d.byte() != metaVersion {
		return nil, errCorrupt
	}
	// Every address takes at least 4 bytes, every part 20, every
	// parameter and child 2: counts beyond that are corrupt.
	na, np, nq, nc := d.count(4), d.count(20), d.count(2), d.count(2)
	if d.err != nil {
		return nil, errCorrupt
	}
	d.addrs = make([]mailbox.Address, na)
	d.parts = make([]mailbox.Part, np)
	d.paramPool = make([]mailbox.Param, nq)
	d.children = make([]*mailbox.Part, nc)
	me := &struct {
		m mailbox.Metadata
		e mailbox.Envelope
	}{}
	m := &me.m
	m.Envelope = d.envelopeInto(&me.e)
	if d.bool() {
		m.Body = d.part(0)
	}
	if d.bool() {
		sec, nsec, off := d.varint(), d.uvarint(), d.varint()
		if nsec >= 1e9 || off < -24*3600 || off > 24*3600 {
			d.fail()
		} else {
			m.Date = time.Unix(sec, int64(nsec)).In(zc.zone(int(off)))
		}
	}
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
	for _, l := range [...]*[]mailbox.Address{&env.From, &env.Sender, &env.ReplyTo, &env.To, &env.Cc, &env.Bcc} {
		n := d.count(4)
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
	*p = mailbox.Part{
		Type: d.str(), Subtype: d.str(), Params: d.params(),
		ID: d.str(), Description: d.str(), MD5: d.str(), Location: d.str(),
		Encoding: d.str(), Disposition: d.str(), DispositionParams: d.params(),
	}
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
