package pop3

import (
	"bufio"
	"context"
	"io"
	"strconv"

	"github.com/postyard/postyard/mailbox"
)

// maildrop is the session's view of the user's INBOX in the TRANSACTION
// state (RFC 1939 §5): the messages present at login, numbered from 1,
// and the marks DELE and RETR leave on them. Nothing is written to the
// store before QUIT.
type maildrop struct {
	mb   mailbox.Mailbox
	msgs []message
	// live and size count the messages not marked as deleted, and their
	// octets, so that STAT does not walk the listing.
	live int
	size int64
	br   *bufio.Reader // for TOP, made on first use
	buf  []byte        // for RETR, made on first use
	num  []byte        // scratch for formatting numbers
}

type message struct {
	uid       mailbox.UID
	size      int64
	flags     mailbox.Flags // at login
	deleted   bool          // marked by DELE
	retrieved bool          // sent whole by RETR
}

// close releases the maildrop lock without changing anything.
func (d *maildrop) close() {
	if d.mb != nil {
		d.mb.Close()
		d.mb = nil
	}
	d.msgs = nil
}

// open locks the user's INBOX (RFC 1939 §8, OpenOptions.Exclusive) and
// lists its messages.
func (d *maildrop) open(ctx context.Context, s mailbox.Store, user string) error {
	u, err := s.User(ctx, user)
	if err != nil {
		return err
	}
	mb, err := u.Open(ctx, mailbox.Inbox, &mailbox.OpenOptions{Exclusive: true})
	if err != nil {
		return err
	}
	var msgs []message
	if st, err := mb.Status(ctx); err == nil {
		msgs = make([]message, 0, st.Messages)
	}
	for m, err := range mb.Messages(ctx, mailbox.AllUIDs(), nil) {
		if err != nil {
			mb.Close()
			return err
		}
		msgs = append(msgs, message{uid: m.UID, size: m.Size, flags: m.Flags})
	}
	d.mb, d.msgs = mb, msgs
	d.reset()
	return nil
}

// reset unmarks every message marked as deleted.
func (d *maildrop) reset() {
	d.live, d.size = len(d.msgs), 0
	for i := range d.msgs {
		d.msgs[i].deleted = false
		d.size += d.msgs[i].size
	}
}

// count returns the number and total size of the messages not marked as
// deleted.
func (d *maildrop) count() (n int, size int64) { return d.live, d.size }

// summary is "n messages (m octets)", as in the examples of RFC 1939.
func (d *maildrop) summary() string {
	n, size := d.count()
	return strconv.Itoa(n) + " messages (" + strconv.FormatInt(size, 10) + " octets)"
}

// uidl formats the unique-id of message m (RFC 1939 §7): the UID and then
// the UIDVALIDITY, each as eight upper-case hexadecimal digits. It is
// stable across sessions and restarts because both are, and it is
// Dovecot's default format (%08Xu%08Xv), so that clients of a Dovecot
// server moved to postyard with its UIDs do not download everything again.
func (d *maildrop) uidl(b []byte, m *message) []byte {
	b = appendHex8(b, uint32(m.uid))
	return appendHex8(b, d.mb.UIDValidity())
}

func appendHex8(b []byte, v uint32) []byte {
	const digits = "0123456789ABCDEF"
	for shift := 28; shift >= 0; shift -= 4 {
		b = append(b, digits[v>>uint(shift)&0xf])
	}
	return b
}

// msgArg resolves a message-number argument (RFC 1939 §5). It answers and
// returns nil for a malformed number, a message that does not exist, or
// one marked as deleted.
func (c *conn) msgArg(arg string) (int, *message) {
	n, ok := parseNumber(arg)
	if !ok {
		c.badCommand("Invalid message number")
		return 0, nil
	}
	if n < 1 || n > len(c.drop.msgs) {
		c.fail("No such message")
		return 0, nil
	}
	m := &c.drop.msgs[n-1]
	if m.deleted {
		c.fail("Message " + strconv.Itoa(n) + " already deleted")
		return 0, nil
	}
	return n, m
}

// argCount checks the number of arguments, answering if it is wrong.
func (c *conn) argCount(min, max int, syntax string) bool {
	if n := len(c.cmd.args); n < min || n > max {
		c.badCommand("Syntax: " + syntax)
		return false
	}
	return true
}

func (c *conn) stat() {
	if !c.noArgs() {
		return
	}
	n, size := c.drop.count()
	c.ok(strconv.Itoa(n) + " " + strconv.FormatInt(size, 10))
}

// listing runs LIST or UIDL, which differ in what follows the message
// number on each line (item) and in the text of the multi-line response's
// first line (LIST gives the summary, as RFC 1939 §5 shows).
func (c *conn) listing(syntax string, summary bool, item func(b []byte, m *message) []byte) {
	if !c.argCount(0, 1, syntax) {
		return
	}
	d := &c.drop
	if len(c.cmd.args) == 1 {
		n, m := c.msgArg(c.cmd.args[0])
		if m == nil {
			return
		}
		d.num = strconv.AppendInt(d.num[:0], int64(n), 10)
		d.num = append(d.num, ' ')
		c.ok(string(item(d.num, m)))
		return
	}
	if summary {
		c.ok(d.summary())
	} else {
		c.ok("")
	}
	for i := range d.msgs {
		m := &d.msgs[i]
		if m.deleted {
			continue
		}
		d.num = strconv.AppendInt(d.num[:0], int64(i+1), 10)
		d.num = append(d.num, ' ')
		d.num = append(item(d.num, m), '\r', '\n')
		c.w.Write(d.num)
	}
	c.endMulti()
}

// list runs LIST (RFC 1939 §5): sizes are exactly the octets RETR sends
// before dot-stuffing, as stored.
func (c *conn) list() {
	c.listing("LIST [msg]", true, func(b []byte, m *message) []byte {
		return strconv.AppendInt(b, m.size, 10)
	})
}

// uidl runs UIDL (RFC 1939 §7).
func (c *conn) uidl() {
	c.listing("UIDL [msg]", false, c.drop.uidl)
}

// retr runs RETR (RFC 1939 §5): the message as stored, dot-stuffed.
func (c *conn) retr(ctx context.Context) error {
	if !c.argCount(1, 1, "RETR msg") {
		return nil
	}
	return c.send(ctx, c.cmd.args[0], -1)
}

// top runs TOP (RFC 1939 §7): the header, the blank line after it and the
// first n lines of the body.
func (c *conn) top(ctx context.Context) error {
	if !c.argCount(2, 2, "TOP msg n") {
		return nil
	}
	lines, ok := parseNumber(c.cmd.args[1])
	if !ok {
		c.badCommand("Invalid number of lines")
		return nil
	}
	return c.send(ctx, c.cmd.args[0], lines)
}

// send sends the message numbered arg as a multi-line response: all of it
// (RETR) if lines is negative, else its header and that many lines of its
// body (TOP).
func (c *conn) send(ctx context.Context, arg string, lines int) error {
	_, m := c.msgArg(arg)
	if m == nil {
		return nil
	}
	r, err := c.drop.mb.Open(ctx, m.uid)
	if err != nil {
		if mailbox.AsError(err) == mailbox.ErrNoSuchMessage {
			c.fail("Message was deleted by another session")
		} else {
			c.backendErr("open message", err)
		}
		return nil
	}
	defer r.Close()
	if lines < 0 {
		c.ok(strconv.FormatInt(m.size, 10) + " octets")
		err = c.copyAll(r)
	} else {
		c.ok("")
		err = c.copyTop(r, lines)
	}
	if err == nil {
		err = c.dw.Close()
	}
	if err != nil {
		// A multi-line response cannot be taken back.
		c.logger().Warn("sending a message failed", "err", err)
		return errClose
	}
	if lines < 0 {
		m.retrieved = true
	}
	return nil
}

// copyAll copies r to the dot-stuffing encoder through a buffer the
// session keeps (io.Copy would allocate one per message).
func (c *conn) copyAll(r io.Reader) error {
	d := &c.drop
	if d.buf == nil {
		d.buf = make([]byte, 32<<10)
	}
	w := chunkWriter{c}
	for {
		n, err := r.Read(d.buf)
		if n > 0 {
			if _, werr := w.Write(d.buf[:n]); werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// copyTop copies the header of r, the blank line after it and the first
// lines lines of the body to the dot-stuffing encoder.
func (c *conn) copyTop(r io.Reader, lines int) error {
	d := &c.drop
	if d.br == nil {
		d.br = bufio.NewReaderSize(r, 4096)
	} else {
		d.br.Reset(r)
	}
	defer d.br.Reset(nil)
	w := chunkWriter{c}
	inBody, partial := false, false
	for !inBody || lines > 0 {
		line, err := d.br.ReadSlice('\n')
		if _, werr := w.Write(line); werr != nil {
			return werr
		}
		switch {
		case err == bufio.ErrBufferFull:
			partial = true
			continue
		case err == io.EOF:
			return nil
		case err != nil:
			return err
		case inBody:
			lines--
		case !partial && (len(line) == 1 || len(line) == 2 && line[0] == '\r'):
			inBody = true
		}
		partial = false
	}
	return nil
}

// chunkWriter sends content through the dot-stuffing encoder, extending
// the connection's deadline for every 64 KiB (or each Write, if smaller),
// so that a slow but steady client can download a large message.
type chunkWriter struct{ c *conn }

func (w chunkWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		k := min(len(p), 64<<10)
		w.c.deadline(w.c.timeout())
		m, err := w.c.dw.Write(p[:k])
		n += m
		if err != nil {
			return n, err
		}
		p = p[k:]
	}
	return n, nil
}

// dele runs DELE (RFC 1939 §5): the message is only marked; QUIT deletes.
func (c *conn) dele() {
	if !c.argCount(1, 1, "DELE msg") {
		return
	}
	n, m := c.msgArg(c.cmd.args[0])
	if m == nil {
		return
	}
	m.deleted = true
	c.drop.live--
	c.drop.size -= m.size
	c.ok("Message " + strconv.Itoa(n) + " deleted")
}

// rset runs RSET (RFC 1939 §5).
func (c *conn) rset() {
	if !c.noArgs() {
		return
	}
	c.drop.reset()
	c.ok("Maildrop has " + c.drop.summary())
}

// update runs QUIT in the TRANSACTION state: the UPDATE state of RFC 1939
// §6. The messages marked by DELE (and, with Policy.DeleteRetrieved, those
// sent by RETR) are flagged \Deleted and expunged, and only once the store
// has done so durably does the client get +OK. Messages sent by RETR get
// \Seen, so that IMAP shows them as read. With Policy.LeaveMail nothing is
// deleted.
func (c *conn) update(ctx context.Context) error {
	d := &c.drop
	var del, seen mailbox.UIDSet
	left := 0
	for i := range d.msgs {
		m := &d.msgs[i]
		if !c.policy.LeaveMail && (m.deleted || m.retrieved && c.policy.DeleteRetrieved) {
			del.Add(m.uid)
			continue
		}
		left++
		if m.retrieved && m.flags&mailbox.FlagSeen == 0 {
			seen.Add(m.uid)
		}
	}
	if len(seen) > 0 {
		// Best effort: a client that cannot mark messages read can still
		// delete them.
		if _, err := d.mb.UpdateFlags(ctx, seen, &mailbox.FlagUpdate{Op: mailbox.FlagsAdd, Flags: mailbox.FlagSeen}); err != nil {
			c.logger().Warn("setting \\Seen at QUIT failed", "err", err)
		}
	}
	var err error
	if len(del) > 0 {
		err = c.expunge(ctx, del)
	}
	// Release the lock before answering: a client that got the response
	// may log in again at once.
	d.close()
	if err != nil {
		c.logger().Error("deleting messages at QUIT failed", "err", err)
		c.reply(false, CodeSysTemp, "Some deleted messages not removed")
		return errClose
	}
	if left == 0 {
		c.ok(c.s.Hostname + " POP3 server signing off (maildrop empty)")
	} else {
		c.ok(c.s.Hostname + " POP3 server signing off (" + strconv.Itoa(left) + " messages left)")
	}
	return errClose
}

// expunge flags the messages in del \Deleted and expunges them. If that
// fails, it tries to take \Deleted off again from those that did not have
// it at login, so that an IMAP client's EXPUNGE does not remove them later.
func (c *conn) expunge(ctx context.Context, del mailbox.UIDSet) error {
	d := &c.drop
	_, err := d.mb.UpdateFlags(ctx, del, &mailbox.FlagUpdate{Op: mailbox.FlagsAdd, Flags: mailbox.FlagDeleted})
	if err == nil {
		_, err = d.mb.Expunge(ctx, del)
	}
	if err != nil {
		var undo mailbox.UIDSet
		for i := range d.msgs {
			if m := &d.msgs[i]; del.Contains(m.uid) && m.flags&mailbox.FlagDeleted == 0 {
				undo.Add(m.uid)
			}
		}
		if len(undo) > 0 {
			d.mb.UpdateFlags(context.WithoutCancel(ctx), undo, &mailbox.FlagUpdate{Op: mailbox.FlagsRemove, Flags: mailbox.FlagDeleted})
		}
	}
	return err
}
