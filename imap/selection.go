package imap

import (
	"context"
	"slices"

	"github.com/postyard/postyard/mailbox"
)

// selection is the session's view of the selected mailbox: the sequence
// number map and what the client has been told. The server keeps it in
// step with the store through the mailbox's events.
type selection struct {
	mbox     mailbox.Mailbox
	sub      *mailbox.Subscription
	readOnly bool
	uids     seqMap
	// expunged holds UIDs expunged in the store but still in uids, until
	// EXPUNGE (or VANISHED) may be sent.
	expunged map[mailbox.UID]bool
	// modseq is the highest MODSEQ the view has caught up with.
	modseq mailbox.ModSeq
	// sent holds the flag changes already reported by this session's
	// own STORE and FETCH, so that their events are not reported again.
	sent sentFlags
}

// seq returns the sequence number of uid, or 0 if it is not in the view.
func (s *selection) seq(uid mailbox.UID) uint32 { return s.uids.seq(uid) }

func (s *selection) maxUID() mailbox.UID { return s.uids.max() }

// uidSet resolves a set of sequence numbers (or, with uid, UIDs) against
// the view. Sequence numbers beyond the view are an error (RFC 9051 §9);
// UIDs need not exist.
func (s *selection) uidSet(set seqSet, uid bool) (mailbox.UIDSet, error) {
	var out mailbox.UIDSet
	if uid {
		for _, r := range set {
			lo, hi := mailbox.UID(r.lo), mailbox.UID(r.hi)
			if lo == 0 {
				lo = s.maxUID()
			}
			if hi == 0 {
				hi = s.maxUID()
			}
			if lo == 0 && hi == 0 {
				continue
			}
			out = append(out, mailbox.UIDRange{Start: min(lo, hi), Stop: max(lo, hi)})
		}
		return out.Normalize(), nil
	}
	return s.seqUIDs(set, false)
}

// seqUIDs resolves sequence numbers. Numbers beyond the view are an error
// unless lenient is set (SEARCH), when they match nothing.
func (s *selection) seqUIDs(set seqSet, lenient bool) (mailbox.UIDSet, error) {
	var out mailbox.UIDSet
	n := s.uids.len()
	for _, r := range set {
		lo, hi := r.lo, r.hi
		if lo == 0 {
			lo = n
		}
		if hi == 0 {
			hi = n
		}
		lo, hi = min(lo, hi), max(lo, hi)
		if lenient {
			if hi = min(hi, n); lo == 0 || lo > hi {
				continue
			}
		}
		if lo == 0 || hi > n {
			return nil, bad("Invalid sequence number")
		}
		// The range covers the UIDs between its ends: all in the view.
		out = append(out, mailbox.UIDRange{Start: s.uids.uid(lo), Stop: s.uids.uid(hi)})
	}
	return out.Normalize(), nil
}

// inView reports whether uid is in the view and not pending expunge.
func (s *selection) inView(uid mailbox.UID) bool {
	return s.seq(uid) != 0 && !s.expunged[uid]
}

// closeSelection leaves the selected state's mailbox.
func (c *conn) closeSelection() {
	if c.sel != nil {
		c.sel.sub.Close()
		c.sel.mbox.Close()
		c.sel = nil
	}
	if c.state == selectedState {
		c.state = authenticated
	}
}

// sync turns the pending events of the selected mailbox into untagged
// responses: EXISTS, FETCH for flag changes and, when expunge is set,
// EXPUNGE or VANISHED (RFC 9051 §5.2, §7.5.1). It returns errClose when
// the mailbox is gone.
func (c *conn) sync(ctx context.Context, expunge bool) error {
	sel := c.sel
	if sel == nil {
		return nil
	}
	events := sel.sub.Events()
	if len(events) > 8 || len(events) == 1 && events[0].Kind == mailbox.EventOverflow {
		// Many responses, or a resync, which may send thousands.
		return c.bigWrites(func() error { return c.syncEvents(ctx, events, expunge) })
	}
	return c.syncEvents(ctx, events, expunge)
}

// syncEvents is sync with the events taken.
func (c *conn) syncEvents(ctx context.Context, events []mailbox.Event, expunge bool) error {
	sel := c.sel
	if len(events) > 0 {
		grew := false
		for _, ev := range events {
			switch ev.Kind {
			case mailbox.EventNew:
				if ev.UID > sel.maxUID() {
					sel.uids.append(ev.UID)
					grew = true
				}
			case mailbox.EventExpunge:
				if sel.seq(ev.UID) != 0 {
					sel.expunged[ev.UID] = true
				}
			case mailbox.EventOverflow:
				if err := c.resync(ctx); err != nil {
					return err
				}
			case mailbox.EventGone:
				c.bye("Mailbox no longer exists")
				c.closeSelection()
				return errClose
			}
		}
		if grew {
			c.untaggedf("%d EXISTS", sel.uids.len())
		}
		for _, ev := range events {
			if ev.Kind != mailbox.EventFlags || sel.sent.has(ev.UID, ev.ModSeq) {
				continue
			}
			if ev.ModSeq <= sel.modseq || !sel.inView(ev.UID) {
				continue
			}
			c.flagsFetch(&mailbox.Message{UID: ev.UID, ModSeq: ev.ModSeq, Flags: ev.Flags, Keywords: ev.Keywords}, true)
		}
		for _, ev := range events {
			sel.modseq = max(sel.modseq, ev.ModSeq)
		}
		sel.sent.prune(sel.modseq)
	}
	if expunge && len(sel.expunged) > 0 {
		c.sendExpunges()
	}
	return nil
}

// sendExpunges reports the pending expunges and removes them from the view.
func (c *conn) sendExpunges() {
	sel := c.sel
	gone := make([]mailbox.UID, 0, len(sel.expunged))
	for u := range sel.expunged {
		if sel.seq(u) != 0 { // always so: they are added only from the view
			gone = append(gone, u)
		}
	}
	slices.Sort(gone)
	seqs := sel.uids.removeUIDs(gone)
	if c.qresync {
		var set mailbox.UIDSet
		for _, u := range gone {
			set.Add(u)
		}
		c.untagged("VANISHED " + set.String())
	} else {
		// Highest first, so that each number is still valid when the
		// client applies it (RFC 9051 §7.5.1).
		for i := len(seqs) - 1; i >= 0; i-- {
			c.untaggedf("%d EXPUNGE", seqs[i])
		}
	}
	clear(sel.expunged)
}

// flagsFetch writes an untagged FETCH with a message's flags (with UID and
// MODSEQ when the client uses them).
func (c *conn) flagsFetch(m *mailbox.Message, unsolicited bool) {
	sel := c.sel
	r := c.newResp()
	r.num(uint64(sel.seq(m.UID))).raw(" FETCH (")
	writeFlags(r, m.Flags, m.Keywords)
	if c.qresync || !unsolicited {
		r.raw(" UID ").num(uint64(m.UID))
	}
	if c.condstore {
		r.raw(" MODSEQ (").num(uint64(m.ModSeq)).raw(")")
	}
	r.raw(")")
	c.endResp(r)
}

func writeFlags(r *resp, f mailbox.Flags, kws []string) {
	r.raw("FLAGS (")
	n := 0
	for _, name := range f.Names() {
		if n > 0 {
			r.sp()
		}
		r.raw(name)
		n++
	}
	for _, kw := range kws {
		if n > 0 {
			r.sp()
		}
		r.raw(kw)
		n++
	}
	r.raw(")")
}

// resync rebuilds the view after the subscription overflowed: it asks
// the store what changed since the view's MODSEQ (RFC 7162 §3.1.4
// CHANGEDSINCE, §3.2.5.2) and reports new messages, flag changes and
// expunges. A STORE of more messages than a subscription holds
// overflows its own session's, so this runs after each: it lists only
// what changed, and skips what the STORE reported.
func (c *conn) resync(ctx context.Context) error {
	sel := c.sel
	// sel.sent, the flag changes this session reported itself, is
	// consulted below and then cleared.
	defer sel.sent.reset()
	var newUIDs []mailbox.UID
	last := sel.maxUID()
	since := sel.modseq
	top := since
	opts := &mailbox.FetchOptions{ChangedSince: since, Reuse: true}
	for m, err := range sel.mbox.Messages(ctx, mailbox.AllUIDs(), opts) {
		if err != nil {
			return err
		}
		top = max(top, m.ModSeq)
		switch {
		case m.UID > last:
			newUIDs = append(newUIDs, m.UID)
		case sel.sent.has(m.UID, m.ModSeq):
			// Reported already, by the STORE or FETCH that made it.
		case sel.inView(m.UID):
			// Sent as listed, so before the EXISTS of the new
			// messages (which the listing yields last): the sequence
			// numbers of the view's messages are the same either way.
			c.flagsFetch(m, true)
		}
	}
	gone, err := sel.mbox.Expunged(ctx, mailbox.AllUIDs(), since)
	if err != nil {
		return err
	}
	if !gone.IsEmpty() {
		gone = gone.Normalize()
		i := 0
		for _, u := range sel.uids.all() {
			for i < len(gone) && gone[i].Stop < u {
				i++
			}
			if i == len(gone) {
				break
			}
			if gone[i].Start <= u {
				sel.expunged[u] = true
			}
		}
	}
	if len(newUIDs) > 0 {
		for _, u := range newUIDs {
			sel.uids.append(u)
		}
		c.untaggedf("%d EXISTS", sel.uids.len())
	}
	if st, err := sel.mbox.Status(ctx); err == nil {
		top = max(top, st.HighestModSeq)
	}
	sel.modseq = top
	return nil
}
