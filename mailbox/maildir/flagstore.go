package maildir

import (
	"errors"
	"io/fs"
	"slices"

	"github.com/postyard/postyard/mailbox"
)

// A STORE that changes the system flags of many messages renames each
// of their files, since the flags are part of the name, for mail readers
// (Maildir ":2,S"). rename(2) is most of what such a STORE costs, and
// the kernel runs the renames of one directory one at a time, under the
// directory's lock: on two goroutines they were slower than on one. So
// one goroutine renames, batch after batch, while the caller works out
// the next batch's new flags and file names and applies the previous
// batch's results to the index: flagStore.

// flagBatchSize is the number of messages of a flagStore batch, and
// flagDepth the number of batches handed to the renaming goroutine and
// not yet applied.
const (
	flagBatchSize = 256
	flagDepth     = 2
)

// flagJob is one message of a STORE: its new state, worked out before
// its file is renamed and applied to the index after.
type flagJob struct {
	m  *msg
	nf mailbox.Flags
	nk []string
	ch bool // the flags or keywords change
	// ren says the file is renamed: from names[off:off+nFrom], to the
	// next nTo bytes (both NUL-terminated).
	ren        bool
	off        uint32
	nFrom, nTo uint16
	err        error // of the rename
}

// flagBatch is up to flagBatchSize messages of a STORE, in UID order.
type flagBatch struct {
	jobs  []flagJob
	names []byte
}

// rename renames the files of b's jobs, in order, recording the errors.
// The folder's lock is held (by the goroutine running the STORE).
func (b *flagBatch) rename(f *folder) {
	f.renamesCurZ(func(rename func(from, to []byte) error) {
		for i := range b.jobs {
			j := &b.jobs[i]
			if j.ren {
				from := b.names[j.off : j.off+uint32(j.nFrom)]
				to := b.names[j.off+uint32(j.nFrom) : j.off+uint32(j.nFrom)+uint32(j.nTo)]
				j.err = rename(from, to)
			}
		}
	})
}

// renameCurZ is renameCur with the names NUL-terminated in byte slices:
// what renamesCurZ falls back to.
func (f *folder) renameCurZ(from, to []byte) error {
	return f.renameCur(unZ(from), unZ(to))
}

// unZ returns the NUL-terminated name b without its NUL.
func unZ(b []byte) string { return string(b[:len(b)-1]) }

// flagStore runs the messages of one UpdateFlags through prepare (new
// state and file names), rename and apply (index, result, events), in
// batches. With more than one batch, the renames run on a goroutine of
// their own, overlapping the rest. f.mu is held throughout, and the
// messages' state changes only in apply, on the caller's goroutine: a
// message whose file could not be renamed is left as it was.
type flagStore struct {
	f      *folder
	u      *mailbox.FlagUpdate
	kws    []string
	modseq mailbox.ModSeq

	cur      *flagBatch
	free     []*flagBatch
	todo     chan *flagBatch // to the renaming goroutine; nil: rename inline
	done     chan *flagBatch
	inflight int

	res     *mailbox.UpdateResult
	events  []mailbox.Event
	changed []*msg
	renamed bool  // a file was renamed
	err     error // the first rename error other than a file gone

	// moved maps the base names of the files of cur/ to their names,
	// listed once a STORE, when a file is not under the name the index
	// has (see renamedAway).
	moved map[string]string
}

// newFlagStore starts a flagStore for n messages (at most) at modseq;
// f.mu is held. The caller calls add for each message, then finish.
func (f *folder) newFlagStore(u *mailbox.FlagUpdate, kws []string, modseq mailbox.ModSeq, n int) *flagStore {
	s := &flagStore{
		f: f, u: u, kws: kws, modseq: modseq,
		res:     &mailbox.UpdateResult{Messages: make([]mailbox.Message, 0, n)},
		events:  make([]mailbox.Event, 0, n),
		changed: make([]*msg, 0, n),
	}
	s.cur = s.batch(n)
	if n > flagBatchSize {
		// Buffered for every batch in flight: the goroutine never
		// waits for the caller, and ends when todo is closed.
		s.todo = make(chan *flagBatch, flagDepth+1)
		s.done = make(chan *flagBatch, flagDepth+1)
		go func(todo <-chan *flagBatch, done chan<- *flagBatch) {
			for b := range todo {
				b.rename(f)
				done <- b
			}
		}(s.todo, s.done)
	}
	return s
}

// batch returns an empty batch, for n messages at most (a STORE of
// one message allocates for one).
func (s *flagStore) batch(n int) *flagBatch {
	if k := len(s.free); k > 0 {
		b := s.free[k-1]
		s.free = s.free[:k-1]
		b.jobs, b.names = b.jobs[:0], b.names[:0]
		return b
	}
	n = min(n, flagBatchSize)
	return &flagBatch{jobs: make([]flagJob, 0, n), names: make([]byte, 0, n*128)}
}

// add works out the new state of m; it is x.each's callback.
func (s *flagStore) add(m *msg) bool {
	x := &s.f.idx
	if s.u.Conditional && m.modseq > s.u.UnchangedSince {
		s.res.Modified.Add(m.uid)
		return true
	}
	nf, nk, ch := s.u.Op.Apply(m.flags, x.keywords(m), s.u.Flags, s.kws)
	j := flagJob{m: m, nf: nf, nk: nk, ch: ch}
	if s.cur == nil {
		s.cur = s.batch(flagBatchSize)
	}
	if ch && nf != m.flags {
		b := s.cur
		j.ren, j.off = true, uint32(len(b.names))
		b.names = append(appendInfo(x.appendBase(b.names, m), m.flags), 0)
		j.nFrom = uint16(len(b.names) - int(j.off))
		b.names = append(appendInfo(x.appendBase(b.names, m), nf), 0)
		j.nTo = uint16(len(b.names) - int(j.off) - int(j.nFrom))
	}
	s.cur.jobs = append(s.cur.jobs, j)
	if len(s.cur.jobs) == flagBatchSize {
		s.flush()
	}
	return true
}

// flush hands the current batch to the renames and, once flagDepth
// batches are in flight, applies the oldest.
func (s *flagStore) flush() {
	b := s.cur
	if b == nil || len(b.jobs) == 0 {
		return
	}
	if s.todo == nil {
		b.rename(s.f)
		s.apply(b)
		b.jobs, b.names = b.jobs[:0], b.names[:0]
		return
	}
	s.todo <- b
	s.inflight++
	if s.inflight == flagDepth {
		s.applyNext()
	}
	s.cur = nil // the next add takes one
}

// applyNext applies the oldest batch in flight, once renamed, and keeps
// it for reuse.
func (s *flagStore) applyNext() {
	b := <-s.done
	s.inflight--
	s.apply(b)
	s.free = append(s.free, b)
}

// finish renames and applies what is left and stops the goroutine.
func (s *flagStore) finish() {
	s.flush()
	for s.inflight > 0 {
		s.applyNext()
	}
	s.stop()
}

// stop ends the renaming goroutine (after the batches handed to it) if
// there is one; UpdateFlags defers it, for a panic.
func (s *flagStore) stop() {
	if s.todo != nil {
		close(s.todo)
		s.todo = nil
	}
}

// apply records the new state of the messages of b, whose renames are
// done.
func (s *flagStore) apply(b *flagBatch) {
	x := &s.f.idx
	for i := range b.jobs {
		j := &b.jobs[i]
		m := j.m
		if errors.Is(j.err, fs.ErrNotExist) && s.renamedAway(j) {
			j.err = nil
		}
		switch {
		case j.err != nil:
			// Left as it was, file and index: reported unchanged. A
			// file gone (removed) is noticed by a later scan; anything
			// else fails the STORE, after the other messages' changes
			// are recorded.
			if s.err == nil && !errors.Is(j.err, fs.ErrNotExist) {
				s.err = j.err
			}
		case j.ch:
			s.renamed = s.renamed || j.ren
			m.flags, m.modseq = j.nf, s.modseq
			x.setKeywords(m, j.nk)
			s.changed = append(s.changed, m)
			s.events = append(s.events, mailbox.Event{Kind: mailbox.EventFlags, UID: m.uid, ModSeq: s.modseq, Flags: m.flags, Keywords: x.keywords(m)})
		}
		s.res.Messages = append(s.res.Messages, mailbox.Message{UID: m.uid, ModSeq: m.modseq, Flags: m.flags, Keywords: slices.Clone(x.keywords(m))})
		j.nk = nil
	}
}

// renamedAway retries the rename of j, whose file was not under the name
// the index has: a mail reader sharing the Maildir renamed it to change
// its flags (mutt marking it read, say). The file is looked up in cur/
// by its base name; the reader's system flags are taken over and the
// STORE is applied on top of them, as if the reader's change had been
// seen first. It reports whether j's message now has its new state in
// its file name; f.mu is held.
func (s *flagStore) renamedAway(j *flagJob) bool {
	f, x := s.f, &s.f.idx
	if s.moved == nil {
		s.moved = map[string]string{}
		files, err := f.scan(true)
		if err != nil {
			return false
		}
		for _, df := range files {
			if !df.inNew {
				s.moved[df.fn.Base] = df.name
			}
		}
	}
	base := x.base(j.m)
	name, ok := s.moved[base]
	if !ok {
		return false // removed: the next full scan expunges it
	}
	fn, _ := parseFileName(name)
	nf, nk, ch := s.u.Op.Apply(fn.Flags, x.keywords(j.m), s.u.Flags, s.kws)
	to := fullName(base, nf)
	if to != name {
		if err := f.renameCur(name, to); err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				j.err = err
			}
			return false
		}
		delete(s.moved, base)
	}
	j.nf, j.nk, j.ren = nf, nk, to != name
	j.ch = ch || nf != j.m.flags
	return true
}
