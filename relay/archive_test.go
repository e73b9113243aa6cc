package relay_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/postyard/postyard/relay"
	"github.com/postyard/postyard/smtp"
)

func TestArchiveMailboxAndSweep(t *testing.T) {
	a := &relay.Archive{User: "postmaster", Mailbox: "Archive", Retention: 24 * time.Hour}
	f := newFixture(t, func(in *relay.Inbound) { in.Archive = a })
	ctx := context.Background()
	u, _ := f.store.User(ctx, "postmaster")
	if err := u.Create(ctx, "Archive", nil); err != nil {
		t.Fatal(err)
	}
	// Local and relayed recipients (from a trusted address): one copy
	// archived.
	_, data := f.send(t, "127.0.0.2", "s@remote.example", []string{"alice@example.com", "carol@elsewhere.example"}, "Subject: keep\r\n\r\nrecord")
	if !strings.HasPrefix(data, "250") {
		t.Fatalf("DATA %q", data)
	}
	arch := f.folder(t, "postmaster", "Archive")
	if len(arch) != 1 || !strings.HasSuffix(arch[0], "\r\n\r\nrecord\r\n") || len(f.inbox(t, "alice")) != 1 {
		t.Fatalf("archive %q", arch)
	}
	if q := f.queued(t); len(q) != 1 || len(q[0].Envelope.Recipients) != 1 {
		t.Fatalf("queued %+v", q)
	}
	// A refused message is not archived.
	if _, data := f.send(t, "127.0.0.1", "s@remote.example", []string{"nobody@example.com"}, "x"); data != "" {
		t.Fatalf("DATA for no recipient: %q", data)
	}
	if n, err := a.Sweep(ctx, f.store, time.Now()); err != nil || n != 0 {
		t.Fatalf("sweep of a fresh copy: %d, %v", n, err)
	}
	if n, err := a.Sweep(ctx, f.store, time.Now().Add(25*time.Hour)); err != nil || n != 1 {
		t.Fatalf("sweep after retention: %d, %v", n, err)
	}
	if arch := f.folder(t, "postmaster", "Archive"); len(arch) != 0 {
		t.Fatalf("archive after sweep: %d", len(arch))
	}
	if len(f.inbox(t, "alice")) != 1 {
		t.Fatal("sweep touched a user's mailbox")
	}
}

func TestArchiveForward(t *testing.T) {
	to, _, _ := smtp.ParsePath("<archive@vault.example>", smtp.PathOptions{})
	f := newFixture(t, func(in *relay.Inbound) { in.Archive = &relay.Archive{Address: to} })
	_, data := f.send(t, "127.0.0.1", "s@remote.example", []string{"alice@example.com"}, "Subject: keep\r\n\r\nrecord")
	if !strings.HasPrefix(data, "250") {
		t.Fatalf("DATA %q", data)
	}
	q := f.queued(t)
	if len(q) != 1 || len(q[0].Envelope.Recipients) != 1 {
		t.Fatalf("queued %+v", q)
	}
	r := q[0].Envelope.Recipients[0]
	if r.To.String() != "archive@vault.example" || r.Options.Notify != smtp.NotifyNever {
		t.Fatalf("archive recipient %+v", r)
	}
	if len(f.inbox(t, "alice")) != 1 {
		t.Fatal("local copy missing")
	}
}
