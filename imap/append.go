package imap

import (
	"context"
	"fmt"
	"io"

	"github.com/postyard/postyard/mailbox"
)

// tryCreate turns ErrNoSuchMailbox for a destination into NO [TRYCREATE]
// (RFC 9051 §6.3.12, §6.4.7).
func tryCreate(err error) error {
	if mailbox.AsError(err) == mailbox.ErrNoSuchMailbox {
		return &Error{Code: "TRYCREATE", Text: "No such mailbox", Err: err}
	}
	return err
}

// appendCmd runs APPEND (RFC 9051 §6.3.12) with APPENDUID (RFC 4315),
// APPENDLIMIT (RFC 7889) and literal8 (RFC 3516). The message is streamed
// into the store.
func (c *conn) appendCmd(ctx context.Context, cmd *command) error {
	name, err := c.spMailbox()
	if err != nil {
		return err
	}
	if err := c.sc.SP(); err != nil {
		return err
	}
	var opts mailbox.AppendOptions
	if c.sc.Peek() == '(' {
		fl, err := c.readFlagList(false)
		if err != nil {
			return err
		}
		opts.Flags, opts.Keywords = fl.flags, fl.keywords
		if err := c.sc.SP(); err != nil {
			return err
		}
	}
	if c.sc.Peek() == '"' {
		s, err := c.sc.Quoted()
		if err != nil {
			return err
		}
		if opts.InternalDate, err = parseDateTime(s); err != nil {
			return err
		}
		if err := c.sc.SP(); err != nil {
			return err
		}
	}
	// RFC 6855 §4: APPEND UTF8 (~{n}).
	utf8Ext := c.sc.AcceptFold("UTF8 (")
	if !c.sc.IsLiteral() {
		return bad("Expected message literal")
	}
	mbox := mailbox.Mailbox(nil)
	if c.sel != nil && c.sel.mbox.Name() == name && !c.sel.readOnly {
		mbox = c.sel.mbox
	} else {
		m, err := c.u.Open(ctx, name, nil)
		if err != nil {
			return tryCreate(err)
		}
		defer m.Close()
		mbox = m
	}
	lr, _, _, err := c.sc.LiteralReader(c.maxMessage())
	if err != nil {
		return err
	}
	msg, aerr := mbox.Append(ctx, lr, &opts)
	if _, err := io.Copy(io.Discard, lr); err != nil {
		return errClose
	}
	if err := c.sc.Next(); err != nil {
		return err
	}
	if utf8Ext {
		if err := c.sc.Expect(')'); err != nil {
			return err
		}
	}
	if err := c.sc.End(); err != nil {
		return err
	}
	if aerr != nil {
		return aerr
	}
	return &okResult{code: fmt.Sprintf("APPENDUID %d %d", mbox.UIDValidity(), msg.UID), text: "APPEND completed"}
}
