package pop3

import (
	"strconv"
	"strings"
	"time"
)

// capa runs CAPA (RFC 2449 §5). The list depends on the state: USER, SASL
// and STLS only before login, and only where they may be used; EXPIRE and
// LOGIN-DELAY give Server.Policy before login, marked "USER" if UserPolicy
// may change them, and the user's own policy after.
func (c *conn) capa() {
	c.ok("Capability list follows")
	caps := []string{"TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING"}
	pol, perUser := c.policy, ""
	if c.state == stateAuthorization {
		pol = c.s.Policy
		if c.s.UserPolicy != nil {
			perUser = " USER"
		}
		if c.loginAllowed() {
			if c.s.Authenticator != nil {
				caps = append(caps, "USER")
			}
			if c.s.sasl != nil {
				caps = append(caps, "SASL "+strings.Join(c.s.sasl.Available(), " "))
			}
		}
		if c.s.TLSConfig != nil && c.info.TLS == nil {
			caps = append(caps, "STLS")
		}
	}
	caps = append(caps, "EXPIRE "+expire(pol)+perUser)
	if pol.LoginDelay > 0 || c.s.UserPolicy != nil {
		caps = append(caps, "LOGIN-DELAY "+seconds(pol.LoginDelay)+perUser)
	}
	caps = append(caps, "IMPLEMENTATION postyard")
	for _, cp := range caps {
		c.w.WriteString(cp + "\r\n")
	}
	c.endMulti()
}

// expire is the argument of the EXPIRE capability (RFC 2449 §6.7).
func expire(p Policy) string {
	switch {
	case p.LeaveMail:
		return "NEVER"
	case p.DeleteRetrieved:
		return "0"
	case p.ExpireDays > 0:
		return strconv.Itoa(p.ExpireDays)
	}
	return "NEVER"
}

// seconds is d in whole seconds, rounded up.
func seconds(d time.Duration) string {
	if d <= 0 {
		return "0"
	}
	return strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10)
}
