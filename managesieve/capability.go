package managesieve

import (
	"strconv"
	"strings"

	"github.com/postyard/postyard/sieve"
)

// capabilities are the parts of the capability response (RFC 5804 §1.7)
// that do not change from one session to the next.
type capabilities struct {
	sieve        string // the SIEVE capability's argument
	maxRedirects string // "" to leave MAXREDIRECTS out
}

func (s *Server) newCapabilities() capabilities {
	var opts sieve.Options
	if s.Sieve != nil {
		opts = *s.Sieve
	}
	exts := opts.Extensions
	if exts == nil {
		exts = sieve.Extensions()
	}
	c := capabilities{sieve: strings.Join(exts, " ")}
	if opts.Limits.MaxRedirects >= 0 {
		c.maxRedirects = strconv.Itoa(opts.Limits.Resolved().MaxRedirects)
	}
	return c
}

// capability writes the capability response without its final OK: the
// greeting, the response to CAPABILITY and the one after STARTTLS
// (RFC 5804 §1.7). SASL lists the mechanisms that may be used now, none
// before STARTTLS without AllowInsecureAuth (the list may be empty only
// when STARTTLS is offered). OWNER is only sent once authenticated, and
// STARTTLS only before.
func (c *conn) capability() {
	caps := &c.s.caps
	c.capLine("IMPLEMENTATION", c.s.Implementation)
	var mechs []string
	if c.s.sasl != nil && c.loginAllowed() {
		mechs = c.s.sasl.Available()
	}
	c.capLine("SASL", strings.Join(mechs, " "))
	c.capLine("SIEVE", caps.sieve)
	if c.s.TLSConfig != nil && c.tls == nil && c.user == "" {
		c.capLine("STARTTLS", "")
	}
	if caps.maxRedirects != "" {
		c.capLine("MAXREDIRECTS", caps.maxRedirects)
	}
	if c.user != "" {
		c.capLine("OWNER", c.user)
	}
	c.capLine("UNAUTHENTICATE", "")
	c.capLine("VERSION", "1.0")
}

// capLine writes one capability: its name and, unless arg is "" for a
// capability without argument, its argument, both as strings.
func (c *conn) capLine(name, arg string) {
	writeString(c.w, name)
	if arg != "" || name == "SASL" || name == "SIEVE" {
		c.w.WriteByte(' ')
		writeString(c.w, arg)
	}
	c.w.WriteString("\r\n")
}
