package managesieve

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"time"

	"github.com/postyard/postyard/auth"
	"github.com/postyard/postyard/internal/serve"
)

// loginAllowed reports whether the client may send credentials on this
// connection: over TLS, or anywhere with AllowInsecureAuth (RFC 8314 §3.2).
func (c *conn) loginAllowed() bool {
	return c.tls != nil || c.s.AllowInsecureAuth
}

// starttls runs STARTTLS (RFC 5804 §2.2). Whatever the client sent after
// the command, before the handshake, is discarded: it was sent in the
// clear and may have been injected. The capabilities are sent again once
// TLS is up.
func (c *conn) starttls(ctx context.Context) error {
	if err := c.noArgs(); err != nil {
		return c.syntax(err)
	}
	switch {
	case c.s.TLSConfig == nil:
		c.badCommand("STARTTLS not available")
		return nil
	case c.tls != nil:
		c.badCommand("TLS already active")
		return nil
	case c.user != "":
		c.badCommand("STARTTLS not allowed after authentication")
		return nil
	}
	c.ok("Begin TLS negotiation now")
	if err := c.w.Flush(); err != nil {
		return err
	}
	if !c.handshake(ctx) {
		return errClose
	}
	c.r.Reset(c.c)
	c.w.Reset(c.c)
	c.capability()
	c.ok("TLS negotiation successful")
	return nil
}

// unauthenticate runs UNAUTHENTICATE (RFC 5804 §2.14): back to the
// non-authenticated state, keeping TLS.
func (c *conn) unauthenticate(ctx context.Context) error {
	if err := c.noArgs(); err != nil {
		return c.syntax(err)
	}
	c.user = ""
	c.log = nil
	c.ok("Unauthenticate completed")
	return nil
}

// authenticate runs AUTHENTICATE (RFC 5804 §2.1): a SASL exchange whose
// challenges and responses are base64 in strings, and whose final data, if
// any, goes in the SASL response code of OK.
func (c *conn) authenticate(ctx context.Context) error {
	maxStr := int64(c.sc.maxLine)
	if err := c.sc.sp(); err != nil {
		return c.syntax(err)
	}
	var mech string
	if c.sc.isString() {
		b, err := c.sc.str(maxStr)
		if err != nil {
			return c.syntax(err)
		}
		mech = string(b)
	} else if mech = c.sc.atom(); mech == "" {
		// Clients send the mechanism as a string; an atom is tolerated.
		return c.syntax(c.sc.unexpected("a mechanism name"))
	}
	var initial []byte
	hasInitial := false
	if c.sc.more() {
		b, err := c.sc.str(maxStr)
		if err != nil {
			return c.syntax(err)
		}
		initial, hasInitial = b, true
	}
	if err := c.sc.end(); err != nil {
		return c.syntax(err)
	}

	switch {
	case c.user != "":
		c.badCommand("Already authenticated")
		return nil
	case c.s.sasl == nil:
		c.badCommand("Authentication not available")
		return nil
	case !c.loginAllowed():
		c.no(CodeEncryptNeeded, "Authentication requires TLS, use STARTTLS")
		return nil
	}
	ex, err := c.s.sasl.Start(ctx, mech)
	if err != nil {
		c.badCommand("Unsupported authentication mechanism")
		return nil
	}
	var resp []byte // nil: no initial response
	if hasInitial {
		if resp, err = decodeBase64(initial); err != nil {
			c.no("", "Invalid base64 data")
			return nil
		}
	}
	for {
		challenge, done, err := ex.Next(resp)
		if err != nil {
			return c.authFailed(ctx, err)
		}
		if done {
			return c.login(ex.User(), nil)
		}
		// SCRAM's server-final message is additional data with success:
		// it goes in OK (SASL ...), and the exchange ends without a
		// response (RFC 5804 §2.1, RFC 4422 §3.6).
		if ex.Mechanism() == auth.SCRAMSHA256 && bytes.HasPrefix(challenge, []byte("v=")) {
			_, done, err := ex.Next([]byte{})
			if err != nil {
				return c.authFailed(ctx, err)
			}
			if done {
				return c.login(ex.User(), challenge)
			}
		}
		writeString(c.w, base64.StdEncoding.EncodeToString(challenge))
		c.w.WriteString("\r\n")
		if err := c.w.Flush(); err != nil {
			return err
		}
		line, err := c.saslResponse()
		if err != nil {
			var se *syntaxError
			if errors.As(err, &se) {
				if !se.fatal {
					if serr := c.sc.skip(); serr != nil {
						return c.syntax(serr)
					}
					c.no("", "Malformed authentication response")
					return nil
				}
				return c.syntax(err)
			}
			return err
		}
		if string(line) == "*" {
			ex.Cancel()
			c.no("", "Authentication cancelled")
			return nil
		}
		if resp, err = decodeBase64(line); err != nil {
			c.no("", "Invalid base64 data")
			return nil
		}
	}
}

// saslResponse reads a client response in an exchange: a line holding one
// string.
func (c *conn) saslResponse() ([]byte, error) {
	c.c.SetDeadlineAfter(c.timeout())
	if err := c.sc.begin(); err != nil {
		return nil, err
	}
	b, err := c.sc.str(int64(c.sc.maxLine))
	if err != nil {
		return nil, err
	}
	return b, c.sc.end()
}

// decodeBase64 decodes a SASL response; "" is the empty response.
func decodeBase64(b []byte) ([]byte, error) {
	out := make([]byte, base64.StdEncoding.DecodedLen(len(b)))
	n, err := base64.StdEncoding.Decode(out, b)
	return out[:n], err
}

// login completes a successful AUTHENTICATE. final is the mechanism's
// additional data with success, nil for none.
func (c *conn) login(user string, final []byte) error {
	c.s.thr.Success(serve.AddrIP(c.c.RemoteAddr()))
	c.user = user
	c.log = nil // the next log line names the user
	code := ""
	if final != nil {
		code = "SASL " + quoteCode(base64.StdEncoding.EncodeToString(final))
	}
	c.respond("OK", code, "Authenticated")
	return nil
}

// authFailed answers a failed login after a delay that grows with the
// client's recent failures, and closes the session after MaxAuthFailures.
func (c *conn) authFailed(ctx context.Context, err error) error {
	switch {
	case errors.Is(err, auth.ErrInvalidCredentials), errors.Is(err, auth.ErrAuthzDenied):
	case errors.Is(err, auth.ErrMalformed):
		c.no("", "Malformed authentication data")
		return nil
	default:
		if code, text, ok := wireError(err); ok {
			c.no(code, text)
			return nil
		}
		c.logger().Error("authentication failed", "err", err)
		c.no(CodeTryLater, "Temporary authentication failure")
		return nil
	}
	c.authFails++
	if d := c.s.thr.Failure(serve.AddrIP(c.c.RemoteAddr())); d > 0 {
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
		c.respond("BYE", "", "Too many authentication failures, closing connection")
		return errClose
	}
	c.no("", "Authentication failed")
	return nil
}
