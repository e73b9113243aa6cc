package main

import (
	"context"
	"errors"
	"log"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/postyard/postyard/auth"
	"github.com/postyard/postyard/certs"
	"github.com/postyard/postyard/imap"
	"github.com/postyard/postyard/mailbox/maildir"
	"github.com/postyard/postyard/pop3"
	"github.com/postyard/postyard/queue"
	"github.com/postyard/postyard/queue/filequeue"
	"github.com/postyard/postyard/relay"
	"github.com/postyard/postyard/smtp"
)

const host, alice = "mail.example.org", "alice@example.org"

func main() {
	store, err := maildir.Open("/var/lib/mail/boxes", nil) // Maildir++, crash-safe
	check(err)
	q, err := filequeue.Open("/var/lib/mail/queue", &queue.Options{Hostname: host})
	check(err)
	cert, err := certs.NewReloader("/etc/mail/fullchain.pem", "/etc/mail/privkey.pem", nil)
	check(err)
	tlsConf := certs.ServerConfig(cert.GetCertificate) // picks up renewed files

	users := &auth.Users{}
	check(users.Add(alice, os.Getenv("ALICE_PASSWORD")))
	policy := &relay.Policy{
		Domains: []string{"example.org"},
		Aliases: map[string][]string{"postmaster": {alice}},
		Users: func(ctx context.Context, local, domain string) (string, error) {
			if local+"@"+domain == alice {
				return alice, nil
			}
			return "", nil // refused at RCPT: no backscatter
		},
	}
	in := relay.Inbound{Policy: policy, Deliverer: store, Queue: q}
	mx := &smtp.Server{Hostname: host, Backend: &in, TLSConfig: tlsConf}
	sub := &smtp.Server{Hostname: host, Backend: &relay.Submission{Inbound: in, Hostname: host},
		Authenticator: users, RequireAuth: true, TLSConfig: tlsConf}
	imapd := &imap.Server{Hostname: host, Store: store, Authenticator: users, TLSConfig: tlsConf}
	pop3d := &pop3.Server{Hostname: host, Store: store, Authenticator: users, TLSConfig: tlsConf}
	out := &relay.Deliverer{Queue: q, Hostname: host, Local: policy, Mailboxes: store} // MX, MTA-STS, DANE
	check(out.Start())

	listen(":25", mx.Serve)
	listen(":587", sub.Serve)
	listen(":465", sub.ServeTLS)
	listen(":143", imapd.Serve)
	listen(":993", imapd.ServeTLS)
	listen(":110", pop3d.Serve)
	listen(":995", pop3d.ServeTLS)

	sig, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-sig.Done() // then: stop taking mail, finish what is in flight, close
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	check(errors.Join(mx.Shutdown(ctx), sub.Shutdown(ctx), imapd.Shutdown(ctx), pop3d.Shutdown(ctx),
		out.Shutdown(ctx), q.Close(), store.Close()))
}

func listen(addr string, serve func(net.Listener) error) {
	l, err := net.Listen("tcp", addr)
	check(err)
	go func() {
		if err := serve(l); !errors.Is(err, smtp.ErrServerClosed) { // imap's and pop3's too
			log.Fatal(err)
		}
	}()
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
