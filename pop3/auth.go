package pop3

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"github.com/postyard/postyard/internal/serve"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/postyard/postyard/auth"
	"github.com/postyard/postyard/internal/wire"
	"github.com/postyard/postyard/mailbox"
)

// loginAllowed reports whether the client may send credentials on this
// connection: over TLS, or anywhere with AllowInsecureAuth (RFC 8314 §3.2).
func (c *conn) loginAllowed() bool {
	return c.info.TLS != nil || c.s.AllowInsecureAuth
}

// checkLogin answers and returns false if a login command cannot be used.
func (c *conn) checkLogin(available bool) bool {
	switch {
	case !available:
		c.badCommand("Command not available")
		return false
	case !c.loginAllowed():
		c.reply(false, CodeAuth, "Authentication requires TLS, use STLS")
		return false
	}
	return true
}

// userCmd runs USER (RFC 1939 §7). Whether the user exists is not revealed.
func (c *conn) userCmd() {
	if !c.checkLogin(c.s.Authenticator != nil) || !c.argCount(1, 1, "USER name") {
		return
	}
	c.user = c.cmd.args[0]
	c.ok("Send PASS")
}

// pass runs PASS (RFC 1939 §7). The password is the whole rest of the
// line, spaces included.
func (c *conn) pass(ctx context.Context) error {
	if c.user == "" {
		c.badCommand("Send USER first")
		return nil
	}
	name := c.user
	c.user = ""
	if !c.checkLogin(true) {
		return nil
	}
	user, err := c.s.Authenticator.Authenticate(ctx, "", name, c.cmd.rest)
	if err != nil {
		return c.authFailed(ctx, err)
	}
	if user == "" {
		user = name
	}
	return c.login(ctx, user)
}

// apop runs APOP (RFC 1939 §7): the digest is the MD5 of the greeting's
// timestamp followed by the shared secret, in lower-case hexadecimal.
func (c *conn) apop(ctx context.Context) error {
	if !c.checkLogin(c.s.APOP != nil) || !c.argCount(2, 2, "APOP name digest") {
		return nil
	}
	name, digest := c.cmd.args[0], c.cmd.args[1]
	user, secret, err := c.s.APOP.APOPSecret(ctx, name)
	if err != nil {
		return c.authFailed(ctx, err)
	}
	sum := md5.Sum([]byte(c.stamp + secret))
	want := hex.EncodeToString(sum[:])
	if subtle.ConstantTimeCompare([]byte(want), []byte(strings.ToLower(digest))) != 1 {
		return c.authFailed(ctx, auth.ErrInvalidCredentials)
	}
	if user == "" {
		user = name
	}
	return c.login(ctx, user)
}

// newTimestamp returns an APOP timestamp, a msg-id unique to this
// greeting (RFC 1939 §7).
func newTimestamp(host string) string {
	var b [8]byte
	rand.Read(b[:])
	return "<" + strconv.Itoa(os.Getpid()) + "." + strconv.FormatInt(time.Now().UnixNano(), 10) +
		"." + hex.EncodeToString(b[:]) + "@" + host + ">"
}

// authCmd runs AUTH (RFC 5034 §4), with an optional initial response. AUTH
// without arguments lists the mechanisms, as clients written before
// RFC 5034 expect.
func (c *conn) authCmd(ctx context.Context) error {
	if !c.checkLogin(c.s.sasl != nil) || !c.argCount(0, 2, "AUTH mechanism [initial-response]") {
		return nil
	}
	args := c.cmd.args
	if len(args) == 0 {
		c.ok("Mechanisms follow")
		for _, m := range c.s.sasl.Available() {
			c.w.WriteString(m + "\r\n")
		}
		c.endMulti()
		return nil
	}
	c.user = ""
	ex, err := c.s.sasl.Start(ctx, args[0])
	if err != nil {
		c.fail("Unsupported authentication mechanism")
		return nil
	}
	var resp []byte
	if len(args) == 2 {
		if args[1] == "=" {
			resp = []byte{}
		} else if resp, err = base64.StdEncoding.DecodeString(args[1]); err != nil {
			c.fail("Invalid base64 data")
			return nil
		}
	}
	for {
		challenge, done, err := ex.Next(resp)
		if err != nil {
			return c.authFailed(ctx, err)
		}
		if done {
			return c.login(ctx, ex.User())
		}
		c.w.WriteString("+ " + base64.StdEncoding.EncodeToString(challenge) + "\r\n")
		if err := c.w.Flush(); err != nil {
			return err
		}
		c.deadline(c.timeout())
		line, err := c.r.ReadLine(maxAuthLine)
		if err != nil {
			if errors.Is(err, wire.ErrLineTooLong) {
				c.fail("Authentication exchange line too long")
				return nil
			}
			return err
		}
		if string(line) == "*" {
			c.fail("Authentication cancelled")
			return nil
		}
		if resp, err = base64.StdEncoding.DecodeString(string(line)); err != nil {
			c.fail("Invalid base64 data")
			return nil
		}
	}
}

// authFailed answers a failed login after a delay that grows with the
// client's recent failures, and closes the session after MaxAuthFailures.
func (c *conn) authFailed(ctx context.Context, err error) error {
	switch {
	case errors.Is(err, auth.ErrInvalidCredentials), errors.Is(err, auth.ErrAuthzDenied):
	case errors.Is(err, auth.ErrMalformed):
		c.fail("Malformed authentication data")
		return nil
	default:
		c.logger().Error("authentication failed", "err", err)
		c.reply(false, CodeSysTemp, "Temporary authentication failure")
		return nil
	}
	c.authFails++
	if d := c.s.thr.Failure(c.throttleKey()); d > 0 {
		// The responses before this one need not wait.
		if err := c.w.Flush(); err != nil {
			return err
		}
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return errClose
		}
	}
	if max := defInt(c.s.MaxAuthFailures, DefaultMaxAuthFailures); max > 0 && c.authFails >= max {
		c.reply(false, CodeAuth, "Too many authentication failures, closing connection")
		return errClose
	}
	c.reply(false, CodeAuth, "Authentication failed")
	return nil
}

func (c *conn) throttleKey() string { return serve.AddrIP(c.info.RemoteAddr) }

// login opens the authenticated user's maildrop and enters the
// TRANSACTION state (RFC 1939 §4). If the user's policy refuses the login,
// the user logged in too recently (RFC 2449 §8.1.2) or the maildrop is
// locked by another session (RFC 2449 §8.1.1), the session stays in the
// AUTHORIZATION state.
func (c *conn) login(ctx context.Context, user string) error {
	c.s.thr.Success(c.throttleKey())
	c.info.User = user
	c.log = nil // the next log line names the user
	ok := false
	defer func() {
		if !ok {
			c.info.User = ""
			c.log = nil
		}
	}()
	pol, err := c.userPolicy(ctx)
	if err != nil {
		c.backendErr("UserPolicy", err)
		return nil
	}
	now := time.Now()
	if !c.s.delays.allow(user, now) {
		c.reply(false, CodeLoginDelay, "Logged in too recently, try again later")
		return nil
	}
	if err := c.drop.open(ctx, c.s.Store, user); err != nil {
		if errors.Is(err, mailbox.ErrLocked) {
			c.reply(false, CodeInUse, "Maildrop is locked by another session")
			return nil
		}
		c.backendErr("opening the maildrop", err)
		return nil
	}
	ok = true
	c.s.delays.record(user, now, pol.LoginDelay)
	c.policy = pol
	c.state = stateTransaction
	c.ok("Maildrop locked and ready, " + c.drop.summary())
	return nil
}

// userPolicy returns the policy of the authenticated user, recovering from
// a panic in UserPolicy.
func (c *conn) userPolicy(ctx context.Context) (pol Policy, err error) {
	if c.s.UserPolicy == nil {
		return c.s.Policy, nil
	}
	defer func() {
		if v := recover(); v != nil {
			c.logger().Error("panic in UserPolicy", "panic", v)
			err = errTemporary
		}
	}()
	p, err := c.s.UserPolicy(ctx, &c.info)
	if err != nil {
		return Policy{}, err
	}
	if p == nil {
		return c.s.Policy, nil
	}
	return *p, nil
}
