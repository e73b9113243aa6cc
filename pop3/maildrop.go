package pop3

import (
	"bufio"
	"context"
	"io"
	"math"
	"strconv"

	"github.com/postyard/postyard/mailbox"
)

// maildrop is the session's view of the user's INBOX in the TRANSACTION
// state (RFC 1939 §5): the messages present at login, numbered from 1,
// and the marks DELE and RETR leave on them. Nothing is written to the
// store before QUIT.
//
// Per-message state is kept in flat slices indexed by message number - 1,
// 9 octets a message, so that a session on a large maildrop stays small:
// no per-message structs or strings.
type maildrop struct {
	mb    mailbox.Mailbox
	uids  []mailbox.UID
	sizes []uint32 // octets, as stored; see big
	marks []mark
	// big holds the sizes of messages of 4 GiB or more, by index; their
	// entry in sizes is math.MaxUint32.
	big map[int]int64
	// live and size count the messages not marked as deleted, and their
	// octets, so that STAT does not walk the listing.
	live int
	size int64
	br   *bufio.Reader // for TOP, made on first use
	buf  []byte        // for RETR, made on first use
	num  []byte        // scratch for formatting responses
}

// mark holds a message's system flags at login (mailbox.Flags, which fit
// in the low 5 bits) and what the session did to it.
type mark uint8

const (
	markFlags     mark = 0x1f // mailbox.Flags at login
	markDeleted   mark = 0x40 // marked by DELE
	markRetrieved mark = 0x80 // sent whole by RETR
)

func (m mark) flags() mailbox.Flags { return mailbox.Flags(m & markFlags) }

// len returns the number of messages in the maildrop, deleted or not.
func (d *maildrop) len() int { return len(d.uids) }

// msgSize returns the size of message i (0-based).
func (d *maildrop) msgSize(i int) int64 {
	if s := d.sizes[i]; s != math.MaxUint32 {
		return int64(s)
	}
	return d.big[i]
}

// close releases the maildrop lock without changing anything.
func (d *maildrop) close() {
	if d.mb != nil {
		d.mb.Close()
		d.mb = nil
	}
	d.uids, d.sizes, d.marks, d.big = nil, nil, nil, nil
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
	n := 0
	if st, err := mb.Status(ctx); err == nil {
		n = st.Messages
	}
	uids, sizes, marks := make([]mailbox.UID, 0, n), make([]uint32, 0, n), make([]mark, 0, n)
	var big map[int]int64
	// Only UIDs, sizes and flags are kept: the store may reuse each
	// message's memory for the next.
	for m, err := range mb.Messages(ctx, mailbox.AllUIDs(), &mailbox.FetchOptions{Reuse: true}) {
		if err != nil {
			mb.Close()
			return err
		}
		uids = append(uids, m.UID)
		if m.Size >= math.MaxUint32 {
			if big == nil {
				big = map[int]int64{}
			}
			big[len(sizes)] = m.Size
			sizes = append(sizes, math.MaxUint32)
		} else {
			sizes = append(sizes, uint32(m.Size))
		}
		marks = append(marks, mark(m.Flags)&markFlags)
	}
	d.mb, d.uids, d.sizes, d.marks, d.big = mb, uids, sizes, marks, big
	d.reset()
	return nil
}

// reset unmarks every message marked as deleted.
func (d *maildrop) reset() {
	d.live, d.size = len(d.uids), 0
	for i := range d.marks {
		d.marks[i] &^= markDeleted
		d.size += d.msgSize(i)
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
func (d *maildrop) uidl(b []byte, i int) []byte {
	b = appendHex8(b, uint32(d.uids[i]))
	return appendHex8(b, d.mb.UIDValidity())
}

func appendHex8(b []byte, v uint32) []byte {
	const digits = "0123456789ABCDEF"
	for shift := 28; shift >= 0; shift -= 4 {
		b = append(b, digits[v>>uint(shift)&0xf])
	}
	return b
}

// msgArg resolves a message-number argument (RFC 1939 §5) to an index
// into the maildrop. It answers and returns -1 for a malformed number, a
// message that does not exist, or one marked as deleted.
func (c *conn) msgArg(arg string) int {
	n, ok := parseNumber(arg)
	if !ok {
		c.badCommand("Invalid message number")
		return -1
	}
	if n < 1 || n > c.drop.len() {
		c.fail("No such message")
		return -1
	}
	if c.drop.marks[n-1]&markDeleted != 0 {
		c.fail("Message " + strconv.Itoa(n) + " already deleted")
		return -1
	}
	return n - 1
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
	// Formatted in the session's scratch buffer: STAT is the command a
	// polling client sends most, and this way it allocates nothing.
	d := &c.drop
	n, size := d.count()
	d.num = append(d.num[:0], "+OK "...)
	d.num = strconv.AppendInt(d.num, int64(n), 10)
	d.num = append(d.num, ' ')
	d.num = strconv.AppendInt(d.num, size, 10)
	d.num = append(d.num, '\r', '\n')
	c.w.Write(d.num)
}

// listing runs LIST or UIDL, which differ in what follows the message
// number on each line (item) and in the text of the multi-line response's
// first line (LIST gives the summary, as RFC 1939 §5 shows).
func (c *conn) listing(syntax string, summary bool, item func(b []byte, i int) []byte) {
	if !c.argCount(0, 1, syntax) {
		return
	}
	d := &c.drop
	if len(c.cmd.args) == 1 {
		i := c.msgArg(c.cmd.args[0])
		if i < 0 {
			return
		}
		d.num = append(d.num[:0], "+OK "...)
		d.num = strconv.AppendInt(d.num, int64(i+1), 10)
		d.num = append(d.num, ' ')
		d.num = append(item(d.num, i), '\r', '\n')
		c.w.Write(d.num)
		return
	}
	if summary {
		c.ok(d.summary())
	} else {
		c.ok("")
	}
	for i, m := range d.marks {
		if m&markDeleted != 0 {
			continue
		}
		d.num = strconv.AppendInt(d.num[:0], int64(i+1), 10)
		d.num = append(d.num, ' ')
		d.num = append(item(d.num, i), '\r', '\n')
		c.w.Write(d.num)
	}
	c.endMulti()
}

// list runs LIST (RFC 1939 §5): sizes are exactly the octets RETR sends
// before dot-stuffing, as stored.
func (c *conn) list() {
	c.listing("LIST [msg]", true, func(b []byte, i int) []byte {
		return strconv.AppendInt(b, c.drop.msgSize(i), 10)
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
	i := c.msgArg(arg)
	if i < 0 {
		return nil
	}
	d := &c.drop
	r, err := d.mb.Open(ctx, d.uids[i])
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
		d.num = append(d.num[:0], "+OK "...)
		d.num = strconv.AppendInt(d.num, d.msgSize(i), 10)
		d.num = append(d.num, " octets\r\n"...)
		c.w.Write(d.num)
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
		d.marks[i] |= markRetrieved
	}
	return nil
}

// copyAll copies r to the dot-stuffing encoder through a buffer the
// session keeps (io.Copy would allocate one per message).
func (c *conn) copyAll(r io.Reader) error {
	d := &c.drop
	if d.buf == nil {
		// The bufio.Writer behind the encoder has 16 KiB; most
		// messages are a few KiB and come in one read.
		d.buf = make([]byte, 16<<10)
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
		w.c.idleDeadline()
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
	i := c.msgArg(c.cmd.args[0])
	if i < 0 {
		return
	}
	d := &c.drop
	d.marks[i] |= markDeleted
	d.live--
	d.size -= d.msgSize(i)
	c.ok("Message " + strconv.Itoa(i+1) + " deleted")
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
	for i, m := range d.marks {
		if !c.policy.LeaveMail && (m&markDeleted != 0 || m&markRetrieved != 0 && c.policy.DeleteRetrieved) {
			del.Add(d.uids[i])
			continue
		}
		left++
		if m&markRetrieved != 0 && m.flags()&mailbox.FlagSeen == 0 {
			seen.Add(d.uids[i])
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
		for i, m := range d.marks {
			if del.Contains(d.uids[i]) && m.flags()&mailbox.FlagDeleted == 0 {
				undo.Add(d.uids[i])
			}
		}
		if len(undo) > 0 {
			d.mb.UpdateFlags(context.WithoutCancel(ctx), undo, &mailbox.FlagUpdate{Op: mailbox.FlagsRemove, Flags: mailbox.FlagDeleted})
		}
	}
	return err
}
