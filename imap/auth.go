package imap

import (
	"context"
	"encoding/base64"
	"errors"
	"github.com/postyard/postyard/internal/serve"
	"time"

	"github.com/postyard/postyard/auth"
	"github.com/postyard/postyard/mailbox"
)

// maxAuthLine bounds an AUTHENTICATE continuation line.
const maxAuthLine = 12288

// starttls runs STARTTLS (RFC 9051 §6.2.1).
func (c *conn) starttls(ctx context.Context, cmd *command) error {
	if err := c.sc.End(); err != nil {
		return err
	}
	switch {
	case c.s.TLSConfig == nil:
		return bad("STARTTLS not available")
	case c.tls != nil:
		return bad("TLS already active")
	}
	c.taggedText(cmd.tag, "OK", "", "Begin TLS negotiation now")
	if err := c.w.Flush(); err != nil {
		return errClose
	}
	if !c.handshake(ctx) {
		return errClose
	}
	// Discard anything pipelined before the handshake (RFC 9051 §6.2.1).
	c.r.Reset(c.c)
	c.w.Reset(c.c)
	return errNoTagged
}

// errNoTagged: the handler has sent its tagged response itself.
var errNoTagged = &okResult{}

// login runs LOGIN (RFC 9051 §6.2.3).
func (c *conn) login(ctx context.Context, cmd *command) error {
	if err := c.sc.SP(); err != nil {
		return err
	}
	user, err := c.sc.AString()
	if err != nil {
		return err
	}
	if err := c.sc.SP(); err != nil {
		return err
	}
	pass, err := c.sc.AString()
	if err != nil {
		return err
	}
	if err := c.sc.End(); err != nil {
		return err
	}
	if !c.authAllowed() {
		if c.s.sasl == nil {
			return no("", "LOGIN not available")
		}
		return no("PRIVACYREQUIRED", "LOGIN is disabled without TLS")
	}
	name, aerr := c.s.Authenticator.Authenticate(ctx, "", user, pass)
	if aerr == nil && name == "" {
		name = user
	}
	return c.authResult(ctx, name, aerr)
}

// authenticate runs AUTHENTICATE (RFC 9051 §6.2.2) with SASL-IR (RFC 4959).
func (c *conn) authenticate(ctx context.Context, cmd *command) error {
	if err := c.sc.SP(); err != nil {
		return err
	}
	mech, err := c.sc.Atom()
	if err != nil {
		return err
	}
	var resp []byte
	if c.sc.Accept(' ') {
		ir := c.sc.Token("=")
		if ir == "=" {
			resp = []byte{}
		} else if resp, err = base64.StdEncoding.DecodeString(ir); err != nil || ir == "" {
			return bad("Invalid base64 data")
		}
	}
	if err := c.sc.End(); err != nil {
		return err
	}
	if c.s.sasl == nil {
		return no("", "AUTHENTICATE not available")
	}
	if !c.authAllowed() {
		return no("PRIVACYREQUIRED", "Authentication is disabled without TLS")
	}
	ex, err := c.s.sasl.Start(ctx, mech)
	if err != nil {
		return no("CANNOT", "Unsupported authentication mechanism")
	}
	for {
		challenge, done, err := ex.Next(resp)
		if err != nil {
			return c.authResult(ctx, "", err)
		}
		if done {
			return c.authResult(ctx, ex.User(), nil)
		}
		c.w.WriteString("+ " + base64.StdEncoding.EncodeToString(challenge) + "\r\n")
		if err := c.w.Flush(); err != nil {
			return errClose
		}
		c.c.SetDeadlineAfter(c.idleTimeout())
		line, err := c.r.ReadLine(maxAuthLine)
		if err != nil {
			return errClose
		}
		if string(line) == "*" {
			ex.Cancel()
			return bad("Authentication cancelled")
		}
		if resp, err = base64.StdEncoding.DecodeString(string(line)); err != nil {
			return bad("Invalid base64 data")
		}
	}
}

// authResult finishes LOGIN or AUTHENTICATE: opens the user's store on
// success, delays and counts failures.
func (c *conn) authResult(ctx context.Context, name string, err error) error {
	switch {
	case err == nil:
	case errors.Is(err, auth.ErrInvalidCredentials), errors.Is(err, auth.ErrAuthzDenied):
		return c.authFailed(ctx)
	case errors.Is(err, auth.ErrMalformed):
		return bad("Malformed authentication data")
	default:
		c.logger().Error("authentication failed", "err", err)
		return no("UNAVAILABLE", "Temporary authentication failure")
	}
	u, err := c.s.Store.User(ctx, name)
	if err != nil {
		if errors.Is(err, mailbox.ErrNoSuchUser) || errors.Is(err, mailbox.ErrInvalidName) {
			return c.authFailed(ctx)
		}
		c.logger().Error("opening the user's mailboxes failed", "err", err)
		return no("UNAVAILABLE", "Temporary failure, try again later")
	}
	c.s.thr.Success(serve.AddrIP(c.remote))
	c.user, c.u, c.state = name, u, authenticated
	c.log = nil
	return &okResult{code: "CAPABILITY " + c.capabilities(), text: "Logged in"}
}

func (c *conn) authFailed(ctx context.Context) error {
	c.authFails++
	if d := c.s.thr.Failure(serve.AddrIP(c.remote)); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return errClose
		}
	}
	if max := defInt(c.s.MaxAuthFailures, DefaultMaxAuthFailures); max > 0 && c.authFails >= max {
		c.bye("Too many authentication failures")
		return errClose
	}
	return no("AUTHENTICATIONFAILED", "Authentication failed")
}
