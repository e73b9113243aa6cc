package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"

	"github.com/postyard/postyard/internal/interop"
	"github.com/postyard/postyard/smtp"
)

// testConfig is the default configuration on any free loopback ports,
// with a data directory of the test's and a known demo password.
func testConfig(t *testing.T) *config {
	c := defaultConfig()
	c.DataDir = t.TempDir()
	for _, s := range c.Listen.services() {
		*s.addr = "127.0.0.1:0"
	}
	c.demoPassword = "pw-for-tests"
	return &c
}

// startTest starts the server in this process, shut down at cleanup.
func startTest(t *testing.T, c *config) *mailServer {
	t.Helper()
	ms, err := start(slog.New(slog.DiscardHandler), c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := ms.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return ms
}

func path(addr string) smtp.Path {
	local, domain, _ := strings.Cut(addr, "@")
	return smtp.Path{Local: local, Domain: domain}
}

// submit sends one message over submission with STARTTLS and AUTH PLAIN
// and returns the server's reply text.
func submit(t *testing.T, addr, user, password, from string, to []string, msg string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := smtp.Dial(ctx, "tcp", addr, nil)
	if err != nil {
		return "", err
	}
	defer c.Close()
	if err := c.StartTLS(ctx, &tls.Config{InsecureSkipVerify: true}); err != nil {
		return "", err
	}
	if err := c.Auth(ctx, sasl.NewPlainClient("", user, password)); err != nil {
		return "", err
	}
	var rcpts []smtp.Rcpt
	for _, r := range to {
		rcpts = append(rcpts, smtp.Rcpt{To: path(r)})
	}
	res, err := c.SendMail(ctx, path(from), nil, rcpts, strings.NewReader(msg))
	if err != nil {
		return "", err
	}
	for i := range rcpts {
		if err := res.Err(i); err != nil {
			return "", err
		}
	}
	c.Quit(ctx)
	return res.Reply, nil
}

// runCLI runs the command line in this process.
func runCLI(t *testing.T, stdin string, args ...string) (string, int) {
	t.Helper()
	var out bytes.Buffer
	code := cli(args, strings.NewReader(stdin), &out, &out)
	return out.String(), code
}

// TestEndToEnd: swaks submits to port 25 for the local user, and the
// message is readable through POP3 and IMAP; a remote recipient is refused
// on port 25 and accepted (queued) on submission with AUTH.
func TestEndToEnd(t *testing.T) {
	swaks := interop.Require(t, "swaks", "apt-get install swaks")
	curl := interop.Require(t, "curl", "apt-get install curl")
	ms := startTest(t, testConfig(t))

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

// TestServicesOff: a service with an empty address is not started; a
// second server on the same data directory is refused.
func TestServicesOff(t *testing.T) {
	c := testConfig(t)
	c.Listen.IMAP, c.Listen.IMAPS, c.Listen.POP3 = "", "", ""
	ms := startTest(t, c)
	if _, ok := ms.addrs["imap"]; ok {
		t.Error("imap started")
	}
	if _, ok := ms.addrs["pop3s"]; !ok {
		t.Error("pop3s not started")
	}
	if _, err := start(slog.New(slog.DiscardHandler), c); err == nil || !strings.Contains(err.Error(), "another server") {
		t.Errorf("second server on the same data: %v", err)
	}
}
