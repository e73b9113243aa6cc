package postyard_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"strings"

	"github.com/emersion/go-sasl"

	"github.com/postyard/postyard/auth"
	"github.com/postyard/postyard/imap"
	"github.com/postyard/postyard/mailbox/memstore"
	"github.com/postyard/postyard/queue"
	"github.com/postyard/postyard/queue/memqueue"
	"github.com/postyard/postyard/relay"
	"github.com/postyard/postyard/smtp"
)

// A whole mail server for example.org in one process: an MX (port 25), a
// submission server with AUTH (port 587), a delivery worker for the
// outbound queue and an IMAP server, all over one in-memory store. Bob
// sends alice a message through the MX, alice sends herself a note
// through submission, and then she reads both over IMAP.
//
// The ports here are 127.0.0.1:0 and nothing is encrypted; a real server
// listens on the standard ports, sets TLSConfig on every server and drops
// AllowInsecureAuth, and uses mailbox/maildir and queue/filequeue (see
// README.md).
func Example() {
	const host, alice, password = "mail.example.org", "alice@example.org", "correct horse"
	ctx := context.Background()

	store := memstore.New(nil)
	q := memqueue.New(&queue.Options{Hostname: host})
	users := &auth.Users{}
	if err := users.Add(alice, password); err != nil {
		log.Fatal(err)
	}
	policy := &relay.Policy{
		Domains: []string{"example.org"},
		Aliases: map[string][]string{"postmaster": {alice}},
		Users: func(ctx context.Context, local, domain string) (string, error) {
			if local+"@"+domain == alice {
				return alice, nil // the mailbox user name
			}
			return "", nil // no such user: refused at RCPT
		},
	}
	in := relay.Inbound{Policy: policy, Deliverer: store, Queue: q}
	mx := &smtp.Server{Hostname: host, Backend: &in}
	sub := &smtp.Server{Hostname: host, Backend: &relay.Submission{Inbound: in, Hostname: host},
		Authenticator: users, RequireAuth: true, AllowInsecureAuth: true}
	imapd := &imap.Server{Hostname: host, Store: store, Authenticator: users, AllowInsecureAuth: true}
	out := &relay.Deliverer{Queue: q, Hostname: host, Local: policy, Mailboxes: store}
	if err := out.Start(); err != nil {
		log.Fatal(err)
	}
	mxAddr := listen(mx.Serve)
	subAddr := listen(sub.Serve)
	imapAddr := listen(imapd.Serve)

	// Bob's server delivers to the MX.
	c, err := smtp.Dial(ctx, "tcp", mxAddr, &smtp.ClientOptions{Hostname: "mx.example.net"})
	if err != nil {
		log.Fatal(err)
	}
	res, err := c.SendMail(ctx, smtp.Path{Local: "bob", Domain: "example.net"}, nil,
		[]smtp.Rcpt{{To: smtp.Path{Local: "alice", Domain: "example.org"}}, {To: smtp.Path{Local: "carol", Domain: "example.org"}}},
		strings.NewReader("From: bob@example.net\r\nTo: alice@example.org\r\nSubject: Lunch?\r\n\r\nAt noon.\r\n"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("MX: alice:", res.Rcpts[0], "carol:", res.Rcpts[1])
	c.Quit(ctx)

	// Alice's mail client submits a note to postmaster, an alias of hers.
	c, err = smtp.Dial(ctx, "tcp", subAddr, nil)
	if err != nil {
		log.Fatal(err)
	}
	if err := c.Auth(ctx, sasl.NewPlainClient("", alice, password)); err != nil {
		log.Fatal(err)
	}
	res, err = c.SendMail(ctx, smtp.Path{Local: "alice", Domain: "example.org"}, nil,
		[]smtp.Rcpt{{To: smtp.Path{Local: "postmaster", Domain: "example.org"}}},
		strings.NewReader("From: alice@example.org\r\nTo: postmaster@example.org\r\nSubject: Note to self\r\n\r\nBuy milk.\r\n"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("submission:", res.Err(0))
	c.Quit(ctx)

	// Alice reads her INBOX over IMAP.
	conn, err := net.Dial("tcp", imapAddr)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	r.ReadString('\n') // greeting
	imapCmd := func(tag, cmd string) {
		fmt.Fprintf(conn, "%s %s\r\n", tag, cmd)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				log.Fatal(err)
			}
			line = strings.TrimRight(line, "\r\n")
			switch {
			case strings.HasPrefix(line, tag+" OK"):
				return
			case strings.HasPrefix(line, tag+" "):
				log.Fatal(line)
			case strings.Contains(line, " FETCH "), strings.HasPrefix(line, "Subject:"):
				fmt.Println(line) // FETCH data and the header in its literal
			}
		}
	}
	imapCmd("a1", `LOGIN "alice@example.org" "correct horse"`)
	imapCmd("a2", "EXAMINE INBOX")
	imapCmd("a3", "UID FETCH 1:* (UID FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
	imapCmd("a4", "LOGOUT")

	// Stop taking mail, finish what is in flight, close.
	err = errors.Join(mx.Shutdown(ctx), sub.Shutdown(ctx), imapd.Shutdown(ctx),
		out.Shutdown(ctx), q.Close(), store.Close())
	fmt.Println("shut down:", err)
	// Output:
	// MX: alice: <nil> carol: smtp: 550 5.1.1 No such user here
	// submission: <nil>
	// * 1 FETCH (UID 1 FLAGS () BODY[HEADER.FIELDS (SUBJECT)] {19}
	// Subject: Lunch?
	// * 2 FETCH (UID 2 FLAGS () BODY[HEADER.FIELDS (SUBJECT)] {25}
	// Subject: Note to self
	// shut down: <nil>
}

// listen serves on a new port of 127.0.0.1 and returns its address.
func listen(serve func(net.Listener) error) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go func() {
		// smtp.ErrServerClosed, imap.ErrServerClosed: after Shutdown.
		if err := serve(l); !errors.Is(err, smtp.ErrServerClosed) && !errors.Is(err, imap.ErrServerClosed) {
			log.Fatal(err)
		}
	}()
	return l.Addr().String()
}
