package main

import (
	"fmt"
	"io"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/postyard/postyard/relay"
	"github.com/postyard/postyard/smtp"
)

// TestConfigFilters: each [filters] table becomes its relay filter, with
// its keys mapped, in the documented order, on the ports its direction
// says.
func TestConfigFilters(t *testing.T) {
	p := writeConfig(t, `
trusted_networks = ["192.0.2.0/24"]
[filters]
quarantine_mailbox = "Spam"

[filters.dnsbl]
threshold = 2.0
action = "tempfail"
exempt = ["198.51.100.7"]
nameservers = ["127.0.0.1:5353"]
zones = [
  { zone = "zen.spamhaus.org", weight = 2, codes = ["127.0.0.2-127.0.0.3", "127.0.0.10/31"] },
  { zone = "bl.example", action = "quarantine" },
  { zone = "list.dnswl.org", allow = true },
]

[filters.size]
max_incoming = "20MiB"
max_outgoing = 1048576

[filters.attachments]
extensions = [".exe", "js"]
action = "quarantine"
direction = "incoming"

[[filters.dlp]]
name = "cards"
cards = true
iban = true
direction = "outgoing"
action = "quarantine"
min_matches = 2

[[filters.dlp]]
name = "secrets"
patterns = ['(?i)top\s+secret']
keywords = ["project aurora"]
file_names = ['(?i)\.(pem|key)$']

[filters.clamd]
address = "/run/clamav/clamd.ctl"
action = "discard"
max_size = "10M"
too_big = "reject"
on_error = "accept"
header = true

[filters.spamd]
address = "inet:127.0.0.1:783"
action = "reject"
reject_score = 12.5
max_size = "1M"
user = "spamd"
on_error = "accept"

[filters.milter]
addresses = ["inet:127.0.0.1:11332", "unix:/run/rspamd/milter.sock", "[::1]:8891"]
on_error = "accept"
direction = "outgoing"
`)
	c, err := parseConfig("mailserver", []string{"-config", p}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	nets, _ := c.trustedNetworks()
	fs, err := c.filters(nets, nil)
	if err != nil {
		t.Fatal(err)
	}
	types := func(fl []relay.Filter) string {
		var s []string
		for _, f := range fl {
			s = append(s, strings.TrimPrefix(fmt.Sprintf("%T", f), "*relay."))
		}
		return strings.Join(s, " ")
	}
	// The milters are outgoing only, spamd incoming only (its default),
	// DNSBL on the MX port only; the rules check the direction themselves.
	if got, want := types(fs.mx), "DNSBL SizeRule AttachmentRule DLP Clamd Spamd"; got != want {
		t.Errorf("MX filters: %s, want %s", got, want)
	}
	if got, want := types(fs.submission), "SizeRule AttachmentRule DLP Clamd Milter Milter Milter"; got != want {
		t.Errorf("submission filters: %s, want %s", got, want)
	}
	if fs.quarantine != "Spam" {
		t.Errorf("quarantine mailbox %q", fs.quarantine)
	}

	bl := fs.mx[0].(*relay.DNSBL)
	if bl.Threshold != 2 || bl.Action != relay.ActionTempfail || bl.Resolver == nil || len(bl.Zones) != 3 {
		t.Errorf("dnsbl: %+v", bl)
	}
	if z := bl.Zones[0]; z.Zone != "zen.spamhaus.org" || z.Weight != 2 || len(z.Codes) != 2 ||
		!z.Codes[0].Contains(netip.MustParseAddr("127.0.0.3")) || z.Codes[0].Contains(netip.MustParseAddr("127.0.0.4")) ||
		!z.Codes[1].Contains(netip.MustParseAddr("127.0.0.11")) {
		t.Errorf("zone 0: %+v", z)
	}
	if z := bl.Zones[1]; z.Action != relay.ActionQuarantine || z.Allow {
		t.Errorf("zone 1: %+v", z)
	}
	if z := bl.Zones[2]; !z.Allow {
		t.Errorf("zone 2: %+v", z)
	}
	// exempt replaces the defaults; the trusted networks are added.
	if want := []netip.Prefix{netip.MustParsePrefix("198.51.100.7/32"), netip.MustParsePrefix("192.0.2.0/24")}; !reflect.DeepEqual(bl.Exempt, want) {
		t.Errorf("exempt %v", bl.Exempt)
	}

	if sz := fs.mx[1].(*relay.SizeRule); sz.MaxIncoming != 20<<20 || sz.MaxOutgoing != 1<<20 {
		t.Errorf("size: %+v", sz)
	}
	if at := fs.mx[2].(*relay.AttachmentRule); !slices.Equal(at.Extensions, []string{"exe", "js"}) || at.ContentTypes != nil ||
		at.Action != relay.ActionQuarantine || at.Direction != relay.DirectionIncoming {
		t.Errorf("attachments: %+v", at)
	}
	dlp := fs.mx[3].(*relay.DLP)
	if len(dlp.Rules) != 2 {
		t.Fatalf("dlp: %+v", dlp)
	}
	if r := dlp.Rules[0]; r.Name != "cards" || !r.CardNumbers || !r.IBANs || r.Direction != relay.DirectionOutgoing ||
		r.Action != relay.ActionQuarantine || r.MinMatches != 2 {
		t.Errorf("dlp rule 0: %+v", r)
	}
	if r := dlp.Rules[1]; r.Name != "secrets" || len(r.Patterns) != 1 || !r.Patterns[0].MatchString("TOP  Secret") ||
		!slices.Equal(r.Keywords, []string{"project aurora"}) || len(r.FileNames) != 1 || !r.FileNames[0].MatchString("id.KEY") ||
		r.Action != relay.ActionDefault || r.Direction != relay.DirectionBoth {
		t.Errorf("dlp rule 1: %+v", r)
	}
	if cd := fs.mx[4].(*relay.Clamd); cd.Network != "unix" || cd.Address != "/run/clamav/clamd.ctl" || cd.VirusAction != relay.ActionDiscard ||
		cd.MaxSize != 10<<20 || cd.TooBig != relay.ActionReject || cd.OnError != relay.ActionAccept || cd.Scanned != "ClamAV at "+c.Hostname {
		t.Errorf("clamd: %+v", cd)
	}
	if sd := fs.mx[5].(*relay.Spamd); sd.Network != "tcp" || sd.Address != "127.0.0.1:783" || sd.SpamAction != relay.ActionReject ||
		sd.RejectScore != 12.5 || sd.MaxSize != 1<<20 || sd.User != "spamd" || sd.OnError != relay.ActionAccept {
		t.Errorf("spamd: %+v", sd)
	}
	var milters []string
	for _, f := range fs.submission[4:] {
		m := f.(*relay.Milter)
		if m.OnError != relay.ActionAccept || m.Hostname != c.Hostname {
			t.Errorf("milter: %+v", m)
		}
		milters = append(milters, m.Network+" "+m.Address)
	}
	if want := []string{"tcp 127.0.0.1:11332", "unix /run/rspamd/milter.sock", "tcp [::1]:8891"}; !slices.Equal(milters, want) {
		t.Errorf("milters %q, want %q", milters, want)
	}

	// Without [filters], none; clamd's and the milters' default directions
	// cover both ports, and the DNSBL exempts the defaults and the trusted
	// networks.
	c0 := defaultConfig()
	none, err := c0.filters(nil, nil)
	if err != nil || len(none.mx) != 0 || len(none.submission) != 0 || none.quarantine != "Junk" {
		t.Errorf("no filters: %+v %v", none, err)
	}
	c2 := defaultConfig()
	c2.Filters = filtersConfig{
		DNSBL:  &dnsblConfig{Zones: []dnsblZoneConfig{{Zone: "bl.example"}}},
		Clamd:  &clamdConfig{Address: "127.0.0.1:3310"},
		Milter: &milterConfig{Addresses: []string{"/run/m.sock"}},
	}
	fs2, err := c2.filters(nets, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := types(fs2.mx); got != "DNSBL Clamd Milter" {
		t.Errorf("MX filters: %s", got)
	}
	if got := types(fs2.submission); got != "Clamd Milter" {
		t.Errorf("submission filters: %s", got)
	}
	if ex := fs2.mx[0].(*relay.DNSBL).Exempt; len(ex) != len(relay.DefaultDNSBLExempt)+1 || ex[len(ex)-1] != nets[0] {
		t.Errorf("default exempt: %v", ex)
	}
	// exempt = [] in the file: nothing but the trusted networks.
	c3, err := parseConfig("mailserver", []string{"-config", writeConfig(t, "[filters.dnsbl]\nexempt = []\nzones = [{ zone = \"bl.example\" }]\n")}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if fs3, err := c3.filters(nets, nil); err != nil || !reflect.DeepEqual(fs3.mx[0].(*relay.DNSBL).Exempt, nets) {
		t.Errorf("exempt = []: %v %v", fs3.mx[0].(*relay.DNSBL).Exempt, err)
	}
	if cd := fs2.mx[1].(*relay.Clamd); cd.TooBig != relay.ActionDefault || cd.OnError != relay.ActionDefault || cd.Scanned != "" {
		t.Errorf("clamd defaults: %+v", cd)
	}
}

// TestConfigArchive: [archive] in a mailbox with retention, or to an
// address.
func TestConfigArchive(t *testing.T) {
	c, err := parseConfig("mailserver", []string{"-config", writeConfig(t, `
[archive]
user = "archive"
mailbox = "Archive"
retention = "30d"
sweep_interval = "15m"
`)}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	a, err := c.archive()
	if err != nil || a.User != "archive" || a.Mailbox != "Archive" || a.Retention != 30*24*time.Hour || time.Duration(c.Archive.SweepInterval) != 15*time.Minute {
		t.Fatalf("archive: %+v %v", a, err)
	}
	c, err = parseConfig("mailserver", []string{"-config", writeConfig(t, "[archive]\naddress = \"vault@backup.example\"\n")}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if a, err := c.archive(); err != nil || a.User != "" || !reflect.DeepEqual(a.Address, smtp.Path{Local: "vault", Domain: "backup.example"}) {
		t.Fatalf("archive: %+v %v", a, err)
	}
	c0 := defaultConfig()
	if a, err := c0.archive(); a != nil || err != nil {
		t.Errorf("no archive: %+v %v", a, err)
	}
}

// TestConfigFilterErrors: mistakes in [filters], [archive] and [sieve]
// are refused with the key.
func TestConfigFilterErrors(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"[filters.attachments]\naction = \"bounce\"", "filters.attachments.action \"bounce\""},
		{"[filters.attachments]\ndirection = \"sideways\"", "filters.attachments.direction"},
		{"[filters.attachments]\nblock = [\"exe\"]", "unknown keys: filters.attachments.block"},
		{"[filters.size]\nmax_incoming = \"ten\"", "size \"ten\""},
		{"[filters.size]\nmax_incoming = -5", "size \"-5\""},
		{"[[filters.dlp]]\nname = \"x\"\npatterns = [\"(\"]", "filters.dlp[0].patterns"},
		{"[[filters.dlp]]\nname = \"x\"\nfile_names = [\"[\"]", "filters.dlp[0].file_names"},
		{"[[filters.dlp]]\nname = \"x\"", "nothing to match"},
		{"[[filters.dlp]]\ncards = true", "filters.dlp[0]: name is empty"},
		{"[[filters.dlp]]\nname = \"x\"\ncards = true\naction = \"accept\"", "filters.dlp[0].action"},
		{"[filters.dnsbl]\nthreshold = 1.0", "filters.dnsbl: no zones"},
		{"[filters.dnsbl]\nzones = [{ zone = \"\" }]", "zone is empty"},
		{"[filters.dnsbl]\nzones = [{ zone = \"x\", codes = [\"1.2.3\"] }]", "filters.dnsbl.zones[0].codes"},
		{"[filters.dnsbl]\nzones = [{ zone = \"x\", allow = true, action = \"reject\" }]", "allow list has no action"},
		{"[filters.dnsbl]\nzones = [{ zone = \"x\" }]\nexempt = [\"nonsense\"]", "filters.dnsbl.exempt"},
		{"[filters.clamd]\naction = \"reject\"", "filters.clamd.address is empty"},
		{"[filters.clamd]\naddress = \"localhost\"", "filters.clamd.address \"localhost\""},
		{"[filters.clamd]\naddress = \"/s\"\naction = \"tempfail\"", "filters.clamd.action"},
		{"[filters.spamd]\naddress = \"127.0.0.1:783\"\naction = \"discard\"", "filters.spamd.action"},
		{"[filters.spamd]\naddress = \"127.0.0.1:783\"\non_error = \"ignore\"", "filters.spamd.on_error"},
		{"[filters.milter]\non_error = \"accept\"", "filters.milter: no addresses"},
		{"[filters.milter]\naddresses = [\"inet:nowhere\"]", "filters.milter.addresses[0]"},
		{"[archive]\nuser = \"a\"\naddress = \"b@example.org\"", "one or the other"},
		{"[archive]\naddress = \"not an address\"", "archive: address"},
		{"[archive]\naddress = \"b@example.org\"\nretention = \"30d\"", "not to an address"},
		{"[archive]\nretention = \"30d\"", "need a user"},
		{"[archive]\nuser = \"a\"\nretention = \"a month\"", "duration \"a month\""},
		{"[sieve]\nmax_scripts = -1", "sieve: negative"},
	} {
		_, err := parseConfig("mailserver", []string{"-config", writeConfig(t, tc.text)}, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.text, err, tc.want)
		}
	}
}

func TestByteSizeAndDuration(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "512": 512, "512K": 512 << 10, "10 MiB": 10 << 20, "10mb": 10 << 20, "2G": 2 << 30, "7B": 7} {
		var b byteSize
		if err := b.UnmarshalText([]byte(in)); err != nil || int64(b) != want {
			t.Errorf("byteSize %q = %d, %v; want %d", in, b, err, want)
		}
	}
	for in, want := range map[string]time.Duration{"30d": 30 * 24 * time.Hour, "0d": 0, "90m": 90 * time.Minute, "1h30m": 90 * time.Minute} {
		var d duration
		if err := d.UnmarshalText([]byte(in)); err != nil || time.Duration(d) != want {
			t.Errorf("duration %q = %v, %v; want %v", in, time.Duration(d), err, want)
		}
	}
	for _, in := range []string{"", "x", "1.5M", "-1d", "d", "99999999999G"} {
		var b byteSize
		var d duration
		if b.UnmarshalText([]byte(in)) == nil && d.UnmarshalText([]byte(in)) == nil {
			t.Errorf("%q accepted", in)
		}
	}
}
