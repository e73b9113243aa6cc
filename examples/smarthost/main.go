// Command smarthost is a submission-only relay: applications and mail
// clients submit on 587 (STARTTLS) or 465 (implicit TLS) with AUTH, and
// everything they send is queued durably and forwarded through one
// upstream provider (Amazon SES, Postmark, a company relay...) with the
// provider's credentials. Applications get one local endpoint with their
// own passwords, a queue that rides out the provider's outages, and
// bounce reports for what the provider refuses.
//
//	go run ./examples/smarthost -upstream smtp.provider.example:587 \
//	    -upstream-user apikey -upstream-password-file provider-password
//
// With no -users file there is one demo user, demo@localhost, whose
// password is logged and who may send as any address. The users file holds
// "name:hash" or "name:hash:scram" lines (argon2id or bcrypt, and
// SCRAM-SHA-256 credentials: auth.UsersFile), as "mailserver adduser"
// writes them; such a user may send as its own name (an address), or as
// any address with -any-sender. The file is read again when it changes.
//
// The queue lives under -data (default: a new temporary directory). The
// TLS certificate is -cert/-key (reloaded when the files change), or a
// self-signed one made at start. SIGTERM shuts down gracefully; SIGHUP
// reloads the certificate and the users file.
//
// It receives no mail for local users and serves no mailboxes: see
// examples/mailserver for a complete server.
package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base32"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/postyard/postyard/auth"
	"github.com/postyard/postyard/certs"
	"github.com/postyard/postyard/internal/selfsigned"
	"github.com/postyard/postyard/queue"
	"github.com/postyard/postyard/queue/filequeue"
	"github.com/postyard/postyard/relay"
	"github.com/postyard/postyard/smtp"
)

// config is what the flags set.
type config struct {
	submission, submissions string // listen addresses; "" is off
	hostname                string
	data                    string // "" means a new temporary directory
	users                   string // users file; "" means a demo user
	cert, key               string // "" means self-signed
	anySender               bool

	upstream         string // host:port
	upstreamUser     string
	upstreamPassword string
	upstreamTLS      string // starttls, implicit, none
	upstreamCA       string // PEM file of roots for the upstream; "" means the system's
	upstreamInsecure bool

	upstreamTLSConfig *tls.Config // tests: instead of upstreamCA
	demoPassword      string      // tests
}

func main() {
	os.Exit(cli(os.Args[1:], os.Stderr))
}

func cli(args []string, stderr io.Writer) int {
	var c config
	var pwFile, logFormat, logLevel string
	fs := flag.NewFlagSet("smarthost", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.submission, "submission", "127.0.0.1:10587", "submission `address` (STARTTLS, AUTH); \"\" for none")
	fs.StringVar(&c.submissions, "submissions", "127.0.0.1:10465", "submission `address` with implicit TLS; \"\" for none")
	fs.StringVar(&c.hostname, "hostname", "relay.localhost", "server name in greetings, headers and reports")
	fs.StringVar(&c.data, "data", "", "`directory` of the queue (default: a new temporary directory)")
	fs.StringVar(&c.users, "users", "", "users `file` of name:hash lines (default: a demo user)")
	fs.StringVar(&c.cert, "cert", "", "TLS certificate `file` (PEM; default: self-signed)")
	fs.StringVar(&c.key, "key", "", "TLS key `file` (PEM)")
	fs.BoolVar(&c.anySender, "any-sender", false, "let users send as any address (default: only their own name)")
	fs.StringVar(&c.upstream, "upstream", "", "upstream relay `host:port` (required)")
	fs.StringVar(&c.upstreamUser, "upstream-user", "", "user name at the upstream (AUTH PLAIN)")
	fs.StringVar(&pwFile, "upstream-password-file", "", "`file` holding the upstream password (or set SMARTHOST_UPSTREAM_PASSWORD)")
	fs.StringVar(&c.upstreamTLS, "upstream-tls", "starttls", "TLS with the upstream: starttls, implicit (port 465) or none")
	fs.StringVar(&c.upstreamCA, "upstream-ca", "", "PEM `file` of the CAs the upstream's certificate must chain to (default: the system's)")
	fs.BoolVar(&c.upstreamInsecure, "upstream-insecure", false, "do not check the upstream's certificate")
	fs.StringVar(&logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	c.upstreamPassword = os.Getenv("SMARTHOST_UPSTREAM_PASSWORD")
	if pwFile != "" {
		data, err := os.ReadFile(pwFile)
		if err != nil {
			fmt.Fprintln(stderr, "smarthost:", err)
			return 2
		}
		c.upstreamPassword = strings.TrimRight(string(data), "\r\n")
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(logLevel)); err != nil {
		fmt.Fprintln(stderr, "smarthost: -log-level:", err)
		return 2
	}
	var h slog.Handler = slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})
	if logFormat == "json" {
		h = slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level})
	}
	log := slog.New(h)
	if err := run(log, &c); err != nil {
		log.Error("smarthost", "err", err)
		return 1
	}
	return 0
}

// run runs the relay until SIGINT or SIGTERM.
func run(log *slog.Logger, c *config) error {
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sig)
	rs, err := start(log, c)
	if err != nil {
		return err
	}
	for {
		select {
		case s := <-sig:
			if s == syscall.SIGHUP {
				rs.reload()
				continue
			}
			log.Info("shutting down", "signal", s.String())
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			go func() {
				select {
				case <-sig:
					cancel()
				case <-ctx.Done():
				}
			}()
			err := rs.Shutdown(ctx)
			cancel()
			log.Info("stopped")
			return err
		case err := <-rs.errc:
			rs.Close()
			return err
		}
	}
}

// relayServer is the running relay.
type relayServer struct {
	log            *slog.Logger
	user, password string            // the demo user; "" with a users file
	addrs          map[string]string // "submission", "submissions" → address
	errc           chan error

	srv   *smtp.Server
	out   *relay.Deliverer
	q     *filequeue.Queue
	cert  *certs.Reloader // nil when self-signed
	users *auth.UsersFile // nil in demo mode
}

// start opens the queue, starts the Deliverer and the listeners, and
// returns at once.
func start(log *slog.Logger, c *config) (_ *relayServer, err error) {
	if c.upstream == "" {
		return nil, errors.New("-upstream host:port is required")
	}
	host, _, err := net.SplitHostPort(c.upstream)
	if err != nil {
		return nil, fmt.Errorf("-upstream: %w", err)
	}
	sh := &relay.Smarthost{Addr: c.upstream, Username: c.upstreamUser, Password: c.upstreamPassword, TLSConfig: c.upstreamTLSConfig}
	switch c.upstreamTLS {
	case "", "starttls":
	case "implicit":
		sh.ImplicitTLS = true
	case "none":
		sh.TLS = relay.TLSDisabled
		if sh.Username != "" {
			return nil, errors.New("-upstream-tls none with -upstream-user would send the password in the clear")
		}
	default:
		return nil, fmt.Errorf("-upstream-tls %q: want starttls, implicit or none", c.upstreamTLS)
	}
	if c.upstreamInsecure && sh.TLS != relay.TLSDisabled {
		sh.TLS = relay.TLSRequired
	}
	if c.upstreamCA != "" {
		pem, err := os.ReadFile(c.upstreamCA)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("-upstream-ca %s: no certificate", c.upstreamCA)
		}
		sh.TLSConfig = &tls.Config{RootCAs: pool, ServerName: host, MinVersion: tls.VersionTLS12}
	}

	rs := &relayServer{log: log, addrs: map[string]string{}}
	var undo []func()
	defer func() {
		if err != nil {
			for i := len(undo) - 1; i >= 0; i-- {
				undo[i]()
			}
		}
	}()

	// Users: the file's, or a demo user who may send as anyone.
	var authn auth.Authenticator
	anySender := c.anySender
	if c.users != "" {
		if rs.users, err = auth.OpenUsersFile(c.users, &auth.UsersFileOptions{Logger: log}); err != nil {
			return nil, err
		}
		// SCRAM-SHA-256 only if every user can use it: a client that
		// picks it could not log in as a user without SCRAM credentials.
		authn = rs.users
		if n, scram := rs.users.Count(); n != scram {
			authn = auth.AuthenticatorFunc(rs.users.Authenticate)
		}
	} else {
		rs.user, rs.password = "demo@localhost", cmp.Or(c.demoPassword, randomPassword())
		u := &auth.Users{Fold: true}
		if err := u.Add(rs.user, rs.password); err != nil {
			return nil, err
		}
		authn, anySender = u, true
	}

	// TLS for clients.
	var tlsConf *tls.Config
	if c.cert != "" {
		if rs.cert, err = certs.NewReloader(c.cert, c.key, &certs.ReloaderOptions{Logger: log}); err != nil {
			return nil, err
		}
		tlsConf = certs.ServerConfig(rs.cert.GetCertificate)
	} else if tlsConf, _, err = selfsigned.Config(c.hostname, "localhost", "127.0.0.1"); err != nil {
		return nil, err
	}

	// The queue and its Deliverer.
	data := c.data
	if data == "" {
		if data, err = os.MkdirTemp("", "postyard-smarthost-"); err != nil {
			return nil, err
		}
	}
	log.Info("data directory", "dir", data)
	qopts := &queue.Options{Hostname: c.hostname, Logger: log}
	if rs.q, err = filequeue.Open(filepath.Join(data, "queue"), qopts); err != nil {
		return nil, err
	}
	undo = append(undo, func() { rs.q.Close() })
	rs.out = &relay.Deliverer{Queue: rs.q, Hostname: c.hostname, Smarthost: sh, Logger: log}

	// Submission: every recipient is remote (no local domains), and
	// authenticated users may relay, so everything is queued.
	sub := &relay.Submission{
		Inbound:  relay.Inbound{Policy: &relay.Policy{}, Queue: rs.q, QueueOptions: qopts, Logger: log},
		Hostname: c.hostname,
	}
	if anySender {
		sub.SenderAllowed = func(context.Context, string, smtp.Path) bool { return true }
	}
	rs.srv = &smtp.Server{Hostname: c.hostname, Backend: sub, Authenticator: authn, RequireAuth: true, TLSConfig: tlsConf, Logger: log}

	type listener struct {
		name  string
		addr  string
		serve func(net.Listener) error
	}
	var ls []listener
	for _, l := range []listener{{"submission", c.submission, rs.srv.Serve}, {"submissions", c.submissions, rs.srv.ServeTLS}} {
		if l.addr != "" {
			ls = append(ls, l)
		}
	}
	if len(ls) == 0 {
		return nil, errors.New("no listener: set -submission or -submissions")
	}
	nls := make([]net.Listener, len(ls))
	for i, l := range ls {
		if nls[i], err = net.Listen("tcp", l.addr); err != nil {
			return nil, fmt.Errorf("%s: %w", l.name, err)
		}
		undo = append(undo, func() { nls[i].Close() })
	}
	if err := rs.out.Start(); err != nil {
		return nil, err
	}
	if rs.user != "" {
		log.Info("demo user", "user", rs.user, "password", rs.password)
	}
	log.Info("forwarding", "upstream", sh.Addr, "user", sh.Username, "implicit_tls", sh.ImplicitTLS, "tls", sh.TLS.String())
	rs.errc = make(chan error, len(ls))
	for i, l := range ls {
		addr := nls[i].Addr().String()
		rs.addrs[l.name] = addr
		log.Info("listening", "service", l.name, "addr", addr)
		go func() {
			if err := l.serve(nls[i]); err != nil && !errors.Is(err, smtp.ErrServerClosed) {
				rs.errc <- fmt.Errorf("%s: %w", l.name, err)
			}
		}()
	}
	log.Info("ready")
	return rs, nil
}

// reload reads the certificate and the users file again.
func (rs *relayServer) reload() {
	if rs.cert != nil {
		rs.cert.Reload()
	}
	if rs.users != nil {
		if err := rs.users.Reload(); err != nil {
			rs.log.Error("keeping the previous users", "err", err)
		}
	}
}

// Shutdown stops taking mail, lets sessions in the middle of a command
// finish, stops the Deliverer after the deliveries in progress, and closes
// the queue. Queued mail waits on disk for the next start.
func (rs *relayServer) Shutdown(ctx context.Context) error {
	err := rs.srv.Shutdown(ctx)
	return errors.Join(err, rs.out.Shutdown(ctx), rs.q.Close())
}

// Close closes everything at once.
func (rs *relayServer) Close() {
	rs.srv.Close()
	rs.out.Close()
	rs.q.Close()
}

func randomPassword() string {
	b := make([]byte, 10)
	rand.Read(b)
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}
