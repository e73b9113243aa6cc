package relay_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/postyard/postyard/internal/interop"
	"github.com/postyard/postyard/relay"
)

// startSpamd starts SpamAssassin's spamd on loopback with local tests only
// (-L: no DNS, no network), no Bayes and no user configuration, and
// returns its address. The rules are the ones the Debian package ships in
// /usr/share/spamassassin (GTUBE is among them); sa-update is not needed.
func startSpamd(t *testing.T) string {
	t.Helper()
	bin := interop.Require(t, "spamd", "apt-get install spamd spamassassin")
	// Not t.TempDir(): spamd's children run as nobody when we are root, and
	// must read the configuration.
	dir, err := os.MkdirTemp("", "postyard-spamd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	site := filepath.Join(dir, "site")
	if err := os.Mkdir(site, 0o755); err != nil {
		t.Fatal(err)
	}
	// The .pre files load the plugins; they live in the site
	// configuration directory, which is replaced here.
	pres, _ := filepath.Glob("/etc/spamassassin/*.pre")
	if len(pres) == 0 {
		t.Fatal("no /etc/spamassassin/*.pre: is spamassassin installed?")
	}
	for _, p := range pres {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(site, filepath.Base(p)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	local := "use_bayes 0\nbayes_auto_learn 0\ndns_available no\nskip_rbl_checks 1\n"
	if err := os.WriteFile(filepath.Join(site, "local.cf"), []byte(local), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + toolPort(t)
	args := []string{"--listen=" + addr, "--allowed-ips=127.0.0.1", "-L", "-x",
		"--siteconfigpath=" + site, "--pidfile=" + filepath.Join(dir, "spamd.pid"),
		"--syslog=stderr", "--min-children=1", "--max-children=2"}
	if os.Getuid() == 0 {
		args = append(args, "-u", "nobody") // spamd does not run its children as root
	}
	cmd := startDaemon(t, "", bin, args...)
	waitTCP(t, cmd, addr, time.Minute)
	return addr
}

// TestSpamdSpamAssassin checks mail through a real spamd from an SMTP
// client to the mailbox: GTUBE is spam (quarantined into Junk with
// SpamAssassin's fields, or rejected above RejectScore), a plain message
// is not.
func TestSpamdSpamAssassin(t *testing.T) {
	start := time.Now()
	addr := startSpamd(t)
	t.Logf("spamd started in %v", time.Since(start).Round(time.Millisecond))

	f := newFixture(t, withFilters(&relay.Spamd{Network: "tcp", Address: addr}))
	u, _ := f.store.User(context.Background(), "alice")
	if err := u.Create(context.Background(), "Junk", nil); err != nil {
		t.Fatal(err)
	}
	date := time.Now().Format(time.RFC1123Z)
	head := "From: Sender <s@remote.example>\r\nTo: alice@example.com\r\nDate: " + date + "\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n"
	spam := head + "Subject: offer\r\nMessage-ID: <offer.1@remote.example>\r\n\r\nThis is the GTUBE:\r\n" + testGTUBE
	clean := head + "Subject: lunch\r\nMessage-ID: <lunch.1@remote.example>\r\n\r\nShall we meet at noon on Friday? The usual place is fine by me."

	if _, data := f.send(t, "127.0.0.1", "s@remote.example", []string{"alice@example.com"}, spam); !strings.HasPrefix(data, "250") {
		t.Fatalf("GTUBE: %q", data)
	}
	junk := f.folder(t, "alice", "Junk")
	if len(junk) != 1 {
		t.Fatalf("Junk has %d messages", len(junk))
	}
	hdr, _, _ := strings.Cut(junk[0], "\r\n\r\n")
	for _, re := range []string{
		`^Return-Path: <s@remote.example>\r\nX-Spam-`,
		`\r\nX-Spam-Flag: YES\r\n`,
		`\r\nX-Spam-Status: Yes, score=\d+\.\d required=5\.0 tests=[^\r]*GTUBE`,
		`\r\nX-Spam-Checker-Version: SpamAssassin `,
	} {
		if !regexp.MustCompile(re).MatchString(hdr) {
			t.Errorf("no %s in the quarantined header:\n%s", re, hdr)
		}
	}
	if !strings.Contains(junk[0], "\r\n\r\nThis is the GTUBE:\r\n"+testGTUBE) {
		t.Errorf("body changed:\n%s", junk[0])
	}

	if _, data := f.send(t, "127.0.0.1", "s@remote.example", []string{"alice@example.com"}, clean); !strings.HasPrefix(data, "250") {
		t.Fatalf("clean message: %q", data)
	}
	in := f.inbox(t, "alice")
	if len(in) != 1 || !regexp.MustCompile(`^Return-Path: <s@remote.example>\r\n(X-Spam-[^\r]*\r\n(\s[^\r]*\r\n)*)*X-Spam-Status: No, score=-?\d+\.\d required=5\.0`).MatchString(in[0]) ||
		strings.Contains(in[0], "X-Spam-Flag") {
		t.Fatalf("INBOX: %q", in)
	}

	// Far above the threshold: rejected.
	g := newFixture(t, withFilters(&relay.Spamd{Network: "tcp", Address: addr, RejectScore: 100}))
	if _, data := g.send(t, "127.0.0.1", "s@remote.example", []string{"alice@example.com"}, spam); data != "550 5.7.1 Message rejected as spam" {
		t.Fatalf("GTUBE with RejectScore 100: %q", data)
	}
	t.Logf("total %v", time.Since(start).Round(time.Millisecond))
}
