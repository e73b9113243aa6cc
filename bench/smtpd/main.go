// Command smtpd runs postyard's SMTP server for load tests
// (../shared/bench/smtp-recv.sh): -mode discard reads and drops every
// message, -mode memory keeps each message in memory (and drops it again
// once more than -keep are held, so long runs stay bounded).
//
//	go run ./bench/smtpd -addr 127.0.0.1:3025 -mode discard
package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"log"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"sync"

	"github.com/postyard/postyard/smtp"
)

type backend struct {
	memory bool
	keep   int
	mu     sync.Mutex
	msgs   [][]byte
}

func (b *backend) NewSession(ctx context.Context, c *smtp.ConnInfo) (smtp.Session, error) {
	return &session{b: b}, nil
}

type session struct{ b *backend }

func (s *session) Mail(context.Context, smtp.Path, *smtp.MailOptions) error { return nil }
func (s *session) Rcpt(context.Context, smtp.Path, *smtp.RcptOptions) error { return nil }
func (s *session) Reset(context.Context)                                    {}
func (s *session) Close() error                                             { return nil }

func (s *session) Data(ctx context.Context, r io.Reader) (string, error) {
	if !s.b.memory {
		_, err := io.Copy(io.Discard, r)
		return "", err
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(r); err != nil {
		return "", err
	}
	s.b.mu.Lock()
	if len(s.b.msgs) >= s.b.keep {
		s.b.msgs = s.b.msgs[:0]
	}
	s.b.msgs = append(s.b.msgs, buf.Bytes())
	s.b.mu.Unlock()
	return "", nil
}

func main() {
	addr := flag.String("addr", "127.0.0.1:3025", "listen address")
	mode := flag.String("mode", "discard", "discard or memory")
	keep := flag.Int("keep", 10000, "memory mode: messages held at most")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile here until SIGINT")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			log.Fatal(err)
		}
		pprof.StartCPUProfile(f)
		go func() {
			sig := make(chan os.Signal, 1)
			signal.Notify(sig, os.Interrupt)
			<-sig
			pprof.StopCPUProfile()
			f.Close()
			os.Exit(0)
		}()
	}
	srv := &smtp.Server{
		Hostname:      "bench.test",
		Backend:       &backend{memory: *mode == "memory", keep: *keep},
		MaxConnsPerIP: -1,
		Logger:        slog.New(slog.DiscardHandler),
	}
	log.Fatal(srv.ListenAndServe(*addr))
}
