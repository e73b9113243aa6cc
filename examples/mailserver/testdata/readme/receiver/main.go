package main

import (
	"context"
	"io"
	"log"
	"os"

	"github.com/postyard/postyard/smtp"
)

type session struct{}

func (session) Mail(ctx context.Context, from smtp.Path, o *smtp.MailOptions) error { return nil }
func (session) Rcpt(ctx context.Context, to smtp.Path, o *smtp.RcptOptions) error   { return nil }
func (session) Reset(ctx context.Context)                                           {}
func (session) Close() error                                                        { return nil }

// Data prints each message; a real backend stores it durably first.
func (session) Data(ctx context.Context, r io.Reader) (string, error) {
	_, err := io.Copy(os.Stdout, r)
	return "", err
}

func main() {
	s := &smtp.Server{Backend: smtp.BackendFunc(
		func(ctx context.Context, c *smtp.ConnInfo) (smtp.Session, error) { return session{}, nil })}
	log.Fatal(s.ListenAndServe("127.0.0.1:2525"))
}
