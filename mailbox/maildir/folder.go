package maildir

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/postyard/postyard/mailbox"
)

// Files a folder's Maildir holds besides cur/, new/ and tmp/.
const (
	indexFile  = "postyard-index"  // the log of UIDs, flags, keywords, MODSEQs
	metaFile   = "postyard-meta"   // cached metadata blobs
	folderFile = "postyard-folder" // UIDVALIDITY and special use, written once
	lockFile   = "postyard-lock"   // the maildrop lock (flock)
	markerFile = "maildirfolder"   // Maildir++ marks subfolders with it
)

// folder is one mailbox: a Maildir and its index, loaded in memory. mu
// guards everything below it; the log is written under mu, so records
// are in MODSEQ order, and events are published under mu.
type folder struct {
	st *Store
	u  *user
	id uint64 // orders locking of two folders

	mu     sync.Mutex
	name   string
	dir    string
	curDir string // dir/cur
	// curD is cur/ open (nil if it could not be opened; closed with the
	// folder), and curRC its RawConn: see openCur.
	curD      *os.File
	curRC     syscall.RawConn
	idx       index
	keywords  []string // every keyword set in the folder, normalized
	log       *os.File
	logSize   int64
	compactAt int64
	oldLogs   []*os.File
	deleted   bool
	hub       mailbox.Hub

	metaMu   sync.Mutex
	meta     *os.File
	metaSize int64

	// pending are the messages added whose requests are not durable yet,
	// ascending by UID (see durable.go); pendMu guards it, and is taken
	// after mu when both are.
	pendMu  sync.Mutex
	pending []pendMsg

	// curMod is the modification time of cur/ when curFlags last listed
	// it, and curNext the earliest time it lists cur/ again.
	curMod, curNext time.Time
}

// cur returns the folder's cur/ directory; f.mu is held or f is not
// shared.
func (f *folder) cur() string { return f.curDir }

// setDir sets the folder's directory; f.mu is held or f is not shared.
func (f *folder) setDir(dir string) {
	f.dir, f.curDir = dir, filepath.Join(dir, "cur")
}

// curPath returns the path of the file name in cur/ (names are never
// "." or "..", and hold no "/").
func (f *folder) curPath(name string) string { return f.curDir + string(filepath.Separator) + name }

// diskFile is a message file found in cur/ or new/.
type diskFile struct {
	name  string
	fn    fileName
	inNew bool
}

// readFolderFile reads the UIDVALIDITY and special use written at
// creation.
func readFolderFile(dir string) (uint32, mailbox.SpecialUse, bool) {
	b, err := os.ReadFile(filepath.Join(dir, folderFile))
	if err != nil {
		return 0, "", false
	}
	v, su, _ := strings.Cut(strings.TrimSpace(string(b)), " ")
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil || n == 0 {
		return 0, "", false
	}
	if su != "" {
		if _, ok := mailbox.ParseSpecialUse(su); !ok {
			su = ""
		}
	}
	return uint32(n), mailbox.SpecialUse(su), true
}

func folderFileData(validity uint32, special mailbox.SpecialUse) []byte {
	return fmt.Appendf(nil, "%d %s\n", validity, special)
}

// loadFolder opens the mailbox name in dir, recovering as needed: a torn
// index tail is cut off; messages whose files are gone are expunged;
// files without a record (other programs' deliveries, or changes a crash
// interrupted) get UIDs, the one in their name when it is free; flags
// changed in file names by other programs are taken over. A missing or
// unreadable index is rebuilt from the files, keeping UIDVALIDITY and
// the UIDs in the file names when they are consistent, and otherwise
// with a new UIDVALIDITY.
func (u *user) loadFolder(name, dir string) (*folder, error) {
	st := u.st
	if err := makeMaildir(dir); err != nil {
		return nil, err
	}
	cleanTmp(filepath.Join(dir, "tmp"), true)
	f := &folder{st: st, u: u, id: st.folderID.Add(1), name: name}
	f.setDir(dir)
	f.openCurDir()
	ok := false
	defer func() {
		if !ok && f.curD != nil {
			f.curD.Close()
		}
	}()
	f.hub.MaxPending = st.opts.MaxPending
	var err error
	if f.meta, err = os.OpenFile(filepath.Join(dir, metaFile), os.O_RDWR|os.O_CREATE, 0o600); err != nil {
		return nil, err
	}
	if fi, err := f.meta.Stat(); err == nil {
		f.metaSize = fi.Size()
	}
	data, err := os.ReadFile(filepath.Join(dir, indexFile))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		f.meta.Close()
		return nil, err
	}
	good := f.idx.replay(data, st.opts.MaxTombstones)
	changed := good != len(data)
	rebuilt := !f.idx.header
	if rebuilt {
		f.rebuild()
		changed = true
	}
	files, err := f.scan(true)
	if err != nil {
		f.meta.Close()
		return nil, err
	}
	suspects := false
	if !rebuilt {
		n := len(files)
		files, suspects = f.checkSuspects(files)
		changed = changed || len(files) != n
	}
	if rebuilt && dupUIDs(files) {
		// The UIDs in the file names cannot all be kept: start over.
		f.idx.validity = u.nextValidity()
		writeFileAtomic(filepath.Join(f.dir, folderFile), folderFileData(f.idx.validity, f.idx.special))
		for i := range files {
			files[i].fn.UID = 0
		}
	}
	if ch := f.reconcile(files, true); !ch.empty() {
		changed = true
	}
	for _, kws := range f.idx.kwSets {
		_, f.keywords, _ = mailbox.FlagsAdd.Apply(0, f.keywords, 0, kws)
	}
	f.idx.trim()
	if changed || suspects {
		// The files checked and adopted were fsynced; their names must
		// be durable too before a durable mark covers them.
		for _, d := range []string{"cur", "new"} {
			syncDir(filepath.Join(dir, d))
		}
	}
	if changed {
		err = f.compact()
	} else {
		f.log, err = os.OpenFile(filepath.Join(dir, indexFile), os.O_RDWR, 0o600)
		f.logSize = int64(len(data))
		f.compactAt = 2*f.logSize + 256<<10
		if err == nil && suspects {
			err = f.markDurable() // checked: not again on the next load
		}
	}
	if err != nil {
		f.meta.Close()
		return nil, err
	}
	ok = true
	return f, nil
}

// rebuild starts an index for a Maildir whose index is missing or
// unreadable: UIDVALIDITY from the folder file if there is one, MODSEQs
// from the clock so that they stay above any given out before.
func (f *folder) rebuild() {
	v, su, ok := readFolderFile(f.dir)
	if !ok {
		v = f.u.nextValidity()
		writeFileAtomic(filepath.Join(f.dir, folderFile), folderFileData(v, su))
	}
	f.idx = index{validity: v, special: su, header: true, uidNext: 1, modseq: mailbox.ModSeq(time.Now().UnixMicro())}
	f.idx.tombFloor = f.idx.modseq // expunges before are unknown
}

// scan lists the message files of cur/ (if all) and new/.
func (f *folder) scan(all bool) ([]diskFile, error) {
	var out []diskFile
	dirs := []string{"new"}
	if all {
		dirs = []string{"cur", "new"}
	}
	for _, sub := range dirs {
		d, err := openFile(filepath.Join(f.dir, sub))
		if err != nil {
			return nil, err
		}
		names, err := d.Readdirnames(-1)
		d.Close()
		if err != nil {
			return nil, err
		}
		for _, n := range names {
			if fn, ok := parseFileName(n); ok {
				out = append(out, diskFile{name: n, fn: fn, inNew: sub == "new"})
			}
		}
	}
	return out, nil
}

// changes are what reconcile changed in the index.
type changes struct {
	flagged, gone, added []mailbox.UID
}

func (c *changes) empty() bool { return len(c.flagged)+len(c.gone)+len(c.added) == 0 }

// reconcile brings the index in line with the files found. With full
// (all of cur/ was scanned), messages without a file are expunged and
// flags changed in file names are taken over. f.mu is held or f is not
// shared. Events are published for the changes.
func (f *folder) reconcile(files []diskFile, full bool) changes {
	x := &f.idx
	byBase := make(map[string]diskFile, len(files))
	var dups []diskFile
	for _, df := range files {
		if _, dup := byBase[df.fn.Base]; dup {
			dups = append(dups, df)
			continue
		}
		byBase[df.fn.Base] = df
	}
	var ch changes
	var buf []byte // a message's base name, for map lookups without allocating
	if full {
		var flagged []*msg
		for i := range x.msgs {
			m := &x.msgs[i]
			buf = x.appendBase(buf[:0], m)
			df, ok := byBase[string(buf)]
			if !ok {
				ch.gone = append(ch.gone, m.uid)
				continue
			}
			delete(byBase, string(buf))
			if f.torn(df, m.size) {
				// A file shorter than recorded: its write was cut by a
				// crash before the group commit made it durable, so its
				// delivery was never acknowledged.
				ch.gone = append(ch.gone, m.uid)
				continue
			}
			if df.fn.Flags != m.flags {
				flagged = append(flagged, m)
				m.flags = df.fn.Flags
			}
			if want := x.name(m); df.inNew || df.name != want {
				os.Rename(filepath.Join(f.dir, subdir(df.inNew), df.name), filepath.Join(f.cur(), want))
			}
		}
		f.flagsTakenOver(flagged)
		for _, m := range flagged {
			ch.flagged = append(ch.flagged, m.uid)
		}
		if len(ch.gone) > 0 {
			f.expungeLocked(ch.gone)
		}
	} else {
		for i := range x.msgs {
			buf = x.appendBase(buf[:0], &x.msgs[i])
			delete(byBase, string(buf))
		}
	}
	var events []mailbox.Event
	for _, m := range f.adopt(append(dups, mapValues(byBase)...)) {
		ch.added = append(ch.added, m.uid)
		events = append(events, mailbox.Event{Kind: mailbox.EventNew, UID: m.uid, ModSeq: m.modseq, Flags: m.flags})
	}
	f.hub.Publish(events...)
	return ch
}

// dupUIDs reports whether two files name the same UID.
func dupUIDs(files []diskFile) bool {
	seen := make(map[mailbox.UID]bool, len(files))
	for _, df := range files {
		if df.fn.UID != 0 {
			if seen[df.fn.UID] {
				return true
			}
			seen[df.fn.UID] = true
		}
	}
	return false
}

func subdir(inNew bool) string {
	if inNew {
		return "new"
	}
	return "cur"
}

func mapValues(m map[string]diskFile) []diskFile {
	out := make([]diskFile, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// adopt gives UIDs to files the index does not know, renaming them to
// this store's form in cur/, and returns the new messages (appended to
// the index). A file whose name carries a UID that is free (not below
// UIDNEXT) keeps it; one whose UID was expunged is a removal a crash
// interrupted and is removed. f.mu is held.
func (f *folder) adopt(files []diskFile) []msg {
	if len(files) == 0 {
		return nil
	}
	x := &f.idx
	expunged := make(map[mailbox.UID]bool, len(x.tombs))
	for _, t := range x.tombs {
		expunged[t.uid] = true
	}
	keep := func(df diskFile) bool { return df.fn.UID >= x.uidNext }
	seen := map[mailbox.UID]int{}
	for _, df := range files {
		if keep(df) {
			seen[df.fn.UID]++
		}
	}
	slices.SortFunc(files, func(a, b diskFile) int {
		ka, kb := keep(a) && seen[a.fn.UID] == 1, keep(b) && seen[b.fn.UID] == 1
		switch {
		case ka && kb:
			return int(int64(a.fn.UID) - int64(b.fn.UID))
		case ka != kb:
			if ka {
				return -1
			}
			return 1
		}
		return strings.Compare(a.name, b.name)
	})
	x.modseq++
	first := len(x.msgs)
	for _, df := range files {
		path := filepath.Join(f.dir, subdir(df.inNew), df.name)
		if df.fn.UID != 0 && df.fn.UID < x.uidNext && expunged[df.fn.UID] {
			os.Remove(path)
			continue
		}
		fi, err := os.Stat(path)
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		if df.fn.Size >= 0 && fi.Size() < df.fn.Size {
			os.Remove(path) // torn: see reconcile
			continue
		}
		md, ok := f.parseChecked(path, df.fn)
		if !ok {
			os.Remove(path) // content lost: see durable.go
			continue
		}
		uid := x.uidNext
		if keep(df) && seen[df.fn.UID] == 1 {
			uid = df.fn.UID
		}
		base := withFields(df.fn.Base, fi.Size(), uid)
		if len(base) > maxBase {
			continue
		}
		m := msg{uid: uid, modseq: x.modseq, flags: df.fn.Flags, date: fi.ModTime().UnixNano(), size: fi.Size()}
		name := fullName(base, m.flags)
		if err := rename(path, filepath.Join(f.cur(), name)); err != nil {
			continue
		}
		if md != nil {
			m.setMeta(f.appendMeta(md))
		}
		x.setBase(&m, base)
		x.msgs = append(x.msgs, m)
		x.uidNext = uid + 1
		f.u.addUsage(1, m.size)
	}
	return x.msgs[first:]
}

// withFields returns base with its ",S=" and ",U=" fields set.
func withFields(base string, size int64, uid mailbox.UID) string {
	parts := strings.Split(base, ",")
	out := parts[:1]
	for _, p := range parts[1:] {
		if !strings.HasPrefix(p, "U=") && !strings.HasPrefix(p, "S=") {
			out = append(out, p)
		}
	}
	return strings.Join(out, ",") + ",S=" + strconv.FormatInt(size, 10) + ",U=" + strconv.FormatUint(uint64(uid), 10)
}

// torn reports whether the file of a message recorded with size is
// shorter, and removes it if so.
func (f *folder) torn(df diskFile, size int64) bool {
	path := filepath.Join(f.dir, subdir(df.inNew), df.name)
	fi, err := os.Stat(path)
	if err != nil || fi.Size() >= size {
		return false
	}
	os.Remove(path)
	return true
}

// expungeLocked removes the messages uids (ascending, all present) from
// the index at a new MODSEQ and publishes the expunges. It does not
// touch files or the log. f.mu is held.
func (f *folder) expungeLocked(uids []mailbox.UID) {
	x := &f.idx
	x.modseq++
	gone := make(map[mailbox.UID]bool, len(uids))
	events := make([]mailbox.Event, 0, len(uids))
	for _, u := range uids {
		gone[u] = true
		x.tombs = append(x.tombs, tomb{u, x.modseq})
		events = append(events, mailbox.Event{Kind: mailbox.EventExpunge, UID: u, ModSeq: x.modseq})
	}
	var bytes int64
	x.msgs = slices.DeleteFunc(x.msgs, func(m msg) bool {
		if gone[m.uid] {
			bytes += m.size
			return true
		}
		return false
	})
	x.trimTombs(f.st.opts.MaxTombstones)
	f.u.addUsage(-int64(len(uids)), -bytes)
	f.hub.Publish(events...)
}

// appendMeta stores a metadata blob and returns where; a failed write
// returns length 0 (the metadata is parsed again when asked for).
func (f *folder) appendMeta(md *mailbox.Metadata) (int64, uint32) {
	rec := make([]byte, 8, 1024)
	rec = encodeMetadata(rec, md)
	binary.LittleEndian.PutUint32(rec[0:], uint32(len(rec)-8))
	binary.LittleEndian.PutUint32(rec[4:], crc32.Checksum(rec[8:], crcTable))
	return f.writeMeta(rec)
}

// writeMeta appends a metadata record (length, checksum, blob) to the
// cache and returns where; 0, 0 if the write failed.
func (f *folder) writeMeta(rec []byte) (int64, uint32) {
	f.metaMu.Lock()
	defer f.metaMu.Unlock()
	off := f.metaSize
	if _, err := f.meta.WriteAt(rec, off); err != nil {
		return 0, 0
	}
	f.metaSize += int64(len(rec))
	return off, uint32(len(rec))
}

// writeLog appends records to the log; f.mu is held. On failure the log
// is cut back, so that the next write does not follow garbage.
func (f *folder) writeLog(recs ...[]byte) error {
	var b []byte
	if len(recs) == 1 {
		b = recs[0]
	} else {
		for _, r := range recs {
			b = append(b, r...)
		}
	}
	if _, err := f.log.WriteAt(b, f.logSize); err != nil {
		f.log.Truncate(f.logSize)
		return err
	}
	f.logSize += int64(len(b))
	return nil
}

// maybeCompact rewrites the log if it has grown enough; f.mu is held.
func (f *folder) maybeCompact() {
	if f.logSize >= f.compactAt {
		f.compact() // on failure the log stays as it is, still valid
	}
}

// compact writes the index as a fresh log, crash-safely, and switches to
// it. f.mu is held or f is not shared.
func (f *folder) compact() error {
	f.idx.repack()
	f.idx.durable = f.durableBound()
	data := f.idx.snapshot()
	path := filepath.Join(f.dir, indexFile)
	if err := writeFileAtomic(path, data); err != nil {
		return err
	}
	l, err := os.OpenFile(path, os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	if f.log != nil {
		// Requests of the group commit may still name the old file: it
		// is closed when the store closes.
		f.oldLogs = append(f.oldLogs, f.log)
	}
	f.log, f.logSize = l, int64(len(data))
	f.compactAt = 2*f.logSize + 256<<10
	return nil
}

// scanNew picks up files other programs dropped into new/ (or changed
// in cur/, with full), giving them UIDs and publishing them. f.mu is
// held. It returns what must be synced for the change to be durable, nil
// if nothing changed.
func (f *folder) scanNew(full bool) *syncReq {
	var recs [][]byte
	if !full {
		if ms := f.curFlags(); len(ms) > 0 {
			recs = append(recs, f.idx.flagsRecord(ms[0].modseq, ms))
		}
	}
	files, err := f.scan(full)
	if err != nil || (len(files) == 0 && !full) {
		return f.writeScanned(recs, false)
	}
	ch := f.reconcile(files, full)
	if ch.empty() {
		return f.writeScanned(recs, false)
	}
	x := &f.idx
	if len(ch.gone) > 0 {
		recs = append(recs, expungeRecord(x.tombs[len(x.tombs)-1].modseq, ch.gone))
	}
	if len(ch.flagged) > 0 {
		ms := make([]*msg, 0, len(ch.flagged))
		for _, u := range ch.flagged {
			if i := x.find(u); i >= 0 {
				ms = append(ms, &x.msgs[i])
			}
		}
		if len(ms) > 0 {
			recs = append(recs, x.flagsRecord(ms[0].modseq, ms))
		}
	}
	for _, u := range ch.added {
		recs = append(recs, x.addRecord(&x.msgs[x.find(u)]))
	}
	recs = append(recs, stateRecord(x.uidNext, x.modseq))
	return f.writeScanned(recs, true)
}

// writeScanned writes the records of what scanNew found, if any, and
// returns what must be synced: the index, and with dirs the directories
// it renamed files in. f.mu is held.
func (f *folder) writeScanned(recs [][]byte, dirs bool) *syncReq {
	if len(recs) == 0 || f.writeLog(recs...) != nil {
		return nil
	}
	r := &syncReq{}
	if dirs {
		r.dir(f.cur())
		r.dir(filepath.Join(f.dir, "new"))
	}
	r.file(f.log)
	return r
}

// maxMetaRun bounds the blobs read (and then held by one string, which
// the decoded metadata share) in one go.
const maxMetaRun = 32 << 10

// readMetas returns the parts of the cached metadata of ms (in order).
// With arena, they are decoded into it, reusing the memory of the
// metadata it returned before; without, into new memory. (Splitting the
// work among goroutines was tried: with other sessions or programs
// running, the garbage collector's extra work made it slower, and it
// costs more CPU time in any case.)
func (f *folder) readMetas(ms []msg, parts mailbox.MetadataParts, arena *metaArena) []*mailbox.Metadata {
	out := make([]*mailbox.Metadata, len(ms))
	f.readMetasInto(ms, out, parts, arena)
	return out
}

// readMetasInto sets out[i] to the metadata of ms[i], reading the blobs
// of neighbouring messages with one read. It decodes them into a, or,
// if a is nil, into a new arena for each run of blobs read together.
func (f *folder) readMetasInto(ms []msg, out []*mailbox.Metadata, parts mailbox.MetadataParts, a *metaArena) {
	blobs := make([]string, len(ms))
	var runs []int // where runs start in ms
	if a != nil {
		a.bufs = a.bufs[:0]
	}
	for i := 0; i < len(ms); {
		// A run of blobs that lie together in the file.
		start, end := ms[i].metaOff(), ms[i].metaOff()+int64(ms[i].metaLen())
		j := i + 1
		for ; j < len(ms) && ms[j].metaLen() > 0 && ms[j].metaOff() >= end && ms[j].metaOff()-end < 4096 && ms[j].metaOff()+int64(ms[j].metaLen())-start <= maxMetaRun; j++ {
			end = ms[j].metaOff() + int64(ms[j].metaLen())
		}
		runs = append(runs, i)
		if ms[i].metaLen() > 0 {
			// The decoded strings are substrings of the buffer, without
			// a copy: a new buffer for each run, never written again
			// once read, or, reusing memory, the arena's.
			var buf []byte
			if a != nil {
				buf = a.runBuf(int(end - start))
			} else {
				buf = make([]byte, end-start)
			}
			if n, err := f.meta.ReadAt(buf, start); err != nil && !(err == io.EOF && n == len(buf)) {
				buf = buf[:0]
			}
			run := unsafe.String(unsafe.SliceData(buf), len(buf))
			for k := i; k < j; k++ {
				off, n := ms[k].metaOff()-start, int64(ms[k].metaLen())
				if off+n <= int64(len(buf)) && validMetaRecord(buf[off:off+n]) {
					blobs[k] = run[off+8 : off+n]
				}
			}
		}
		i = j
	}
	runs = append(runs, len(ms))
	decode := func(lo, hi int, a *metaArena) {
		var total metaCounts
		n := 0
		for k := lo; k < hi; k++ {
			d := decoder{s: blobs[k]}
			if c, ok := d.readCounts(); ok {
				total.add(c, parts)
				n++
			}
		}
		a.reserve(n, total, parts)
		for k := lo; k < hi; k++ {
			if blobs[k] != "" {
				if md, err := decodeMetaString(blobs[k], parts, &f.st.zones, a); err == nil {
					out[k] = md
				}
			}
		}
	}
	if a != nil {
		decode(0, len(ms), a)
	} else {
		for r := 0; r+1 < len(runs); r++ {
			decode(runs[r], runs[r+1], &metaArena{})
		}
	}
	for k := range out {
		if out[k] == nil {
			out[k] = f.reparse(ms[k].uid)
		}
	}
}

// validMetaRecord checks a metadata record's length and checksum.
func validMetaRecord(rec []byte) bool {
	return len(rec) >= 8 && binary.LittleEndian.Uint32(rec) == uint32(len(rec)-8) &&
		binary.LittleEndian.Uint32(rec[4:]) == crc32.Checksum(rec[8:], crcTable)
}

// reparse parses a message whose cached metadata is missing or damaged.
func (f *folder) reparse(uid mailbox.UID) *mailbox.Metadata {
	c, err := f.openMsg(uid)
	if err != nil {
		return &mailbox.Metadata{Body: &mailbox.Part{Type: "text", Subtype: "plain"}}
	}
	defer c.Close()
	md, err := mailbox.Parse(c, f.st.opts.Parse)
	if err != nil {
		return &mailbox.Metadata{Body: &mailbox.Part{Type: "text", Subtype: "plain"}}
	}
	return md
}

// openMsg opens the file of message uid.
func (f *folder) openMsg(uid mailbox.UID) (*os.File, error) {
	f.mu.Lock()
	return f.openUnlock(uid)
}

// openUnlock opens the file of message uid; f.mu is held, and released
// before the file is opened, so that sessions reading messages of one
// folder do not wait on each other's system calls. A file renamed
// meanwhile (a flag change), or by another program (a mail reader), is
// looked for again under the lock, by its base name.
func (f *folder) openUnlock(uid mailbox.UID) (*os.File, error) {
	i := f.idx.find(uid)
	if i < 0 {
		f.mu.Unlock()
		return nil, fmt.Errorf("maildir: %q UID %d: %w", f.name, uid, mailbox.ErrNoSuchMessage)
	}
	name := f.idx.name(&f.idx.msgs[i])
	path := f.curPath(name)
	f.mu.Unlock()
	fl, err := f.openCur(name, path)
	if !errors.Is(err, os.ErrNotExist) {
		return fl, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if i = f.idx.find(uid); i < 0 {
		return nil, fmt.Errorf("maildir: %q UID %d: %w", f.name, uid, mailbox.ErrNoSuchMessage)
	}
	m := &f.idx.msgs[i]
	name = f.idx.name(m)
	if fl, err = f.openCur(name, f.curPath(name)); !errors.Is(err, os.ErrNotExist) {
		return fl, err
	}
	if files, serr := f.scan(true); serr == nil {
		base := f.idx.base(m)
		for _, df := range files {
			if df.fn.Base == base {
				return openFile(filepath.Join(f.dir, subdir(df.inNew), df.name))
			}
		}
	}
	return nil, err
}
