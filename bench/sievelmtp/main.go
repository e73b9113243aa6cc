// Command sievelmtp is the LMTP delivery benchmark of issue 13
// (bench/sieve-vs-dovecot.sh runs it beside Dovecot's LMTP):
//
//	sievelmtp serve -addr 127.0.0.1:2424 -maildir DIR [-script FILE]
//	    postyard's LMTP server: relay.Inbound into a Maildir store, with
//	    every user's active script read from FILE (none without -script)
//	sievelmtp load -addr 127.0.0.1:2424 -n 2000 -c 4 -users 4
//	    sends n messages over c LMTP connections, one recipient each
//	    (userN@bench.test, round robin), and prints the rate
//	sievelmtp script -rules 100
//	    prints the 100-rule script both servers run
//
// The messages are generated from a fixed seed: about 3 KiB each, 30% of
// them (-match) matching one of the rules (filed into a folder, some
// flagged), the rest running through every rule into INBOX.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/postyard/postyard/mailbox/maildir"
	"github.com/postyard/postyard/relay"
	"github.com/postyard/postyard/smtp"
)

func main() {
	if len(os.Args) < 2 {
		log.Fatal("usage: sievelmtp serve|load|script [flags]")
	}
	switch os.Args[1] {
	case "serve":
		serve(os.Args[2:])
	case "load":
		load(os.Args[2:])
	case "script":
		fs := flag.NewFlagSet("script", flag.ExitOnError)
		rules := fs.Int("rules", 100, "number of rules")
		fs.Parse(os.Args[2:])
		os.Stdout.WriteString(script(*rules))
	default:
		log.Fatalf("unknown command %q", os.Args[1])
	}
}

// script returns a script of n rules of five kinds: header :contains,
// address :domain, header :matches on List-Id, allof with address
// :localpart and a flag, anyof with header and envelope.
func script(n int) string {
	var b strings.Builder
	b.WriteString(`require ["fileinto", "mailbox", "imap4flags", "envelope"];` + "\n")
	for i := range n {
		k := i / 5
		switch i % 5 {
		case 0:
			fmt.Fprintf(&b, "if header :contains \"subject\" \"[proj-%02d]\" { fileinto :create \"Projects/P%02d\"; stop; }\n", k, k)
		case 1:
			fmt.Fprintf(&b, "if address :is :domain \"from\" \"vendor%02d.example\" { fileinto :create \"Vendors/V%02d\"; stop; }\n", k, k)
		case 2:
			fmt.Fprintf(&b, "if header :matches \"list-id\" \"*<list%02d.lists.example>*\" { fileinto :create \"Lists/L%02d\"; stop; }\n", k, k)
		case 3:
			fmt.Fprintf(&b, "if allof (address :localpart :is \"from\" \"boss%02d\", header :contains \"subject\" \"urgent\") { addflag \"\\\\Flagged\"; keep; stop; }\n", k)
		case 4:
			fmt.Fprintf(&b, "if anyof (header :contains \"x-mailer\" \"bulkmailer-%02d\", envelope :is \"from\" \"bounce%02d@bulk.example\") { fileinto :create \"Bulk/B%02d\"; stop; }\n", k, k, k)
		}
	}
	return b.String()
}

// message returns message i: envelope sender and content; match percent
// of messages match a rule. With cover,
// message i matches rule i/users (so that users·rules messages create
// every folder of every user).
func message(i, rules, users, match int, cover bool) (string, []byte) {
	r := rand.New(rand.NewPCG(1, uint64(i)))
	from := fmt.Sprintf("person%d@site%d.example", r.IntN(500), r.IntN(50))
	subject := fmt.Sprintf("Message %d about topic-%02d", i, r.IntN(100))
	var extra string
	if cover || r.IntN(100) < match {
		k, kind := r.IntN(rules/5), r.IntN(5)
		if cover {
			rule := i / users % rules
			k, kind = rule/5, rule%5
		}
		switch kind {
		case 0:
			subject = fmt.Sprintf("[proj-%02d] %s", k, subject)
		case 1:
			from = fmt.Sprintf("sales@vendor%02d.example", k)
		case 2:
			extra = fmt.Sprintf("List-Id: List %d <list%02d.lists.example>\r\n", k, k)
		case 3:
			from = fmt.Sprintf("boss%02d@corp.example", k)
			subject = "urgent: " + subject
		case 4:
			extra = fmt.Sprintf("X-Mailer: bulkmailer-%02d\r\n", k)
		}
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: Someone <%s>\r\nTo: <user@bench.test>\r\nSubject: %s\r\n", from, subject)
	fmt.Fprintf(&b, "Date: Mon, 3 Mar 2025 10:%02d:%02d +0000\r\nMessage-ID: <%d.%d@bench.example>\r\n", i/60%60, i%60, i, r.Uint32())
	b.WriteString(extra)
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n")
	words := []string{"the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "mail", "server", "sieve", "filter"}
	for b.Len() < 3000 {
		for j := 0; j < 12; j++ {
			b.WriteString(words[r.IntN(len(words))])
			b.WriteByte(' ')
		}
		b.WriteString("\r\n")
	}
	return from, b.Bytes()
}

// fileScripts is the active script of every user, in a file: stat on
// every delivery, read again when it changed, as Pigeonhole checks its
// script's time stamp before using the compiled one.
type fileScripts struct {
	path string
	mu   sync.Mutex
	mod  time.Time
	size int64
	src  []byte
}

func (f *fileScripts) Active(ctx context.Context, user string) (string, []byte, error) {
	fi, err := os.Stat(f.path)
	if err != nil {
		return "", nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.src == nil || !fi.ModTime().Equal(f.mod) || fi.Size() != f.size {
		b, err := os.ReadFile(f.path)
		if err != nil {
			return "", nil, err
		}
		f.src, f.mod, f.size = b, fi.ModTime(), fi.Size()
	}
	return "bench", f.src, nil
}

func serve(args []string) {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:2424", "listen address")
	dir := fs.String("maildir", "", "Maildir store directory")
	scriptFile := fs.String("script", "", "the active script of every user (none if empty)")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile here until SIGINT or SIGTERM")
	fs.Parse(args)
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			log.Fatal(err)
		}
		pprof.StartCPUProfile(f)
		go func() {
			sig := make(chan os.Signal, 1)
			signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
			<-sig
			pprof.StopCPUProfile()
			f.Close()
			os.Exit(0)
		}()
	}
	if *dir == "" {
		log.Fatal("-maildir is required")
	}
	st, err := maildir.Open(*dir, nil)
	if err != nil {
		log.Fatal(err)
	}
	quiet := slog.New(slog.DiscardHandler)
	pol := &relay.Policy{
		Domains: []string{"bench.test"},
		Users: func(ctx context.Context, local, domain string) (string, error) {
			return local, nil
		},
		Separator: "+",
	}
	in := &relay.Inbound{Policy: pol, Deliverer: st, Logger: quiet}
	if *scriptFile != "" {
		in.Sieve = &relay.Sieve{Scripts: &fileScripts{path: *scriptFile}, Logger: quiet}
	}
	srv := &smtp.Server{Hostname: "bench.test", LMTP: true, Backend: in, MaxConnsPerIP: -1, Logger: quiet}
	log.Fatal(srv.ListenAndServe(*addr))
}

func load(args []string) {
	fs := flag.NewFlagSet("load", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:2424", "LMTP server")
	n := fs.Int("n", 2000, "messages")
	c := fs.Int("c", 4, "connections")
	users := fs.Int("users", 4, "recipients user0..userN-1@bench.test")
	rules := fs.Int("rules", 100, "rules of the script (for the message mix)")
	offset := fs.Int("offset", 0, "first message number")
	match := fs.Int("match", 30, "percentage of messages that match a rule")
	cover := fs.Bool("cover", false, "every message matches a rule, each rule for each user in turn (warm-up)")
	limit := fs.Duration("limit", 5*time.Minute, "stop after this long")
	fs.Parse(args)

	type msg struct {
		from smtp.Path
		to   smtp.Path
		body []byte
	}
	msgs := make([]msg, *n)
	for i := range msgs {
		from, body := message(*offset+i, *rules, *users, *match, *cover)
		fp, _, err := smtp.ParsePath("<"+from+">", smtp.PathOptions{})
		if err != nil {
			log.Fatal(err)
		}
		msgs[i] = msg{from: fp, to: smtp.Path{Local: fmt.Sprintf("user%d", i%*users), Domain: "bench.test"}, body: body}
	}
	ctx, cancel := context.WithTimeout(context.Background(), *limit)
	defer cancel()
	var next, failed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range *c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl, err := smtp.Dial(ctx, "tcp", *addr, &smtp.ClientOptions{LMTP: true, Hostname: "load.bench.test"})
			if err != nil {
				log.Fatal(err)
			}
			defer cl.Close()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(msgs) || ctx.Err() != nil {
					break
				}
				m := msgs[i]
				res, err := cl.SendMail(ctx, m.from, nil, []smtp.Rcpt{{To: m.to}}, bytes.NewReader(m.body))
				if err != nil {
					log.Fatalf("message %d: %v", i, err)
				}
				if len(res.Data) != 1 || res.Data[0] != nil || res.Rcpts[0] != nil {
					failed.Add(1)
				}
			}
			cl.Quit(ctx)
		}()
	}
	wg.Wait()
	el := time.Since(start)
	done := min(int(next.Load()), len(msgs))
	fmt.Printf("%d %.3f %.1f %d\n", done, el.Seconds(), float64(done)/el.Seconds(), failed.Load())
}
