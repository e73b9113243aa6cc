package main

import (
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/postyard/postyard/relay"
)

// TestConfigDefaults: no flags, no file: the server of before the config
// file existed.
func TestConfigDefaults(t *testing.T) {
	c, err := parseConfig("mailserver", nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := defaultConfig()
	if !reflect.DeepEqual(*c, want) {
		t.Fatalf("got %+v\nwant %+v", *c, want)
	}
	if c.DataDir != "" || c.UsersFile != "" || c.Listen.SMTP != "127.0.0.1:10025" || c.Listen.POP3S != "127.0.0.1:10995" {
		t.Fatalf("defaults changed: %+v", *c)
	}
}

// TestConfigExampleFile: the commented example file parses, relative paths
// are taken from its directory.
func TestConfigExampleFile(t *testing.T) {
	c, err := parseConfig("mailserver", []string{"-config", "mailserver.example.toml"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Hostname != "mail.example.org" || !reflect.DeepEqual(c.Domains, []string{"example.org", "example.net"}) {
		t.Errorf("hostname, domains: %q %q", c.Hostname, c.Domains)
	}
	if c.UsersFile != "users" { // relative to the file's directory, "."
		t.Errorf("users_file %q", c.UsersFile)
	}
	if c.Listen.SMTP != "0.0.0.0:25" || c.Listen.POP3 != "" || c.Listen.POP3S != "0.0.0.0:995" {
		t.Errorf("listen: %+v", c.Listen)
	}
	if c.Smarthost.Host != "smtp.provider.example" || c.Smarthost.PasswordFile != "smarthost-password" {
		t.Errorf("smarthost: %+v", c.Smarthost)
	}
	if len(c.DKIM) != 2 || c.DKIM[1].Algorithm != "ed25519" || c.DKIM[1].KeyFile != "" {
		t.Errorf("dkim: %+v", c.DKIM)
	}
	if !c.Inbound.Verify || c.Log.Format != "json" {
		t.Errorf("inbound, log: %+v %+v", c.Inbound, c.Log)
	}
	if got := c.Aliases["sales@example.net"]; len(got) != 2 {
		t.Errorf("aliases: %v", c.Aliases)
	}
	nets, _ := c.trustedNetworks()
	want := []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("::1/128"), netip.MustParsePrefix("10.0.0.0/8")}
	if !reflect.DeepEqual(nets, want) {
		t.Errorf("trusted networks %v", nets)
	}
	if c.Listen.ManageSieve != "0.0.0.0:4190" {
		t.Errorf("listen.managesieve %q", c.Listen.ManageSieve)
	}
	fs, err := c.filters(nets, nil)
	if err != nil || len(fs.mx) != 7 || len(fs.submission) != 5 || fs.quarantine != "Junk" {
		t.Errorf("filters: %d on MX, %d on submission, %v", len(fs.mx), len(fs.submission), err)
	}
	if a, err := c.archive(); err != nil || a.User != "archive@example.org" || a.Retention != 365*24*time.Hour {
		t.Errorf("archive: %+v %v", a, err)
	}
	if c.Sieve.MaxScripts != 20 || c.Sieve.MaxScriptSize != 64<<10 {
		t.Errorf("sieve: %+v", c.Sieve)
	}
}

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "mailserver.toml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestConfigFlagsOverride: flags win over the file; -host moves the
// services that are on, -X-port one service (turning it on).
func TestConfigFlagsOverride(t *testing.T) {
	p := writeConfig(t, `
hostname = "from.file"
domains = ["file.example"]
data_dir = "data"
[listen]
smtp = "0.0.0.0:25"
submission = "[::]:587"
imap = ""
pop3 = ""
[log]
format = "json"
`)
	c, err := parseConfig("mailserver", []string{"-config", p, "-hostname", "from.flag", "-smtp-port", "2525",
		"-pop3-port", "1110", "-log-format", "text", "-domain", "a.example, b.example"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Hostname != "from.flag" || !reflect.DeepEqual(c.Domains, []string{"a.example", "b.example"}) || c.Log.Format != "text" {
		t.Errorf("flags did not override: %+v", *c)
	}
	if c.DataDir != filepath.Join(filepath.Dir(p), "data") {
		t.Errorf("data_dir %q not relative to the file", c.DataDir)
	}
	if c.Listen.SMTP != "0.0.0.0:2525" || c.Listen.Submission != "[::]:587" || c.Listen.IMAP != "" ||
		c.Listen.POP3 != "127.0.0.1:1110" || c.Listen.IMAPS != "127.0.0.1:10993" {
		t.Errorf("listen: %+v", c.Listen)
	}

	c, err = parseConfig("mailserver", []string{"-config", p, "-host", "192.0.2.1", "-data", "/srv/mail"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen.SMTP != "192.0.2.1:25" || c.Listen.Submission != "192.0.2.1:587" || c.Listen.IMAP != "" || c.DataDir != "/srv/mail" {
		t.Errorf("-host: %+v, data %q", c.Listen, c.DataDir)
	}
}

// TestConfigErrors: unknown keys and bad values are refused with the
// reason.
func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{`hostnme = "x"`, "unknown keys: hostnme"},
		{"[smarthost]\nhots = \"x\"", "unknown keys: smarthost.hots"},
		{`hostname = 3`, "hostname"},
		{"[listen]\nsmtp = \"localhost\"", "listen.smtp"},
		{"[listen]\nsmtp = \"localhost:99999\"", "bad port"},
		{"[tls]\ncert_file = \"c.pem\"", "go together"},
		{`trusted_networks = ["10.0.0.0/33"]`, "trusted_networks"},
		{"[smarthost]\nhost = \"x\"\ntls = \"ssl\"", "smarthost.tls"},
		{"[[dkim]]\ndomain = \"example.org\"", "selector"},
		{"[[dkim]]\ndomain = \"example.org\"\nselector = \"s\"\nalgorithm = \"dsa\"", "algorithm"},
		{"[log]\nlevel = \"loud\"", "log.level"},
		{"[log]\nformat = \"xml\"", "log.format"},
		{`domains = []`, "no domains"},
	} {
		_, err := parseConfig("mailserver", []string{"-config", writeConfig(t, tc.text)}, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.text, err, tc.want)
		}
	}
	if _, err := parseConfig("mailserver", []string{"stray"}, io.Discard); err == nil {
		t.Error("stray argument accepted")
	}
}

// TestSmarthostConfig: the TLS modes and their default ports.
func TestSmarthostConfig(t *testing.T) {
	pwFile := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pwFile, []byte("from-file\n"), 0o600)
	for _, tc := range []struct {
		in   smarthostConfig
		want relay.Smarthost
	}{
		{smarthostConfig{Host: "relay.example", Username: "u", Password: "p"},
			relay.Smarthost{Addr: "relay.example:587", Username: "u", Password: "p"}},
		{smarthostConfig{Host: "relay.example", TLS: "implicit", Username: "u", PasswordFile: pwFile},
			relay.Smarthost{Addr: "relay.example:465", ImplicitTLS: true, Username: "u", Password: "from-file"}},
		{smarthostConfig{Host: "relay.example", TLS: "none"},
			relay.Smarthost{Addr: "relay.example:25", TLS: relay.TLSDisabled}},
		{smarthostConfig{Host: "relay.example", Port: 2587, InsecureSkipVerify: true},
			relay.Smarthost{Addr: "relay.example:2587", TLS: relay.TLSRequired}},
	} {
		got, err := tc.in.relay()
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(*got, tc.want) {
			t.Errorf("%+v:\ngot  %+v\nwant %+v", tc.in, *got, tc.want)
		}
	}
	if sh, err := (&smarthostConfig{}).relay(); sh != nil || err != nil {
		t.Errorf("no host: %v, %v", sh, err)
	}
	if _, err := (&smarthostConfig{Host: "x", TLS: "none", Username: "u"}).relay(); err == nil {
		t.Error("credentials over plaintext accepted")
	}
}
