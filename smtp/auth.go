package smtp

import (
	"context"
	"encoding/base64"
	"errors"
	"github.com/postyard/postyard/internal/serve"
	"strings"
	"time"

	"github.com/postyard/postyard/auth"
	"github.com/postyard/postyard/internal/wire"
)

// auth runs AUTH (RFC 4954 §4).
func (c *conn) auth(ctx context.Context, arg string) error {
	mech, ir, hasIR := strings.Cut(arg, " ")
	switch {
	case c.s.sasl == nil:
		c.reply(502, "5.5.1", "AUTH not available")
		return nil
	case c.info.Hello == "" || !c.info.ESMTP:
		c.reply(503, "5.5.1", "Send EHLO first")
		return nil
	case c.info.User != "":
		c.reply(503, "5.5.1", "Already authenticated")
		return nil
	case c.from != nil:
		c.reply(503, "5.5.1", "AUTH not allowed during a mail transaction")
		return nil
	case !c.authAllowed():
		c.reply(538, "5.7.11", "Encryption required for requested authentication mechanism")
		return nil
	}
	ex, err := c.s.sasl.Start(ctx, mech)
	if err != nil {
		c.reply(504, "5.5.4", "Unrecognized authentication type")
		return nil
	}
	var resp []byte
	if hasIR {
		if ir == "=" {
			resp = []byte{}
		} else if resp, err = base64.StdEncoding.DecodeString(ir); err != nil {
			c.reply(501, "5.5.2", "Invalid base64 data")
			return nil
		}
	}
	for {
		challenge, done, err := ex.Next(resp)
		if err != nil {
			return c.authFailed(ctx, err)
		}
		if done {
			c.info.User = ex.User()
			c.s.thr.Success(c.throttleKey())
			c.log = nil // the next log line names the user
			c.reply(235, "2.7.0", "Authentication successful")
			return nil
		}
		c.reply(334, "", base64.StdEncoding.EncodeToString(challenge))
		if err := c.w.Flush(); err != nil {
			return err
		}
		c.c.SetDeadlineAfter(c.cmdTimeout())
		line, err := c.r.ReadLine(maxAuthLine)
		if err != nil {
			if errors.Is(err, wire.ErrLineTooLong) {
				c.reply(500, "5.5.6", "Authentication exchange line too long")
				return nil
			}
			return err
		}
		if string(line) == "*" {
			c.reply(501, "5.0.0", "Authentication cancelled")
			return nil
		}
		if resp, err = base64.StdEncoding.DecodeString(string(line)); err != nil {
			c.reply(501, "5.5.2", "Invalid base64 data")
			return nil
		}
	}
}

// authFailed answers a failed exchange, after a delay that grows with the
// client's recent failures.
func (c *conn) authFailed(ctx context.Context, err error) error {
	switch {
	case errors.Is(err, auth.ErrInvalidCredentials), errors.Is(err, auth.ErrAuthzDenied):
	case errors.Is(err, auth.ErrMalformed):
		c.reply(501, "5.5.2", "Malformed authentication data")
		return nil
	case asError(err) != nil:
		// The Authenticator chose the reply (e.g. 534 5.7.9 mechanism too
		// weak, or 454 4.7.0 for a backend outage).
		e := asError(err)
		if e.Code/100 == 5 {
			c.authFails++
		}
		c.replyErr(e)
		return nil
	default:
		c.logger().Error("authentication failed", "err", err)
		c.reply(454, "4.7.0", "Temporary authentication failure")
		return nil
	}
	c.authFails++
	if d := c.s.thr.Failure(c.throttleKey()); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return errClose
		}
	}
	if max := defInt(c.s.MaxAuthFailures, DefaultMaxAuthFailures); max > 0 && c.authFails >= max {
		c.reply(421, "4.7.0", "Too many authentication failures, closing connection")
		return errClose
	}
	c.reply(535, "5.7.8", "Authentication credentials invalid")
	return nil
}

func (c *conn) throttleKey() string { return serve.AddrIP(c.info.RemoteAddr) }
