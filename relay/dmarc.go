package relay

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"

	"github.com/emersion/go-msgauth/dmarc"
	"golang.org/x/net/publicsuffix"

	"github.com/postyard/postyard/dnsmx"
)

// OrganizationalDomain returns the organizational domain of domain (RFC
// 7489 §3.2): the public suffix plus one label, from the Public Suffix
// List compiled into golang.org/x/net/publicsuffix. A domain that is
// itself a public suffix, or that the list cannot place, is its own.
func OrganizationalDomain(domain string) string {
	domain = strings.TrimSuffix(strings.ToLower(domain), ".")
	org, err := publicsuffix.EffectiveTLDPlusOne(domain)
	if err != nil {
		return domain
	}
	return org
}

// aligned reports whether identifier domain id aligns with the From
// domain under mode (RFC 7489 §3.1.1, §3.1.2): strict needs the same
// domain, relaxed the same organizational domain.
func aligned(id, from string, mode dmarc.AlignmentMode) bool {
	id = strings.TrimSuffix(strings.ToLower(id), ".")
	from = strings.TrimSuffix(strings.ToLower(from), ".")
	if id == "" || from == "" {
		return false
	}
	if mode == dmarc.AlignmentStrict {
		return id == from
	}
	return OrganizationalDomain(id) == OrganizationalDomain(from)
}

// lookupDMARC finds the DMARC record for from: at _dmarc.from, else at
// _dmarc. + its organizational domain (RFC 7489 §6.6.3). It returns the
// record text and the domain it was found at; "" when there is none.
func lookupDMARC(ctx context.Context, l dnsmx.Lookuper, from string) (txt, at string, err error) {
	for _, d := range []string{from, OrganizationalDomain(from)} {
		if d == at {
			break // from is its own organizational domain
		}
		at = d
		txt, err = dnsmx.LookupDMARC(ctx, l, d)
		if err == nil {
			return txt, d, nil
		}
		if !dnsmx.IsPermanent(err) {
			return "", d, err
		}
	}
	return "", "", nil
}

// CheckDMARC evaluates the DMARC policy (RFC 7489 §6.6) of the From domain
// from, given the SPF and DKIM results of the message, with DNS answered
// by l. fromErr is why the message has no single From domain, if so
// (permerror, RFC 7489 §6.6.1). A record that does not parse is a
// permerror; a DNS failure a temperror.
func CheckDMARC(ctx context.Context, l dnsmx.Lookuper, from string, fromErr error, spfc SPFCheck, dkims []DKIMCheck) DMARCCheck {
	c := DMARCCheck{From: from}
	if fromErr != nil || from == "" {
		c.From, c.Result, c.Err = "", AuthPermError, errors.Join(errNoFrom, fromErr)
		return c
	}
	txt, at, err := lookupDMARC(ctx, l, from)
	switch {
	case err != nil:
		c.Result, c.Err = AuthTempError, err
		return c
	case txt == "":
		c.Result = AuthNone
		return c
	}
	rec, err := dmarc.Parse(txt)
	if err != nil {
		c.Result, c.Err = AuthPermError, err
		return c
	}
	c.Policy = string(rec.Policy)
	if at != from && rec.SubdomainPolicy != "" {
		c.Policy = string(rec.SubdomainPolicy)
	}
	c.SPFAligned = spfc.Result == AuthPass && aligned(spfc.Domain, from, rec.SPFAlignment)
	for _, d := range dkims {
		if d.Result == AuthPass && aligned(d.Domain, from, rec.DKIMAlignment) {
			c.DKIMAligned = true
		}
	}
	c.Result = AuthFail
	if c.SPFAligned || c.DKIMAligned {
		c.Result = AuthPass
	}
	if c.Result == AuthFail && rec.Percent != nil && *rec.Percent < 100 && rand.IntN(100) >= *rec.Percent {
		// RFC 7489 §6.6.4: outside the sample, the next policy down.
		switch c.Policy {
		case string(dmarc.PolicyReject):
			c.Policy = string(dmarc.PolicyQuarantine)
		case string(dmarc.PolicyQuarantine):
			c.Policy = string(dmarc.PolicyNone)
		}
	}
	return c
}
