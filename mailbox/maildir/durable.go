package maildir

import (
	"io"
	"os"
	"path/filepath"

	"github.com/postyard/postyard/mailbox"
)

// A new message's file is renamed into cur/ and recorded in the index
// before its content is durable: the commit round that the delivery
// waits for fsyncs the file together with cur/ and the index (see
// doc.go, "Durability"). Until that round completes, the message is
// pending: a power loss may leave its name and record on disk without
// its content. Such a file must never be taken for a message, so
//
//   - its name carries the CRC-32C of its content (",Z=", filename.go);
//   - the index records durable marks: a mark of UID n says that the
//     content of every message below n is on stable storage. A folder
//     writes one before an add record whenever its lowest pending UID
//     (or, with none pending, UIDNEXT) has passed the last mark;
//   - when a folder is loaded, the files of messages at or above the last
//     mark, and files with a ",Z=" field that the index does not know
//     (adopt), are read and checked against their CRC and size; those
//     that fail are removed, and their messages expunged. Other messages
//     keep their UIDs. What is read is about the deliveries in progress
//     at the crash, not the whole mailbox; but after a round that
//     failed, the mark stays below its messages until the next load, so
//     every message added since is read then.

// pendMsg is a pending message: its UID and, while its delivery's round
// has not completed, its file (nil if its content was already durable
// when it was placed), which a copy of it must fsync too.
type pendMsg struct {
	uid mailbox.UID
	fl  *os.File
}

// addPending makes uid (above every pending UID) pending; f.mu is held.
func (f *folder) addPending(uid mailbox.UID, fl *os.File) {
	f.pendMu.Lock()
	f.pending = append(f.pending, pendMsg{uid, fl})
	f.pendMu.Unlock()
}

// settle ends the pending state of uid: its request is durable.
func (f *folder) settle(uid mailbox.UID) {
	f.pendMu.Lock()
	for i, p := range f.pending {
		if p.uid == uid {
			f.pending = append(f.pending[:i], f.pending[i+1:]...)
			break
		}
	}
	f.pendMu.Unlock()
}

// pendingFile returns the open file of uid if it is pending and its
// content may not be durable yet; nil otherwise. The file is closed once
// its round is over (the committer takes a closed file as synced; if the
// round failed, the message stays pending, and is checked on the next
// load, but a copy made meanwhile is not).
func (f *folder) pendingFile(uid mailbox.UID) *os.File {
	f.pendMu.Lock()
	defer f.pendMu.Unlock()
	for _, p := range f.pending {
		if p.uid == uid {
			return p.fl
		}
	}
	return nil
}

// durableBound returns the UID below which every message's content is
// durable: the lowest pending UID, or UIDNEXT. f.mu is held.
func (f *folder) durableBound() mailbox.UID {
	f.pendMu.Lock()
	defer f.pendMu.Unlock()
	if len(f.pending) > 0 {
		return f.pending[0].uid
	}
	return f.idx.uidNext
}

// appendMark appends a durable mark to b if the bound has passed the
// last one, and returns the mark to set as f.idx.durable once b is
// written. f.mu is held.
func (f *folder) appendMark(b []byte) ([]byte, mailbox.UID) {
	d := f.durableBound()
	if d <= f.idx.durable {
		return b, f.idx.durable
	}
	return appendDurableRecord(b, d), d
}

// markDurable writes a durable mark for what is durable now, so that
// the next load need not check those messages again. The mark is not
// fsynced: it only says what is already on stable storage, and if it is
// lost the next load checks a few files more. f.mu is held.
func (f *folder) markDurable() error {
	if f.log == nil {
		return nil
	}
	rec, d := f.appendMark(nil)
	if len(rec) == 0 {
		return nil
	}
	if err := f.writeLog(rec); err != nil {
		return err
	}
	f.idx.durable = d
	return nil
}

// checkSuspects checks the files of the indexed messages a crash may
// have left without their content (at or above the last durable mark,
// with a ",Z=" field), and removes those that fail from the disk and
// from files; reconcile then expunges their messages. Those that pass
// are fsynced (after a crash of the process, not of the machine, their
// content may be whole in the page cache only), so that a new mark may
// cover them once their directories are fsynced too. It returns files
// and whether it checked any. f is not shared yet.
func (f *folder) checkSuspects(files []diskFile) ([]diskFile, bool) {
	x := &f.idx
	i := x.search(x.durable)
	if i == len(x.msgs) {
		return files, false
	}
	suspects := make(map[string]*msg, len(x.msgs)-i)
	for ; i < len(x.msgs); i++ {
		m := &x.msgs[i]
		suspects[x.base(m)] = m
	}
	out := files[:0]
	for _, df := range files {
		m := suspects[df.fn.Base]
		if m == nil || !df.fn.HasSum {
			out = append(out, df)
			continue
		}
		path := filepath.Join(f.dir, subdir(df.inNew), df.name)
		if !intact(path, m.size, df.fn.Sum) {
			os.Remove(path)
			continue
		}
		out = append(out, df)
	}
	return out, true
}

// intact reports whether the file at path holds size bytes whose CRC-32C
// is sum, and fsyncs it if so. A file that cannot be read counts as
// intact: it is not known to be damaged, and reading it will fail with
// an error.
func intact(path string, size int64, sum uint32) bool {
	fl, err := openFile(path)
	if err != nil {
		return true
	}
	defer fl.Close()
	cw := &countWriter{w: io.Discard}
	if _, err := io.Copy(cw, fl); err != nil {
		return true
	}
	if cw.n != size || cw.sum != sum {
		return false
	}
	fl.Sync()
	return true
}

// parseChecked parses the file at path for adopt, checking it against
// the ",Z=" field of its name if it has one: ok is false if the content
// does not match (then the file is damaged and must not be adopted). A
// file that matches is fsynced, as in checkSuspects: its record may end
// up below a durable mark.
func (f *folder) parseChecked(path string, fn fileName) (md *mailbox.Metadata, ok bool) {
	fl, err := openFile(path)
	if err != nil {
		return nil, true
	}
	defer fl.Close()
	if !fn.HasSum {
		md, _ = mailbox.Parse(fl, f.st.opts.Parse)
		return md, true
	}
	cw := &countWriter{w: io.Discard}
	md, err = mailbox.Parse(io.TeeReader(fl, cw), f.st.opts.Parse)
	if _, cerr := io.Copy(cw, fl); cerr != nil {
		return md, true
	}
	if err != nil {
		md = nil
	}
	if (fn.Size >= 0 && cw.n != fn.Size) || cw.sum != fn.Sum {
		return nil, false
	}
	fl.Sync()
	return md, true
}
