package relay_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/postyard/postyard/mailbox"
	"github.com/postyard/postyard/mailbox/memstore"
	"github.com/postyard/postyard/queue"
	"github.com/postyard/postyard/queue/memqueue"
	"github.com/postyard/postyard/relay"
	"github.com/postyard/postyard/smtp"
)

// TestDelivererLocal: a queued message for a local domain (a report to a
// local sender, or an alias target) is delivered to the store, not
// through MX; an unknown local user fails permanently.
func TestDelivererLocal(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	store := memstore.New(nil)
	defer store.Close()
	q := memqueue.New(&queue.Options{Hostname: "mx.example.com"})
	defer q.Close()
	u, err := store.User(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	mb, err := u.Open(ctx, mailbox.Inbox, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer mb.Close()
	sub, err := mb.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()

	d := &relay.Deliverer{Queue: q, Local: testPolicy(), Mailboxes: store, DisableMTASTS: true, Logger: slog.New(slog.DiscardHandler)}
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	env := &queue.Envelope{From: smtp.Path{}, Recipients: []queue.Recipient{
		{To: smtp.Path{Local: "Alice", Domain: "Example.com"}},
		{To: smtp.Path{Local: "nobody", Domain: "example.com"}},
	}}
	id, err := q.Enqueue(ctx, env, strings.NewReader("Subject: report\r\n\r\nbody\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sub.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	got := (&fixture{store: store}).inbox(t, "alice")
	if len(got) != 1 || got[0] != "Return-Path: <>\r\nSubject: report\r\n\r\nbody\r\n" {
		t.Fatalf("alice's INBOX: %q", got)
	}
	// The unknown user fails permanently; the message then leaves the
	// queue (no report: the sender is null).
	for {
		m, err := q.Inspect(ctx, id)
		if err != nil {
			break // gone
		}
		if m.Recipients[1].State == queue.RecipientFailed {
			if m.Recipients[1].Err.Code != 550 {
				t.Fatalf("unknown user: %+v", m.Recipients[1].Err)
			}
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("timed out")
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// TestDeliverer5xxReportToLocalSender: a remote 5yz for a local sender's
// message puts the failure report in the sender's own mailbox, not on the
// wire.
func TestDeliverer5xxReportToLocalSender(t *testing.T) {
	port := freePort(t)
	c := &captureBackend{rcpt: func(_ *smtp.ConnInfo, to smtp.Path) error {
		return &smtp.Error{Code: 550, EnhancedCode: "5.1.1", Message: "no such mailbox here"}
	}}
	serveSMTP(t, &smtp.Server{Hostname: "mx.example.test", Backend: c, Logger: testLogger()}, "127.0.0.1", port, false)
	r := newRig(t, dlZone(), port)
	store := memstore.New(nil)
	defer store.Close()
	r.d.Local, r.d.Mailboxes = testPolicy(), store

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	u, err := store.User(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	mb, err := u.Open(ctx, mailbox.Inbox, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer mb.Close()
	sub, err := mb.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()

	r.start(t)
	r.enqueue(t, "alice@example.com", []string{"bad@example.test"}, testMessage("doomed", 500), nil)
	if _, err := sub.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	got := (&fixture{store: store}).inbox(t, "alice")
	if len(got) != 1 {
		t.Fatalf("alice has %d messages", len(got))
	}
	for _, want := range []string{"Return-Path: <>", "multipart/report", "bad@example.test", "5.1.1", "no such mailbox here"} {
		if !strings.Contains(got[0], want) {
			t.Errorf("report lacks %q:\n%s", want, got[0])
		}
	}
	if n := len(c.got()); n != 0 {
		t.Fatalf("remote server got %d messages; the report should stay local", n)
	}
}
