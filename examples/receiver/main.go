// Command receiver is a catch-all mail receiver for testing, a one-binary
// stand-in for MailHog-style tools: it accepts mail for any recipient on
// 127.0.0.1, prints a line for each message, and keeps them in memory,
// optionally readable over IMAP and POP3.
//
//	go run ./examples/receiver -smtp 127.0.0.1:2525 -imap 127.0.0.1:2143 -pop3 127.0.0.1:2110
//
// IMAP and POP3 logins are -user/-password (default test/test), without
// TLS: this is a loopback tool.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/postyard/postyard/auth"
	"github.com/postyard/postyard/imap"
	"github.com/postyard/postyard/mailbox"
	"github.com/postyard/postyard/mailbox/memstore"
	"github.com/postyard/postyard/pop3"
	"github.com/postyard/postyard/smtp"
)

// catchAll delivers every message to one user's INBOX.
type catchAll struct {
	store *memstore.Store
	user  string
}

func (b *catchAll) NewSession(ctx context.Context, c *smtp.ConnInfo) (smtp.Session, error) {
	return &session{b: b}, nil
}

type session struct {
	b    *catchAll
	from smtp.Path
	to   []smtp.Path
}

func (s *session) Mail(ctx context.Context, from smtp.Path, _ *smtp.MailOptions) error {
	s.from = from
	return nil
}

func (s *session) Rcpt(ctx context.Context, to smtp.Path, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

func (s *session) Data(ctx context.Context, r io.Reader) (string, error) {
	cr := &countingReader{r: r}
	errs, err := s.b.store.Deliver(ctx, cr, []mailbox.Recipient{{User: s.b.user}})
	if err == nil && errs[0] != nil {
		err = errs[0]
	}
	if err != nil {
		return "", err
	}
	fmt.Printf("%s message from <%s> to %v, %d bytes\n", time.Now().Format(time.TimeOnly), s.from, s.to, cr.n)
	return "", nil
}

func (s *session) Reset(ctx context.Context) { s.from, s.to = smtp.Path{}, nil }
func (s *session) Close() error              { return nil }

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func main() {
	smtpAddr := flag.String("smtp", "127.0.0.1:2525", "SMTP listen address")
	imapAddr := flag.String("imap", "", "IMAP listen address (none if empty)")
	pop3Addr := flag.String("pop3", "", "POP3 listen address (none if empty)")
	user := flag.String("user", "test", "IMAP/POP3 user name")
	password := flag.String("password", "test", "IMAP/POP3 password")
	flag.Parse()

	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	store := memstore.New(nil)
	users := &auth.Users{}
	if err := users.Add(*user, *password); err != nil {
		log.Fatal(err)
	}
	srv := &smtp.Server{
		Hostname:             "receiver.localhost",
		Backend:              &catchAll{store: store, user: *user},
		NormalizeLineEndings: true, // a test receiver takes what applications send
		Logger:               logger,
	}
	imapSrv := &imap.Server{Store: store, Authenticator: users, AllowInsecureAuth: true, Logger: logger}
	pop3Srv := &pop3.Server{Store: store, Authenticator: users, AllowInsecureAuth: true, Logger: logger}
	serve := func(addr string, f func(net.Listener) error) {
		if addr == "" {
			return
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			log.Fatal(err)
		}
		log.Printf("listening on %s", l.Addr())
		go f(l)
	}
	serve(*smtpAddr, srv.Serve)
	serve(*imapAddr, imapSrv.Serve)
	serve(*pop3Addr, pop3Srv.Serve)
	log.Printf("try: swaks --server %s --to anyone@example.com", *smtpAddr)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv.Shutdown(ctx)
	imapSrv.Shutdown(ctx)
	pop3Srv.Shutdown(ctx)
	store.Close()
}
