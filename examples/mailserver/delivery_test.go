package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	encbin "encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/postyard/postyard/auth"
	"github.com/postyard/postyard/dnsmx/dnstest"
	"github.com/postyard/postyard/internal/interop"
	"github.com/postyard/postyard/mailbox"
	"github.com/postyard/postyard/smtp"
)

// sendMX sends one message to the MX port without AUTH and returns the
// first failure: the RCPT's or the DATA's.
func sendMX(t *testing.T, addr, from, to, msg string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := smtp.Dial(ctx, "tcp", addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	res, err := c.SendMail(ctx, path(from), nil, []smtp.Rcpt{{To: path(to)}}, strings.NewReader(msg))
	if err == nil {
		err = res.Err(0)
	}
	return err
}

// stored returns the messages in mailbox name of user, read from the
// running server's store, with their flags.
func stored(t *testing.T, ms *mailServer, user, name string) ([]string, []mailbox.Flags) {
	t.Helper()
	ctx := context.Background()
	u, err := ms.store.User(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	mb, err := u.Open(ctx, name, nil)
	if errors.Is(err, mailbox.ErrNoSuchMailbox) {
		return nil, nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer mb.Close()
	var msgs []string
	var flags []mailbox.Flags
	for m, err := range mb.Messages(ctx, mailbox.AllUIDs(), nil) {
		if err != nil {
			t.Fatal(err)
		}
		r, err := mb.Open(ctx, m.UID)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(r)
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, string(b))
		flags = append(flags, m.Flags)
	}
	return msgs, flags
}

// subjects returns the Subject of each message.
func subjects(msgs []string) []string {
	var out []string
	for _, m := range msgs {
		_, s, _ := strings.Cut(m, "\r\nSubject: ")
		s, _, _ = strings.Cut(s, "\r\n")
		out = append(out, s)
	}
	return out
}

func smtpCode(err error) int {
	var se *smtp.Error
	if errors.As(err, &se) {
		return se.Code
	}
	return 0
}

// TestFiltersAct: the configured filters act on real SMTP traffic: an
// .exe attachment is refused on port 25; a DLP rule for outgoing mail
// holds a submitted message with a card number in the queue but lets the
// same text in from outside; an incoming keyword rule quarantines into
// the Junk mailbox, made for it; every accepted message, in or out, has
// a copy in the archive mailbox, which the sweep expunges after the
// retention.
func TestFiltersAct(t *testing.T) {
	c := testConfig(t)
	c.Smarthost = smarthostConfig{Host: "127.0.0.1", Port: 1, TLS: "none"} // remote mail stays queued
	c.Filters = filtersConfig{
		Attachments: &attachmentConfig{},
		DLP: []dlpRuleConfig{
			{Name: "cards", Cards: true, Direction: "outgoing", Action: "quarantine"},
			{Name: "lottery", Keywords: []string{"lottery winner"}, Direction: "incoming", Action: "quarantine"},
		},
	}
	c.Archive = archiveConfig{User: "archive", Mailbox: "Archive", Retention: duration(24 * time.Hour)}
	ms := startTest(t, c)
	mx, sub := ms.addrs["smtp"], ms.addrs["submission"]
	const stranger = "someone@example.org"

	exe := "From: <someone@example.org>\r\nTo: <demo@localhost>\r\nSubject: invoice\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n" +
		"--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"invoice.pdf.exe\"\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\nTVqQAAMAAAAEAAAA\r\n--b--\r\n"
	if err := sendMX(t, mx, stranger, ms.user, exe); smtpCode(err) != 552 || !strings.Contains(err.Error(), "invoice.pdf.exe") {
		t.Errorf(".exe attachment: %v, want 552 naming the file", err)
	}
	txt := strings.Replace(exe, "invoice.pdf.exe", "notes.txt", 1)
	txt = strings.Replace(txt, "Subject: invoice", "Subject: notes", 1)
	if err := sendMX(t, mx, stranger, ms.user, txt); err != nil {
		t.Errorf(".txt attachment: %v", err)
	}

	card := "Subject: %s\r\n\r\nMy card is 4111 1111 1111 1111, expiry 12/29.\r\n"
	if err := sendMX(t, mx, stranger, ms.user, fmt.Sprintf(card, "card in")); err != nil {
		t.Errorf("incoming card number: %v", err)
	}
	if err := sendMX(t, mx, stranger, ms.user, "Subject: you won\r\n\r\nDear Lottery  Winner, send fees.\r\n"); err != nil {
		t.Errorf("incoming lottery: %v", err)
	}
	if _, err := submit(t, sub, ms.user, ms.password, ms.user, []string{"friend@example.net"}, fmt.Sprintf(card, "card out")); err != nil {
		t.Errorf("outgoing card number: %v", err)
	}
	if _, err := submit(t, sub, ms.user, ms.password, ms.user, []string{"friend@example.net"}, "Subject: hello out\r\n\r\nHi.\r\n"); err != nil {
		t.Errorf("outgoing: %v", err)
	}

	inbox, _ := stored(t, ms, ms.user, "INBOX")
	if got := strings.Join(subjects(inbox), ","); got != "notes,card in" {
		t.Errorf("INBOX holds %q", got)
	}
	junk, _ := stored(t, ms, ms.user, "Junk")
	if got := strings.Join(subjects(junk), ","); got != "you won" {
		t.Errorf("Junk holds %q", got)
	}
	u, _ := ms.store.User(context.Background(), ms.user)
	list, _ := u.List(context.Background())
	for _, mb := range list {
		if mb.Name == "Junk" && mb.SpecialUse != mailbox.Junk {
			t.Errorf("Junk made without \\Junk: %+v", mb)
		}
	}

	held := map[string]bool{}
	for m, err := range ms.q.List(context.Background(), nil) {
		if err != nil {
			t.Fatal(err)
		}
		r, err := ms.q.Open(context.Background(), m.ID)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r)
		r.Close()
		held[subjects([]string{"\r\n" + string(b)})[0]] = m.Held
	}
	if len(held) != 2 || !held["card out"] || held["hello out"] {
		t.Errorf("queue (subject: held): %v, want the card held and the other not", held)
	}

	archived, _ := stored(t, ms, "archive", "Archive")
	if got := strings.Join(subjects(archived), ","); got != "notes,card in,you won,card out,hello out" {
		t.Errorf("archive holds %q", got)
	}
	if n, err := ms.archive.Sweep(context.Background(), ms.store, time.Now().Add(23*time.Hour)); n != 0 || err != nil {
		t.Errorf("sweep within the retention: %d %v", n, err)
	}
	if n, err := ms.archive.Sweep(context.Background(), ms.store, time.Now().Add(25*time.Hour)); n != 5 || err != nil {
		t.Errorf("sweep after the retention: %d %v", n, err)
	}
	if archived, _ := stored(t, ms, "archive", "Archive"); len(archived) != 0 {
		t.Errorf("%d copies left after the sweep", len(archived))
	}
}

// fakeClamd answers INSTREAM like clamd: a virus for any stream that
// contains the EICAR marker, OK otherwise.
func fakeClamd(t *testing.T) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "clamd.ctl")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(30 * time.Second))
				r := bufio.NewReader(c)
				cmd := make([]byte, len("zINSTREAM\x00"))
				if _, err := io.ReadFull(r, cmd); err != nil || string(cmd) != "zINSTREAM\x00" {
					return
				}
				var data []byte
				for {
					var n uint32
					if err := encbin.Read(r, encbin.BigEndian, &n); err != nil {
						return
					}
					if n == 0 {
						break
					}
					chunk := make([]byte, n)
					if _, err := io.ReadFull(r, chunk); err != nil {
						return
					}
					data = append(data, chunk...)
				}
				if bytes.Contains(data, []byte("EICAR-STANDARD-ANTIVIRUS-TEST-FILE")) {
					io.WriteString(c, "stream: Eicar-Test-Signature FOUND\x00")
				} else {
					io.WriteString(c, "stream: OK\x00")
				}
			}()
		}
	}()
	return sock
}

// TestClamdConfigured: [filters.clamd] at a Unix socket refuses a virus
// with its name and marks clean mail.
func TestClamdConfigured(t *testing.T) {
	c := testConfig(t)
	c.Filters.Clamd = &clamdConfig{Address: "unix:" + fakeClamd(t), Header: true}
	ms := startTest(t, c)
	eicar := `X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*`
	err := sendMX(t, ms.addrs["smtp"], "someone@example.org", ms.user, "Subject: virus\r\n\r\n"+eicar+"\r\n")
	if smtpCode(err) != 554 || !strings.Contains(err.Error(), "Eicar-Test-Signature") {
		t.Errorf("virus: %v, want 554 naming it", err)
	}
	if err := sendMX(t, ms.addrs["smtp"], "someone@example.org", ms.user, "Subject: clean\r\n\r\nNothing here.\r\n"); err != nil {
		t.Fatal(err)
	}
	inbox, _ := stored(t, ms, ms.user, "INBOX")
	if len(inbox) != 1 || !strings.Contains(inbox[0], "X-Virus-Scanned: ClamAV at "+c.Hostname) {
		t.Errorf("INBOX: %q", inbox)
	}
}

// sieveClient is a minimal ManageSieve client (RFC 5804) for the tests.
type sieveClient struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

// dialSieve connects, upgrades with STARTTLS and logs in with PLAIN.
func dialSieve(t *testing.T, addr, user, password string) *sieveClient {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(60 * time.Second))
	c := &sieveClient{t: t, conn: conn, r: bufio.NewReader(conn)}
	caps := c.response()
	if !strings.Contains(caps, `"STARTTLS"`) {
		t.Fatalf("no STARTTLS in the greeting:\n%s", caps)
	}
	c.cmd("STARTTLS")
	tc := tls.Client(conn, &tls.Config{InsecureSkipVerify: true})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	c.conn, c.r = tc, bufio.NewReader(tc)
	if caps := c.response(); !strings.Contains(caps, `"SASL" "PLAIN`) {
		t.Fatalf("capabilities after STARTTLS:\n%s", caps)
	}
	c.cmd(`AUTHENTICATE "PLAIN" "` + base64.StdEncoding.EncodeToString([]byte("\x00"+user+"\x00"+password)) + `"`)
	return c
}

// response reads up to the OK that ends a response, and fails the test
// on NO or BYE.
func (c *sieveClient) response() string {
	c.t.Helper()
	var b strings.Builder
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			c.t.Fatalf("ManageSieve: %v after\n%s", err, b.String())
		}
		b.WriteString(line)
		switch {
		case strings.HasPrefix(line, "OK"):
			return b.String()
		case strings.HasPrefix(line, "NO"), strings.HasPrefix(line, "BYE"):
			c.t.Fatalf("ManageSieve:\n%s", b.String())
		}
	}
}

// cmd sends a command and reads its response.
func (c *sieveClient) cmd(line string) string {
	c.t.Helper()
	if _, err := io.WriteString(c.conn, line+"\r\n"); err != nil {
		c.t.Fatal(err)
	}
	return c.response()
}

// put uploads a script and makes it the active one.
func (c *sieveClient) put(name, script string) {
	c.t.Helper()
	c.cmd(fmt.Sprintf("PUTSCRIPT %q {%d+}\r\n%s", name, len(script), script))
	c.cmd(fmt.Sprintf("SETACTIVE %q", name))
}

const newsScript = `require ["fileinto", "mailbox", "imap4flags"];
if header :contains "List-Id" "news.example.org" {
  fileinto :create :flags "\\Flagged" "Newsletters";
  stop;
}
`

// TestManageSieveDelivery: a script uploaded over ManageSieve (STARTTLS,
// AUTHENTICATE PLAIN as the demo user) files mail arriving over SMTP into
// the folder it names, with the flag it sets; other mail goes to INBOX.
func TestManageSieveDelivery(t *testing.T) {
	ms := startTest(t, testConfig(t))
	c := dialSieve(t, ms.addrs["managesieve"], ms.user, ms.password)
	c.put("news", newsScript)
	if list := c.cmd("LISTSCRIPTS"); !strings.Contains(list, `"news" ACTIVE`) {
		t.Fatalf("LISTSCRIPTS:\n%s", list)
	}
	c.cmd("LOGOUT")
	if name, _, err := ms.sieve.Active(context.Background(), ms.user); name != "news" || err != nil {
		t.Fatalf("active script %q %v", name, err)
	}

	mx := ms.addrs["smtp"]
	if err := sendMX(t, mx, "news@example.org", ms.user, "List-Id: Weekly <news.example.org>\r\nSubject: issue 1\r\n\r\nNews.\r\n"); err != nil {
		t.Fatal(err)
	}
	if err := sendMX(t, mx, "friend@example.org", ms.user, "Subject: lunch?\r\n\r\nNoon.\r\n"); err != nil {
		t.Fatal(err)
	}
	news, flags := stored(t, ms, ms.user, "Newsletters")
	if got := subjects(news); len(got) != 1 || got[0] != "issue 1" || flags[0]&mailbox.FlagFlagged == 0 {
		t.Errorf("Newsletters: %q, flags %v", got, flags)
	}
	if inbox, _ := stored(t, ms, ms.user, "INBOX"); strings.Join(subjects(inbox), ",") != "lunch?" {
		t.Errorf("INBOX: %q", subjects(inbox))
	}
}

// TestManageSieveSieveConnect: sieve-connect, as the listener's log line
// suggests, uploads and activates a script for a user of the users file
// (who has SCRAM credentials, so SCRAM-SHA-256 is offered too), and
// delivery follows it.
func TestManageSieveSieveConnect(t *testing.T) {
	bin := interop.Require(t, "sieve-connect", "apt-get install sieve-connect")
	c := testConfig(t)
	c.Domains = []string{"example.org"}
	const user, password = "alice@example.org", "alice-pw"
	if out, code := runCLI(t, password+"\n", "adduser", "-data", c.DataDir, user); code != 0 {
		t.Fatal(out)
	}
	ms := startTest(t, c)
	host, port, _ := net.SplitHostPort(ms.addrs["managesieve"])
	dir := t.TempDir()
	local := filepath.Join(dir, "news.sieve")
	if err := os.WriteFile(local, []byte(newsScript), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"HOME=" + dir}
	base := []string{"--server", host, "--port", port, "--nosrv", "--notlsverify", "--user", user, "--passwordfd", "0"}
	interop.Run(t, []byte(password+"\n"), env, bin, append(base, "--upload", "--localsieve", local, "--remotesieve", "news")...)
	interop.Run(t, []byte(password+"\n"), env, bin, append(base, "--activate", "--remotesieve", "news")...)
	out := interop.Run(t, []byte(password+"\n"), env, bin, append(base, "--debug", "--list")...)
	if !strings.Contains(string(out), "news") {
		t.Fatalf("--list:\n%s", out)
	}
	t.Logf("sieve-connect --debug --list:\n%s", out)
	if err := sendMX(t, ms.addrs["smtp"], "news@example.org", user, "List-Id: <news.example.org>\r\nSubject: issue 2\r\n\r\nNews.\r\n"); err != nil {
		t.Fatal(err)
	}
	if news, _ := stored(t, ms, user, "Newsletters"); strings.Join(subjects(news), ",") != "issue 2" {
		t.Errorf("Newsletters: %q", subjects(news))
	}
}

// TestDNSBLConfigured: a client listed on a configured block list is
// refused at MAIL FROM with the list's reason; one on an allow list as
// well skips the block lists.
func TestDNSBLConfigured(t *testing.T) {
	dns := dnstest.NewServer(t, `
1.0.0.127.bl.test.     A   127.0.0.2
1.0.0.127.bl.test.     TXT "listed for testing"
`)
	c := testConfig(t)
	c.Filters.DNSBL = &dnsblConfig{
		Zones:       []dnsblZoneConfig{{Zone: "bl.test"}},
		Exempt:      []string{}, // look loopback up too
		Nameservers: []string{dns.Addr},
	}
	ms := startTest(t, c)
	err := sendMX(t, ms.addrs["smtp"], "someone@example.org", ms.user, "Subject: x\r\n\r\nx\r\n")
	if smtpCode(err) != 554 || !strings.Contains(err.Error(), "bl.test") {
		t.Errorf("listed client: %v, want 554 naming the list", err)
	}
	// Submission is not looked up.
	if _, err := submit(t, ms.addrs["submission"], ms.user, ms.password, ms.user, []string{ms.user}, "Subject: y\r\n\r\ny\r\n"); err != nil {
		t.Errorf("submission from a listed address: %v", err)
	}

	if err := dns.Add("1.0.0.127.wl.test. A 127.0.0.2"); err != nil {
		t.Fatal(err)
	}
	c2 := testConfig(t)
	c2.Filters.DNSBL = &dnsblConfig{
		Zones:       []dnsblZoneConfig{{Zone: "wl.test", Allow: true}, {Zone: "bl.test"}},
		Exempt:      []string{},
		Nameservers: []string{dns.Addr},
	}
	ms2 := startTest(t, c2)
	if err := sendMX(t, ms2.addrs["smtp"], "someone@example.org", ms2.user, "Subject: x\r\n\r\nx\r\n"); err != nil {
		t.Errorf("client on the allow list: %v", err)
	}
}

// TestUsersSCRAM: adduser stores SCRAM-SHA-256 credentials unless
// -no-scram, and the server offers SCRAM only when every user has them.
func TestUsersSCRAM(t *testing.T) {
	file := filepath.Join(t.TempDir(), "users")
	if out, code := runCLI(t, "pw\n", "adduser", "-users", file, "alice"); code != 0 {
		t.Fatal(out)
	}
	data, _ := os.ReadFile(file)
	if !strings.Contains(string(data), ":SCRAM-SHA-256$4096:") {
		t.Fatalf("no SCRAM credentials:\n%s", data)
	}
	log := slog.New(slog.DiscardHandler)
	db, err := openUsers(file, log)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := db.authenticator(log).(auth.SCRAMAuthenticator); !ok {
		t.Error("SCRAM not offered although every user has credentials")
	}
	if out, code := runCLI(t, "pw\n", "adduser", "-users", file, "-no-scram", "bob"); code != 0 {
		t.Fatal(out)
	}
	data, _ = os.ReadFile(file)
	if _, bob, _ := strings.Cut(string(data), "\nbob:"); bob == "" || strings.Contains(bob, "SCRAM") {
		t.Fatalf("-no-scram:\n%s", data)
	}
	db.reload()
	if _, ok := db.authenticator(log).(auth.SCRAMAuthenticator); ok {
		t.Error("SCRAM offered although bob has no credentials")
	}
	if _, err := db.Authenticate(context.Background(), "", "bob", "pw"); err != nil {
		t.Errorf("bob: %v", err)
	}
}
