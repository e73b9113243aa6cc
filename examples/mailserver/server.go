package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/postyard/postyard/auth"
	"github.com/postyard/postyard/certs"
	"github.com/postyard/postyard/imap"
	"github.com/postyard/postyard/mailbox/maildir"
	"github.com/postyard/postyard/managesieve"
	"github.com/postyard/postyard/pop3"
	"github.com/postyard/postyard/queue"
	"github.com/postyard/postyard/queue/filequeue"
	"github.com/postyard/postyard/relay"
	"github.com/postyard/postyard/smtp"
)

// shutdownTimeout bounds a graceful shutdown: sessions in the middle of a
// command and deliveries in progress get this long to end.
const shutdownTimeout = 30 * time.Second

// run starts the server and runs it until SIGINT or SIGTERM (graceful
// shutdown; a second signal closes at once). SIGHUP reloads the TLS
// certificate and the users file.
func run(log *slog.Logger, c *config) error {
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sig)
	ms, err := start(log, c)
	if err != nil {
		return err
	}
	for {
		select {
		case s := <-sig:
			if s == syscall.SIGHUP {
				ms.reload()
				continue
			}
			log.Info("shutting down", "signal", s.String(), "timeout", shutdownTimeout.String())
			ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
			go func() {
				for {
					select {
					case s := <-sig:
						if s != syscall.SIGHUP {
							log.Warn("second signal: closing at once", "signal", s.String())
							cancel()
							return
						}
					case <-ctx.Done():
						return
					}
				}
			}()
			err := ms.Shutdown(ctx)
			cancel()
			if err != nil {
				return fmt.Errorf("shutdown: %w", err)
			}
			log.Info("stopped")
			return nil
		case err := <-ms.errc:
			ms.Close()
			return err
		}
	}
}

// server is what smtp.Server, imap.Server and pop3.Server have in common.
type server interface {
	Shutdown(context.Context) error
	Close() error
}

// mailServer is the running server.
type mailServer struct {
	log            *slog.Logger
	user, password string            // the demo user; "" with a users file
	dataDir        string            // the data directory in use
	addrs          map[string]string // service → listening address
	errc           chan error        // a listener that failed

	servers []server
	admin   *adminServer
	out     *relay.Deliverer
	q       *filequeue.Queue
	store   *maildir.Store
	cert    *certs.Reloader
	users   *userDB // nil in demo mode

	archive     *relay.Archive // nil without one
	stopArchive func()         // stops the archive sweeps and waits for them
	sieve       *managesieve.DirStore
}

// start opens the storage, starts every service of c and returns at once.
func start(log *slog.Logger, c *config) (_ *mailServer, err error) {
	ms := &mailServer{log: log, addrs: map[string]string{}, stopArchive: func() {}}
	var undo []func()
	defer func() {
		if err != nil {
			for i := len(undo) - 1; i >= 0; i-- {
				undo[i]()
			}
		}
	}()

	ms.dataDir = c.DataDir
	if ms.dataDir == "" {
		if ms.dataDir, err = os.MkdirTemp("", "postyard-mailserver-"); err != nil {
			return nil, err
		}
	} else if err := os.MkdirAll(ms.dataDir, 0o700); err != nil {
		return nil, err
	}
	log.Info("data directory", "dir", ms.dataDir)

	// The queue first: its lock keeps a second server off the directory.
	queueDir := c.QueueDir
	if queueDir == "" {
		queueDir = filepath.Join(ms.dataDir, "queue")
	}
	qopts := &queue.Options{Hostname: c.Hostname, Logger: log}
	if ms.q, err = filequeue.Open(queueDir, qopts); err != nil {
		if errors.Is(err, filequeue.ErrLocked) {
			return nil, fmt.Errorf("%s: another server is running on this data directory", queueDir)
		}
		return nil, err
	}
	undo = append(undo, func() { ms.q.Close() })
	if ms.store, err = maildir.Open(filepath.Join(ms.dataDir, "mail"), nil); err != nil {
		return nil, err
	}
	undo = append(undo, func() { ms.store.Close() })

	tlsConf, reloader, err := setupTLS(c, ms.dataDir, log)
	if err != nil {
		return nil, err
	}
	ms.cert = reloader

	nets, err := c.trustedNetworks()
	if err != nil {
		return nil, err
	}
	policy := &relay.Policy{Domains: c.Domains, Separator: "+", Aliases: c.Aliases, TrustedNetworks: nets}
	var authn auth.Authenticator
	usersFile := c.UsersFile
	if usersFile == "" {
		if _, err := os.Stat(filepath.Join(ms.dataDir, "users")); err == nil {
			usersFile = filepath.Join(ms.dataDir, "users")
		}
	}
	if usersFile != "" {
		if ms.users, err = openUsers(usersFile, log); err != nil {
			return nil, fmt.Errorf("%w (add users with: mailserver adduser -users %s NAME)", err, usersFile)
		}
		authn, policy.Users = ms.users.authenticator(log), ms.users.lookup
	} else {
		ms.user, ms.password = "demo@"+c.Domains[0], c.demoPassword
		if ms.password == "" {
			ms.password = randomPassword()
		}
		users := &auth.Users{Fold: true}
		if err := users.Add(ms.user, ms.password); err != nil {
			return nil, err
		}
		authn = users
		policy.Users = func(ctx context.Context, local, domain string) (string, error) {
			if strings.EqualFold(local+"@"+domain, ms.user) {
				return ms.user, nil
			}
			return "", nil
		}
		if policy.Aliases == nil {
			policy.Aliases = map[string][]string{"postmaster": {ms.user}, "abuse": {ms.user}}
		}
	}

	signer, err := setupDKIM(c.DKIM, ms.dataDir, log)
	if err != nil {
		return nil, err
	}
	smarthost, err := c.Smarthost.relay()
	if err != nil {
		return nil, err
	}

	filters, err := c.filters(nets, log)
	if err != nil {
		return nil, err
	}
	if ms.archive, err = c.archive(); err != nil {
		return nil, err
	}
	if err := ms.prepareArchive(); err != nil {
		return nil, err
	}
	// Local copies: quarantined ones go to the quarantine mailbox, made
	// when first needed; the users' Sieve scripts file the others.
	mailboxes := &junkStore{Store: ms.store, junk: filters.quarantine}
	sv, err := ms.setupSieve(c, log)
	if err != nil {
		return nil, err
	}

	inbound := relay.Inbound{
		Policy: policy, Deliverer: mailboxes, Queue: ms.q, QueueOptions: qopts,
		Filters: filters.mx, QuarantineMailbox: filters.quarantine, Archive: ms.archive, Sieve: sv, Logger: log,
	}
	mx := &smtp.Server{Hostname: c.Hostname, Backend: &inbound, TLSConfig: tlsConf, Logger: log}
	if c.Inbound.Verify {
		inbound.Verifier = &relay.Verifier{AuthServID: c.Hostname}
	}
	subInbound := inbound
	subInbound.Verifier, subInbound.Filters = nil, filters.submission
	submission := &smtp.Server{
		Hostname: c.Hostname, TLSConfig: tlsConf, Logger: log,
		Backend:       &relay.Submission{Inbound: subInbound, Hostname: c.Hostname, Signer: signer},
		Authenticator: authn, RequireAuth: true,
	}
	// Outbound: remote mail leaves through MX or the smarthost; reports
	// to local senders stay local (through their Sieve scripts too).
	ms.out = &relay.Deliverer{Queue: ms.q, Hostname: c.Hostname, Smarthost: smarthost, Local: policy, Mailboxes: mailboxes, Sieve: sv, QuarantineMailbox: filters.quarantine, Logger: log}
	imapSrv := &imap.Server{Store: ms.store, Authenticator: authn, Hostname: c.Hostname, TLSConfig: tlsConf, Logger: log}
	pop3Srv := &pop3.Server{Store: ms.store, Authenticator: authn, Hostname: c.Hostname, TLSConfig: tlsConf, Logger: log}
	sieveSrv := &managesieve.Server{Store: ms.sieve, Authenticator: authn, TLSConfig: tlsConf, Logger: log}

	user, password := ms.user, ms.password
	if user == "" {
		user, password = "USER", "PASSWORD"
	}
	type service struct {
		srv   server
		serve func(net.Listener) error
		try   string
	}
	services := map[string]service{
		"smtp":        {mx, mx.Serve, "swaks --server %s --to " + user},
		"submission":  {submission, submission.Serve, "swaks --server %s -tls --auth PLAIN --auth-user " + user + " --auth-password " + password + " --to " + user},
		"submissions": {submission, submission.ServeTLS, "curl -k --url smtps://%s --user " + user + ":" + password + " --mail-from " + user + " --mail-rcpt " + user + " -T message.eml"},
		"imap":        {imapSrv, imapSrv.Serve, "curl -k --ssl-reqd --url imap://%s/INBOX --user " + user + ":" + password},
		"imaps":       {imapSrv, imapSrv.ServeTLS, "curl -k --url imaps://%s/INBOX --user " + user + ":" + password},
		"pop3":        {pop3Srv, pop3Srv.Serve, "curl -k --ssl-reqd --url pop3://%s/ --user " + user + ":" + password},
		"pop3s":       {pop3Srv, pop3Srv.ServeTLS, "curl -k --url pop3s://%s/1 --user " + user + ":" + password},
		"managesieve": {sieveSrv, sieveSrv.Serve, "sieve-connect --server %s --port %s --nosrv --notlsverify --user " + user + " --list"},
	}
	type bound struct {
		name string
		l    net.Listener
	}
	var ls []bound
	used := map[server]bool{}
	for _, s := range c.Listen.services() {
		if *s.addr == "" {
			continue
		}
		l, err := net.Listen("tcp", *s.addr)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.name, err)
		}
		undo = append(undo, func() { l.Close() })
		ls = append(ls, bound{s.name, l})
		if srv := services[s.name].srv; !used[srv] {
			used[srv] = true
			ms.servers = append(ms.servers, srv)
		}
	}
	if len(ls) == 0 {
		return nil, errors.New("every service is off (listen)")
	}
	if ms.admin, err = listenAdmin(filepath.Join(ms.dataDir, adminSocket), ms.q, log); err != nil {
		return nil, err
	}
	undo = append(undo, func() { ms.admin.Close() })
	if err := ms.out.Start(); err != nil {
		return nil, err
	}
	ms.startArchive(log, time.Duration(c.Archive.SweepInterval))

	if ms.users == nil {
		log.Info("demo user", "user", ms.user, "password", ms.password)
	}
	ms.errc = make(chan error, len(ls))
	for _, b := range ls {
		addr := b.l.Addr().String()
		ms.addrs[b.name] = addr
		s := services[b.name]
		try := fmt.Sprintf(s.try, addr)
		if b.name == "managesieve" {
			host, port, _ := net.SplitHostPort(addr)
			try = fmt.Sprintf(s.try, host, port)
		}
		log.Info("listening", "service", b.name, "addr", addr, "try", try)
		go func() {
			if err := s.serve(b.l); err != nil && !errors.Is(err, smtp.ErrServerClosed) &&
				!errors.Is(err, imap.ErrServerClosed) && !errors.Is(err, pop3.ErrServerClosed) &&
				!errors.Is(err, managesieve.ErrServerClosed) {
				ms.errc <- fmt.Errorf("%s: %w", b.name, err)
			}
		}()
	}
	log.Info("ready", "hostname", c.Hostname, "domains", c.Domains)
	return ms, nil
}

// reload reads the certificate and the users file again (SIGHUP). Errors
// are logged; the previous ones stay in use.
func (ms *mailServer) reload() {
	ms.log.Info("reloading")
	ms.cert.Reload()
	if ms.users != nil {
		if err := ms.users.reload(); err != nil {
			ms.log.Error("keeping the previous users", "err", err)
		}
	}
}

// Shutdown stops the listeners and the admin socket, lets sessions in the
// middle of a command finish (idle ones get 421 / BYE), stops the
// Deliverer after its deliveries in progress, then closes the queue and
// the mailboxes. When ctx ends first, what remains is closed at once.
func (ms *mailServer) Shutdown(ctx context.Context) error {
	errs := make([]error, len(ms.servers)+1)
	var wg sync.WaitGroup
	for i, s := range ms.servers {
		wg.Go(func() { errs[i] = s.Shutdown(ctx) })
	}
	wg.Go(func() { errs[len(ms.servers)] = ms.admin.Shutdown(ctx) })
	wg.Wait()
	ms.stopArchive()
	errs = append(errs, ms.out.Shutdown(ctx), ms.q.Close(), ms.store.Close())
	return errors.Join(errs...)
}

// Close closes everything at once.
func (ms *mailServer) Close() {
	for _, s := range ms.servers {
		s.Close()
	}
	ms.admin.Close()
	ms.stopArchive()
	ms.out.Close()
	ms.q.Close()
	ms.store.Close()
}

// relay returns the Deliverer's smarthost, nil without one.
func (s *smarthostConfig) relay() (*relay.Smarthost, error) {
	if s.Host == "" {
		return nil, nil
	}
	sh := &relay.Smarthost{Username: s.Username, Password: s.Password}
	if s.PasswordFile != "" {
		data, err := os.ReadFile(s.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("smarthost: %w", err)
		}
		sh.Password = strings.TrimRight(string(data), "\r\n")
	}
	port := s.Port
	switch s.TLS {
	case "", "starttls":
		port = cmp.Or(port, 587)
	case "implicit":
		port = cmp.Or(port, 465)
		sh.ImplicitTLS = true
	case "none":
		port = cmp.Or(port, 25)
		sh.TLS = relay.TLSDisabled
		if sh.Username != "" {
			return nil, errors.New("smarthost: a username with tls = \"none\" would send the password in the clear")
		}
	}
	if s.InsecureSkipVerify && sh.TLS != relay.TLSDisabled {
		sh.TLS = relay.TLSRequired
	}
	sh.Addr = net.JoinHostPort(s.Host, strconv.Itoa(port))
	return sh, nil
}

func randomPassword() string {
	b := make([]byte, 10)
	rand.Read(b)
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}
