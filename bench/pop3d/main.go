// Command pop3d runs postyard's POP3 server for load tests
// (../shared/bench/pop3-bench.sh) over a maildir store (or memstore with
// -mem): users bench, bench0 .. bench<N-1>, password bench, each holding
// the messages of a Maildir made by mailgen, loaded on first start with
// CRLF line endings. Each benchmark client logs in as a user of its own
// (USER bench%d), because the maildrop lock of RFC 1939 §8 refuses a
// second session for the same user.
//
//	go run ./bench/pop3d -dir /tmp/pop3store -load "$(../shared/bench/peers/peers.sh maildir-of dovecot)"
//	../shared/bench/pop3-bench.sh --label postyard -phases stat,list,uidl,retr 127.0.0.1 3110 'bench%d' bench
//
// Once the messages are loaded into a maildir store, a marker file in
// -dir says so, and later starts load no user before a client logs in:
// the server's memory is then what its sessions use. The -pprof flag
// needs a build with -tags pprof (net/http adds to the binary's resident
// size, which the benchmark measures).
package main

import (
	"bytes"
	"context"
	"crypto/subtle"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"os"
	"path/filepath"
	"slices"

	"github.com/postyard/postyard/auth"
	"github.com/postyard/postyard/mailbox"
	"github.com/postyard/postyard/mailbox/maildir"
	"github.com/postyard/postyard/mailbox/memstore"
	"github.com/postyard/postyard/pop3"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:3110", "listen address")
	dir := flag.String("dir", "", "store directory (maildir)")
	load := flag.String("load", "", "mailgen Maildir to load into every user's INBOX if bench's is empty")
	users := flag.Int("users", 8, "users bench0..benchN-1, besides bench")
	mem := flag.Bool("mem", false, "memstore instead of maildir")
	pprofAddr := flag.String("pprof", "", "serve net/http/pprof on this address (build with -tags pprof)")
	flag.Parse()
	if *pprofAddr != "" {
		if servePprof == nil {
			log.Fatal("-pprof: built without -tags pprof")
		}
		go servePprof(*pprofAddr)
	}
	var st mailbox.Store
	if *mem {
		st = memstore.New(nil)
	} else {
		var err error
		if st, err = maildir.Open(*dir, nil); err != nil {
			log.Fatal(err)
		}
	}
	defer st.Close()
	ctx := context.Background()
	rcpts := []mailbox.Recipient{{User: "bench"}}
	for i := range *users {
		rcpts = append(rcpts, mailbox.Recipient{User: fmt.Sprintf("bench%d", i)})
	}
	if *load != "" {
		marker := filepath.Join(*dir, ".pop3d-loaded")
		if _, err := os.Stat(marker); *mem || err != nil {
			if err := loadMaildir(ctx, st, *load, rcpts); err != nil {
				log.Fatal(err)
			}
			if !*mem {
				os.WriteFile(marker, nil, 0o600)
			}
		}
	}
	srv := &pop3.Server{
		Store: st,
		// Plain passwords, as the Dovecot peer's passwd-file {PLAIN}.
		Authenticator: auth.AuthenticatorFunc(func(ctx context.Context, identity, user, pass string) (string, error) {
			if subtle.ConstantTimeCompare([]byte(pass), []byte("bench")) != 1 {
				return "", auth.ErrInvalidCredentials
			}
			return user, nil
		}),
		AllowInsecureAuth: true, // loopback, as the Dovecot peer
		MaxConnsPerIP:     -1,
		Logger:            slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	log.Fatal(srv.ListenAndServe(*addr))
}

// loadMaildir delivers the messages of the Maildir dir to rcpts, in file
// name order, unless the first recipient's INBOX already holds messages.
func loadMaildir(ctx context.Context, st mailbox.Store, dir string, rcpts []mailbox.Recipient) error {
	u, err := st.User(ctx, rcpts[0].User)
	if err != nil {
		return err
	}
	s, err := u.Status(ctx, mailbox.Inbox)
	if err != nil || s.Messages > 0 {
		return err
	}
	names, err := filepath.Glob(filepath.Join(dir, "cur", "*"))
	if err != nil {
		return err
	}
	slices.Sort(names)
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			return err
		}
		b = bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n"))
		errs, err := st.Deliver(ctx, bytes.NewReader(b), rcpts)
		if err != nil {
			return err
		}
		for _, e := range errs {
			if e != nil {
				return e
			}
		}
	}
	log.Printf("loaded %d messages for %d users", len(names), len(rcpts))
	return nil
}
