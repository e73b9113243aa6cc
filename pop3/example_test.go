package pop3_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/textproto"
	"strings"

	"github.com/postyard/postyard/auth"
	"github.com/postyard/postyard/mailbox"
	"github.com/postyard/postyard/mailbox/memstore"
	"github.com/postyard/postyard/pop3"
)

// A POP3 server over an in-memory store, and a client that downloads and
// deletes the one message waiting for it.
func Example() {
	ctx := context.Background()
	store := memstore.New(nil)
	defer store.Close()
	msg := "From: bob@example.org\r\nSubject: lunch\r\n\r\n.12:30 at the usual place?\r\n"
	store.Deliver(ctx, strings.NewReader(msg), []mailbox.Recipient{{User: "alice"}})

	srv := &pop3.Server{
		Store: store,
		Authenticator: auth.AuthenticatorFunc(func(ctx context.Context, identity, user, pass string) (string, error) {
			if user != "alice" || pass != "secret" || identity != "" && identity != user {
				return "", auth.ErrInvalidCredentials
			}
			return user, nil
		}),
		Hostname: "pop.example.com",
		// Only for this example on loopback: a real server sets TLSConfig
		// and keeps passwords off plaintext connections.
		AllowInsecureAuth: true,
		Logger:            slog.New(slog.DiscardHandler),
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go srv.Serve(ln)
	defer srv.Close()

	c, err := textproto.Dial("tcp", ln.Addr().String())
	if err != nil {
		panic(err)
	}
	defer c.Close()
	line := func() string {
		s, err := c.ReadLine()
		if err != nil {
			panic(err)
		}
		return s
	}
	cmd := func(s string) string {
		c.PrintfLine("%s", s)
		return line()
	}
	fmt.Println(line())
	cmd("USER alice")
	fmt.Println(cmd("PASS secret"))
	fmt.Println(cmd("RETR 1"))
	body, _ := c.ReadDotLines() // undoes the dot-stuffing
	fmt.Printf("%q\n", body)
	fmt.Println(cmd("DELE 1"))
	fmt.Println(cmd("QUIT"))
	// Output:
	// +OK pop.example.com POP3 server ready
	// +OK Maildrop locked and ready, 1 messages (69 octets)
	// +OK 69 octets
	// ["From: bob@example.org" "Subject: lunch" "" ".12:30 at the usual place?"]
	// +OK Message 1 deleted
	// +OK pop.example.com POP3 server signing off (maildrop empty)
}
