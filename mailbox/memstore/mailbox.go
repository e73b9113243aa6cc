package memstore

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"iter"
	"slices"
	"time"

	"github.com/postyard/postyard/mailbox"
)

// msg is a stored message. uid, modseq, flags and keywords are guarded by
// the user's lock; keywords slices are replaced, never modified. data and
// meta never change and are shared between copies.
type msg struct {
	uid      mailbox.UID
	modseq   mailbox.ModSeq
	flags    mailbox.Flags
	keywords []string
	date     time.Time
	data     []byte
	meta     *mailbox.Metadata
}

// info returns m as a mailbox.Message the caller owns.
func (m *msg) info(withMeta bool) *mailbox.Message {
	mm := &mailbox.Message{}
	m.fill(mm, withMeta, true)
	return mm
}

// fill sets mm to m; with own, mm's Keywords are a copy the caller owns.
func (m *msg) fill(mm *mailbox.Message, withMeta, own bool) {
	kws := m.keywords
	if own {
		kws = slices.Clone(kws)
	}
	*mm = mailbox.Message{
		UID:          m.uid,
		ModSeq:       m.modseq,
		Flags:        m.flags,
		Keywords:     kws,
		InternalDate: m.date,
		Size:         int64(len(m.data)),
	}
	if withMeta {
		mm.Metadata = m.meta
	}
}

// tomb records an expunge for QRESYNC.
type tomb struct {
	uid    mailbox.UID
	modseq mailbox.ModSeq
}

// box is a mailbox, guarded by its user's lock.
type box struct {
	name     string
	special  mailbox.SpecialUse
	validity uint32
	uidNext  mailbox.UID
	modseq   mailbox.ModSeq // HIGHESTMODSEQ
	msgs     []*msg         // ascending UID
	keywords []string       // normalized
	tombs    []tomb         // ascending modseq
	// tombFloor is the highest MODSEQ of a forgotten tombstone: questions
	// about expunges since a lower MODSEQ get a superset.
	tombFloor mailbox.ModSeq
	hub       mailbox.Hub
	locked    bool // the exclusive (maildrop) lock is held
	deleted   bool
}

// add appends m with the next UID at the current modseq and publishes it.
func (b *box) add(m *msg) {
	m.uid, m.modseq = b.uidNext, b.modseq
	b.uidNext++
	b.msgs = append(b.msgs, m)
	b.hub.Publish(mailbox.Event{Kind: mailbox.EventNew, UID: m.uid, ModSeq: m.modseq, Flags: m.flags, Keywords: m.keywords})
}

// expunge removes victims (in ascending UID order, all in b) at a new
// modseq and publishes the expunges.
func (b *box) expunge(maxTombs int, victims []*msg) {
	if len(victims) == 0 {
		return
	}
	b.modseq++
	gone := make(map[*msg]bool, len(victims))
	events := make([]mailbox.Event, 0, len(victims))
	for _, m := range victims {
		gone[m] = true
		b.tombs = append(b.tombs, tomb{m.uid, b.modseq})
		events = append(events, mailbox.Event{Kind: mailbox.EventExpunge, UID: m.uid, ModSeq: b.modseq})
	}
	b.msgs = slices.DeleteFunc(b.msgs, func(m *msg) bool { return gone[m] })
	if maxTombs > 0 && len(b.tombs) > maxTombs {
		drop := len(b.tombs) - maxTombs
		b.tombFloor = b.tombs[drop-1].modseq
		b.tombs = slices.Delete(b.tombs, 0, drop)
	}
	b.hub.Publish(events...)
}

// checkKeywords returns ErrLimit if kws would take b over max keywords.
func (b *box) checkKeywords(kws []string, max int) error {
	if max <= 0 {
		return nil
	}
	_, merged, _ := mailbox.FlagsAdd.Apply(0, b.keywords, 0, kws)
	if len(merged) > max {
		return fmt.Errorf("memstore: too many keywords in %q: %w", b.name, mailbox.ErrLimit)
	}
	return nil
}

// noteKeywords adds the keywords of msgs to b's list.
func (b *box) noteKeywords(msgs []*msg) {
	for _, m := range msgs {
		_, b.keywords, _ = mailbox.FlagsAdd.Apply(0, b.keywords, 0, m.keywords)
	}
}

func (b *box) status() *mailbox.Status {
	st := &mailbox.Status{
		Name:          b.name,
		SpecialUse:    b.special,
		UIDValidity:   b.validity,
		UIDNext:       b.uidNext,
		HighestModSeq: b.modseq,
		Messages:      len(b.msgs),
		Keywords:      slices.Clone(b.keywords),
	}
	for _, m := range b.msgs {
		if m.flags&mailbox.FlagSeen == 0 {
			st.Unseen++
		}
		if m.flags&mailbox.FlagDeleted != 0 {
			st.Deleted++
		}
		st.Size += int64(len(m.data))
	}
	return st
}

// search returns the index of the first message with a UID >= uid.
func (b *box) search(uid mailbox.UID) int {
	i, _ := slices.BinarySearchFunc(b.msgs, uid, func(m *msg, u mailbox.UID) int {
		return int(int64(m.uid) - int64(u))
	})
	return i
}

// each calls fn for the messages in the normalized set, ascending, from
// index start; it stops when fn returns false.
func (b *box) each(set mailbox.UIDSet, start int, fn func(i int, m *msg) bool) {
	for _, r := range set {
		for i := max(start, b.search(r.Start)); i < len(b.msgs) && b.msgs[i].uid <= r.Stop; i++ {
			if !fn(i, b.msgs[i]) {
				return
			}
		}
	}
}

// selected returns the messages in the normalized set.
func (b *box) selected(set mailbox.UIDSet) []*msg {
	var ms []*msg
	b.each(set, 0, func(_ int, m *msg) bool {
		ms = append(ms, m)
		return true
	})
	return ms
}

// mbox is an open mailbox.
type mbox struct {
	u         *user
	b         *box
	validity  uint32
	readOnly  bool
	exclusive bool
	closed    bool                    // guarded by u.mu
	subs      []*mailbox.Subscription // guarded by u.mu
}

var _ mailbox.Mailbox = (*mbox)(nil)

// lock locks the user after checking ctx, the store and the mailbox; on
// error nothing is locked. write refuses read-only mailboxes.
func (h *mbox) lock(ctx context.Context, write bool) error {
	if err := h.u.lock(ctx); err != nil {
		return err
	}
	var err error
	switch {
	case h.closed:
		err = fmt.Errorf("memstore: mailbox closed: %w", mailbox.ErrClosed)
	case h.b.deleted:
		err = noSuchMailbox("open", h.b.name)
	case write && h.readOnly:
		err = fmt.Errorf("memstore: %q: %w", h.b.name, mailbox.ErrReadOnly)
	}
	if err != nil {
		h.u.mu.Unlock()
	}
	return err
}

func (h *mbox) Name() string {
	h.u.mu.Lock()
	defer h.u.mu.Unlock()
	return h.b.name
}

func (h *mbox) UIDValidity() uint32 { return h.validity }

func (h *mbox) Status(ctx context.Context) (*mailbox.Status, error) {
	if err := h.lock(ctx, false); err != nil {
		return nil, err
	}
	defer h.u.mu.Unlock()
	return h.b.status(), nil
}

// chunk is the number of messages Messages copies per lock.
const chunk = 256

func (h *mbox) Messages(ctx context.Context, uids mailbox.UIDSet, opts *mailbox.FetchOptions) iter.Seq2[*mailbox.Message, error] {
	if opts == nil {
		opts = &mailbox.FetchOptions{}
	}
	set := uids.Normalize()
	return func(yield func(*mailbox.Message, error) bool) {
		var next mailbox.UID = 1 // smallest UID not yet considered
		// One allocation a chunk; with Reuse, one for the iteration, and
		// keywords are the message's own list (replaced, never modified).
		var batch []mailbox.Message
		for {
			if err := h.lock(ctx, false); err != nil {
				yield(nil, err)
				return
			}
			if batch == nil || !opts.Reuse {
				batch = make([]mailbox.Message, 0, chunk)
			}
			batch = batch[:0]
			more := false
			h.b.each(set, h.b.search(next), func(_ int, m *msg) bool {
				if len(batch) == chunk {
					more = true
					return false
				}
				next = m.uid + 1
				if m.modseq > opts.ChangedSince {
					batch = append(batch, mailbox.Message{})
					m.fill(&batch[len(batch)-1], opts.Metadata != 0, !opts.Reuse)
				}
				return true
			})
			h.u.mu.Unlock()
			for i := range batch {
				if !yield(&batch[i], nil) {
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
	if err := h.lock(ctx, false); err != nil {
		return nil, err
	}
	defer h.u.mu.Unlock()
	b := h.b
	var out mailbox.UIDSet
	if since >= b.tombFloor {
		var us []mailbox.UID
		for _, t := range b.tombs {
			if t.modseq > since && uids.Contains(t.uid) {
				us = append(us, t.uid)
			}
		}
		slices.Sort(us)
		return mailbox.UIDSetOf(us...), nil
	}
	// Tombstones were forgotten: every UID below UIDNEXT not present.
	var prev mailbox.UID
	set := uids.Normalize()
	gap := func(lo, hi mailbox.UID) {
		for _, r := range set {
			if a, z := max(lo, r.Start), min(hi, r.Stop); a <= z {
				out.AddRange(a, z)
			}
		}
	}
	for _, m := range b.msgs {
		if m.uid > prev+1 {
			gap(prev+1, m.uid-1)
		}
		prev = m.uid
	}
	if b.uidNext > prev+1 {
		gap(prev+1, b.uidNext-1)
	}
	return out, nil
}

// content is a message's bytes; Close is a no-op.
type content struct{ *bytes.Reader }

func (content) Close() error { return nil }

func (h *mbox) Open(ctx context.Context, uid mailbox.UID) (mailbox.Content, error) {
	if err := h.lock(ctx, false); err != nil {
		return nil, err
	}
	defer h.u.mu.Unlock()
	i := h.b.search(uid)
	if i == len(h.b.msgs) || h.b.msgs[i].uid != uid {
		return nil, fmt.Errorf("memstore: %q UID %d: %w", h.b.name, uid, mailbox.ErrNoSuchMessage)
	}
	return content{bytes.NewReader(h.b.msgs[i].data)}, nil
}

func (h *mbox) Append(ctx context.Context, r io.Reader, opts *mailbox.AppendOptions) (*mailbox.Message, error) {
	if err := h.lock(ctx, true); err != nil {
		return nil, err
	}
	h.u.mu.Unlock() // checked early; read without the lock
	data, meta, err := h.u.st.readMessage(r)
	if err != nil {
		return nil, err
	}
	if err := h.lock(ctx, true); err != nil {
		return nil, err
	}
	defer h.u.mu.Unlock()
	m, err := h.u.appendLocked(h.b, data, meta, opts)
	if err != nil {
		return nil, err
	}
	return m.info(false), nil
}

func (h *mbox) UpdateFlags(ctx context.Context, uids mailbox.UIDSet, u *mailbox.FlagUpdate) (*mailbox.UpdateResult, error) {
	kws, err := mailbox.NormalizeKeywords(u.Keywords)
	if err != nil {
		return nil, fmt.Errorf("memstore: store: %w", err)
	}
	if err := h.lock(ctx, true); err != nil {
		return nil, err
	}
	defer h.u.mu.Unlock()
	b := h.b
	if u.Op != mailbox.FlagsRemove {
		if err := b.checkKeywords(kws, h.u.st.opts.MaxKeywords); err != nil {
			return nil, err
		}
	}
	res := &mailbox.UpdateResult{}
	var events []mailbox.Event
	modseq := b.modseq + 1
	b.each(uids.Normalize(), 0, func(_ int, m *msg) bool {
		if u.Conditional && m.modseq > u.UnchangedSince {
			res.Modified.Add(m.uid)
			return true
		}
		f, k, changed := u.Op.Apply(m.flags, m.keywords, u.Flags, kws)
		if changed {
			m.flags, m.keywords, m.modseq = f, k, modseq
			events = append(events, mailbox.Event{Kind: mailbox.EventFlags, UID: m.uid, ModSeq: modseq, Flags: f, Keywords: k})
		}
		res.Messages = append(res.Messages, mailbox.Message{UID: m.uid, ModSeq: m.modseq, Flags: m.flags, Keywords: slices.Clone(m.keywords)})
		return true
	})
	if len(events) > 0 {
		b.modseq = modseq
		if u.Op != mailbox.FlagsRemove {
			_, b.keywords, _ = mailbox.FlagsAdd.Apply(0, b.keywords, 0, kws)
		}
		b.hub.Publish(events...)
	}
	return res, nil
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
	if err := h.lock(ctx, move); err != nil {
		return nil, err
	}
	defer h.u.mu.Unlock()
	db := h.u.boxes[dest]
	if db == nil {
		return nil, noSuchMailbox("copy to", dest)
	}
	src := h.b.selected(uids.Normalize())
	res := &mailbox.CopyResult{UIDValidity: db.validity}
	if len(src) == 0 {
		return res, nil
	}
	var size int64
	for _, m := range src {
		size += int64(len(m.data))
	}
	if !move && !h.u.usage().Allows(int64(len(src)), size) {
		return nil, fmt.Errorf("memstore: copy to %q: %w", dest, mailbox.ErrOverQuota)
	}
	var kws []string
	for _, m := range src {
		_, kws, _ = mailbox.FlagsAdd.Apply(0, kws, 0, m.keywords)
	}
	if err := db.checkKeywords(kws, h.u.st.opts.MaxKeywords); err != nil {
		return nil, err
	}
	db.modseq++
	for _, m := range src {
		c := &msg{flags: m.flags, keywords: m.keywords, date: m.date, data: m.data, meta: m.meta}
		db.add(c)
		res.Source = append(res.Source, m.uid)
		res.Dest = append(res.Dest, c.uid)
	}
	db.noteKeywords(src)
	if move {
		h.b.expunge(h.u.st.opts.MaxTombstones, src)
	} else {
		h.u.bytes += size
		h.u.count += int64(len(src))
	}
	return res, nil
}

func (h *mbox) Expunge(ctx context.Context, uids mailbox.UIDSet) (mailbox.UIDSet, error) {
	if err := h.lock(ctx, true); err != nil {
		return nil, err
	}
	defer h.u.mu.Unlock()
	var victims []*msg
	var gone mailbox.UIDSet
	for _, m := range h.b.selected(uids.Normalize()) {
		if m.flags&mailbox.FlagDeleted != 0 {
			victims = append(victims, m)
			gone.Add(m.uid)
			h.u.bytes -= int64(len(m.data))
			h.u.count--
		}
	}
	h.b.expunge(h.u.st.opts.MaxTombstones, victims)
	return gone, nil
}

func (h *mbox) Watch(ctx context.Context) (*mailbox.Subscription, error) {
	if err := h.lock(ctx, false); err != nil {
		return nil, err
	}
	defer h.u.mu.Unlock()
	s := h.b.hub.Subscribe()
	h.subs = append(h.subs, s)
	return s, nil
}

func (h *mbox) Close() error {
	h.u.mu.Lock()
	defer h.u.mu.Unlock()
	if h.closed {
		return nil
	}
	h.closed = true
	if h.exclusive {
		h.b.locked = false
	}
	for _, s := range h.subs {
		s.Close()
	}
	h.subs = nil
	return nil
}
