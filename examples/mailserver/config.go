package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// config is the server's configuration: the defaults, then the TOML file
// given with -config, then the flags that were set. The TOML keys are the
// tags; see mailserver.example.toml for a commented file.
type config struct {
	// Hostname names the server in greetings, Received headers, reports
	// and the self-signed certificate.
	Hostname string `toml:"hostname"`
	// Domains are the mail domains received for; the first is the demo
	// user's.
	Domains []string `toml:"domains"`
	// DataDir holds the mailboxes (mail/), the queue (queue/) unless
	// QueueDir says otherwise, the users file (users) unless UsersFile
	// does, the generated certificate (tls/), generated DKIM keys (dkim/)
	// and the admin socket (admin.sock). "" means a new temporary
	// directory.
	DataDir  string `toml:"data_dir"`
	QueueDir string `toml:"queue_dir"`
	// UsersFile holds "name:hash" lines (see users.go). "" means
	// DataDir/users if it exists, otherwise one demo user.
	UsersFile string `toml:"users_file"`
	// TrustedNetworks may relay without AUTH (CIDR prefixes or addresses).
	TrustedNetworks []string `toml:"trusted_networks"`
	// Aliases maps a local address or a local part of every domain to
	// targets (relay.Policy.Aliases). Default, in demo mode only:
	// postmaster and abuse to the demo user.
	Aliases map[string][]string `toml:"aliases"`

	Listen    listenConfig    `toml:"listen"`
	TLS       tlsConfig       `toml:"tls"`
	Smarthost smarthostConfig `toml:"smarthost"`
	DKIM      []dkimConfig    `toml:"dkim"`
	Inbound   inboundConfig   `toml:"inbound"`
	Filters   filtersConfig   `toml:"filters"` // filters.go
	Archive   archiveConfig   `toml:"archive"` // filters.go
	Sieve     sieveConfig     `toml:"sieve"`
	Log       logConfig       `toml:"log"`

	demoPassword string // tests: the demo user's password instead of a random one
}

// listenConfig has one "host:port" address per service; "" turns the
// service off. Port 0 means any free port (tests).
type listenConfig struct {
	SMTP        string `toml:"smtp"`        // MX, port 25
	Submission  string `toml:"submission"`  // STARTTLS and AUTH, port 587 (RFC 6409)
	Submissions string `toml:"submissions"` // implicit TLS and AUTH, port 465 (RFC 8314)
	IMAP        string `toml:"imap"`        // STARTTLS, port 143
	IMAPS       string `toml:"imaps"`       // implicit TLS, port 993
	POP3        string `toml:"pop3"`        // STLS, port 110
	POP3S       string `toml:"pop3s"`       // implicit TLS, port 995
	ManageSieve string `toml:"managesieve"` // STARTTLS, port 4190 (RFC 5804)
}

// services lists the listen addresses by service name, in start order.
func (l *listenConfig) services() []struct {
	name string
	addr *string
} {
	return []struct {
		name string
		addr *string
	}{
		{"smtp", &l.SMTP}, {"submission", &l.Submission}, {"submissions", &l.Submissions},
		{"imap", &l.IMAP}, {"imaps", &l.IMAPS}, {"pop3", &l.POP3}, {"pop3s", &l.POP3S},
		{"managesieve", &l.ManageSieve},
	}
}

// tlsConfig names the certificate and key (PEM). Both empty means a
// self-signed pair generated on first start in DataDir/tls. The files are
// read again when they change (certs.Reloader) and on SIGHUP.
type tlsConfig struct {
	CertFile string `toml:"cert_file"`
	KeyFile  string `toml:"key_file"`
}

// smarthostConfig routes all remote mail through a relay host. Host ""
// means delivery through MX.
type smarthostConfig struct {
	Host string `toml:"host"`
	// Port: zero means 587, 465 with TLS "implicit", 25 with TLS "none".
	Port     int    `toml:"port"`
	Username string `toml:"username"`
	Password string `toml:"password"`
	// PasswordFile holds the password (one line), instead of Password.
	PasswordFile string `toml:"password_file"`
	// TLS is "starttls" (the default), "implicit" or "none" (plaintext:
	// only for a relay on a trusted network; credentials are not sent).
	TLS string `toml:"tls"`
	// InsecureSkipVerify uses TLS without checking the certificate.
	InsecureSkipVerify bool `toml:"insecure_skip_verify"`
}

// dkimConfig is one DKIM signing key for mail submitted by local users.
type dkimConfig struct {
	Domain   string `toml:"domain"`
	Selector string `toml:"selector"`
	// KeyFile is the private key (PEM, PKCS #8). If it does not exist a
	// key is generated there. "" means DataDir/dkim/SELECTOR.DOMAIN.key.
	KeyFile string `toml:"key_file"`
	// Algorithm of a generated key: "rsa" (2048 bits, the default) or
	// "ed25519" (RFC 8463).
	Algorithm string `toml:"algorithm"`
}

// sieveConfig: Sieve filters (RFC 5228) at local delivery. Users upload
// their scripts over ManageSieve (listen.managesieve); they are kept in
// DATA/sieve, and vacation and duplicate tracking in DATA/sieve-state.
type sieveConfig struct {
	// Before and After are administrator's script files, run for every
	// local recipient before and after the user's own script (as
	// Pigeonhole's sieve_before and sieve_after).
	Before []string `toml:"before"`
	After  []string `toml:"after"`
	// MaxScripts and MaxScriptSize bound each user's scripts. Defaults
	// 100 and 1 MiB.
	MaxScripts    int      `toml:"max_scripts"`
	MaxScriptSize byteSize `toml:"max_script_size"`
}

// inboundConfig: checks on mail arriving on the MX port.
type inboundConfig struct {
	// Verify checks SPF, DKIM and DMARC (relay.Verifier), records them in
	// Authentication-Results, and refuses what DMARC p=reject says to.
	Verify bool `toml:"verify"`
}

type logConfig struct {
	Format string `toml:"format"` // "text" (default) or "json"
	Level  string `toml:"level"`  // "debug", "info" (default), "warn", "error"
}

// defaultConfig is the configuration with no flags and no file: loopback
// high ports, a temporary data directory, a demo user.
func defaultConfig() config {
	return config{
		Hostname: "mail.localhost",
		Domains:  []string{"localhost"},
		Listen: listenConfig{
			SMTP:        "127.0.0.1:10025",
			Submission:  "127.0.0.1:10587",
			Submissions: "127.0.0.1:10465",
			IMAP:        "127.0.0.1:10143",
			IMAPS:       "127.0.0.1:10993",
			POP3:        "127.0.0.1:10110",
			POP3S:       "127.0.0.1:10995",
			ManageSieve: "127.0.0.1:14190",
		},
		Log: logConfig{Format: "text", Level: "info"},
	}
}

// loadConfigFile decodes the TOML file at path onto c (keys the file does
// not have keep their values) and makes its relative paths relative to the
// file's directory. Unknown keys are an error, so that a typo is not
// silently ignored.
func loadConfigFile(path string, c *config) error {
	md, err := toml.DecodeFile(path, c)
	if err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	if u := md.Undecoded(); len(u) > 0 {
		keys := make([]string, len(u))
		for i, k := range u {
			keys[i] = k.String()
		}
		return fmt.Errorf("config %s: unknown keys: %s", path, strings.Join(keys, ", "))
	}
	base := filepath.Dir(path)
	rel := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(base, *p)
		}
	}
	rel(&c.DataDir)
	rel(&c.QueueDir)
	rel(&c.UsersFile)
	rel(&c.TLS.CertFile)
	rel(&c.TLS.KeyFile)
	rel(&c.Smarthost.PasswordFile)
	for i := range c.DKIM {
		rel(&c.DKIM[i].KeyFile)
	}
	for i := range c.Sieve.Before {
		rel(&c.Sieve.Before[i])
	}
	for i := range c.Sieve.After {
		rel(&c.Sieve.After[i])
	}
	return nil
}

// serveFlags are the flags of the server (no subcommand). Each one that is
// set overrides the config file.
type serveFlags struct {
	fs                       *flag.FlagSet
	config                   string
	data, queue, users       string
	host, hostname, domain   string
	cert, key                string
	logFormat, logLevel      string
	ports                    map[string]*int
	smtp, sub, subs          int
	imap, imaps, pop3, pop3s int
	managesieve              int
}

func newServeFlags(name string) *serveFlags {
	f := &serveFlags{fs: flag.NewFlagSet(name, flag.ContinueOnError)}
	fs := f.fs
	fs.StringVar(&f.config, "config", "", "TOML config `file` (flags override it)")
	fs.StringVar(&f.data, "data", "", "data `directory` for mailboxes, queue, users, certificate (default: a new temporary directory)")
	fs.StringVar(&f.queue, "queue", "", "queue `directory` (default: DATA/queue)")
	fs.StringVar(&f.users, "users", "", "users `file` (default: DATA/users if it exists, else a demo user)")
	fs.StringVar(&f.host, "host", "127.0.0.1", "address every service listens on")
	fs.StringVar(&f.hostname, "hostname", "mail.localhost", "server name in greetings and headers")
	fs.StringVar(&f.domain, "domain", "localhost", "mail `domains` the server receives for, comma-separated")
	fs.StringVar(&f.cert, "cert", "", "TLS certificate `file` (PEM; default: self-signed, made in DATA/tls)")
	fs.StringVar(&f.key, "key", "", "TLS private key `file` (PEM)")
	fs.StringVar(&f.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	f.ports = map[string]*int{"smtp": &f.smtp, "submission": &f.sub, "submissions": &f.subs,
		"imap": &f.imap, "imaps": &f.imaps, "pop3": &f.pop3, "pop3s": &f.pop3s, "managesieve": &f.managesieve}
	fs.IntVar(&f.smtp, "smtp-port", 10025, "SMTP (MX) port")
	fs.IntVar(&f.sub, "submission-port", 10587, "submission port (STARTTLS, AUTH)")
	fs.IntVar(&f.subs, "submissions-port", 10465, "submission port with implicit TLS")
	fs.IntVar(&f.imap, "imap-port", 10143, "IMAP port (STARTTLS)")
	fs.IntVar(&f.imaps, "imaps-port", 10993, "IMAP port with implicit TLS")
	fs.IntVar(&f.pop3, "pop3-port", 10110, "POP3 port (STLS)")
	fs.IntVar(&f.pop3s, "pop3s-port", 10995, "POP3 port with implicit TLS")
	fs.IntVar(&f.managesieve, "managesieve-port", 14190, "ManageSieve port (STARTTLS), for uploading Sieve filters")
	return f
}

// parseConfig parses the server's arguments into a config: defaults, the
// -config file, then the flags that were set.
func parseConfig(name string, args []string, stderr io.Writer) (*config, error) {
	f := newServeFlags(name)
	f.fs.SetOutput(stderr)
	f.fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: %s [flags]                       run the server\n", name)
		fmt.Fprintf(stderr, "       %s adduser|passwd|deluser [-users FILE | -data DIR | -config FILE] NAME\n", name)
		fmt.Fprintf(stderr, "       %s queue [-config FILE | -data DIR] list|hold|release|delete|retry [ID...]\n", name)
		f.fs.PrintDefaults()
	}
	if err := f.fs.Parse(args); err != nil {
		return nil, err
	}
	if f.fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (subcommands: adduser, passwd, deluser, queue)", f.fs.Arg(0))
	}
	c := defaultConfig()
	if f.config != "" {
		if err := loadConfigFile(f.config, &c); err != nil {
			return nil, err
		}
	}
	if err := f.apply(&c); err != nil {
		return nil, err
	}
	return &c, c.check()
}

// apply overrides c with the flags that were set.
func (f *serveFlags) apply(c *config) error {
	var err error
	hostSet := false
	f.fs.Visit(func(fl *flag.Flag) {
		switch fl.Name {
		case "data":
			c.DataDir = f.data
		case "queue":
			c.QueueDir = f.queue
		case "users":
			c.UsersFile = f.users
		case "hostname":
			c.Hostname = f.hostname
		case "domain":
			c.Domains = splitList(f.domain)
		case "cert":
			c.TLS.CertFile = f.cert
		case "key":
			c.TLS.KeyFile = f.key
		case "log-format":
			c.Log.Format = f.logFormat
		case "log-level":
			c.Log.Level = f.logLevel
		case "host":
			hostSet = true
		}
	})
	// -host moves every service that is on; -X-port moves one service,
	// turning it on if the file had it off.
	for _, s := range c.Listen.services() {
		host, port := "127.0.0.1", ""
		if *s.addr != "" {
			if host, port, err = net.SplitHostPort(*s.addr); err != nil {
				return fmt.Errorf("listen.%s: %w", s.name, err)
			}
		}
		portSet := false
		f.fs.Visit(func(fl *flag.Flag) { portSet = portSet || fl.Name == s.name+"-port" })
		if portSet {
			port = strconv.Itoa(*f.ports[s.name])
		}
		if hostSet {
			host = f.host
		}
		if port != "" {
			*s.addr = net.JoinHostPort(host, port)
		}
	}
	return nil
}

// check validates c.
func (c *config) check() error {
	var errs []error
	if c.Hostname == "" {
		errs = append(errs, errors.New("hostname is empty"))
	}
	if len(c.Domains) == 0 {
		errs = append(errs, errors.New("no domains"))
	}
	for _, s := range c.Listen.services() {
		if *s.addr == "" {
			continue
		}
		if _, port, err := net.SplitHostPort(*s.addr); err != nil {
			errs = append(errs, fmt.Errorf("listen.%s: %w", s.name, err))
		} else if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			errs = append(errs, fmt.Errorf("listen.%s: bad port %q", s.name, port))
		}
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		errs = append(errs, errors.New("tls: cert_file and key_file go together"))
	}
	if _, err := c.trustedNetworks(); err != nil {
		errs = append(errs, err)
	}
	switch c.Smarthost.TLS {
	case "", "starttls", "implicit", "none":
	default:
		errs = append(errs, fmt.Errorf("smarthost.tls %q: want starttls, implicit or none", c.Smarthost.TLS))
	}
	if c.Smarthost.Password != "" && c.Smarthost.PasswordFile != "" {
		errs = append(errs, errors.New("smarthost: password and password_file both set"))
	}
	for i, d := range c.DKIM {
		if d.Domain == "" || d.Selector == "" {
			errs = append(errs, fmt.Errorf("dkim[%d]: domain and selector are required", i))
		}
		switch d.Algorithm {
		case "", "rsa", "ed25519":
		default:
			errs = append(errs, fmt.Errorf("dkim[%d]: algorithm %q: want rsa or ed25519", i, d.Algorithm))
		}
	}
	if _, err := c.filters(nil, nil); err != nil {
		errs = append(errs, err)
	}
	if _, err := c.archive(); err != nil {
		errs = append(errs, err)
	}
	if c.Sieve.MaxScripts < 0 || c.Sieve.MaxScriptSize < 0 {
		errs = append(errs, errors.New("sieve: negative max_scripts or max_script_size"))
	}
	if _, err := newLogger(c.Log, os.Stderr); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// trustedNetworks parses TrustedNetworks; a bare address is a /32 or /128.
func (c *config) trustedNetworks() ([]netip.Prefix, error) {
	if len(c.TrustedNetworks) == 0 {
		return nil, nil
	}
	return parsePrefixes("trusted_networks", c.TrustedNetworks)
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
