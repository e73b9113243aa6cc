package sieve

import (
	"errors"
	"strings"
)

// ErrNoReply is the cause of every reason Vacation.Check gives for not
// replying.
var ErrNoReply = errors.New("sieve: no vacation reply")

type noReply string

func (r noReply) Error() string { return "sieve: no vacation reply: " + string(r) }
func (r noReply) Unwrap() error { return ErrNoReply }

// Check applies the rules of RFC 5230 §4.5–4.6 and RFC 3834 §2 that do not
// need state: it returns nil when a reply may be sent to env.From for msg,
// or an error (errors.Is ErrNoReply) saying why not. own are the
// recipient's addresses (the envelope recipient and any aliases) besides
// v.Addresses. The per-sender :days/:seconds tracking keyed by v.Handle is
// the caller's.
func (v *Vacation) Check(msg *Message, env *Envelope, own ...string) error {
	if env == nil || env.From == "" {
		return noReply("null sender")
	}
	local, _, _ := strings.Cut(env.From, "@")
	l := strings.ToLower(local)
	if l == "mailer-daemon" || l == "listserv" || l == "majordomo" || strings.HasPrefix(l, "owner-") || strings.HasSuffix(l, "-request") {
		return noReply("sender " + env.From + " is a system address")
	}
	h := msg.Header()
	if vals := h.Values("Auto-Submitted"); len(vals) > 0 && !strings.EqualFold(strings.TrimSpace(strings.SplitN(vals[0], ";", 2)[0]), "no") {
		return noReply("message is auto-submitted")
	}
	for _, f := range []string{"List-Id", "List-Help", "List-Subscribe", "List-Unsubscribe", "List-Post", "List-Owner", "List-Archive"} {
		if len(h.Values(f)) > 0 {
			return noReply("message comes from a mailing list")
		}
	}
	if vals := h.Values("Precedence"); len(vals) > 0 {
		switch strings.ToLower(strings.TrimSpace(vals[0])) {
		case "bulk", "list", "junk":
			return noReply("message has Precedence: " + vals[0])
		}
	}
	addrs := append(append([]string{}, own...), v.Addresses...)
	if env.To != "" {
		addrs = append(addrs, env.To)
	}
	for _, f := range []string{"To", "Cc", "Bcc", "Resent-To", "Resent-Cc", "Resent-Bcc"} {
		for _, val := range h.Values(f) {
			for _, a := range parseAddressList(val) {
				if !a.valid() {
					continue
				}
				for _, mine := range addrs {
					if m, ok := parseAddrSpec(strings.Trim(mine, "<> ")); ok && m.local == a.local && strings.EqualFold(m.domain, a.domain) {
						if sameAddress(env.From, a.all()) {
							return noReply("message is from the recipient")
						}
						return nil
					}
				}
			}
		}
	}
	return noReply("none of the recipient's addresses is in To, Cc or Bcc")
}
