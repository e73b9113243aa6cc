package imap

import (
	"context"
	"errors"
	"os"
	"strings"
	"time"
)

// idle runs IDLE (RFC 2177, RFC 9051 §6.3.13): updates of the selected
// mailbox are sent as they happen until the client sends DONE.
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
	go func() {
		line, err := c.r.ReadLine(preAuthMaxLine)
		done <- result{string(line), err}
	}()
	var ready <-chan struct{}
	if c.sel != nil {
		ready = c.sel.sub.Ready()
	}
	for {
		select {
		case res := <-done:
			c.c.Busy()
			c.deadline(c.idleTimeout())
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
		}
	}
}
