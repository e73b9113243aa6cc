// Command receiver is a catch-all SMTP receiver for testing: it accepts mail
// for any recipient on 127.0.0.1, keeps the messages in memory, and prints a
// line for each.
//
//	go run ./examples/receiver -addr 127.0.0.1:2525
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/postyard/postyard/smtp"
)

// store keeps received messages in memory.
type store struct {
	mu   sync.Mutex
	msgs [][]byte
}

// session collects one transaction's envelope.
type session struct {
	st   *store
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
	var b bytes.Buffer
	if _, err := b.ReadFrom(r); err != nil {
		return "", err
	}
	s.st.mu.Lock()
	s.st.msgs = append(s.st.msgs, b.Bytes())
	id := fmt.Sprint(len(s.st.msgs))
	s.st.mu.Unlock()
	fmt.Printf("message %s from <%s> to %v, %d bytes\n", id, s.from, s.to, b.Len())
	return id, nil
}

func (s *session) Reset(ctx context.Context) { s.from, s.to = smtp.Path{}, nil }
func (s *session) Close() error              { return nil }

func main() {
	addr := flag.String("addr", "127.0.0.1:2525", "listen address")
	flag.Parse()
	st := &store{}
	srv := &smtp.Server{
		Hostname: "receiver.localhost",
		Backend: smtp.BackendFunc(func(ctx context.Context, c *smtp.ConnInfo) (smtp.Session, error) {
			return &session{st: st}, nil
		}),
		NormalizeLineEndings: true, // a test receiver takes what applications send
	}
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
		<-sig
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}()
	log.Printf("receiving on %s; try: swaks --server %s --to anyone@example.com", *addr, *addr)
	if err := srv.ListenAndServe(*addr); err != smtp.ErrServerClosed {
		log.Fatal(err)
	}
}
