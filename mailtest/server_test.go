package mailtest_test

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	netsmtp "net/smtp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postyard/postyard/mailtest"
)

// msg builds a message with CRLF line endings.
func msg(from, to, subject, body string) []byte {
	return []byte(strings.ReplaceAll(fmt.Sprintf("From: <%s>\nTo: <%s>\nSubject: %s\nMessage-ID: <1@test>\n\n%s\n",
		from, to, subject, body), "\n", "\r\n"))
}

func send(t testing.TB, addr, from string, to []string, subject, body string) error {
	t.Helper()
	return netsmtp.SendMail(addr, nil, from, to, msg(from, to[0], subject, body))
}

// fakeTB records a test failure instead of stopping the test.
type fakeTB struct {
	testing.TB
	mu     sync.Mutex
	failed string
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failed = fmt.Sprintf(format, args...)
}

func (f *fakeTB) msg() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.failed
}

func TestWaitOne(t *testing.T) {
	srv := mailtest.NewServer(t)
	if err := send(t, srv.Addr(), "alice@example.org", []string{"bob@example.org", "carol@example.org"}, "Hello", "first line"); err != nil {
		t.Fatal(err)
	}
	m := srv.WaitOne(t, mailtest.To("Bob@Example.org"), mailtest.Subject("Hell"))
	if m.From != "alice@example.org" || len(m.To) != 2 || m.To[1] != "carol@example.org" {
		t.Errorf("envelope: from %q to %q", m.From, m.To)
	}
	if m.ID == "" || m.Hello == "" || m.TLS {
		t.Errorf("ID %q Hello %q TLS %v", m.ID, m.Hello, m.TLS)
	}
	want := msg("alice@example.org", "bob@example.org", "Hello", "first line")
	if string(m.Raw) != string(want) {
		t.Errorf("Raw = %q, want %q", m.Raw, want)
	}
	if got := m.Header.Get("Message-Id"); got != "<1@test>" {
		t.Errorf("Message-Id = %q", got)
	}
	if got := m.Text(); got != "first line\r\n" {
		t.Errorf("Text = %q", got)
	}
	if len(srv.Messages()) != 1 {
		t.Errorf("Messages: %d", len(srv.Messages()))
	}
}

func TestWaitNConcurrent(t *testing.T) {
	srv := mailtest.NewServer(t)
	const n = 30
	errs := make(chan error, n)
	for i := range n {
		go func() {
			errs <- send(t, srv.Addr(), "a@example.org", []string{fmt.Sprintf("r%d@example.org", i)}, fmt.Sprint("n", i), "x")
		}()
	}
	ms := srv.WaitN(t, n, mailtest.From("a@example.org"))
	if len(ms) != n {
		t.Fatalf("got %d", len(ms))
	}
	for range n {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	srv.AssertNone(t, 0, mailtest.To("nobody@example.org"))
}

func TestWaitBlocksUntilArrival(t *testing.T) {
	srv := mailtest.NewServer(t)
	done := make(chan *mailtest.Message)
	go func() {
		ft := &fakeTB{TB: t}
		done <- srv.WaitOne(ft, mailtest.Subject("later"))
	}()
	if err := send(t, srv.Addr(), "a@example.org", []string{"b@example.org"}, "sooner", "x"); err != nil {
		t.Fatal(err)
	}
	if err := send(t, srv.Addr(), "a@example.org", []string{"b@example.org"}, "later", "x"); err != nil {
		t.Fatal(err)
	}
	if m := <-done; m == nil || m.Subject() != "later" {
		t.Fatalf("got %v", m)
	}
}

func TestWaitTimeoutReport(t *testing.T) {
	srv := mailtest.NewServer(t, mailtest.WithWaitTimeout(50*time.Millisecond))
	if err := send(t, srv.Addr(), "alice@example.org", []string{"bob@example.org"}, "Invoice 42", "x"); err != nil {
		t.Fatal(err)
	}
	ft := &fakeTB{TB: t}
	if m := srv.WaitOne(ft, mailtest.To("bob@example.org"), mailtest.Subject("Invoice 43")); m != nil {
		t.Fatalf("got %v", m)
	}
	report := ft.msg()
	for _, want := range []string{
		"timed out after 50ms",
		`To("bob@example.org"), Subject("Invoice 43")`,
		`from <alice@example.org> to [<bob@example.org>] subject "Invoice 42"`,
		`does not match Subject("Invoice 43")`,
		"S: 220 localhost ESMTP",
		"C: MAIL FROM:<alice@example.org>",
		"C: [message content: 6 lines]",
		"S: 250 2.0.0 Ok: queued as MT000001",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q:\n%s", want, report)
		}
	}
}

func TestAssertNone(t *testing.T) {
	srv := mailtest.NewServer(t)
	srv.AssertNone(t, 10*time.Millisecond)
	if err := send(t, srv.Addr(), "a@example.org", []string{"b@example.org"}, "s", "x"); err != nil {
		t.Fatal(err)
	}
	srv.AssertNone(t, 10*time.Millisecond, mailtest.To("c@example.org"))
	ft := &fakeTB{TB: t}
	srv.AssertNone(ft, time.Hour, mailtest.To("b@example.org"))
	if !strings.Contains(ft.msg(), "want no message matching") {
		t.Errorf("AssertNone did not fail: %q", ft.msg())
	}
	srv.Reset()
	srv.AssertNone(t, 0, mailtest.To("b@example.org"))
}

func TestMatchersAndParts(t *testing.T) {
	srv := mailtest.NewServer(t)
	raw := strings.ReplaceAll(`From: a@example.org
To: b@example.org
Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=
X-Campaign: spring-2026
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b1"

--b1
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

Your code is 12=3D34
--b1
Content-Type: application/pdf
Content-Disposition: attachment; filename="invoice.pdf"
Content-Transfer-Encoding: base64

JVBERi0xLjQK
--b1--
`, "\n", "\r\n")
	if err := netsmtp.SendMail(srv.Addr(), nil, "a@example.org", []string{"b@example.org"}, []byte(raw)); err != nil {
		t.Fatal(err)
	}
	m := srv.WaitOne(t,
		mailtest.Subject("Grüße"),
		mailtest.Header("x-campaign", "spring"),
		mailtest.BodyContains("12=34"), // decoded quoted-printable
		mailtest.BodyContains("%PDF"),  // decoded base64
	)
	parts, err := m.Parts()
	if err != nil || len(parts) != 2 {
		t.Fatalf("Parts: %v, %d parts", err, len(parts))
	}
	if parts[0].ContentType != "text/plain" || parts[1].Filename != "invoice.pdf" || string(parts[1].Body) != "%PDF-1.4\n" {
		t.Errorf("parts: %q %q %q", parts[0].ContentType, parts[1].Filename, parts[1].Body)
	}
	if m.Text() != "Your code is 12=34" {
		t.Errorf("Text = %q", m.Text())
	}
	custom := mailtest.Match("two recipients", func(m *mailtest.Message) bool { return len(m.To) == 2 })
	srv.AssertNone(t, 0, custom)
}

func TestSTARTTLS(t *testing.T) {
	srv := mailtest.NewServer(t, mailtest.WithSTARTTLS(), mailtest.WithUser("app", "secret"))
	c, err := netsmtp.Dial(srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.StartTLS(srv.ClientTLSConfig()); err != nil {
		t.Fatal(err)
	}
	if err := c.Auth(netsmtp.PlainAuth("", "app", "secret", "127.0.0.1")); err != nil {
		t.Fatal(err)
	}
	sendOn(t, c, "a@example.org", "b@example.org", "over TLS")
	m := srv.WaitOne(t, mailtest.Subject("over TLS"))
	if !m.TLS || m.User != "app" {
		t.Errorf("TLS %v User %q", m.TLS, m.User)
	}
	tr := strings.Join(srv.Transcripts(), "")
	for _, want := range []string{"C: STARTTLS", "-- TLS started", "· AUTH as app", "· RCPT TO:<b@example.org>", "· DATA:"} {
		if !strings.Contains(tr, want) {
			t.Errorf("transcript lacks %q:\n%s", want, tr)
		}
	}
}

// sendOn sends one message on an open net/smtp client and quits.
func sendOn(t *testing.T, c *netsmtp.Client, from, to, subject string) {
	t.Helper()
	if err := c.Mail(from); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt(to); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	w.Write(msg(from, to, subject, "x"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}
}

func TestImplicitTLS(t *testing.T) {
	srv := mailtest.NewServer(t, mailtest.WithImplicitTLS(), mailtest.WithHostname("mx.test.example"))
	conn, err := tls.Dial("tcp", srv.TLSAddr(), srv.ClientTLSConfig())
	if err != nil {
		t.Fatal(err)
	}
	c, err := netsmtp.NewClient(conn, "mx.test.example")
	if err != nil {
		t.Fatal(err)
	}
	sendOn(t, c, "a@example.org", "b@example.org", "implicit")
	if m := srv.WaitOne(t, mailtest.Subject("implicit")); !m.TLS {
		t.Error("message not marked TLS")
	}
	if mailtest.NewServer(t).ClientTLSConfig() != nil {
		t.Error("ClientTLSConfig without TLS is not nil")
	}
}

func TestUserRequired(t *testing.T) {
	srv := mailtest.NewServer(t, mailtest.WithUser("app", "secret"))
	err := netsmtp.SendMail(srv.Addr(), netsmtp.PlainAuth("", "app", "wrong", "127.0.0.1"),
		"a@example.org", []string{"b@example.org"}, msg("a@example.org", "b@example.org", "s", "x"))
	if err == nil || !strings.Contains(err.Error(), "535") {
		t.Fatalf("wrong password: %v", err)
	}
}

// readLine reads one line of a text protocol.
func readLine(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	l, err := r.ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimRight(l, "\r\n")
}

func TestIMAPAndPOP3(t *testing.T) {
	srv := mailtest.NewServer(t, mailtest.WithIMAP(), mailtest.WithPOP3())
	if err := send(t, srv.Addr(), "a@example.org", []string{"Bob@example.org"}, "read me", "body text"); err != nil {
		t.Fatal(err)
	}
	srv.WaitOne(t)

	c, err := net.Dial("tcp", srv.IMAPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	readLine(t, r) // greeting
	fmt.Fprintf(c, "a LOGIN bob@example.org any\r\nb SELECT INBOX\r\nc FETCH 1 BODY[HEADER.FIELDS (SUBJECT)]\r\nd LOGOUT\r\n")
	var imapOut strings.Builder
	for {
		l := readLine(t, r)
		imapOut.WriteString(l + "\n")
		if strings.HasPrefix(l, "d ") {
			break
		}
	}
	for _, want := range []string{"a OK", "* 1 EXISTS", "Subject: read me", "c OK"} {
		if !strings.Contains(imapOut.String(), want) {
			t.Errorf("IMAP lacks %q:\n%s", want, imapOut.String())
		}
	}

	p, err := net.Dial("tcp", srv.POP3Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	pr := bufio.NewReader(p)
	readLine(t, pr)
	fmt.Fprintf(p, "USER bob@example.org\r\nPASS any\r\nSTAT\r\n")
	readLine(t, pr)
	readLine(t, pr)
	if stat := readLine(t, pr); !strings.HasPrefix(stat, "+OK 1 ") {
		t.Errorf("STAT = %q", stat)
	}
}
