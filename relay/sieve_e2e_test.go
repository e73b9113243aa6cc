package relay_test

import (
	"context"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/postyard/postyard/mailbox"
	"github.com/postyard/postyard/mailbox/maildir"
	"github.com/postyard/postyard/queue"
	"github.com/postyard/postyard/queue/memqueue"
	"github.com/postyard/postyard/relay"
	"github.com/postyard/postyard/smtp"
)

// sieveServer is a whole receiving server: smtp.Server with Inbound and
// Sieve over a Maildir store, and a Deliverer draining the queue to a
// smarthost (the "rest of the world").
type sieveServer struct {
	store *maildir.Store
	q     *memqueue.Queue
	d     *relay.Deliverer
	addr  string
	ev    *eventLog
}

func newSieveServer(t *testing.T, sv *relay.Sieve, smarthost string) *sieveServer {
	t.Helper()
	st, err := maildir.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	s := &sieveServer{store: st, ev: newEventLog()}
	s.q = memqueue.New(&queue.Options{Hostname: "mx.example.com", OnEvent: s.ev.add, Logger: testLogger()})
	pol := testPolicy()
	if sv.Logger == nil {
		sv.Logger = testLogger()
	}
	in := &relay.Inbound{Policy: pol, Deliverer: st, Queue: s.q, Sieve: sv, Logger: testLogger()}
	srv := &smtp.Server{Hostname: "mx.example.com", Backend: in, Logger: testLogger()}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	s.addr = ln.Addr().String()
	s.d = &relay.Deliverer{
		Queue: s.q, Local: pol, Mailboxes: st, Sieve: sv, Hostname: "mx.example.com",
		Smarthost: &relay.Smarthost{Addr: smarthost, TLS: relay.TLSDisabled}, DisableMTASTS: true, DisableDANE: true,
		Workers: 2, Logger: testLogger(),
	}
	if err := s.d.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Close()
		s.d.Close()
		s.q.Close()
		st.Close()
	})
	return s
}

// sendTo sends msg over SMTP from the loopback address.
func sendTo(t *testing.T, addr, from string, to []string, msg string) error {
	t.Helper()
	ctx := context.Background()
	c, err := smtp.Dial(ctx, "tcp", addr, &smtp.ClientOptions{Hostname: "client.example"})
	if err != nil {
		return err
	}
	defer c.Close()
	var rcpts []smtp.Rcpt
	for _, a := range to {
		rcpts = append(rcpts, smtp.Rcpt{To: mustPath(t, a)})
	}
	res, err := c.SendMail(ctx, mustPath(t, from), nil, rcpts, strings.NewReader(msg))
	if err != nil {
		return err
	}
	for _, e := range append(res.Rcpts, res.Data...) {
		if e != nil {
			return e
		}
	}
	return c.Quit(ctx)
}

// bouncer is a second SMTP server that keeps what it receives and, if
// back is set, sends each message back to that server for alice.
type bouncer struct {
	back string
	t    *testing.T
	mu   sync.Mutex
	got  []captured
}

func (b *bouncer) NewSession(ctx context.Context, c *smtp.ConnInfo) (smtp.Session, error) {
	return &bouncerSession{b: b}, nil
}

type bouncerSession struct {
	b   *bouncer
	cur captured
}

func (s *bouncerSession) Mail(ctx context.Context, from smtp.Path, opts *smtp.MailOptions) error {
	s.cur = captured{from: from, opts: *opts}
	return nil
}

func (s *bouncerSession) Rcpt(ctx context.Context, to smtp.Path, opts *smtp.RcptOptions) error {
	s.cur.rcpts = append(s.cur.rcpts, to)
	return nil
}

func (s *bouncerSession) Data(ctx context.Context, r io.Reader) (string, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return "", err
	}
	s.cur.data = b
	s.b.mu.Lock()
	s.b.got = append(s.b.got, s.cur)
	s.b.mu.Unlock()
	if s.b.back != "" {
		// Forward it back, as a remote forwarder would.
		if err := sendTo(s.b.t, s.b.back, s.cur.from.String(), []string{"alice@example.com"}, string(b)); err != nil {
			return "", &smtp.Error{Code: 451, EnhancedCode: "4.0.0", Message: "forward failed", Err: err}
		}
	}
	return "", nil
}

func (s *bouncerSession) Reset(ctx context.Context) {}
func (s *bouncerSession) Close() error              { return nil }

func (b *bouncer) received() []captured {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]captured(nil), b.got...)
}

// TestSieveEndToEnd: over SMTP into Maildir, a message lands in the folder
// the active script chose with its flags; a script that errors still
// delivers to INBOX; a redirect leaves through the queue and the
// Deliverer to a second SMTP server, which sends it back: alice keeps it
// rather than redirecting it again.
func TestSieveEndToEnd(t *testing.T) {
	remote := &bouncer{t: t}
	port := freePort(t)
	rsrv := &smtp.Server{Hostname: "remote.test", Backend: remote, Logger: testLogger()}
	serveSMTP(t, rsrv, "127.0.0.1", port, false)

	scripts := newScripts("alice", `require ["fileinto", "imap4flags", "mailbox", "variables"];
if header :contains "subject" "invoice" {
	fileinto :create :flags ["\\Flagged", "Invoices"] "Finance/Invoices";
} elsif header :contains "subject" "forward me" {
	redirect "carol@remote.test";
} elsif header :contains "subject" "broken" {
	set "a" "not an address";
	redirect "${a}";
}
`)
	srv := newSieveServer(t, &relay.Sieve{Scripts: scripts}, "127.0.0.1:"+strconv.Itoa(port))
	remote.back = srv.addr

	if err := sendTo(t, srv.addr, "vendor@remote.test", []string{"alice@example.com"}, letter("Your invoice", "inv1")+"\r\n"); err != nil {
		t.Fatal(err)
	}
	got := mailboxMessages(t, srv.store, "alice", "Finance/Invoices")
	if len(got) != 1 || got[0].flags != mailbox.FlagFlagged || strings.Join(got[0].keywords, " ") != "Invoices" {
		t.Fatalf("Finance/Invoices: %+v", got)
	}
	if err := sendTo(t, srv.addr, "vendor@remote.test", []string{"alice@example.com"}, letter("broken", "br1")+"\r\n"); err != nil {
		t.Fatal(err)
	}
	if got := mailboxMessages(t, srv.store, "alice", "INBOX"); len(got) != 1 || !strings.Contains(got[0].content, "Subject: broken\r\n") {
		t.Fatalf("INBOX after a failing script: %+v", got)
	}

	if err := sendTo(t, srv.addr, "friend@remote.test", []string{"alice@example.com"}, letter("please forward me", "fw1")+"\r\n"); err != nil {
		t.Fatal(err)
	}
	// It leaves once, comes back, and is kept.
	waitFor(t, "the redirected message back in alice's INBOX", func() bool {
		return len(mailboxMessages(t, srv.store, "alice", "INBOX")) == 2
	})
	srv.ev.wait(t, "the redirect delivered", func(l []queue.Event) bool { return countEvents(l, queue.EventDelivered) >= 1 })
	rec := remote.received()
	if len(rec) != 1 {
		t.Fatalf("the remote server got %d messages, want 1", len(rec))
	}
	if rec[0].from.String() != "friend@remote.test" || len(rec[0].rcpts) != 1 || rec[0].rcpts[0].String() != "carol@remote.test" {
		t.Fatalf("redirect envelope: from %s rcpts %v", rec[0].from, rec[0].rcpts)
	}
	if !strings.Contains(string(rec[0].data), "\r\n"+relay.SieveRedirectField+": <alice@example.com>\r\nReceived: from client.example") || !strings.HasSuffix(string(rec[0].data), "\r\n\r\nHello Alice.\r\n") {
		t.Fatalf("redirected message:\n%s", rec[0].data)
	}
	in := mailboxMessages(t, srv.store, "alice", "INBOX")
	if !strings.Contains(in[1].content, "Subject: please forward me\r\n") || strings.Count(in[1].content, relay.SieveRedirectField) != 1 {
		t.Fatalf("kept message:\n%s", in[1].content)
	}
	if n := len(remote.received()); n != 1 {
		t.Fatalf("the remote server got %d messages", n)
	}
}

// TestSieveRedirectSmtpSink: a redirect reaches Postfix's smtp-sink through
// the queue and the Deliverer, with the original sender and the marker
// field.
func TestSieveRedirectSmtpSink(t *testing.T) {
	sink := startSink(t)
	scripts := newScripts("bob", `require "copy"; redirect :copy "archive@remote.test";`)
	srv := newSieveServer(t, &relay.Sieve{Scripts: scripts}, "127.0.0.1:"+strconv.Itoa(sink.port))
	if err := sendTo(t, srv.addr, "someone@remote.test", []string{"bob+tag@example.com"}, letter("copy me", "cp1")+"\r\n"); err != nil {
		t.Fatal(err)
	}
	srv.ev.wait(t, "the redirect delivered", func(l []queue.Event) bool { return countEvents(l, queue.EventDelivered) >= 1 })
	if got := mailboxMessages(t, srv.store, "bob", "INBOX"); len(got) != 1 {
		t.Fatalf("bob's INBOX: %d (redirect :copy keeps)", len(got))
	}
	var msgs []dumped
	waitFor(t, "smtp-sink's dump", func() bool { msgs = sink.messages(t); return len(msgs) == 1 })
	m := msgs[0]
	if !strings.Contains(m.mail, "someone@remote.test") || len(m.rcpts) != 1 || !strings.Contains(m.rcpts[0], "archive@remote.test") {
		t.Fatalf("sink envelope: %q %q", m.mail, m.rcpts)
	}
	if !strings.HasPrefix(string(m.body), relay.SieveRedirectField+": <bob+tag@example.com>\n") || !strings.Contains(string(m.body), "Subject: copy me\n") {
		t.Fatalf("sink got:\n%s", m.body)
	}
}
