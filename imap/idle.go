package imap

import (
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"time"
)

// idle runs IDLE (RFC 2177, RFC 9051 §6.3.13): updates of the selected
// mailbox are sent as they happen until the client sends DONE.
//
// A session may wait in IDLE for 29 minutes, and a server may hold
// thousands of them, so the wait is lean: when the client has sent
// nothing beyond the IDLE command, the session gives its read and write
// buffers back to the server's pools, borrows the write buffer only to
// send an update, and reads DONE a byte at a time straight from the
// connection (a handful of reads per IDLE, and nothing after DONE is
// consumed).
func (c *conn) idle(ctx context.Context, cmd *command) error {
	if err := c.sc.End(); err != nil {
		return err
	}
	c.w.WriteString("+ idling\r\n")
	if err := c.w.Flush(); err != nil {
		return errClose
	}
	timeout := defDur(c.s.IDLETimeout, DefaultIDLETimeout)
	var t time.Time
	if timeout > 0 {
		t = time.Now().Add(timeout)
	}
	c.c.SetReadDeadline(t)
	type result struct {
		line string
		err  error
	}
	done := make(chan result, 1)
	if !c.c.Idle() {
		c.bye("Server shutting down")
		return errClose
	}
	lean := c.r.Buffered() == 0
	if lean {
		defer c.acquireBufs()
		c.releaseBufs()
		go func() {
			line, err := readLineUnbuffered(c.c, preAuthMaxLine)
			done <- result{line, err}
		}()
	} else {
		go func() {
			line, err := c.r.ReadLine(preAuthMaxLine)
			done <- result{string(line), err}
		}()
	}
	var ready <-chan struct{}
	var check <-chan time.Time
	if c.sel != nil {
		ready = c.sel.sub.Ready()
		if d := defDur(c.s.IDLECheck, DefaultIDLECheck); d > 0 {
			t := time.NewTicker(d)
			defer t.Stop()
			check = t.C
		}
	}
	for {
		select {
		case <-check:
			// What the store finds comes back as events, on ready.
			c.sel.mbox.Status(ctx)
		case res := <-done:
			c.acquireBufs()
			c.c.Busy()
			c.c.SetDeadlineAfter(c.idleTimeout())
			if res.err != nil {
				switch {
				case c.c.ShuttingDown():
					c.bye("Server shutting down")
				case errors.Is(res.err, os.ErrDeadlineExceeded):
					c.bye("IDLE timed out")
				}
				return errClose
			}
			if !strings.EqualFold(res.line, "DONE") {
				return bad("Expected DONE")
			}
			return nil
		case <-ready:
			c.acquireBufs()
			c.c.SetWriteDeadline(time.Now().Add(time.Minute))
			if err := c.sync(ctx, true); err != nil {
				c.w.Flush()
				c.c.Close()
				<-done
				return err
			}
			if err := c.w.Flush(); err != nil {
				c.c.Close()
				<-done
				return errClose
			}
			if lean {
				c.releaseBufs()
			}
		}
	}
}

// errIdleLine is a line after IDLE longer than the limit.
var errIdleLine = errors.New("imap: line too long in IDLE")

// readLineUnbuffered reads one line of at most max bytes from r a byte at
// a time, so that nothing after it is consumed, and returns it without
// its CRLF.
func readLineUnbuffered(r io.Reader, max int) (string, error) {
	var b [1]byte
	line := make([]byte, 0, len("DONE\r"))
	for {
		n, err := r.Read(b[:])
		if n == 1 {
			if b[0] == '\n' {
				return strings.TrimSuffix(string(line), "\r"), nil
			}
			if len(line) >= max {
				return "", errIdleLine
			}
			line = append(line, b[0])
		}
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return "", err
		}
	}
}
