package imap

import (
	"context"
	"slices"
	"strings"

	"github.com/postyard/postyard/mailbox"
)

// qresyncParams are SELECT's QRESYNC parameters (RFC 7162 §3.2.5).
type qresyncParams struct {
	uidValidity uint32
	modseq      mailbox.ModSeq
	known       seqSet
	hasKnown    bool
}

// selectCmd runs SELECT and EXAMINE (RFC 9051 §6.3.2, §6.3.3) with the
// CONDSTORE and QRESYNC parameters (RFC 7162 §3.1.8, §3.2.5).
func (c *conn) selectCmd(ctx context.Context, cmd *command) error {
	name, err := c.spMailbox()
	if err != nil {
		return err
	}
	var qr *qresyncParams
	if c.sc.Accept(' ') {
		err := c.sc.List(false, func() error {
			p, err := c.sc.Atom()
			if err != nil {
				return err
			}
			switch strings.ToUpper(p) {
			case "CONDSTORE":
				c.condstore = true
				return nil
			case "QRESYNC":
				if !c.qresync {
					return bad("QRESYNC not enabled")
				}
				if err := c.sc.SP(); err != nil {
					return err
				}
				qr = &qresyncParams{}
				return c.readQresync(qr)
			}
			return bad("Unknown SELECT parameter")
		})
		if err != nil {
			return err
		}
	}
	if err := c.sc.End(); err != nil {
		return err
	}
	readOnly := cmd.name == "EXAMINE"
	if c.sel != nil {
		c.closeSelection()
		if c.rev2 || c.qresync {
			c.untagged("OK [CLOSED] Previous mailbox closed")
		}
	}
	mbox, err := c.u.Open(ctx, name, &mailbox.OpenOptions{ReadOnly: readOnly})
	if err != nil {
		return err
	}
	sel := &selection{mbox: mbox, readOnly: readOnly, expunged: map[mailbox.UID]bool{}}
	fail := func(err error) error {
		if sel.sub != nil {
			sel.sub.Close()
		}
		mbox.Close()
		return err
	}
	if sel.sub, err = mbox.Watch(ctx); err != nil {
		return fail(err)
	}
	st, err := mbox.Status(ctx)
	if err != nil {
		return fail(err)
	}
	sel.modseq = st.HighestModSeq
	var firstUnseen uint32
	for m, err := range mbox.Messages(ctx, mailbox.AllUIDs(), &mailbox.FetchOptions{Reuse: true}) {
		if err != nil {
			return fail(err)
		}
		if m.UID <= sel.maxUID() {
			continue // Messages promises ascending UIDs; the map needs them
		}
		sel.uids.append(m.UID)
		if firstUnseen == 0 && m.Flags&mailbox.FlagSeen == 0 {
			firstUnseen = sel.uids.len()
		}
		sel.modseq = max(sel.modseq, m.ModSeq)
	}
	// An idle session should hold no spare capacity.
	sel.uids.runs = slices.Clip(sel.uids.runs)
	c.sel, c.state = sel, selectedState
	uidNext := max(st.UIDNext, sel.maxUID()+1)

	var flags strings.Builder
	flags.WriteString(`\Answered \Flagged \Deleted \Seen \Draft`)
	for _, kw := range st.Keywords {
		flags.WriteString(" " + kw)
	}
	c.untaggedf("%d EXISTS", sel.uids.len())
	if !c.rev2 {
		c.untagged("0 RECENT")
	}
	c.untaggedf("OK [UIDVALIDITY %d] UIDs valid", mbox.UIDValidity())
	c.untaggedf("OK [UIDNEXT %d] Predicted next UID", uidNext)
	c.untagged("FLAGS (" + flags.String() + ")")
	if readOnly {
		c.untagged("OK [PERMANENTFLAGS ()] No permanent flags permitted")
	} else {
		c.untagged("OK [PERMANENTFLAGS (" + flags.String() + ` \*)] Flags permitted`)
	}
	if !c.rev2 && firstUnseen > 0 {
		c.untaggedf("OK [UNSEEN %d] First unseen", firstUnseen)
	}
	if c.rev2 {
		r := c.newResp().raw(`LIST () "/" `)
		r.str(c.encodeMailbox(mbox.Name()))
		c.endResp(r)
	}
	if c.condstore {
		c.untaggedf("OK [HIGHESTMODSEQ %d] Highest", sel.modseq)
	}
	if qr != nil && qr.uidValidity == mbox.UIDValidity() {
		if err := c.qresyncSelect(ctx, qr); err != nil {
			return err
		}
	}
	if readOnly {
		return &okResult{code: "READ-ONLY", text: cmd.name + " completed"}
	}
	return &okResult{code: "READ-WRITE", text: cmd.name + " completed"}
}

// readQresync parses "(" uidvalidity SP mod-sequence-value [SP known-uids]
// [SP seq-match-data] ")". The sequence match data is accepted and
// ignored: VANISHED is computed from the store's record.
func (c *conn) readQresync(qr *qresyncParams) error {
	if err := c.sc.Expect('('); err != nil {
		return err
	}
	v, err := c.sc.Number()
	if err != nil || v == 0 {
		return bad("Invalid UIDVALIDITY")
	}
	qr.uidValidity = v
	if err := c.sc.SP(); err != nil {
		return err
	}
	m, err := c.sc.Number64()
	if err != nil {
		return err
	}
	qr.modseq = mailbox.ModSeq(m)
	if c.sc.Accept(' ') && c.sc.Peek() != '(' {
		if qr.known, err = c.readSeqSet(); err != nil {
			return err
		}
		qr.hasKnown = true
		c.sc.Accept(' ')
	}
	if c.sc.Peek() == '(' {
		err := c.sc.List(false, func() error {
			_, err := c.readSeqSet()
			return err
		})
		if err != nil {
			return err
		}
	}
	return c.sc.Expect(')')
}

// qresyncSelect sends what changed since the client's MODSEQ: VANISHED
// (EARLIER) for expunged UIDs and FETCH for changed messages (RFC 7162
// §3.2.5).
func (c *conn) qresyncSelect(ctx context.Context, qr *qresyncParams) error {
	sel := c.sel
	known := mailbox.UIDSet{{Start: 1, Stop: max(sel.maxUID(), 1)}}
	if qr.hasKnown {
		var err error
		if known, err = sel.uidSet(qr.known, true); err != nil {
			return err
		}
	}
	gone, err := sel.mbox.Expunged(ctx, known, qr.modseq)
	if err != nil {
		return err
	}
	var vanished mailbox.UIDSet
	for _, r := range gone.Normalize() {
		// Only UIDs the client may know: below the view's UIDNEXT.
		if r.Start > sel.maxUID() && sel.maxUID() != 0 {
			continue
		}
		vanished = append(vanished, r)
	}
	if len(vanished) > 0 {
		c.untagged("VANISHED (EARLIER) " + vanished.String())
	}
	for m, err := range sel.mbox.Messages(ctx, known, &mailbox.FetchOptions{ChangedSince: qr.modseq, Reuse: true}) {
		if err != nil {
			return err
		}
		if sel.inView(m.UID) {
			c.flagsFetch(m, false)
		}
	}
	return nil
}

// closeCmd runs CLOSE (RFC 9051 §6.4.1), which expunges silently, and
// UNSELECT (RFC 3691).
func (c *conn) closeCmd(ctx context.Context, cmd *command) error {
	if err := c.sc.End(); err != nil {
		return err
	}
	if cmd.name == "CLOSE" && !c.sel.readOnly {
		if _, err := c.sel.mbox.Expunge(ctx, mailbox.AllUIDs()); err != nil {
			return err
		}
	}
	c.closeSelection()
	return nil
}

// expunge runs EXPUNGE and UID EXPUNGE (RFC 9051 §6.4.3, RFC 4315 §2.1).
func (c *conn) expunge(ctx context.Context, cmd *command) error {
	set := mailbox.AllUIDs()
	if cmd.uid {
		if err := c.sc.SP(); err != nil {
			return err
		}
		ss, err := c.readSeqSet()
		if err != nil {
			return err
		}
		if set, err = c.sel.uidSet(ss, true); err != nil {
			return err
		}
	}
	if err := c.sc.End(); err != nil {
		return err
	}
	if c.sel.readOnly {
		return no("READ-ONLY", "Mailbox is read-only")
	}
	gone, err := c.sel.mbox.Expunge(ctx, set)
	if err != nil {
		return err
	}
	for _, r := range gone {
		for u := range (mailbox.UIDSet{r}).All() {
			if c.sel.seq(u) != 0 {
				c.sel.expunged[u] = true
			}
		}
	}
	if c.condstore {
		if st, err := c.sel.mbox.Status(ctx); err == nil {
			return &okResult{code: "HIGHESTMODSEQ " + itoa(uint64(st.HighestModSeq)), text: cmd.name + " completed"}
		}
	}
	return nil
}
