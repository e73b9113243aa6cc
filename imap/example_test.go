package imap_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"

	"github.com/postyard/postyard/auth"
	"github.com/postyard/postyard/imap"
	"github.com/postyard/postyard/mailbox"
	"github.com/postyard/postyard/mailbox/memstore"
)

// An IMAP server over an in-memory store, with one user. A real server
// would call ListenAndServe (or ServeTLS on port 993) instead of
// ServeConn, and set TLSConfig.
func Example() {
	store := memstore.New(nil)
	defer store.Close()
	users := auth.AuthenticatorFunc(func(ctx context.Context, identity, user, pass string) (string, error) {
		if user == "alice" && pass == "secret" {
			return user, nil
		}
		return "", auth.ErrInvalidCredentials
	})
	srv := &imap.Server{Store: store, Authenticator: users, AllowInsecureAuth: true}

	// Local delivery puts a message in alice's INBOX.
	msg := "From: bob@example.org\r\nSubject: Lunch?\r\n\r\nAt noon.\r\n"
	store.Deliver(context.Background(), strings.NewReader(msg), []mailbox.Recipient{{User: "alice"}})

	client, conn := net.Pipe()
	go srv.ServeConn(context.Background(), conn)
	r := bufio.NewReader(client)
	do := func(cmd string) {
		fmt.Fprintf(client, "%s\r\n", cmd)
		for {
			line, _ := r.ReadString('\n')
			line = strings.TrimRight(line, "\r\n")
			if !strings.Contains(line, "UIDVALIDITY") && !strings.Contains(line, "CAPABILITY") {
				fmt.Println(line)
			}
			if tag, _, _ := strings.Cut(cmd, " "); strings.HasPrefix(line, tag+" ") {
				return
			}
		}
	}
	r.ReadString('\n') // greeting
	do("a1 LOGIN alice secret")
	do("a2 ENABLE IMAP4rev2")
	do("a3 EXAMINE INBOX")
	do("a4 FETCH 1 (FLAGS BODY[HEADER.FIELDS (SUBJECT)])")
	do("a5 LOGOUT")
	// Output:
	// * ENABLED IMAP4rev2
	// a2 OK ENABLE completed
	// * 1 EXISTS
	// * OK [UIDNEXT 2] Predicted next UID
	// * FLAGS (\Answered \Flagged \Deleted \Seen \Draft)
	// * OK [PERMANENTFLAGS ()] No permanent flags permitted
	// * LIST () "/" "INBOX"
	// a3 OK [READ-ONLY] EXAMINE completed
	// * 1 FETCH (FLAGS () BODY[HEADER.FIELDS (SUBJECT)] {19}
	// Subject: Lunch?
	//
	// )
	// a4 OK FETCH completed
	// * BYE Logging out
	// a5 OK LOGOUT completed
}
