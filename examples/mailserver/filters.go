package main

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/postyard/postyard/dnsmx"
	"github.com/postyard/postyard/relay"
	"github.com/postyard/postyard/smtp"
)

// filtersConfig: content checks ([filters] in the config file), run at
// MAIL FROM, RCPT TO and the end of DATA in this order: dnsbl, size,
// attachments, dlp, clamd, spamd, milter. A table that is present turns
// its check on, with its defaults for the keys it lacks. The rules (size,
// attachments, dlp) apply to both the MX port and submission, each rule
// to the direction it names; dnsbl to the MX port only; the tools
// (clamd, spamd, milter) to the direction their own key says.
type filtersConfig struct {
	// QuarantineMailbox receives local copies of quarantined messages
	// (created, as the \Junk special-use mailbox, when needed); queued
	// copies are held in the queue ("mailserver queue list"). Default
	// "Junk".
	QuarantineMailbox string `toml:"quarantine_mailbox"`

	DNSBL       *dnsblConfig      `toml:"dnsbl"`
	Size        *sizeConfig       `toml:"size"`
	Attachments *attachmentConfig `toml:"attachments"`
	DLP         []dlpRuleConfig   `toml:"dlp"`
	Clamd       *clamdConfig      `toml:"clamd"`
	Spamd       *spamdConfig      `toml:"spamd"`
	Milter      *milterConfig     `toml:"milter"`
}

// dnsblConfig: DNS block and allow lists on the client's address
// (relay.DNSBL), at MAIL FROM on the MX port.
type dnsblConfig struct {
	Zones []dnsblZoneConfig `toml:"zones"`
	// Threshold is the score (the sum of the weights of the block lists
	// that list the client) that refuses it. Default 1.
	Threshold float64 `toml:"threshold"`
	// Action at the threshold: "reject" (default), "tempfail",
	// "quarantine" or "discard".
	Action string `toml:"action"`
	// Exempt are networks never looked up (prefixes or addresses).
	// Default: loopback, private and link-local networks. The
	// trusted_networks are always exempt.
	Exempt []string `toml:"exempt"`
	// Nameservers are the resolvers to ask ("host" or "host:port").
	// Default: those of /etc/resolv.conf. Many lists refuse queries from
	// public resolvers.
	Nameservers []string `toml:"nameservers"`
}

type dnsblZoneConfig struct {
	Zone string `toml:"zone"`
	// Allow makes it an allow list: a listed client skips the other
	// filters.
	Allow bool `toml:"allow"`
	// Weight added to the score on a hit. Default 1.
	Weight float64 `toml:"weight"`
	// Codes are the answers that count ("127.0.0.2-127.0.0.3",
	// "127.0.0.10/31"). Default: any 127.0.0.2-127.255.254.255.
	Codes []string `toml:"codes"`
	// Action, if set, is taken on a hit whatever the score: "reject",
	// "tempfail", "quarantine" or "discard".
	Action string `toml:"action"`
}

// sizeConfig: message size limits by direction (relay.SizeRule), below
// the server's own 25 MiB.
type sizeConfig struct {
	MaxIncoming byteSize `toml:"max_incoming"`
	MaxOutgoing byteSize `toml:"max_outgoing"`
}

// attachmentConfig: dangerous attachment types (relay.AttachmentRule).
type attachmentConfig struct {
	// Extensions blocked, without the dot. Absent: relay's list of
	// Windows executables, scripts and disk images; [] blocks none.
	Extensions []string `toml:"extensions"`
	// ContentTypes blocked whatever the file name. Absent: relay's list
	// of executable and script types; [] blocks none.
	ContentTypes []string `toml:"content_types"`
	// Action: "reject" (default: 552 5.7.0), "quarantine", "tempfail" or
	// "discard".
	Action string `toml:"action"`
	// Direction: "both" (default), "incoming" or "outgoing".
	Direction string `toml:"direction"`
}

// dlpRuleConfig is one data-loss rule (relay.DLPRule); the first rule that
// matches decides.
type dlpRuleConfig struct {
	Name string `toml:"name"`
	// Direction: "both" (default), "incoming" or "outgoing".
	Direction string `toml:"direction"`
	// Action: "reject" (default: 550 5.7.1 naming the rule),
	// "quarantine" (outgoing mail is held in the queue, local copies go
	// to the quarantine mailbox), "tempfail" or "discard".
	Action string `toml:"action"`
	// Patterns are regular expressions (Go syntax; (?i) for any case) on
	// the decoded text of the message.
	Patterns []string `toml:"patterns"`
	// Keywords are words or phrases, matched as whole words in any case,
	// on the text and the attachment names.
	Keywords []string `toml:"keywords"`
	// FileNames are regular expressions on attachment names.
	FileNames []string `toml:"file_names"`
	// Cards finds payment card numbers (Luhn-checked); IBAN finds bank
	// account numbers (mod-97-checked).
	Cards bool `toml:"cards"`
	IBAN  bool `toml:"iban"`
	// MinMatches is how many distinct matches make the rule match.
	// Default 1.
	MinMatches int `toml:"min_matches"`
}

// clamdConfig: ClamAV's clamd scans each message (relay.Clamd).
type clamdConfig struct {
	// Address: "/run/clamav/clamd.ctl" (or "unix:PATH"), or "host:port"
	// (or "inet:host:port").
	Address string `toml:"address"`
	// Action on a virus: "reject" (default: 554 5.7.1 naming it),
	// "quarantine" or "discard".
	Action string `toml:"action"`
	// MaxSize: larger messages are not scanned (set clamd's
	// StreamMaxLength). Default 25 MiB.
	MaxSize byteSize `toml:"max_size"`
	// TooBig: what larger messages get: "accept" (default, logged),
	// "reject", "tempfail" or "quarantine".
	TooBig string `toml:"too_big"`
	// OnError: when clamd fails: "tempfail" (default), "accept",
	// "reject" or "quarantine".
	OnError string `toml:"on_error"`
	// Header adds "X-Virus-Scanned: ClamAV at HOSTNAME" to clean mail.
	Header bool `toml:"header"`
	// Direction: "both" (default), "incoming" or "outgoing".
	Direction string `toml:"direction"`
}

// spamdConfig: SpamAssassin's spamd rates each message (relay.Spamd).
type spamdConfig struct {
	// Address: "host:port" (spamd's 783) or a socket path.
	Address string `toml:"address"`
	// Action for spam: "quarantine" (default) or "reject".
	Action string `toml:"action"`
	// RejectScore, if set, rejects spam scoring at least this, whatever
	// action says.
	RejectScore float64 `toml:"reject_score"`
	// MaxSize: larger messages pass unchecked. Default 500 KiB.
	MaxSize byteSize `toml:"max_size"`
	// User whose preferences spamd applies. Default: spamd's.
	User string `toml:"user"`
	// OnError: "tempfail" (default), "accept", "reject", "quarantine".
	OnError string `toml:"on_error"`
	// Direction: "incoming" (default), "outgoing" or "both".
	Direction string `toml:"direction"`
}

// milterConfig: mail filters speaking the milter protocol (relay.Milter):
// rspamd, spamass-milter, clamav-milter, OpenDKIM.
type milterConfig struct {
	// Addresses, run in order: "inet:127.0.0.1:11332", "127.0.0.1:11332",
	// "unix:/run/rspamd/milter.sock" or "/run/rspamd/milter.sock".
	Addresses []string `toml:"addresses"`
	// OnError: when a milter fails (Postfix's milter_default_action):
	// "tempfail" (default), "accept", "reject" or "quarantine".
	OnError string `toml:"on_error"`
	// Direction: "both" (default), "incoming" or "outgoing".
	Direction string `toml:"direction"`
}

// archiveConfig: a copy of every accepted message (relay.Archive), in a
// mailbox of a local user or forwarded to an address.
type archiveConfig struct {
	// User and Mailbox: the archive mailbox (created if missing; INBOX by
	// default). Make the user with adduser to read it over IMAP.
	User    string `toml:"user"`
	Mailbox string `toml:"mailbox"`
	// Address, instead of User: copies are forwarded there.
	Address string `toml:"address"`
	// Retention: copies older than this are expunged from the archive
	// mailbox ("365d", "720h"). Default: kept forever.
	Retention duration `toml:"retention"`
	// SweepInterval: how often expired copies are looked for. Default 1h.
	SweepInterval duration `toml:"sweep_interval"`
}

func (a *archiveConfig) enabled() bool { return a.User != "" || a.Address != "" }

// parseAction parses an action name; "" is relay.ActionDefault.
func parseAction(key, s string, allowed ...relay.Action) (relay.Action, error) {
	if s == "" {
		return relay.ActionDefault, nil
	}
	var names []string
	for _, a := range allowed {
		if a.String() == s {
			return a, nil
		}
		names = append(names, a.String())
	}
	return 0, fmt.Errorf("%s %q: want %s", key, s, strings.Join(names, ", "))
}

// parseDirection parses "both", "incoming", "outgoing"; "" is def.
func parseDirection(key, s string, def relay.Direction) (relay.Direction, error) {
	switch s {
	case "":
		return def, nil
	case "both":
		return relay.DirectionBoth, nil
	case "incoming":
		return relay.DirectionIncoming, nil
	case "outgoing":
		return relay.DirectionOutgoing, nil
	}
	return 0, fmt.Errorf("%s %q: want both, incoming or outgoing", key, s)
}

// toolAddress splits a tool's address: "unix:PATH" or "/PATH" is a Unix
// socket, "inet:HOST:PORT" or "HOST:PORT" TCP.
func toolAddress(key, s string) (network, address string, err error) {
	switch {
	case s == "":
		return "", "", fmt.Errorf("%s is empty", key)
	case strings.HasPrefix(s, "unix:"):
		return "unix", strings.TrimPrefix(s, "unix:"), nil
	case strings.HasPrefix(s, "/"):
		return "unix", s, nil
	}
	s = strings.TrimPrefix(s, "inet:")
	if _, _, err := net.SplitHostPort(s); err != nil {
		return "", "", fmt.Errorf("%s %q: want host:port, inet:host:port, unix:PATH or /PATH", key, s)
	}
	return "tcp", s, nil
}

// filterSet is what the [filters] section makes.
type filterSet struct {
	mx, submission []relay.Filter
	quarantine     string
}

// add appends f to the lists of the directions d covers.
func (fs *filterSet) add(f relay.Filter, d relay.Direction) {
	if d != relay.DirectionOutgoing {
		fs.mx = append(fs.mx, f)
	}
	if d != relay.DirectionIncoming {
		fs.submission = append(fs.submission, f)
	}
}

// filters builds the [filters] section: the filters of the MX port and of
// submission. trusted are exempt from DNSBL lookups. All errors are
// returned together.
func (c *config) filters(trusted []netip.Prefix, log *slog.Logger) (*filterSet, error) {
	f := &c.Filters
	fs := &filterSet{quarantine: cmp.Or(f.QuarantineMailbox, "Junk")}
	var errs []error
	fail := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	action := func(key, s string, allowed ...relay.Action) relay.Action {
		a, err := parseAction("filters."+key, s, allowed...)
		fail(err)
		return a
	}
	direction := func(key, s string, def relay.Direction) relay.Direction {
		d, err := parseDirection("filters."+key, s, def)
		fail(err)
		return d
	}
	const (
		accept     = relay.ActionAccept
		reject     = relay.ActionReject
		tempfail   = relay.ActionTempfail
		quarantine = relay.ActionQuarantine
		discard    = relay.ActionDiscard
	)

	if d := f.DNSBL; d != nil {
		bl := &relay.DNSBL{Threshold: d.Threshold, Logger: log}
		bl.Action = action("dnsbl.action", d.Action, reject, tempfail, quarantine, discard)
		if len(d.Zones) == 0 {
			fail(errors.New("filters.dnsbl: no zones"))
		}
		for i, z := range d.Zones {
			key := fmt.Sprintf("dnsbl.zones[%d]", i)
			if z.Zone == "" {
				fail(fmt.Errorf("filters.%s: zone is empty", key))
			}
			bz := relay.DNSBLZone{Zone: z.Zone, Allow: z.Allow, Weight: z.Weight}
			bz.Action = action(key+".action", z.Action, reject, tempfail, quarantine, discard)
			if z.Allow && bz.Action != relay.ActionDefault {
				fail(fmt.Errorf("filters.%s: an allow list has no action", key))
			}
			for _, code := range z.Codes {
				r, err := relay.ParseAddrRange(code)
				if err != nil {
					fail(fmt.Errorf("filters.%s.codes: %w", key, err))
				}
				bz.Codes = append(bz.Codes, r)
			}
			bl.Zones = append(bl.Zones, bz)
		}
		exempt := slices.Clone(relay.DefaultDNSBLExempt)
		if d.Exempt != nil {
			p, err := parsePrefixes("filters.dnsbl.exempt", d.Exempt)
			fail(err)
			exempt = p
		}
		bl.Exempt = append(exempt, trusted...)
		if len(d.Nameservers) > 0 {
			bl.Resolver = &dnsmx.Resolver{Nameservers: d.Nameservers}
		}
		fs.add(bl, relay.DirectionIncoming)
	}

	if s := f.Size; s != nil {
		rule := &relay.SizeRule{MaxIncoming: int64(s.MaxIncoming), MaxOutgoing: int64(s.MaxOutgoing)}
		fs.add(rule, relay.DirectionBoth)
	}

	if a := f.Attachments; a != nil {
		rule := &relay.AttachmentRule{Extensions: a.Extensions, ContentTypes: a.ContentTypes, Logger: log}
		for i, e := range rule.Extensions {
			rule.Extensions[i] = strings.TrimPrefix(e, ".")
		}
		rule.Action = action("attachments.action", a.Action, reject, quarantine, tempfail, discard)
		rule.Direction = direction("attachments.direction", a.Direction, relay.DirectionBoth)
		fs.add(rule, relay.DirectionBoth)
	}

	if len(f.DLP) > 0 {
		dlp := &relay.DLP{Logger: log}
		for i, r := range f.DLP {
			key := fmt.Sprintf("dlp[%d]", i)
			if r.Name == "" {
				fail(fmt.Errorf("filters.%s: name is empty", key))
			}
			rule := relay.DLPRule{Name: r.Name, Keywords: r.Keywords, CardNumbers: r.Cards, IBANs: r.IBAN, MinMatches: r.MinMatches}
			rule.Action = action(key+".action", r.Action, reject, quarantine, tempfail, discard)
			rule.Direction = direction(key+".direction", r.Direction, relay.DirectionBoth)
			for _, p := range r.Patterns {
				re, err := regexp.Compile(p)
				if err != nil {
					fail(fmt.Errorf("filters.%s.patterns: %w", key, err))
				}
				rule.Patterns = append(rule.Patterns, re)
			}
			for _, p := range r.FileNames {
				re, err := regexp.Compile(p)
				if err != nil {
					fail(fmt.Errorf("filters.%s.file_names: %w", key, err))
				}
				rule.FileNames = append(rule.FileNames, re)
			}
			if len(rule.Patterns) == 0 && len(rule.Keywords) == 0 && len(rule.FileNames) == 0 && !rule.CardNumbers && !rule.IBANs {
				fail(fmt.Errorf("filters.%s (%s): nothing to match: set patterns, keywords, file_names, cards or iban", key, r.Name))
			}
			dlp.Rules = append(dlp.Rules, rule)
		}
		fs.add(dlp, relay.DirectionBoth)
	}

	if cd := f.Clamd; cd != nil {
		clamd := &relay.Clamd{MaxSize: int64(cd.MaxSize), Logger: log}
		var err error
		clamd.Network, clamd.Address, err = toolAddress("filters.clamd.address", cd.Address)
		fail(err)
		clamd.VirusAction = action("clamd.action", cd.Action, reject, quarantine, discard)
		clamd.TooBig = action("clamd.too_big", cd.TooBig, accept, reject, tempfail, quarantine)
		if clamd.TooBig == accept {
			clamd.TooBig = relay.ActionDefault // lets it through, logged
		}
		clamd.OnError = action("clamd.on_error", cd.OnError, tempfail, accept, reject, quarantine)
		if cd.Header {
			clamd.Scanned = "ClamAV at " + c.Hostname
		}
		fs.add(clamd, direction("clamd.direction", cd.Direction, relay.DirectionBoth))
	}

	if sd := f.Spamd; sd != nil {
		spamd := &relay.Spamd{User: sd.User, RejectScore: sd.RejectScore, MaxSize: int64(sd.MaxSize), Logger: log}
		var err error
		spamd.Network, spamd.Address, err = toolAddress("filters.spamd.address", sd.Address)
		fail(err)
		spamd.SpamAction = action("spamd.action", sd.Action, quarantine, reject)
		spamd.OnError = action("spamd.on_error", sd.OnError, tempfail, accept, reject, quarantine)
		fs.add(spamd, direction("spamd.direction", sd.Direction, relay.DirectionIncoming))
	}

	if m := f.Milter; m != nil {
		if len(m.Addresses) == 0 {
			fail(errors.New("filters.milter: no addresses"))
		}
		onError := action("milter.on_error", m.OnError, tempfail, accept, reject, quarantine)
		d := direction("milter.direction", m.Direction, relay.DirectionBoth)
		for i, a := range m.Addresses {
			mi := &relay.Milter{OnError: onError, Hostname: c.Hostname, DaemonName: "mailserver", Logger: log}
			var err error
			mi.Network, mi.Address, err = toolAddress(fmt.Sprintf("filters.milter.addresses[%d]", i), a)
			fail(err)
			fs.add(mi, d)
		}
	}
	return fs, errors.Join(errs...)
}

// archive builds the [archive] section; nil when it is off.
func (c *config) archive() (*relay.Archive, error) {
	a := &c.Archive
	if !a.enabled() {
		if a.Mailbox != "" || a.Retention != 0 {
			return nil, errors.New("archive: mailbox and retention need a user")
		}
		return nil, nil
	}
	switch {
	case a.User != "" && a.Address != "":
		return nil, errors.New("archive: user and address both set (one or the other)")
	case a.Address != "" && (a.Retention != 0 || a.Mailbox != ""):
		return nil, errors.New("archive: mailbox and retention apply to a user's archive mailbox, not to an address")
	case a.Retention < 0 || a.SweepInterval < 0:
		return nil, errors.New("archive: negative retention or sweep_interval")
	}
	ar := &relay.Archive{User: a.User, Mailbox: a.Mailbox, Retention: time.Duration(a.Retention)}
	if a.Address != "" {
		p, rest, err := smtp.ParsePath("<"+a.Address+">", smtp.PathOptions{UTF8: true})
		if err != nil || rest != "" || p.IsNull() {
			return nil, fmt.Errorf("archive: address %q: not an address", a.Address)
		}
		ar.Address = p
	}
	return ar, nil
}

// parsePrefixes parses prefixes or addresses (a /32 or /128).
func parsePrefixes(key string, list []string) ([]netip.Prefix, error) {
	ps := []netip.Prefix{}
	for _, s := range list {
		if p, err := netip.ParsePrefix(s); err == nil {
			ps = append(ps, p.Masked())
		} else if a, err := netip.ParseAddr(s); err == nil {
			ps = append(ps, netip.PrefixFrom(a, a.BitLen()))
		} else {
			return nil, fmt.Errorf("%s: %q is neither a prefix nor an address", key, s)
		}
	}
	return ps, nil
}

// byteSize is a size in octets: an integer, or a string with a binary
// unit: "512K", "10M", "10MiB", "1G" (K, M, G are 1024, 1024², 1024³;
// KB, MB, GB and KiB, MiB, GiB mean the same).
type byteSize int64

func (b *byteSize) UnmarshalText(text []byte) error {
	s := strings.TrimSpace(string(text))
	mult := int64(1)
	upper := strings.ToUpper(s)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KIB", 1 << 10}, {"MIB", 1 << 20}, {"GIB", 1 << 30}, {"KB", 1 << 10}, {"MB", 1 << 20}, {"GB", 1 << 30},
		{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1}} {
		if strings.HasSuffix(upper, u.suffix) {
			s, mult = strings.TrimSpace(s[:len(s)-len(u.suffix)]), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return fmt.Errorf("size %q: want a number of octets, or one with K, M or G", text)
	}
	*b = byteSize(n * mult)
	return nil
}

// duration is a time.Duration written as Go writes it ("720h", "90m"),
// or in days ("365d").
type duration time.Duration

func (d *duration) UnmarshalText(text []byte) error {
	s := string(text)
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseInt(days, 10, 64)
		if err != nil || n < 0 || n > 100*365 {
			return fmt.Errorf("duration %q: want a number of days (\"30d\") or a Go duration (\"720h\")", s)
		}
		*d = duration(time.Duration(n) * 24 * time.Hour)
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q: want a number of days (\"30d\") or a Go duration (\"720h\")", s)
	}
	*d = duration(v)
	return nil
}
