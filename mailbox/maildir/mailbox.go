package maildir

import (
	"context"
	"fmt"
	"io"
	"iter"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/postyard/postyard/mailbox"
)

// mbox is an open mailbox.
type mbox struct {
	u        *user
	f        *folder
	validity uint32
	readOnly bool
	lock     *os.File                // the maildrop lock, if Exclusive
	closed   bool                    // guarded by f.mu
	subs     []*mailbox.Subscription // guarded by f.mu
}

var _ mailbox.Mailbox = (*mbox)(nil)

// lock locks the folder after checking ctx, the store and the mailbox; on
// error nothing is locked. write refuses read-only mailboxes.
func (h *mbox) lockf(ctx context.Context, write bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if h.u.st.closed.Load() {
		return errClosed
	}
	h.f.mu.Lock()
	var err error
	switch {
	case h.closed:
		err = fmt.Errorf("maildir: mailbox closed: %w", mailbox.ErrClosed)
	case h.f.deleted:
		err = noSuchMailbox("open", h.f.name)
	case write && h.readOnly:
		err = fmt.Errorf("maildir: %q: %w", h.f.name, mailbox.ErrReadOnly)
	}
	if err != nil {
		h.f.mu.Unlock()
	}
	return err
}

func (h *mbox) Name() string {
	h.f.mu.Lock()
	defer h.f.mu.Unlock()
	return h.f.name
}

func (h *mbox) UIDValidity() uint32 { return h.validity }

// status returns the state; f.mu is held.
func (f *folder) status() *mailbox.Status {
	x := &f.idx
	st := &mailbox.Status{
		Name:          f.name,
		SpecialUse:    x.special,
		UIDValidity:   x.validity,
		UIDNext:       x.uidNext,
		HighestModSeq: x.modseq,
		Messages:      len(x.msgs),
		Keywords:      slices.Clone(f.keywords),
	}
	for i := range x.msgs {
		m := &x.msgs[i]
		if m.flags&mailbox.FlagSeen == 0 {
			st.Unseen++
		}
		if m.flags&mailbox.FlagDeleted != 0 {
			st.Deleted++
		}
		st.Size += m.size
	}
	return st
}

func (h *mbox) Status(ctx context.Context) (*mailbox.Status, error) {
	if err := h.lockf(ctx, false); err != nil {
		return nil, err
	}
	req := h.f.scanNew(false)
	st := h.f.status()
	h.f.mu.Unlock()
	if req != nil {
		if err := h.u.st.commit.sync(req); err != nil {
			return nil, err
		}
	}
	return st, nil
}

// info returns m, a message of x, as a mailbox.Message the caller owns.
func (x *index) info(m *msg) *mailbox.Message {
	mm := &mailbox.Message{}
	x.fill(mm, m, true)
	return mm
}

// fill sets mm to m, a message of x; with own, mm's Keywords are a copy
// the caller owns, else the index's list, which is never modified.
func (x *index) fill(mm *mailbox.Message, m *msg, own bool) {
	kws := x.keywords(m)
	if own {
		kws = slices.Clone(kws)
	}
	*mm = mailbox.Message{
		UID:          m.uid,
		ModSeq:       m.modseq,
		Flags:        m.flags,
		Keywords:     kws,
		InternalDate: time.Unix(0, m.date),
		Size:         m.size,
	}
}

// count returns the number of messages in the normalized set; f.mu is
// held.
func (x *index) count(set mailbox.UIDSet) int {
	n := 0
	for _, r := range set {
		lo := x.search(r.Start)
		hi := len(x.msgs)
		if r.Stop < mailbox.MaxUID {
			hi = x.search(r.Stop + 1)
		}
		n += max(hi-lo, 0)
	}
	return n
}

// each calls fn for the messages in the normalized set, ascending, from
// index start; it stops when fn returns false. f.mu is held.
func (x *index) each(set mailbox.UIDSet, start int, fn func(m *msg) bool) {
	for _, r := range set {
		for i := max(start, x.search(r.Start)); i < len(x.msgs) && x.msgs[i].uid <= r.Stop; i++ {
			if !fn(&x.msgs[i]) {
				return
			}
		}
	}
}

// chunk is the number of messages Messages copies per lock.
const chunk = 256

func (h *mbox) Messages(ctx context.Context, uids mailbox.UIDSet, opts *mailbox.FetchOptions) iter.Seq2[*mailbox.Message, error] {
	if opts == nil {
		opts = &mailbox.FetchOptions{}
	}
	set := uids.Normalize()
	return func(yield func(*mailbox.Message, error) bool) {
		var next mailbox.UID = 1
		batch := make([]msg, 0, chunk)
		var out []mailbox.Message
		var arena *metaArena // with Reuse: memory for the metadata of a chunk
		if opts.Reuse {
			arena = &metaArena{}
		}
		first := true
		for {
			if err := h.lockf(ctx, false); err != nil {
				yield(nil, err)
				return
			}
			var req *syncReq
			if first {
				req = h.f.scanNew(false)
				first = false
			}
			batch = batch[:0]
			more := false
			x := &h.f.idx
			x.each(set, x.search(next), func(m *msg) bool {
				if len(batch) == chunk {
					more = true
					return false
				}
				next = m.uid + 1
				if m.modseq > opts.ChangedSince {
					batch = append(batch, *m)
				}
				return true
			})
			// The messages are made under the lock (their keywords are
			// in the index's tables), in one allocation a chunk.
			if opts.Reuse && cap(out) >= len(batch) {
				out = out[:len(batch)]
			} else {
				out = make([]mailbox.Message, len(batch))
			}
			for i := range batch {
				x.fill(&out[i], &batch[i], !opts.Reuse)
			}
			h.f.mu.Unlock()
			if req != nil {
				if err := h.u.st.commit.sync(req); err != nil {
					yield(nil, err)
					return
				}
			}
			var metas []*mailbox.Metadata
			if opts.Metadata != 0 {
				metas = h.f.readMetas(batch, opts.Metadata, arena)
			}
			for i := range batch {
				m := &out[i]
				if metas != nil {
					m.Metadata = metas[i]
				}
				if !yield(m, nil) {
					return
				}
			}
			if !more || next == 0 {
				return
			}
		}
	}
}

func (h *mbox) Expunged(ctx context.Context, uids mailbox.UIDSet, since mailbox.ModSeq) (mailbox.UIDSet, error) {
	if err := h.lockf(ctx, false); err != nil {
		return nil, err
	}
	defer h.f.mu.Unlock()
	x := &h.f.idx
	if since >= x.tombFloor {
		var us []mailbox.UID
		for _, t := range x.tombs {
			if t.modseq > since && uids.Contains(t.uid) {
				us = append(us, t.uid)
			}
		}
		slices.Sort(us)
		return mailbox.UIDSetOf(us...), nil
	}
	// Tombstones were forgotten: every UID below UIDNEXT not present.
	var out mailbox.UIDSet
	var prev mailbox.UID
	set := uids.Normalize()
	gap := func(lo, hi mailbox.UID) {
		for _, r := range set {
			if a, z := max(lo, r.Start), min(hi, r.Stop); a <= z {
				out.AddRange(a, z)
			}
		}
	}
	for i := range x.msgs {
		if u := x.msgs[i].uid; u > prev+1 {
			gap(prev+1, u-1)
		}
		prev = x.msgs[i].uid
	}
	if x.uidNext > prev+1 {
		gap(prev+1, x.uidNext-1)
	}
	return out, nil
}

func (h *mbox) Open(ctx context.Context, uid mailbox.UID) (mailbox.Content, error) {
	if err := h.lockf(ctx, false); err != nil {
		return nil, err
	}
	fl, err := h.f.openUnlock(uid)
	if err != nil {
		return nil, err
	}
	return fl, nil
}

// placeLink hard-links src as dst, or copies it (fsynced) where links
// are not possible.
func placeLink(src, dst string) error {
	err := os.Link(src, dst)
	if err == nil || os.IsExist(err) {
		return err
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := dst + ".tmp"
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, dst)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// newBase returns the base file name of a new message: a new unique
// name, the ",Z=" field of sum if hasSum, and the ",S=" and ",U=" fields.
func (f *folder) newBase(size int64, uid mailbox.UID, sum uint32, hasSum bool) string {
	b := f.st.appendUniqueName(make([]byte, 0, 96))
	if hasSum {
		b = appendSum(b, sum)
	}
	b = append(b, ",S="...)
	b = strconv.AppendInt(b, size, 10)
	b = append(b, ",U="...)
	b = strconv.AppendUint(b, uint64(uid), 10)
	return string(b)
}

// checkKeywords returns ErrLimit if kws would take f over the keyword
// limit; f.mu is held.
func (f *folder) checkKeywords(kws []string) error {
	max := f.st.opts.MaxKeywords
	if max <= 0 || len(kws) == 0 {
		return nil
	}
	_, merged, _ := mailbox.FlagsAdd.Apply(0, f.keywords, 0, kws)
	if len(merged) > max {
		return fmt.Errorf("maildir: too many keywords in %q: %w", f.name, mailbox.ErrLimit)
	}
	return nil
}

// add places a spooled message into f with the next UID (renaming the
// file with move, else linking it), records it and publishes it; req
// collects what the caller must have synced before it reports success.
func (f *folder) add(sp *spooled, opts *mailbox.AppendOptions, move bool, req *syncReq) (*mailbox.Message, error) {
	if opts == nil {
		opts = &mailbox.AppendOptions{}
	}
	kws, err := mailbox.NormalizeKeywords(opts.Keywords)
	if err != nil {
		return nil, fmt.Errorf("maildir: append: %w", err)
	}
	date := opts.InternalDate
	if date.IsZero() {
		date = time.Now()
	}
	metaOff, metaLen := f.appendMeta(sp.meta)
	if !f.u.reserve(1, sp.size) {
		return nil, fmt.Errorf("maildir: append to %q: %w", f.name, mailbox.ErrOverQuota)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	fail := func(err error) (*mailbox.Message, error) {
		f.u.addUsage(-1, -sp.size)
		return nil, err
	}
	if f.deleted {
		return fail(noSuchMailbox("append to", f.name))
	}
	if err := f.checkKeywords(kws); err != nil {
		return fail(err)
	}
	x := &f.idx
	m := msg{
		uid: x.uidNext, modseq: x.modseq + 1, flags: opts.Flags & mailbox.AllFlags, date: date.UnixNano(),
		size: sp.size,
	}
	m.setMeta(metaOff, metaLen)
	base := f.newBase(sp.size, m.uid, sp.sum, true)
	name := fullName(base, m.flags)
	dst := f.curPath(name)
	if move {
		err = f.renameIntoCur(sp.path, name)
	} else {
		err = placeLink(sp.path, dst)
	}
	if err != nil {
		return fail(fmt.Errorf("maildir: append to %q: %w", f.name, err))
	}
	x.setBase(&m, base)
	x.setKeywords(&m, kws)
	rec, mark := f.appendMark(make([]byte, 0, 160))
	rec = x.appendAddRecord(rec, &m)
	if err := f.writeLog(rec); err != nil {
		if move {
			rename(dst, sp.path) // back to the spool, for the next recipient or removal
		} else {
			os.Remove(dst)
		}
		return fail(fmt.Errorf("maildir: append to %q: %w", f.name, err))
	}
	sp.placed = sp.placed || move
	x.durable = mark
	f.addPending(m.uid, sp.fl)
	req.added = append(req.added, pendRef{f, m.uid})
	x.uidNext, x.modseq = m.uid+1, m.modseq
	x.msgs = append(x.msgs, m)
	_, f.keywords, _ = mailbox.FlagsAdd.Apply(0, f.keywords, 0, kws)
	f.hub.Publish(mailbox.Event{Kind: mailbox.EventNew, UID: m.uid, ModSeq: m.modseq, Flags: m.flags, Keywords: x.keywords(&m)})
	req.dir(f.cur())
	req.file(f.log)
	f.maybeCompact()
	return x.info(&m), nil
}

func (h *mbox) Append(ctx context.Context, r io.Reader, opts *mailbox.AppendOptions) (*mailbox.Message, error) {
	if err := h.lockf(ctx, true); err != nil {
		return nil, err
	}
	h.f.mu.Unlock() // checked early; written without the lock
	var date time.Time
	if opts != nil {
		date = opts.InternalDate
		if _, err := mailbox.NormalizeKeywords(opts.Keywords); err != nil {
			return nil, fmt.Errorf("maildir: append: %w", err)
		}
	}
	st := h.u.st
	sp, err := st.spool(r, date)
	if err != nil {
		return nil, err
	}
	req := &syncReq{}
	err = h.lockf(ctx, true)
	var m *mailbox.Message
	if err == nil {
		h.f.mu.Unlock()
		m, err = h.f.add(sp, opts, true, req)
	}
	if err != nil {
		os.Remove(sp.path)
	}
	if cerr := st.commitSpooled(sp, req); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	return m, nil
}

func (h *mbox) UpdateFlags(ctx context.Context, uids mailbox.UIDSet, u *mailbox.FlagUpdate) (*mailbox.UpdateResult, error) {
	kws, err := mailbox.NormalizeKeywords(u.Keywords)
	if err != nil {
		return nil, fmt.Errorf("maildir: store: %w", err)
	}
	if err := h.lockf(ctx, true); err != nil {
		return nil, err
	}
	f := h.f
	x := &f.idx
	if u.Op != mailbox.FlagsRemove {
		if err := f.checkKeywords(kws); err != nil {
			f.mu.Unlock()
			return nil, err
		}
	}
	set := uids.Normalize()
	n := x.count(set) // sized once: a STORE may change thousands of messages
	modseq := x.modseq + 1
	s := f.newFlagStore(u, kws, modseq, n)
	defer s.stop()
	x.each(set, 0, s.add)
	s.finish()
	res, changed := s.res, s.changed
	req := &syncReq{}
	if len(changed) > 0 {
		x.modseq = modseq
		err = f.writeLog(x.flagsRecord(modseq, changed))
		if u.Op != mailbox.FlagsRemove {
			_, f.keywords, _ = mailbox.FlagsAdd.Apply(0, f.keywords, 0, kws)
		}
		f.hub.Publish(s.events...)
		if s.renamed {
			req.dir(f.cur())
		}
		req.file(f.log)
		f.maybeCompact()
	}
	if err := h.finish(req, err); err != nil {
		return nil, fmt.Errorf("maildir: store: %w", err)
	}
	if s.err != nil {
		// The other messages' changes are recorded, durable and
		// published: sessions learn of them from the events.
		return nil, fmt.Errorf("maildir: store: %w", s.err)
	}
	return res, nil
}

// finish unlocks the folder after a change and, if writing its record
// succeeded (err is nil), waits until the change is durable.
func (h *mbox) finish(req *syncReq, err error) error {
	h.f.mu.Unlock()
	if err != nil {
		return err
	}
	return h.u.st.commit.sync(req)
}

func (h *mbox) Copy(ctx context.Context, uids mailbox.UIDSet, dest string) (*mailbox.CopyResult, error) {
	return h.copy(ctx, uids, dest, false)
}

func (h *mbox) Move(ctx context.Context, uids mailbox.UIDSet, dest string) (*mailbox.CopyResult, error) {
	return h.copy(ctx, uids, dest, true)
}

func (h *mbox) copy(ctx context.Context, uids mailbox.UIDSet, dest string, move bool) (*mailbox.CopyResult, error) {
	dest, err := clean("copy to", dest)
	if err != nil {
		return nil, err
	}
	if err := h.lockf(ctx, move); err != nil {
		return nil, err
	}
	h.f.mu.Unlock()
	df, err := h.u.folder(ctx, "copy to", dest)
	if err != nil {
		return nil, err
	}
	res, req, err := copyMessages(h.f, df, uids.Normalize(), move, h)
	if err != nil {
		return nil, err
	}
	if err := h.u.st.commit.sync(req); err != nil {
		return nil, err
	}
	return res, nil
}

// copyMessages copies (or moves) the messages of src in set to dst:
// hard links (renames) under new names, index records in dst (and
// src), events, all under both folders' locks so that other sessions
// see a move at once. h, if not nil, is the Mailbox the call came
// through, checked again under the lock.
func copyMessages(src, dst *folder, set mailbox.UIDSet, move bool, h *mbox) (*mailbox.CopyResult, *syncReq, error) {
	first, second := src, dst
	if second.id < first.id {
		first, second = second, first
	}
	first.mu.Lock()
	defer first.mu.Unlock()
	if second != first {
		second.mu.Lock()
		defer second.mu.Unlock()
	}
	switch {
	case h != nil && h.closed:
		return nil, nil, fmt.Errorf("maildir: mailbox closed: %w", mailbox.ErrClosed)
	case src.deleted:
		return nil, nil, noSuchMailbox("copy from", src.name)
	case dst.deleted:
		return nil, nil, noSuchMailbox("copy to", dst.name)
	}
	var sel []msg
	sx := &src.idx
	sx.each(set, 0, func(m *msg) bool {
		sel = append(sel, *m)
		return true
	})
	res := &mailbox.CopyResult{UIDValidity: dst.idx.validity}
	req := &syncReq{}
	if len(sel) == 0 {
		return res, req, nil
	}
	var size int64
	var kws []string
	for i := range sel {
		size += sel[i].size
		_, kws, _ = mailbox.FlagsAdd.Apply(0, kws, 0, sx.keywords(&sel[i]))
	}
	if !move && !dst.u.reserve(int64(len(sel)), size) {
		return nil, nil, fmt.Errorf("maildir: copy to %q: %w", dst.name, mailbox.ErrOverQuota)
	}
	if err := dst.checkKeywords(kws); err != nil {
		if !move {
			dst.u.addUsage(-int64(len(sel)), -size)
		}
		return nil, nil, err
	}
	x := &dst.idx
	modseq := x.modseq + 1
	added := make([]msg, 0, len(sel))
	undo := func(err error) (*mailbox.CopyResult, *syncReq, error) {
		for i := range added {
			p := filepath.Join(dst.cur(), x.name(&added[i]))
			if move {
				rename(p, filepath.Join(src.cur(), sx.name(&sel[i])))
			} else {
				os.Remove(p)
			}
		}
		if !move {
			dst.u.addUsage(-int64(len(sel)), -size)
		}
		return nil, nil, fmt.Errorf("maildir: copy to %q: %w", dst.name, err)
	}
	recs := make([][]byte, 0, len(sel)+1)
	for i := range sel {
		s := &sel[i]
		m := msg{uid: x.uidNext + mailbox.UID(i), modseq: modseq, flags: s.flags, date: s.date, size: s.size}
		m.meta = s.meta
		if src != dst {
			m.setMeta(dst.copyMeta(src, s))
		}
		sfn, _ := parseFileName(sx.base(s))
		x.setBase(&m, dst.newBase(s.size, m.uid, sfn.Sum, sfn.HasSum))
		x.setKeywords(&m, sx.keywords(s))
		if fl := src.pendingFile(s.uid); fl != nil {
			// Its delivery's round has not fsynced it yet: this one must,
			// or the copy could be acknowledged without its content.
			req.file(fl)
		}
		from, to := filepath.Join(src.cur(), sx.name(s)), filepath.Join(dst.cur(), x.name(&m))
		var err error
		if move {
			err = rename(from, to)
		} else {
			err = placeLink(from, to)
		}
		if err != nil {
			return undo(err)
		}
		added = append(added, m)
		recs = append(recs, x.addRecord(&m))
	}
	mark, d := dst.appendMark(nil)
	if len(mark) > 0 {
		recs = append([][]byte{mark}, recs...)
	}
	if err := dst.writeLog(recs...); err != nil {
		return undo(err)
	}
	x.durable = d
	events := make([]mailbox.Event, 0, len(added))
	for _, m := range added {
		res.Source = append(res.Source, sel[len(res.Source)].uid)
		res.Dest = append(res.Dest, m.uid)
		events = append(events, mailbox.Event{Kind: mailbox.EventNew, UID: m.uid, ModSeq: m.modseq, Flags: m.flags, Keywords: x.keywords(&m)})
	}
	x.msgs = append(x.msgs, added...)
	for _, m := range added {
		dst.addPending(m.uid, nil)
		req.added = append(req.added, pendRef{dst, m.uid})
	}
	x.uidNext += mailbox.UID(len(added))
	x.modseq = modseq
	_, dst.keywords, _ = mailbox.FlagsAdd.Apply(0, dst.keywords, 0, kws)
	dst.hub.Publish(events...)
	req.dir(dst.cur())
	req.file(dst.log)
	if move {
		dst.u.addUsage(int64(len(sel)), size) // the expunge below releases it
		src.writeLog(expungeRecord(src.idx.modseq+1, res.Source))
		src.expungeLocked(res.Source)
		req.dir(src.cur())
		req.file(src.log)
		src.maybeCompact()
	}
	dst.maybeCompact()
	return res, req, nil
}

// copyMeta copies the metadata blob of s in src to f.
func (f *folder) copyMeta(src *folder, s *msg) (int64, uint32) {
	if s.metaLen() == 0 {
		return 0, 0
	}
	rec := make([]byte, s.metaLen())
	if _, err := src.meta.ReadAt(rec, s.metaOff()); err != nil {
		return 0, 0
	}
	return f.writeMeta(rec)
}

func (h *mbox) Expunge(ctx context.Context, uids mailbox.UIDSet) (mailbox.UIDSet, error) {
	if err := h.lockf(ctx, true); err != nil {
		return nil, err
	}
	f := h.f
	var victims []mailbox.UID
	var gone mailbox.UIDSet
	f.idx.each(uids.Normalize(), 0, func(m *msg) bool {
		if m.flags&mailbox.FlagDeleted != 0 {
			victims = append(victims, m.uid)
			gone.Add(m.uid)
			f.removeCur(f.idx.name(m))
		}
		return true
	})
	req := &syncReq{}
	var err error
	if len(victims) > 0 {
		err = f.writeLog(expungeRecord(f.idx.modseq+1, victims))
		f.expungeLocked(victims)
		req.dir(f.cur())
		req.file(f.log)
		f.maybeCompact()
	}
	if err := h.finish(req, err); err != nil {
		return nil, fmt.Errorf("maildir: expunge: %w", err)
	}
	return gone, nil
}

func (h *mbox) Watch(ctx context.Context) (*mailbox.Subscription, error) {
	if err := h.lockf(ctx, false); err != nil {
		return nil, err
	}
	defer h.f.mu.Unlock()
	s := h.f.hub.Subscribe()
	h.subs = append(h.subs, s)
	return s, nil
}

func (h *mbox) Close() error {
	h.f.mu.Lock()
	defer h.f.mu.Unlock()
	if h.closed {
		return nil
	}
	h.closed = true
	if h.lock != nil {
		h.lock.Close()
		h.lock = nil
	}
	for _, s := range h.subs {
		s.Close()
	}
	h.subs = nil
	return nil
}
