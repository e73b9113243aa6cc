// Command imapd runs postyard's IMAP server for load tests
// (../shared/bench/imap-bench.sh): one user over a memstore or a maildir
// store, loaded at start from a Maildir such as the one bench/bin/mailgen
// writes (flags are taken from the file names).
//
//	mailgen -maildir /tmp/testbox -n 10000 -size 4096 -seed 1
//	go run ./bench/imapd -addr 127.0.0.1:3143 -store mem -load /tmp/testbox
//
// It logs "ready" once the mailbox is loaded and the listener is up, and
// shuts down on SIGINT or SIGTERM.
package main

import (
	"bytes"
	"context"
	"flag"
	"log"
	"log/slog"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/postyard/postyard/auth"
	"github.com/postyard/postyard/imap"
	"github.com/postyard/postyard/mailbox"
	"github.com/postyard/postyard/mailbox/maildir"
	"github.com/postyard/postyard/mailbox/memstore"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:3143", "listen address")
	kind := flag.String("store", "mem", "store: mem or maildir")
	dir := flag.String("dir", "", "maildir store directory (default: a new temp dir, removed at exit)")
	load := flag.String("load", "", "Maildir to load into the user's INBOX at start (cur/ and new/)")
	user := flag.String("user", "bench", "user name")
	pass := flag.String("pass", "bench", "password")
	maxConns := flag.Int("max-conns", 10000, "connection limit (total and per IP)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile to this file")
	debugAddr := flag.String("debug-addr", "", "serve net/http/pprof on this address (e.g. 127.0.0.1:6060)")
	flag.Parse()

	var st mailbox.Store
	switch *kind {
	case "mem":
		st = memstore.New(nil)
	case "maildir":
		d := *dir
		if d == "" {
			tmp, err := os.MkdirTemp("", "imapd-maildir")
			if err != nil {
				log.Fatal(err)
			}
			defer os.RemoveAll(tmp)
			d = tmp
		}
		s, err := maildir.Open(d, nil)
		if err != nil {
			log.Fatal(err)
		}
		st = s
	default:
		log.Fatalf("unknown -store %q", *kind)
	}
	defer st.Close()

	if *load != "" {
		t0 := time.Now()
		n, err := loadMaildir(st, *user, *load)
		if err != nil {
			log.Fatal(err)
		}
		log.Printf("loaded %d messages in %v", n, time.Since(t0).Round(time.Millisecond))
	}

	srv := &imap.Server{
		Store: st,
		Authenticator: auth.AuthenticatorFunc(func(ctx context.Context, identity, u, p string) (string, error) {
			if u == *user && p == *pass && (identity == "" || identity == u) {
				return u, nil
			}
			return "", auth.ErrInvalidCredentials
		}),
		AllowInsecureAuth: true, // loopback benchmark, like the Dovecot peer
		MaxConns:          *maxConns,
		MaxConnsPerIP:     *maxConns,
		Logger:            slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			log.Fatal(err)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	if *debugAddr != "" {
		go func() { log.Print(http.ListenAndServe(*debugAddr, nil)) }()
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	log.Printf("ready: %s store on %s, user %s", *kind, ln.Addr(), *user)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	select {
	case <-sig:
	case err := <-done:
		log.Print(err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv.Shutdown(ctx)
}

// loadMaildir appends every message of a Maildir to user's INBOX, in file
// name order, with the flags of the name's ":2," info.
func loadMaildir(st mailbox.Store, user, dir string) (int, error) {
	ctx := context.Background()
	u, err := st.User(ctx, user)
	if err != nil {
		return 0, err
	}
	mb, err := u.Open(ctx, "INBOX", nil)
	if err != nil {
		return 0, err
	}
	defer mb.Close()
	var files []string
	for _, sub := range []string{"cur", "new"} {
		ents, err := os.ReadDir(filepath.Join(dir, sub))
		if err != nil {
			return 0, err
		}
		for _, e := range ents {
			if !strings.HasPrefix(e.Name(), ".") {
				files = append(files, filepath.Join(dir, sub, e.Name()))
			}
		}
	}
	slices.SortFunc(files, func(a, b string) int { return strings.Compare(filepath.Base(a), filepath.Base(b)) })
	for _, path := range files {
		fi, err := os.Stat(path)
		if err != nil {
			return 0, err
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return 0, err
		}
		// Maildir files have LF line endings; IMAP messages have CRLF
		// (what an APPEND would have sent).
		raw = bytes.ReplaceAll(bytes.ReplaceAll(raw, []byte("\r\n"), []byte("\n")), []byte("\n"), []byte("\r\n"))
		opts := &mailbox.AppendOptions{InternalDate: fi.ModTime()}
		if _, info, ok := strings.Cut(filepath.Base(path), ":2,"); ok {
			for _, c := range info {
				switch c {
				case 'S':
					opts.Flags |= mailbox.FlagSeen
				case 'R':
					opts.Flags |= mailbox.FlagAnswered
				case 'F':
					opts.Flags |= mailbox.FlagFlagged
				case 'T':
					opts.Flags |= mailbox.FlagDeleted
				case 'D':
					opts.Flags |= mailbox.FlagDraft
				}
			}
		}
		if _, err := mb.Append(ctx, bytes.NewReader(raw), opts); err != nil {
			return 0, err
		}
	}
	return len(files), nil
}
