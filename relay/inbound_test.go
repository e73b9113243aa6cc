package relay_test

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/postyard/postyard/mailbox"
	"github.com/postyard/postyard/mailbox/memstore"
	"github.com/postyard/postyard/queue"
	"github.com/postyard/postyard/queue/memqueue"
	"github.com/postyard/postyard/relay"
	"github.com/postyard/postyard/smtp"
)

type fixture struct {
	store *memstore.Store
	q     *memqueue.Queue
	addr  string
}

func newFixture(t *testing.T, opts ...func(*relay.Inbound)) *fixture {
	t.Helper()
	f := &fixture{store: memstore.New(nil), q: memqueue.New(&queue.Options{Hostname: "mx.example.com"})}
	t.Cleanup(func() { f.q.Close(); f.store.Close() })
	pol := testPolicy()
	pol.TrustedNetworks = []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}
	in := &relay.Inbound{Policy: pol, Deliverer: f.store, Queue: f.q, Logger: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(in)
	}
	srv := &smtp.Server{
		Hostname: "mx.example.com",
		Backend:  in,
		Logger:   slog.New(slog.DiscardHandler),
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	f.addr = ln.Addr().String()
	return f
}

// send runs one SMTP transaction from the given local address and returns
// the replies to each RCPT and to DATA ("" if DATA was not sent).
func (f *fixture) send(t *testing.T, localIP, from string, to []string, body string) ([]string, string) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(localIP)}}
	c, err := d.Dial("tcp", f.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	reply := func() string {
		var last string
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("reading reply: %v", err)
			}
			last = strings.TrimSpace(line)
			if len(line) > 3 && line[3] == ' ' {
				return last
			}
		}
	}
	cmd := func(s string) string { io.WriteString(c, s+"\r\n"); return reply() }
	reply()
	cmd("EHLO client.example")
	if got := cmd("MAIL FROM:<" + from + ">"); !strings.HasPrefix(got, "250") {
		t.Fatalf("MAIL: %s", got)
	}
	var rcpt []string
	ok := false
	for _, a := range to {
		got := cmd("RCPT TO:<" + a + ">")
		rcpt = append(rcpt, got)
		ok = ok || strings.HasPrefix(got, "250")
	}
	if !ok {
		cmd("QUIT")
		return rcpt, ""
	}
	cmd("DATA")
	data := cmd(body + "\r\n.")
	cmd("QUIT")
	return rcpt, data
}

// inbox returns the INBOX contents of a user.
func (f *fixture) inbox(t *testing.T, user string) []string { return f.folder(t, user, "INBOX") }

// folder returns the contents of a user's mailbox.
func (f *fixture) folder(t *testing.T, user, name string) []string {
	t.Helper()
	ctx := context.Background()
	u, err := f.store.User(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	mb, err := u.Open(ctx, name, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer mb.Close()
	var out []string
	for m, err := range mb.Messages(ctx, mailbox.AllUIDs(), nil) {
		if err != nil {
			t.Fatal(err)
		}
		c, err := mb.Open(ctx, m.UID)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(c)
		c.Close()
		out = append(out, string(b))
	}
	return out
}

// queued returns the queued messages.
func (f *fixture) queued(t *testing.T) []*queue.Message {
	var out []*queue.Message
	for m, err := range f.q.List(context.Background(), nil) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

func TestInboundLocal(t *testing.T) {
	f := newFixture(t)
	rcpt, data := f.send(t, "127.0.0.1", "sender@remote.example", []string{"alice@example.com", "ALICE+x@Example.COM", "bob@example.com"}, "Subject: hi\r\n\r\nhello")
	if !strings.HasPrefix(data, "250 ") || rcpt[0] != "250 2.1.5 Ok" {
		t.Fatalf("RCPT %q DATA %q", rcpt, data)
	}
	for _, u := range []string{"alice", "bob"} {
		msgs := f.inbox(t, u)
		if len(msgs) != 1 {
			t.Fatalf("%s has %d messages, want 1 (no duplicate for alice+x)", u, len(msgs))
		}
		if !strings.HasPrefix(msgs[0], "Return-Path: <sender@remote.example>\r\nReceived: from client.example") || !strings.HasSuffix(msgs[0], "\r\n\r\nhello\r\n") {
			t.Errorf("%s: %q", u, msgs[0])
		}
	}
	if q := f.queued(t); len(q) != 0 {
		t.Fatalf("%d messages queued for local mail", len(q))
	}
}

// TestInboundNoOpenRelay sends every form of relayForms that the policy
// refuses through the server, from an untrusted address without AUTH: each
// RCPT is refused and nothing is queued or delivered.
func TestInboundNoOpenRelay(t *testing.T) {
	f := newFixture(t)
	var forms []string
	for _, tc := range relayForms {
		if tc.want != nil {
			forms = append(forms, tc.to)
		}
	}
	if len(forms) < 20 {
		t.Fatalf("only %d forms", len(forms))
	}
	rcpt, data := f.send(t, "127.0.0.1", "spammer@remote.example", forms, "Subject: spam\r\n\r\nspam")
	for i, r := range rcpt {
		if !strings.HasPrefix(r, "5") {
			t.Errorf("%s: %q, want refusal", forms[i], r)
		}
	}
	if data != "" || len(f.queued(t)) != 0 {
		t.Fatalf("DATA %q; %d queued", data, len(f.queued(t)))
	}
	for _, u := range []string{"alice", "bob", "postmaster"} {
		if n := len(f.inbox(t, u)); n != 0 {
			t.Fatalf("%s got %d messages", u, n)
		}
	}
}

func TestInboundRelayAndMixed(t *testing.T) {
	f := newFixture(t)
	// 127.0.0.2 is a trusted network: it may relay.
	_, data := f.send(t, "127.0.0.2", "app@example.com", []string{"x@remote.example", "alice@example.com", "y@remote.example"}, "Subject: both\r\n\r\nbody")
	if !strings.HasPrefix(data, "250 2.0.0 Ok: queued as ") {
		t.Fatalf("DATA %q", data)
	}
	q := f.queued(t)
	if len(q) != 1 || len(q[0].Envelope.Recipients) != 2 || q[0].Envelope.From.String() != "app@example.com" {
		t.Fatalf("queued %+v", q)
	}
	rc, err := f.q.Open(context.Background(), q[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	local := f.inbox(t, "alice")
	if len(local) != 1 || !strings.HasPrefix(string(b), "Received: ") || strings.Contains(string(b), "Return-Path") ||
		local[0] != "Return-Path: <app@example.com>\r\n"+string(b) {
		t.Fatalf("queued %q\nlocal %q", b, local)
	}
	// Alias with a remote target, from a stranger: allowed (our config).
	_, data = f.send(t, "127.0.0.1", "x@remote.example", []string{"info@example.com"}, "Subject: info\r\n\r\nq")
	if !strings.HasPrefix(data, "250") || len(f.queued(t)) != 2 || len(f.inbox(t, "alice")) != 2 {
		t.Fatalf("alias: %q, %d queued", data, len(f.queued(t)))
	}
}

func TestInboundPartialFailureReport(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	u, _ := f.store.User(ctx, "bob")
	u.SetQuota(ctx, mailbox.Quota{MaxMessages: 1})
	f.send(t, "127.0.0.1", "s@remote.example", []string{"bob@example.com"}, "Subject: 1\r\n\r\nfirst")
	_, data := f.send(t, "127.0.0.1", "s@remote.example", []string{"alice@example.com", "bob@example.com"}, "Subject: 2\r\n\r\nsecond")
	if !strings.HasPrefix(data, "250") {
		t.Fatalf("DATA %q", data)
	}
	q := f.queued(t)
	if len(q) != 1 || !q[0].Envelope.From.IsNull() || q[0].Envelope.Recipients[0].To.String() != "s@remote.example" {
		t.Fatalf("report %+v", q)
	}
	rc, _ := f.q.Open(ctx, q[0].ID)
	b, _ := io.ReadAll(rc)
	rc.Close()
	if !strings.Contains(string(b), "Final-Recipient: rfc822; bob@example.com") || !strings.Contains(string(b), "5.2.2") || !strings.Contains(string(b), "Subject: 2") {
		t.Fatalf("report:\n%s", b)
	}
	// All local recipients failing gives the error itself.
	_, data = f.send(t, "127.0.0.1", "s@remote.example", []string{"bob@example.com"}, "Subject: 3\r\n\r\nthird")
	if !strings.HasPrefix(data, "552 5.2.2") {
		t.Fatalf("over quota: %q", data)
	}
}
