package relay_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/postyard/postyard/auth"
	"github.com/postyard/postyard/mailbox/memstore"
	"github.com/postyard/postyard/queue"
	"github.com/postyard/postyard/queue/memqueue"
	"github.com/postyard/postyard/relay"
	"github.com/postyard/postyard/smtp"
)

func newSubmission(t *testing.T, perHour int) (*fixture, *relay.Submission) {
	t.Helper()
	f := &fixture{store: memstore.New(nil), q: memqueue.New(&queue.Options{Hostname: "mx.example.com"})}
	t.Cleanup(func() { f.q.Close(); f.store.Close() })
	users := &auth.Users{}
	users.Add("alice", "secret")
	sub := &relay.Submission{
		Inbound:            relay.Inbound{Policy: testPolicy(), Deliverer: f.store, Queue: f.q, Logger: slog.New(slog.DiscardHandler)},
		Hostname:           "mx.example.com",
		MaxMessagesPerHour: perHour,
	}
	srv := &smtp.Server{Hostname: "mx.example.com", Backend: sub, Authenticator: users, AllowInsecureAuth: true, RequireAuth: true, Logger: slog.New(slog.DiscardHandler)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	f.addr = ln.Addr().String()
	return f, sub
}

// submit logs in as alice and sends one message; it returns the replies to
// MAIL and DATA ("" when not reached).
func submit(t *testing.T, addr, from, to, msg string) (string, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	reply := func() string {
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("reply: %v", err)
			}
			if line[3] == ' ' {
				return strings.TrimSpace(line)
			}
		}
	}
	cmd := func(s string) string { io.WriteString(c, s+"\r\n"); return reply() }
	reply()
	cmd("EHLO client.example")
	if got := cmd("MAIL FROM:<" + from + ">"); !strings.HasPrefix(got, "530") {
		t.Fatalf("MAIL before AUTH: %s", got)
	}
	if got := cmd("AUTH PLAIN " + base64.StdEncoding.EncodeToString([]byte("\x00alice\x00secret"))); !strings.HasPrefix(got, "235") {
		t.Fatalf("AUTH: %s", got)
	}
	mail := cmd("MAIL FROM:<" + from + ">")
	if !strings.HasPrefix(mail, "250") {
		return mail, ""
	}
	if got := cmd("RCPT TO:<" + to + ">"); !strings.HasPrefix(got, "250") {
		t.Fatalf("RCPT: %s", got)
	}
	cmd("DATA")
	return mail, cmd(msg + "\r\n.")
}

func TestSubmission(t *testing.T) {
	f, _ := newSubmission(t, 2)
	// Envelope sender not the user's.
	if mail, _ := submit(t, f.addr, "mallory@example.com", "x@remote.example", "Subject: x\r\n\r\nx"); !strings.HasPrefix(mail, "553 5.7.1") {
		t.Fatalf("foreign MAIL FROM: %s", mail)
	}
	// From: header not the user's.
	_, data := submit(t, f.addr, "alice@example.com", "x@remote.example", "From: Boss <boss@example.com>\r\nSubject: x\r\n\r\nx")
	if !strings.HasPrefix(data, "553 5.7.1") {
		t.Fatalf("foreign From: %s", data)
	}
	// 8-bit header without SMTPUTF8.
	_, data = submit(t, f.addr, "alice@example.com", "x@remote.example", "Subject: grüße\r\n\r\nx")
	if !strings.HasPrefix(data, "554 5.6.7") {
		t.Fatalf("8-bit header: %s", data)
	}
	if n := len(f.queued(t)); n != 0 {
		t.Fatalf("%d refused messages queued", n)
	}
	// The hourly limit (2) was reached by the two messages above that got
	// past MAIL.
	if mail, _ := submit(t, f.addr, "alice@example.com", "x@remote.example", "Subject: x\r\n\r\nx"); !strings.HasPrefix(mail, "450 4.7.0") {
		t.Fatalf("rate limit: %s", mail)
	}
}

func TestSubmissionCompletesMessage(t *testing.T) {
	f, _ := newSubmission(t, 0)
	_, data := submit(t, f.addr, "alice@example.com", "x@remote.example", "From: Alice <ALICE@example.com>\r\nSubject: hi\r\n\r\nbody")
	if !strings.HasPrefix(data, "250") {
		t.Fatalf("DATA: %s", data)
	}
	q := f.queued(t)
	if len(q) != 1 {
		t.Fatalf("%d queued", len(q))
	}
	rc, _ := f.q.Open(context.Background(), q[0].ID)
	b, _ := io.ReadAll(rc)
	rc.Close()
	msg := string(b)
	hdr, body, _ := strings.Cut(msg, "\r\n\r\n")
	if !strings.HasPrefix(msg, "Received: ") || !strings.Contains(hdr, "\r\nDate: ") || !strings.Contains(hdr, "\r\nMessage-ID: <") ||
		!strings.Contains(hdr, "@mx.example.com>") || body != "body\r\n" || !strings.Contains(hdr, "with ESMTPA") {
		t.Fatalf("message:\n%s", msg)
	}
	// A message with Date and Message-ID keeps them.
	_, data = submit(t, f.addr, "alice@example.com", "alice@example.com", "Date: Mon, 1 Jan 2024 00:00:00 +0000\r\nMessage-ID: <a@b>\r\n\r\nx")
	if !strings.HasPrefix(data, "250") {
		t.Fatalf("DATA: %s", data)
	}
	got := f.inbox(t, "alice")
	if len(got) != 1 || strings.Count(got[0], "Message-ID") != 1 || strings.Count(got[0], "Date:") != 1 {
		t.Fatalf("local copy %q", got)
	}
}

func TestSubmissionSigns(t *testing.T) {
	f, sub := newSubmission(t, 0)
	key, err := relay.GenerateDKIMKey(relay.DKIMEd25519)
	if err != nil {
		t.Fatal(err)
	}
	sub.Signer = &relay.DKIMSigner{Keys: []relay.DKIMKey{{Domain: "example.com", Selector: "s1", Signer: key}}}
	_, data := submit(t, f.addr, "alice@example.com", "x@remote.example", "From: alice@example.com\r\nSubject: signed\r\n\r\nbody")
	if !strings.HasPrefix(data, "250") {
		t.Fatalf("DATA: %s", data)
	}
	q := f.queued(t)
	rc, _ := f.q.Open(context.Background(), q[0].ID)
	b, _ := io.ReadAll(rc)
	rc.Close()
	if !strings.Contains(string(b), "DKIM-Signature: ") || !strings.Contains(string(b), "d=example.com") || !strings.HasSuffix(string(b), "\r\n\r\nbody\r\n") {
		t.Fatalf("signed message:\n%s", b)
	}
}

func TestSubmissionRecipientLimit(t *testing.T) {
	f, sub := newSubmission(t, 0)
	sub.MaxRecipients = 2
	c, err := net.Dial("tcp", f.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	cmd := func(s string) string {
		if s != "" {
			io.WriteString(c, s+"\r\n")
		}
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			if line[3] == ' ' {
				return strings.TrimSpace(line)
			}
		}
	}
	cmd("")
	cmd("EHLO client.example")
	cmd("AUTH PLAIN " + base64.StdEncoding.EncodeToString([]byte("\x00alice\x00secret")))
	cmd("MAIL FROM:<alice@example.com>")
	cmd("RCPT TO:<a@remote.example>")
	cmd("RCPT TO:<b@remote.example>")
	if got := cmd("RCPT TO:<c@remote.example>"); !strings.HasPrefix(got, "452 4.5.3") {
		t.Fatalf("third recipient: %s", got)
	}
}
