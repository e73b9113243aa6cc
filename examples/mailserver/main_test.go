package main

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/postyard/postyard/internal/interop"
)

// TestEndToEnd: swaks submits to port 25 for the local user, and the
// message is readable through POP3 and IMAP; a remote recipient is refused
// on port 25 and accepted (queued) on submission with AUTH.
func TestEndToEnd(t *testing.T) {
	swaks := interop.Require(t, "swaks", "apt-get install swaks")
	curl := interop.Require(t, "curl", "apt-get install curl")
	ms, err := start(slog.New(slog.DiscardHandler), config{data: t.TempDir(), host: "127.0.0.1", hostname: "mail.localhost", domain: "localhost"}, "pw-for-tests")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ms.shutdown(context.Background()) })

	interop.Run(t, nil, nil, swaks, "--server", ms.addrs["smtp"], "--from", "someone@example.org", "--to", ms.user,
		"--header", "Subject: end to end", "--body", "Hello through port 25")
	out, _ := interop.Output(nil, nil, swaks, "--server", ms.addrs["smtp"], "--from", "someone@example.org", "--to", "victim@example.net")
	if !strings.Contains(string(out), "554 5.7.1") {
		t.Fatalf("relay from a stranger not refused:\n%s", out)
	}
	out = interop.Run(t, nil, nil, swaks, "--server", ms.addrs["submission"], "-tls", "--auth", "PLAIN",
		"--auth-user", ms.user, "--auth-password", ms.password, "--from", ms.user, "--to", "friend@example.net")
	if !strings.Contains(string(out), "queued as") {
		t.Fatalf("submission to a remote domain not queued:\n%s", out)
	}

	login := ms.user + ":" + ms.password
	pop := interop.Run(t, nil, nil, curl, "-sSk", "--ssl-reqd", "--url", "pop3://"+ms.addrs["pop3"]+"/1", "--user", login)
	if !strings.Contains(string(pop), "Subject: end to end") || !strings.Contains(string(pop), "Hello through port 25") ||
		!strings.Contains(string(pop), "Return-Path: <someone@example.org>") {
		t.Fatalf("POP3 RETR:\n%s", pop)
	}
	im := interop.Run(t, nil, nil, curl, "-sSk", "--url", "imaps://"+ms.addrs["imaps"]+"/INBOX;UID=1", "--user", login)
	if !strings.Contains(string(im), "Hello through port 25") {
		t.Fatalf("IMAP FETCH:\n%s", im)
	}
}
