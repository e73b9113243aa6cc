package maildir

import (
	"encoding/binary"
	"hash/crc32"
	"slices"

	"github.com/postyard/postyard/mailbox"
)

// The index of a folder (file postyard-index) is an append-only log of
// checksummed records:
//
//	record  = length:u32le crc32c(payload):u32le payload
//	payload = kind:byte fields...
//
// The first record is the header (UIDVALIDITY, special use). Each change
// appends one record: a message added (UID, MODSEQ, flags, keywords,
// internal date, size, file name, where its cached metadata is), flags
// changed, messages expunged. The log is replayed on open; a record cut
// short or failing its checksum ends the replay there (a torn write: the
// change was never acknowledged, since acknowledging waits for the fsync
// of the record) and the file is truncated to the good part. When the
// log has grown to twice its size after the last compaction, it is
// rewritten as a snapshot (write a temporary file, fsync it, rename it
// over the log, fsync the directory).

const indexMagic = "postyard-index 1\n"

const (
	recHeader  = 'H' // validity, special use
	recAdd     = 'A' // one message
	recFlags   = 'F' // modseq, n × (uid, flags, keywords)
	recExpunge = 'X' // modseq, n × uid (delta coded)
	recState   = 'S' // uidNext, modseq
	recTombs   = 'T' // floor, n × (uid delta, modseq)
)

// maxRecord bounds a record's length (a flag change of a million
// messages with long keywords is far below it).
const maxRecord = 1 << 30

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// msg is a message as the index knows it. Keywords slices are replaced,
// never modified.
type msg struct {
	uid      mailbox.UID
	flags    mailbox.Flags
	metaLen  uint32
	modseq   mailbox.ModSeq
	date     int64 // internal date, Unix nanoseconds
	size     int64
	metaOff  int64 // of the blob's record in postyard-meta
	base     string
	keywords []string
}

// name returns the message's file name in cur/.
func (m *msg) name() string { return fullName(m.base, m.flags) }

type tomb struct {
	uid    mailbox.UID
	modseq mailbox.ModSeq
}

// index is the state the log describes.
type index struct {
	validity  uint32
	special   mailbox.SpecialUse
	uidNext   mailbox.UID
	modseq    mailbox.ModSeq
	msgs      []msg // ascending UID
	tombs     []tomb
	tombFloor mailbox.ModSeq
	header    bool // a header record was read
}

func (x *index) search(uid mailbox.UID) int {
	i, _ := slices.BinarySearchFunc(x.msgs, uid, func(m msg, u mailbox.UID) int {
		return int(int64(m.uid) - int64(u))
	})
	return i
}

// find returns the index of the message uid, or -1.
func (x *index) find(uid mailbox.UID) int {
	i := x.search(uid)
	if i < len(x.msgs) && x.msgs[i].uid == uid {
		return i
	}
	return -1
}

// record builds one record.
type record struct{ encoder }

func newRecord(kind byte) *record {
	r := &record{}
	r.b = append(make([]byte, 8, 128), kind)
	return r
}

// bytes finishes the record: length and checksum.
func (r *record) bytes() []byte {
	p := r.b[8:]
	binary.LittleEndian.PutUint32(r.b[0:], uint32(len(p)))
	binary.LittleEndian.PutUint32(r.b[4:], crc32.Checksum(p, crcTable))
	return r.b
}

func (r *record) keywords(kws []string) {
	r.uvarint(uint64(len(kws)))
	for _, k := range kws {
		r.str(k)
	}
}

func headerRecord(validity uint32, special mailbox.SpecialUse) []byte {
	r := newRecord(recHeader)
	r.uvarint(uint64(validity))
	r.str(string(special))
	return r.bytes()
}

func addRecord(m *msg) []byte {
	r := newRecord(recAdd)
	r.uvarint(uint64(m.uid))
	r.uvarint(uint64(m.modseq))
	r.b = append(r.b, byte(m.flags))
	r.varint(m.date)
	r.uvarint(uint64(m.size))
	r.uvarint(uint64(m.metaOff))
	r.uvarint(uint64(m.metaLen))
	r.str(m.base)
	r.keywords(m.keywords)
	return r.bytes()
}

// flagsRecord records the new state of changed messages, all at modseq.
func flagsRecord(modseq mailbox.ModSeq, ms []*msg) []byte {
	r := newRecord(recFlags)
	r.uvarint(uint64(modseq))
	r.uvarint(uint64(len(ms)))
	for _, m := range ms {
		r.uvarint(uint64(m.uid))
		r.b = append(r.b, byte(m.flags))
		r.keywords(m.keywords)
	}
	return r.bytes()
}

// expungeRecord records the expunge of uids (ascending) at modseq.
func expungeRecord(modseq mailbox.ModSeq, uids []mailbox.UID) []byte {
	r := newRecord(recExpunge)
	r.uvarint(uint64(modseq))
	r.uvarint(uint64(len(uids)))
	var prev mailbox.UID
	for _, u := range uids {
		r.uvarint(uint64(u - prev))
		prev = u
	}
	return r.bytes()
}

func stateRecord(uidNext mailbox.UID, modseq mailbox.ModSeq) []byte {
	r := newRecord(recState)
	r.uvarint(uint64(uidNext))
	r.uvarint(uint64(modseq))
	return r.bytes()
}

func tombsRecord(floor mailbox.ModSeq, tombs []tomb) []byte {
	r := newRecord(recTombs)
	r.uvarint(uint64(floor))
	r.uvarint(uint64(len(tombs)))
	for _, t := range tombs {
		r.uvarint(uint64(t.uid))
		r.uvarint(uint64(t.modseq))
	}
	return r.bytes()
}

// snapshot returns the whole index as a fresh log.
func (x *index) snapshot() []byte {
	b := []byte(indexMagic)
	b = append(b, headerRecord(x.validity, x.special)...)
	if len(x.tombs) > 0 || x.tombFloor > 0 {
		b = append(b, tombsRecord(x.tombFloor, x.tombs)...)
	}
	for i := range x.msgs {
		b = append(b, addRecord(&x.msgs[i])...)
	}
	// Last: replay accepts only adds at or above UIDNEXT.
	return append(b, stateRecord(x.uidNext, x.modseq)...)
}

// replay applies the log in data (magic included) to x and returns how
// many bytes of it are good. It stops at the first torn, corrupt or
// inconsistent record. maxTombs bounds the tombstones kept.
//
// The strings of the messages (file names, keywords) are substrings of
// one copy of data: one object for the garbage collector to mark instead
// of one a message.
func (x *index) replay(data []byte, maxTombs int) int {
	if len(data) < len(indexMagic) || string(data[:len(indexMagic)]) != indexMagic {
		return 0
	}
	sdata := string(data)
	off := len(indexMagic)
	for len(data)-off >= 8 {
		n := binary.LittleEndian.Uint32(data[off:])
		sum := binary.LittleEndian.Uint32(data[off+4:])
		if n == 0 || n > maxRecord || uint64(len(data)-off-8) < uint64(n) {
			break
		}
		if crc32.Checksum(data[off+8:off+8+int(n)], crcTable) != sum || !x.apply(sdata[off+8:off+8+int(n)], maxTombs) {
			break
		}
		off += 8 + int(n)
	}
	return off
}

// apply applies one record's payload; false if it is malformed or does
// not fit the state (then nothing was changed).
func (x *index) apply(p string, maxTombs int) bool {
	d := decoder{s: p[1:]}
	if p[0] != recHeader && !x.header {
		return false
	}
	switch p[0] {
	case recHeader:
		v := d.uvarint()
		su := mailbox.SpecialUse(d.str())
		if d.err != nil || d.i != len(d.s) || v == 0 || v > 1<<32-1 || x.header {
			return false
		}
		if su != "" {
			if _, ok := mailbox.ParseSpecialUse(string(su)); !ok {
				return false
			}
		}
		x.validity, x.special, x.header = uint32(v), su, true
		if x.uidNext == 0 {
			x.uidNext, x.modseq = 1, 1
		}
	case recAdd:
		m := msg{
			uid: mailbox.UID(d.uvarint()), modseq: mailbox.ModSeq(d.uvarint()), flags: mailbox.Flags(d.byte()),
			date: d.varint(), size: int64(d.uvarint()), metaOff: int64(d.uvarint()),
		}
		ml := d.uvarint()
		m.base = d.str()
		m.keywords = d.keywordList()
		if d.err != nil || d.i != len(d.s) || m.uid < x.uidNext || m.uid == 0 || ml > maxRecord || m.size < 0 || m.metaOff < 0 ||
			m.flags&^mailbox.AllFlags != 0 || !validBase(m.base) {
			return false
		}
		m.metaLen = uint32(ml)
		x.msgs = append(x.msgs, m)
		x.uidNext = m.uid + 1
		x.modseq = max(x.modseq, m.modseq)
	case recFlags:
		modseq := mailbox.ModSeq(d.uvarint())
		n := d.count(2)
		type change struct {
			i     int
			flags mailbox.Flags
			kws   []string
		}
		cs := make([]change, 0, n)
		for range n {
			uid := mailbox.UID(d.uvarint())
			f := mailbox.Flags(d.byte())
			kws := d.keywordList()
			i := x.find(uid)
			if d.err != nil || i < 0 || f&^mailbox.AllFlags != 0 {
				return false
			}
			cs = append(cs, change{i, f, kws})
		}
		if d.err != nil || d.i != len(d.s) {
			return false
		}
		for _, c := range cs {
			m := &x.msgs[c.i]
			m.flags, m.keywords, m.modseq = c.flags, c.kws, modseq
		}
		x.modseq = max(x.modseq, modseq)
	case recExpunge:
		modseq := mailbox.ModSeq(d.uvarint())
		n := d.count(1)
		gone := make(map[mailbox.UID]bool, n)
		var uid mailbox.UID
		for range n {
			delta := d.uvarint()
			if delta == 0 || uint64(uid)+delta > uint64(mailbox.MaxUID) {
				return false
			}
			uid += mailbox.UID(delta)
			gone[uid] = true
		}
		if d.err != nil || d.i != len(d.s) {
			return false
		}
		x.msgs = slices.DeleteFunc(x.msgs, func(m msg) bool { return gone[m.uid] })
		for _, u := range sortedUIDs(gone) {
			x.tombs = append(x.tombs, tomb{u, modseq})
		}
		x.trimTombs(maxTombs)
		x.modseq = max(x.modseq, modseq)
	case recState:
		next, modseq := mailbox.UID(d.uvarint()), mailbox.ModSeq(d.uvarint())
		if d.err != nil || d.i != len(d.s) || next == 0 {
			return false
		}
		x.uidNext = max(x.uidNext, next)
		x.modseq = max(x.modseq, modseq)
	case recTombs:
		floor := mailbox.ModSeq(d.uvarint())
		n := d.count(2)
		ts := make([]tomb, 0, n)
		for range n {
			ts = append(ts, tomb{mailbox.UID(d.uvarint()), mailbox.ModSeq(d.uvarint())})
		}
		if d.err != nil || d.i != len(d.s) {
			return false
		}
		x.tombFloor, x.tombs = floor, ts
		x.trimTombs(maxTombs)
	default:
		return false
	}
	return true
}

// trimTombs forgets the oldest tombstones beyond max.
func (x *index) trimTombs(max int) {
	if max > 0 && len(x.tombs) > max {
		drop := len(x.tombs) - max
		x.tombFloor = x.tombs[drop-1].modseq
		x.tombs = slices.Delete(x.tombs, 0, drop)
	}
}

func (d *decoder) keywordList() []string {
	n := d.count(2)
	if n == 0 {
		return nil
	}
	kws := make([]string, 0, n)
	for range n {
		k := d.str()
		if !mailbox.ValidKeyword(k) {
			d.fail()
			return nil
		}
		kws = append(kws, k)
	}
	if norm, err := mailbox.NormalizeKeywords(kws); err != nil || !slices.Equal(norm, kws) {
		d.fail()
		return nil
	}
	return kws
}

// validBase reports whether s can be the base of a message file name.
func validBase(s string) bool {
	fn, ok := parseFileName(s)
	return ok && !fn.Info && fn.Base == s
}

func sortedUIDs(set map[mailbox.UID]bool) []mailbox.UID {
	us := make([]mailbox.UID, 0, len(set))
	for u := range set {
		us = append(us, u)
	}
	slices.Sort(us)
	return us
}
