package imap

import (
	"context"
	"strings"

	"github.com/postyard/postyard/mailbox"
)

// store runs STORE and UID STORE (RFC 9051 §6.4.6) with UNCHANGEDSINCE
// (RFC 7162 §3.1.3).
func (c *conn) store(ctx context.Context, cmd *command) error {
	set, err := c.spSeqSet()
	if err != nil {
		return err
	}
	if err := c.sc.SP(); err != nil {
		return err
	}
	u := &mailbox.FlagUpdate{}
	if c.sc.Peek() == '(' {
		err := c.sc.List(false, func() error {
			if !c.sc.AcceptFold("UNCHANGEDSINCE ") {
				return bad("Unknown STORE modifier")
			}
			n, err := c.sc.Number64()
			u.Conditional, u.UnchangedSince = true, mailbox.ModSeq(n)
			return err
		})
		if err != nil {
			return err
		}
		c.condstore = true
		if err := c.sc.SP(); err != nil {
			return err
		}
	}
	switch {
	case c.sc.Accept('+'):
		u.Op = mailbox.FlagsAdd
	case c.sc.Accept('-'):
		u.Op = mailbox.FlagsRemove
	default:
		u.Op = mailbox.FlagsReplace
	}
	item := strings.ToUpper(c.sc.TokenFunc(isFetchWordChar))
	if item != "FLAGS" && item != "FLAGS.SILENT" {
		return bad("Expected FLAGS or FLAGS.SILENT")
	}
	silent := item == "FLAGS.SILENT"
	if err := c.sc.SP(); err != nil {
		return err
	}
	fl, err := c.readFlagList(true)
	if err != nil {
		return err
	}
	if err := c.sc.End(); err != nil {
		return err
	}
	u.Flags = fl.flags
	if u.Keywords, err = mailbox.NormalizeKeywords(fl.keywords); err != nil {
		return bad("Invalid keyword")
	}
	sel := c.sel
	if sel.readOnly {
		return no("READ-ONLY", "Mailbox is read-only")
	}
	uids, err := sel.uidSet(set, cmd.uid)
	if err != nil {
		return err
	}
	if len(uids) == 0 {
		return nil
	}
	res, err := sel.mbox.UpdateFlags(ctx, uids, u)
	if err != nil {
		return err
	}
	report := func() error {
		for i := range res.Messages {
			m := &res.Messages[i]
			if !sel.inView(m.UID) {
				continue
			}
			if m.ModSeq > sel.modseq {
				sel.sent.add(m.UID, m.ModSeq)
			}
			if !silent {
				c.storeFetch(m, cmd.uid)
			}
		}
		return nil
	}
	if !silent && len(res.Messages) > 8 {
		err = c.bigWrites(report)
	} else {
		err = report()
	}
	if err != nil {
		return err
	}
	if !res.Modified.IsEmpty() {
		var mod mailbox.UIDSet
		for _, r := range res.Modified.Normalize() {
			for uid := range (mailbox.UIDSet{r}).All() {
				if cmd.uid {
					mod.Add(uid)
				} else if s := sel.seq(uid); s != 0 {
					mod.Add(mailbox.UID(s))
				}
			}
		}
		return no("MODIFIED "+mod.Normalize().String(), "Conditional STORE failed")
	}
	return nil
}

// storeFetch writes the FETCH response of a STORE.
func (c *conn) storeFetch(m *mailbox.Message, uid bool) {
	r := c.newResp()
	r.num(uint64(c.sel.seq(m.UID))).raw(" FETCH (")
	writeFlags(r, m.Flags, m.Keywords)
	if uid || c.qresync {
		r.raw(" UID ").num(uint64(m.UID))
	}
	if c.condstore {
		r.raw(" MODSEQ (").num(uint64(m.ModSeq)).raw(")")
	}
	r.raw(")")
	c.endResp(r)
}

// copyCmd runs COPY, MOVE and their UID forms (RFC 9051 §6.4.7, §6.4.8;
// RFC 6851; COPYUID, RFC 4315).
func (c *conn) copyCmd(ctx context.Context, cmd *command) error {
	set, err := c.spSeqSet()
	if err != nil {
		return err
	}
	dest, err := c.spMailbox()
	if err != nil {
		return err
	}
	if err := c.sc.End(); err != nil {
		return err
	}
	sel := c.sel
	uids, err := sel.uidSet(set, cmd.uid)
	if err != nil {
		return err
	}
	move := strings.HasSuffix(cmd.name, "MOVE")
	if move && sel.readOnly {
		return no("READ-ONLY", "Mailbox is read-only")
	}
	if len(uids) == 0 {
		return nil
	}
	var res *mailbox.CopyResult
	if move {
		res, err = sel.mbox.Move(ctx, uids, dest)
	} else {
		res, err = sel.mbox.Copy(ctx, uids, dest)
	}
	if err != nil {
		return tryCreate(err)
	}
	if len(res.Source) == 0 {
		return nil
	}
	code := "COPYUID " + itoa(uint64(res.UIDValidity)) + " " + mailbox.UIDSetOf(res.Source...).String() + " " + mailbox.UIDSetOf(res.Dest...).String()
	if !move {
		return &okResult{code: code, text: cmd.name + " completed"}
	}
	c.untagged("OK [" + code + "] Moved")
	for _, u := range res.Source {
		if sel.seq(u) != 0 {
			sel.expunged[u] = true
		}
	}
	return nil
}
