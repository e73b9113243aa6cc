// Command mailserver runs postyard's example mail server. With no flags it
// listens on loopback high ports, so it needs neither root nor a config:
//
//	go run ./examples/mailserver
//
// SMTP for incoming mail (MX) on 127.0.0.1:10025, message submission with
// STARTTLS and AUTH on 127.0.0.1:10587, and submission over implicit TLS on
// 127.0.0.1:10465, with a self-signed certificate made at start and one demo
// user whose password is printed. Messages are kept in memory and logged.
//
// Until the mailbox, IMAP and POP3 packages land, this is a receiver; it
// grows into the complete server of ARCHITECTURE.md.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/postyard/postyard/auth"
	"github.com/postyard/postyard/internal/selfsigned"
	"github.com/postyard/postyard/smtp"
)

func main() {
	host := flag.String("host", "127.0.0.1", "address to listen on")
	hostname := flag.String("hostname", "mail.localhost", "server name in greetings")
	domain := flag.String("domain", "localhost", "mail domain the server accepts mail for")
	mx := flag.Int("smtp-port", 10025, "SMTP (MX) port")
	sub := flag.Int("submission-port", 10587, "submission port (STARTTLS, AUTH)")
	subs := flag.Int("submissions-port", 10465, "submission port with implicit TLS")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(log, *host, *hostname, *domain, *mx, *sub, *subs); err != nil {
		log.Error("mailserver", "err", err)
		os.Exit(1)
	}
}

func run(log *slog.Logger, host, hostname, domain string, mx, sub, subs int) error {
	tlsConf, _, err := selfsigned.Config(hostname, host)
	if err != nil {
		return err
	}
	users := &auth.Users{}
	user := "demo@" + domain
	password := randomPassword()
	if err := users.Add(user, password); err != nil {
		return err
	}
	st := &store{log: log, domain: domain}
	inbound := &smtp.Server{Hostname: hostname, Backend: st, TLSConfig: tlsConf, Logger: log}
	submission := &smtp.Server{
		Hostname: hostname, Backend: st, TLSConfig: tlsConf, Logger: log,
		Authenticator: users, RequireAuth: true,
	}
	listen := func(port int) (net.Listener, error) {
		return net.Listen("tcp", net.JoinHostPort(host, fmt.Sprint(port)))
	}
	lmx, err := listen(mx)
	if err != nil {
		return err
	}
	lsub, err := listen(sub)
	if err != nil {
		return err
	}
	lsubs, err := listen(subs)
	if err != nil {
		return err
	}
	log.Info("demo user", "user", user, "password", password)
	log.Info("smtp (MX) listening", "addr", lmx.Addr(),
		"try", fmt.Sprintf("swaks --server %s --to %s", lmx.Addr(), user))
	log.Info("submission (STARTTLS) listening", "addr", lsub.Addr(),
		"try", fmt.Sprintf("swaks --server %s -tls --auth PLAIN --auth-user %s --auth-password %s --to %s", lsub.Addr(), user, password, user))
	log.Info("submissions (implicit TLS) listening", "addr", lsubs.Addr(),
		"try", fmt.Sprintf("curl -k --url smtps://%s --user %s:%s --mail-from %s --mail-rcpt %s -T message.eml", lsubs.Addr(), user, password, user, user))

	errc := make(chan error, 3)
	go func() { errc <- inbound.Serve(lmx) }()
	go func() { errc <- submission.Serve(lsub) }()
	go func() { errc <- submission.ServeTLS(lsubs) }()

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	select {
	case s := <-sig:
		log.Info("shutting down", "signal", s.String())
	case err := <-errc:
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return errors.Join(inbound.Shutdown(ctx), submission.Shutdown(ctx))
}

func randomPassword() string {
	b := make([]byte, 10)
	rand.Read(b)
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}

// store keeps messages in memory; it is the Backend of both servers.
type store struct {
	log    *slog.Logger
	domain string
	mu     sync.Mutex
	n      int
}

func (st *store) NewSession(ctx context.Context, c *smtp.ConnInfo) (smtp.Session, error) {
	return &session{st: st, info: c}, nil
}

type session struct {
	st   *store
	info *smtp.ConnInfo
	from smtp.Path
	to   []smtp.Path
}

func (s *session) Mail(ctx context.Context, from smtp.Path, _ *smtp.MailOptions) error {
	s.from = from
	return nil
}

// Rcpt accepts mail for the server's domain from anyone, and for any domain
// from authenticated users; it never relays for strangers.
func (s *session) Rcpt(ctx context.Context, to smtp.Path, _ *smtp.RcptOptions) error {
	if s.info.User == "" && !strings.EqualFold(to.Domain, s.st.domain) {
		return smtp.ErrRelayDenied
	}
	s.to = append(s.to, to)
	return nil
}

func (s *session) Data(ctx context.Context, r io.Reader) (string, error) {
	var b bytes.Buffer
	if _, err := b.ReadFrom(r); err != nil {
		return "", err
	}
	s.st.mu.Lock()
	s.st.n++
	id := fmt.Sprintf("M%d", s.st.n)
	s.st.mu.Unlock()
	s.st.log.Info("message received", "id", id, "from", s.from.String(), "rcpts", len(s.to), "bytes", b.Len(), "user", s.info.User)
	return id, nil
}

func (s *session) Reset(ctx context.Context) { s.from, s.to = smtp.Path{}, nil }
func (s *session) Close() error              { return nil }
