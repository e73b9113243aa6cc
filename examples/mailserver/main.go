// Command mailserver runs postyard's example mail server. With no flags it
// listens on loopback high ports, so it needs neither root nor a config:
//
//	go run ./examples/mailserver
//
// It serves, on 127.0.0.1:
//
//	10025  SMTP for incoming mail (MX): local delivery, no relaying for strangers
//	10587  message submission with STARTTLS and AUTH (RFC 6409)
//	10465  message submission over implicit TLS (RFC 8314)
//	10143  IMAP with STARTTLS      10993  IMAP over TLS
//	10110  POP3 with STLS          10995  POP3 over TLS
//
// with a self-signed certificate made at start, one demo user whose
// password is printed. Mailboxes (Maildir++, readable by mutt and Dovecot)
// and the outbound queue live under -data, by default a new temporary
// directory whose name is logged. Mail for other domains
// that the demo user submits is queued and delivered through MX.
package main

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/postyard/postyard/auth"
	"github.com/postyard/postyard/imap"
	"github.com/postyard/postyard/internal/selfsigned"
	"github.com/postyard/postyard/mailbox/maildir"
	"github.com/postyard/postyard/pop3"
	"github.com/postyard/postyard/queue"
	"github.com/postyard/postyard/queue/filequeue"
	"github.com/postyard/postyard/relay"
	"github.com/postyard/postyard/smtp"
)

type config struct {
	data                   string // data directory; "" means a new temporary one
	host, hostname, domain string
	smtp, sub, subs        int
	imap, imaps            int
	pop3, pop3s            int
}

func main() {
	var c config
	flag.StringVar(&c.data, "data", "", "data directory for the Maildir store and the queue (default: a new temporary directory)")
	flag.StringVar(&c.host, "host", "127.0.0.1", "address to listen on")
	flag.StringVar(&c.hostname, "hostname", "mail.localhost", "server name in greetings and headers")
	flag.StringVar(&c.domain, "domain", "localhost", "mail domain the server receives for")
	flag.IntVar(&c.smtp, "smtp-port", 10025, "SMTP (MX) port")
	flag.IntVar(&c.sub, "submission-port", 10587, "submission port (STARTTLS, AUTH)")
	flag.IntVar(&c.subs, "submissions-port", 10465, "submission port with implicit TLS")
	flag.IntVar(&c.imap, "imap-port", 10143, "IMAP port (STARTTLS)")
	flag.IntVar(&c.imaps, "imaps-port", 10993, "IMAP port with implicit TLS")
	flag.IntVar(&c.pop3, "pop3-port", 10110, "POP3 port (STLS)")
	flag.IntVar(&c.pop3s, "pop3s-port", 10995, "POP3 port with implicit TLS")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(log, c); err != nil {
		log.Error("mailserver", "err", err)
		os.Exit(1)
	}
}

// listener is one port the server serves.
type listener struct {
	name  string
	port  int
	serve func(net.Listener) error
	try   string
}

func run(log *slog.Logger, c config) error {
	ms, err := start(log, c, randomPassword())
	if err != nil {
		return err
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	select {
	case s := <-sig:
		log.Info("shutting down", "signal", s.String())
	case err := <-ms.errc:
		ms.close()
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return ms.shutdown(ctx)
}

// mailServer is the running server.
type mailServer struct {
	user, password string
	addrs          map[string]string // listener name → address
	errc           chan error
	shutdown       func(context.Context) error
	close          func()
}

// start starts every listener of c (port 0: any free port) and returns at
// once.
func start(log *slog.Logger, c config, password string) (*mailServer, error) {
	tlsConf, _, err := selfsigned.Config(c.hostname, c.host)
	if err != nil {
		return nil, err
	}
	user := "demo@" + c.domain
	users := &auth.Users{}
	if err := users.Add(user, password); err != nil {
		return nil, err
	}
	if c.data == "" {
		if c.data, err = os.MkdirTemp("", "postyard-mailserver-"); err != nil {
			return nil, err
		}
	}
	log.Info("data directory", "dir", c.data)
	store, err := maildir.Open(filepath.Join(c.data, "mail"), nil)
	if err != nil {
		return nil, err
	}
	q, err := filequeue.Open(filepath.Join(c.data, "queue"), &queue.Options{Hostname: c.hostname, Logger: log})
	if err != nil {
		store.Close()
		return nil, err
	}

	policy := &relay.Policy{
		Domains:   []string{c.domain},
		Separator: "+",
		Aliases:   map[string][]string{"postmaster": {user}, "abuse": {user}},
		Users: func(ctx context.Context, local, domain string) (string, error) {
			if local+"@"+domain == user {
				return user, nil
			}
			return "", nil
		},
	}
	inbound := relay.Inbound{Policy: policy, Deliverer: store, Queue: q, Logger: log}
	mx := &smtp.Server{Hostname: c.hostname, Backend: &inbound, TLSConfig: tlsConf, Logger: log}
	submission := &smtp.Server{
		Hostname: c.hostname, TLSConfig: tlsConf, Logger: log,
		Backend:       &relay.Submission{Inbound: inbound, Hostname: c.hostname},
		Authenticator: users, RequireAuth: true,
	}
	// Outbound: remote mail leaves through MX (reports to local senders
	// stay local).
	out := &relay.Deliverer{Queue: q, Hostname: c.hostname, Local: policy, Mailboxes: store, Logger: log}
	if err := out.Start(); err != nil {
		return nil, err
	}
	imapSrv := &imap.Server{Store: store, Authenticator: users, Hostname: c.hostname, TLSConfig: tlsConf, Logger: log}
	pop3Srv := &pop3.Server{Store: store, Authenticator: users, Hostname: c.hostname, TLSConfig: tlsConf, Logger: log}

	ls := []listener{
		{"smtp", c.smtp, mx.Serve, "swaks --server %s --to " + user},
		{"submission", c.sub, submission.Serve, "swaks --server %s -tls --auth PLAIN --auth-user " + user + " --auth-password " + password + " --to " + user},
		{"submissions", c.subs, submission.ServeTLS, "curl -k --url smtps://%s --user " + user + ":" + password + " --mail-from " + user + " --mail-rcpt " + user + " -T message.eml"},
		{"imap", c.imap, imapSrv.Serve, "curl -k --ssl-reqd --url imap://%s/INBOX --user " + user + ":" + password},
		{"imaps", c.imaps, imapSrv.ServeTLS, "curl -k --url imaps://%s/INBOX --user " + user + ":" + password},
		{"pop3", c.pop3, pop3Srv.Serve, "curl -k --ssl-reqd --url pop3://%s/ --user " + user + ":" + password},
		{"pop3s", c.pop3s, pop3Srv.ServeTLS, "curl -k --url pop3s://%s/1 --user " + user + ":" + password},
	}
	ms := &mailServer{user: user, password: password, addrs: map[string]string{}, errc: make(chan error, len(ls))}
	ms.close = func() {
		out.Close()
		mx.Close()
		submission.Close()
		imapSrv.Close()
		pop3Srv.Close()
		q.Close()
		store.Close()
	}
	ms.shutdown = func(ctx context.Context) error {
		err := errors.Join(mx.Shutdown(ctx), submission.Shutdown(ctx), imapSrv.Shutdown(ctx), pop3Srv.Shutdown(ctx))
		return errors.Join(err, out.Shutdown(ctx), q.Close(), store.Close())
	}
	var nls []net.Listener
	for _, l := range ls {
		nl, err := net.Listen("tcp", net.JoinHostPort(c.host, fmt.Sprint(l.port)))
		if err != nil {
			for _, o := range nls {
				o.Close()
			}
			ms.close()
			return nil, err
		}
		nls = append(nls, nl)
	}
	log.Info("demo user", "user", user, "password", password)
	for i, l := range ls {
		addr := nls[i].Addr().String()
		ms.addrs[l.name] = addr
		log.Info(l.name+" listening", "addr", addr, "try", fmt.Sprintf(l.try, addr))
		go func() {
			if err := l.serve(nls[i]); err != nil && !errors.Is(err, smtp.ErrServerClosed) &&
				!errors.Is(err, imap.ErrServerClosed) && !errors.Is(err, pop3.ErrServerClosed) {
				ms.errc <- fmt.Errorf("%s: %w", l.name, err)
			}
		}()
	}
	return ms, nil
}

func randomPassword() string {
	b := make([]byte, 10)
	rand.Read(b)
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}
