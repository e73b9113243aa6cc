package maildir

import (
	"encoding/binary"
	"hash/crc32"
	"slices"
	"strconv"
	"strings"
	"unsafe"

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
// of the record) and the file is truncated to the good part. A durable
// mark records that the content of the file of every message below a UID
// is on stable storage (see durable.go): recovery checks the files of the
// messages at or above the last mark against the CRC in their names.
// When the log has grown to twice its size after the last compaction, it
// is rewritten as a snapshot (write a temporary file, fsync it, rename it
// over the log, fsync the directory).

const indexMagic = "postyard-index 1\n"

const (
	recHeader  = 'H' // validity, special use
	recAdd     = 'A' // one message
	recFlags   = 'F' // modseq, n × (uid, flags, keywords)
	recExpunge = 'X' // modseq, n × uid (delta coded)
	recState   = 'S' // uidNext, modseq
	recTombs   = 'T' // floor, n × (uid delta, modseq)
	recDurable = 'D' // uid: the files of the messages below it are durable
)

// maxRecord bounds a record's length (a flag change of a million
// messages with long keywords is far below it).
const maxRecord = 1 << 30

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// msg is a message as the index knows it, in 48 bytes. It holds no
// pointers, so that the garbage collector never scans the index of a
// large mailbox (an open 10,000-message folder takes about 0.9 MB): its
// file name and its keywords are kept in the index's tables, see
// index.base and index.keywords.
type msg struct {
	modseq  mailbox.ModSeq
	date    int64 // internal date, Unix nanoseconds
	size    int64
	meta    uint64 // where its metadata blob is: see metaOff, metaLen
	uid     mailbox.UID
	nameOff uint32 // of the base file name in index.names
	kws     uint32 // the keywords: index.kwSets[kws]
	nameLen uint16
	flags   mailbox.Flags
	// std is set when the base name ends in ",S=<size>,U=<uid>" (as this
	// store names files), which names does not hold.
	std bool
}

// Where a message's metadata blob is: its record's offset in
// postyard-meta in the high 40 bits of msg.meta, its length in the low
// 24 (0: no blob, the metadata is parsed from the file when asked for).
const metaLenBits = 24

func (m *msg) metaOff() int64  { return int64(m.meta >> metaLenBits) }
func (m *msg) metaLen() uint32 { return uint32(m.meta & (1<<metaLenBits - 1)) }
func (m *msg) setMeta(off int64, n uint32) {
	m.meta = 0
	if off >= 0 && off < 1<<(64-metaLenBits) && n < 1<<metaLenBits {
		m.meta = uint64(off)<<metaLenBits | uint64(n)
	}
}

// maxBase bounds the length of a base file name (file names are at most
// 255 bytes long on the file systems Maildirs live on).
const maxBase = 1<<16 - 1

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
	// durable is the last durable mark: the content of the files of
	// messages with lower UIDs is on stable storage.
	durable mailbox.UID

	// names holds the base file names of msgs back to back; bytes once
	// written are never changed (strings from base share them), and
	// repack starts a new slice without the names of expunged messages.
	names []byte
	// kwSets are the distinct keyword lists of msgs, each normalized and
	// never modified; kwSets[0] is the empty list. kwIDs finds a list's
	// index by its keywords joined with spaces.
	kwSets [][]string
	kwIDs  map[string]uint32
}

// base returns the base file name of m (a message of x).
func (x *index) base(m *msg) string {
	if !m.std {
		return x.stored(m)
	}
	return string(x.appendBase(nil, m))
}

// stored returns what names holds of m's base name.
func (x *index) stored(m *msg) string {
	if m.nameLen == 0 {
		return ""
	}
	return unsafe.String(&x.names[m.nameOff], int(m.nameLen))
}

// appendBase appends the base file name of m to b.
func (x *index) appendBase(b []byte, m *msg) []byte {
	b = append(b, x.stored(m)...)
	if m.std {
		b = append(b, ",S="...)
		b = strconv.AppendInt(b, m.size, 10)
		b = append(b, ",U="...)
		b = strconv.AppendUint(b, uint64(m.uid), 10)
	}
	return b
}

// setBase sets the base file name of m, whose uid and size are set;
// len(b) is at most maxBase.
func (x *index) setBase(m *msg, b string) {
	var suffix [48]byte
	sfx := append(suffix[:0], ",S="...)
	sfx = strconv.AppendInt(sfx, m.size, 10)
	sfx = append(sfx, ",U="...)
	sfx = strconv.AppendUint(sfx, uint64(m.uid), 10)
	m.std = len(b) > len(sfx) && b[len(b)-len(sfx):] == string(sfx)
	if m.std {
		b = b[:len(b)-len(sfx)]
	}
	m.nameOff, m.nameLen = uint32(len(x.names)), uint16(len(b))
	x.names = append(x.names, b...)
}

// suffixLen is the length of what appendBase adds to the stored name.
func (x *index) suffixLen(m *msg) int {
	if !m.std {
		return 0
	}
	var buf [48]byte
	return len(x.appendBase(buf[:0], &msg{std: true, size: m.size, uid: m.uid}))
}

// name returns the file name of m in cur/.
func (x *index) name(m *msg) string {
	var buf [128]byte
	return string(appendInfo(x.appendBase(buf[:0], m), m.flags))
}

// keywords returns the keywords of m, normalized; the slice is shared
// and must not be modified.
func (x *index) keywords(m *msg) []string {
	if m.kws == 0 {
		return nil
	}
	return x.kwSets[m.kws]
}

// setKeywords sets the keywords of m (normalized), sharing the list
// with other messages that have the same.
func (x *index) setKeywords(m *msg, kws []string) {
	if len(kws) == 0 {
		m.kws = 0
		return
	}
	key := strings.Join(kws, " ") // keywords are atoms: no spaces
	if id, ok := x.kwIDs[key]; ok {
		m.kws = id
		return
	}
	if x.kwIDs == nil {
		x.kwIDs = map[string]uint32{}
		x.kwSets = append(x.kwSets[:0], nil)
	}
	own := make([]string, len(kws)) // not sharing the caller's memory, or the log's
	for i, k := range kws {
		own[i] = strings.Clone(k)
	}
	m.kws = uint32(len(x.kwSets))
	x.kwIDs[key] = m.kws
	x.kwSets = append(x.kwSets, own)
}

// repack rebuilds names and the keyword tables from the messages in the
// index, dropping what expunged messages and old keyword lists left.
func (x *index) repack() {
	names := make([]byte, 0, len(x.msgs)*avgNameLen(x))
	kwSets := x.kwSets
	x.kwSets, x.kwIDs = nil, nil
	for i := range x.msgs {
		m := &x.msgs[i]
		b := x.stored(m)
		m.nameOff = uint32(len(names))
		names = append(names, b...)
		if m.kws != 0 {
			x.setKeywords(m, kwSets[m.kws])
		}
	}
	x.names = names
}

// trim gives back the spare capacity replaying the log left in msgs and
// names (up to a quarter of their size, from growing by appending),
// keeping some room for new messages.
func (x *index) trim() {
	if n := len(x.msgs) + len(x.msgs)/32 + 16; cap(x.msgs) > n {
		x.msgs = append(make([]msg, 0, n), x.msgs...)
	}
	if n := len(x.names) + len(x.names)/32 + 1024; cap(x.names) > n {
		x.names = append(make([]byte, 0, n), x.names...)
	}
}

// avgNameLen is the mean length of the base names of x's messages.
func avgNameLen(x *index) int {
	if len(x.msgs) == 0 {
		return 0
	}
	n := 0
	for i := range x.msgs {
		n += int(x.msgs[i].nameLen)
	}
	return n/len(x.msgs) + 1
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

// record builds one record, at r.b[start:].
type record struct {
	encoder
	start int
}

func newRecord(kind byte) *record {
	return appendRecord(make([]byte, 0, 128), kind)
}

// appendRecord starts a record of kind at the end of b.
func appendRecord(b []byte, kind byte) *record {
	r := &record{start: len(b)}
	r.b = append(b, 0, 0, 0, 0, 0, 0, 0, 0, kind)
	return r
}

// bytes finishes the record (length and checksum) and returns r.b, the
// record and what preceded it.
func (r *record) bytes() []byte {
	rec := r.b[r.start:]
	p := rec[8:]
	binary.LittleEndian.PutUint32(rec[0:], uint32(len(p)))
	binary.LittleEndian.PutUint32(rec[4:], crc32.Checksum(p, crcTable))
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

// addRecord records m, a message of x.
func (x *index) addRecord(m *msg) []byte {
	return x.appendAddRecord(make([]byte, 0, 128), m)
}

// appendAddRecord appends the record of m, a message of x, to b.
func (x *index) appendAddRecord(b []byte, m *msg) []byte {
	r := appendRecord(b, recAdd)
	r.appendAdd(x, m)
	return r.bytes()
}

func (r *record) appendAdd(x *index, m *msg) {
	r.uvarint(uint64(m.uid))
	r.uvarint(uint64(m.modseq))
	r.b = append(r.b, byte(m.flags))
	r.varint(m.date)
	r.uvarint(uint64(m.size))
	r.uvarint(uint64(m.metaOff()))
	r.uvarint(uint64(m.metaLen()))
	r.uvarint(uint64(int(m.nameLen) + x.suffixLen(m)))
	r.b = x.appendBase(r.b, m)
	r.keywords(x.keywords(m))
}

// flagsRecord records the new state of changed messages of x, all at
// modseq.
func (x *index) flagsRecord(modseq mailbox.ModSeq, ms []*msg) []byte {
	r := newRecord(recFlags)
	r.uvarint(uint64(modseq))
	r.uvarint(uint64(len(ms)))
	for _, m := range ms {
		r.uvarint(uint64(m.uid))
		r.b = append(r.b, byte(m.flags))
		r.keywords(x.keywords(m))
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

// appendDurableRecord appends a durable mark of uid to b.
func appendDurableRecord(b []byte, uid mailbox.UID) []byte {
	r := appendRecord(b, recDurable)
	r.uvarint(uint64(uid))
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
		b = x.appendAddRecord(b, &x.msgs[i])
	}
	// Last: replay accepts only adds at or above UIDNEXT, and durable
	// marks at or below it.
	b = append(b, stateRecord(x.uidNext, x.modseq)...)
	if x.durable > 0 {
		b = appendDurableRecord(b, x.durable)
	}
	return b
}

// replay applies the log in data (magic included) to x and returns how
// many bytes of it are good. It stops at the first torn, corrupt or
// inconsistent record. maxTombs bounds the tombstones kept.
//
// File names and keywords are copied into the index's tables: data is
// not retained.
func (x *index) replay(data []byte, maxTombs int) int {
	if len(data) < len(indexMagic) || string(data[:len(indexMagic)]) != indexMagic {
		return 0
	}
	// Strings decoded from sdata live only until they are copied.
	sdata := unsafe.String(unsafe.SliceData(data), len(data))
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
		su := mailbox.SpecialUse(strings.Clone(d.str()))
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
			date: d.varint(), size: int64(d.uvarint()),
		}
		mo, ml := d.uvarint(), d.uvarint()
		base := d.str()
		kws := d.keywordList()
		if d.err != nil || d.i != len(d.s) || m.uid < x.uidNext || m.uid == 0 || ml > maxRecord || m.size < 0 || mo > 1<<62 ||
			m.flags&^mailbox.AllFlags != 0 || len(base) > maxBase || !validBase(base) {
			return false
		}
		m.setMeta(int64(mo), uint32(ml))
		x.setBase(&m, base)
		x.setKeywords(&m, kws)
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
			m.flags, m.modseq = c.flags, modseq
			x.setKeywords(m, c.kws)
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
	case recDurable:
		v := d.uvarint()
		if d.err != nil || d.i != len(d.s) || v > uint64(x.uidNext) {
			return false
		}
		x.durable = max(x.durable, mailbox.UID(v))
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
