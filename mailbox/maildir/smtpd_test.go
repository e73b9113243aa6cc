package maildir_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"testing"

	"github.com/postyard/postyard/mailbox"
	"github.com/postyard/postyard/mailbox/maildir"
	"github.com/postyard/postyard/smtp"
)

// TestSMTPDurable serves SMTP on $POSTYARD_MAILDIR_SMTPD (host:port),
// delivering every message durably into a maildir store in
// $POSTYARD_MAILDIR_SMTPD_DIR for user "bench", until killed: the target
// ../shared/bench/smtp-recv.sh measures beside the gosmtp-durable peer
// (BENCHMARKS.md). POSTYARD_MAILDIR_SMTPD_MODE=per-message turns the
// group commit off.
func TestSMTPDurable(t *testing.T) {
	addr := os.Getenv("POSTYARD_MAILDIR_SMTPD")
	if addr == "" {
		t.Skip("set POSTYARD_MAILDIR_SMTPD=host:port to serve")
	}
	dir := os.Getenv("POSTYARD_MAILDIR_SMTPD_DIR")
	var st *maildir.Store
	var err error
	if os.Getenv("POSTYARD_MAILDIR_SMTPD_MODE") == "per-message" {
		st, err = maildir.OpenPerMessageSync(dir)
	} else {
		st, err = maildir.Open(dir, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv := &smtp.Server{
		Hostname:      "bench.test",
		Backend:       smtpBackend{st},
		MaxConnsPerIP: -1,
		Logger:        slog.New(slog.DiscardHandler),
	}
	t.Fatal(srv.ListenAndServe(addr))
}

type smtpBackend struct{ st *maildir.Store }

func (b smtpBackend) NewSession(context.Context, *smtp.ConnInfo) (smtp.Session, error) {
	return smtpSession(b), nil
}

type smtpSession smtpBackend

func (smtpSession) Mail(context.Context, smtp.Path, *smtp.MailOptions) error { return nil }
func (smtpSession) Rcpt(context.Context, smtp.Path, *smtp.RcptOptions) error { return nil }
func (smtpSession) Reset(context.Context)                                    {}
func (smtpSession) Close() error                                             { return nil }

func (s smtpSession) Data(ctx context.Context, r io.Reader) (string, error) {
	errs, err := s.st.Deliver(ctx, r, []mailbox.Recipient{{User: "bench"}})
	if err == nil {
		err = errs[0]
	}
	return "", err
}
