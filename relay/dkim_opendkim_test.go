package relay_test

import (
	"context"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/postyard/postyard/dnsmx"
	"github.com/postyard/postyard/dnsmx/dnstest"
	"github.com/postyard/postyard/internal/interop"
	"github.com/postyard/postyard/relay"
)

// OpenDKIM's tool opendkim-testmsg signs with rsa-sha1 only, which RFC
// 8301 §3.1 forbids verifiers to accept (see dkim_interop_test.go). The
// daemon signs with rsa-sha256: TestDKIMOpenDKIMMilterSigns runs it as a
// milter in signing mode, drives it with Milter from an SMTP transaction,
// and verifies what was stored with the Verifier and with go-msgauth.

// startOpenDKIM starts the opendkim daemon (Debian: opendkim) in the
// foreground as a signing milter for domain with the key in keyFile, and
// returns its address.
func startOpenDKIM(t *testing.T, domain, selector, keyFile string) string {
	t.Helper()
	bin := interop.Require(t, "opendkim", "apt-get install opendkim")
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	port := toolPort(t)
	conf := filepath.Join(dir, "opendkim.conf")
	// No DNS: signing needs none. InternalHosts names the client's
	// address (the milter connect event's): mail from it is signed when
	// the From domain is Domain.
	if err := os.WriteFile(conf, []byte(strings.Join([]string{
		"Mode s",
		"Domain " + domain,
		"Selector " + selector,
		"KeyFile " + keyFile,
		// The key is in t.TempDir(), under /tmp: OpenDKIM refuses a key
		// below a directory others can write to, sticky bit or not.
		"RequireSafeKeys no",
		"Socket inet:" + port + "@127.0.0.1",
		"Background no",
		"AutoRestart no",
		"PidFile " + filepath.Join(dir, "opendkim.pid"),
		"UserID " + u.Username,
		"Canonicalization relaxed/relaxed",
		"SignatureAlgorithm rsa-sha256",
		"OversignHeaders From",
		"InternalHosts 127.0.0.1",
		"Syslog no",
		"",
	}, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := startDaemon(t, "", bin, "-f", "-x", conf)
	// libmilter looks for a stop request every 5 seconds, so SIGTERM
	// takes that long; the daemon keeps nothing worth a clean exit. This
	// cleanup runs before startDaemon's.
	t.Cleanup(func() { cmd.Process.Kill() })
	addr := "127.0.0.1:" + port
	waitTCP(t, cmd, addr, 30*time.Second)
	return addr
}

// TestDKIMOpenDKIMMilterSigns sends a message from a client in OpenDKIM's
// InternalHosts through the Inbound with the daemon as its milter: the
// stored message carries OpenDKIM's rsa-sha256 signature, which the
// Verifier and go-msgauth pass, and fail once the body or a signed header
// field is changed or a From field added (From is over-signed).
func TestDKIMOpenDKIMMilterSigns(t *testing.T) {
	key, err := relay.GenerateDKIMKey(relay.DKIMRSA)
	if err != nil {
		t.Fatal(err)
	}
	pem, err := relay.MarshalDKIMKey(key)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := relay.DKIMRecord(key)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "odkd.private")
	if err := os.WriteFile(keyFile, pem, 0o600); err != nil {
		t.Fatal(err)
	}
	addr := startOpenDKIM(t, "example.org", "odkd", keyFile)

	f := newFixture(t, withFilters(&relay.Milter{Network: "tcp", Address: addr, Hostname: "mx.example.com"}))
	msg := "From: Sender <s@example.org>\r\n" +
		"To: alice@example.com\r\n" +
		"Subject: signed by OpenDKIM\r\n" +
		"Date: " + time.Now().Format(time.RFC1123Z) + "\r\n" +
		"Message-ID: <odkd.1@example.org>\r\n" +
		"\r\n" +
		"Hi Alice,\r\n" +
		"\r\n" +
		"this message went through opendkim." // send ends it with CRLF
	if _, data := f.send(t, "127.0.0.1", "s@example.org", []string{"alice@example.com"}, msg); !strings.HasPrefix(data, "250") {
		t.Fatalf("DATA: %q", data)
	}
	in := f.inbox(t, "alice")
	if len(in) != 1 {
		t.Fatalf("alice has %d messages", len(in))
	}
	stored := in[0]
	hdr, _, _ := strings.Cut(stored, "\r\n\r\n")
	sig := regexp.MustCompile(`(?m)^DKIM-Signature:[^\r]*\r\n(?:[ \t][^\r]*\r\n?)*`).FindString(hdr + "\r\n")
	if sig == "" {
		t.Fatalf("no DKIM-Signature in the stored message:\n%s", hdr)
	}
	tags := map[string]string{}
	for _, kv := range strings.Split(strings.Join(strings.Fields(strings.TrimPrefix(sig, "DKIM-Signature:")), ""), ";") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			tags[k] = v
		}
	}
	if tags["a"] != "rsa-sha256" || tags["c"] != "relaxed/relaxed" || tags["d"] != "example.org" || tags["s"] != "odkd" {
		t.Fatalf("OpenDKIM's signature tags: %v\n%s", tags, sig)
	}
	// OversignHeaders From: listed once more than present.
	if h := strings.ToLower(tags["h"]); strings.Count(":"+h+":", ":from:") != 2 {
		t.Errorf("h=%s does not over-sign From", tags["h"])
	}
	if !strings.HasSuffix(stored, "\r\n\r\nHi Alice,\r\n\r\nthis message went through opendkim.\r\n") {
		t.Errorf("body changed: %q", stored)
	}
	if n := strings.Count(hdr, "\r\nDKIM-Signature:"); n != 1 {
		t.Errorf("%d DKIM-Signature fields:\n%s", n, hdr)
	}

	body := "this message went through opendkim."
	tampered := map[string]string{
		"body":    strings.Replace(stored, body, strings.ToUpper(body), 1),
		"subject": strings.Replace(stored, "Subject: signed by OpenDKIM", "Subject: signed by someone", 1),
		"from":    strings.Replace(stored, "\r\nTo: alice", "\r\nFrom: mallory@example.net\r\nTo: alice", 1),
	}

	// Our Verifier, with the key from a loopback DNS server.
	srv := dnstest.NewServer(t, zoneTXT(relay.DKIMRecordName("odkd", "example.org"), rec))
	v := &relay.Verifier{AuthServID: "mx.example.com", Resolver: &dnsmx.Resolver{Nameservers: []string{srv.Addr}}}
	check := func(name, m string) relay.DKIMCheck {
		t.Helper()
		res, err := v.Verify(context.Background(), testConn("127.0.0.1", "client.example"), path(t, "s@example.org"), strings.NewReader(m))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(res.DKIM) != 1 {
			t.Fatalf("%s: %d DKIM results", name, len(res.DKIM))
		}
		return res.DKIM[0]
	}
	if got := check("stored", stored); got.Result != relay.AuthPass || got.Domain != "example.org" || got.Selector != "odkd" || got.Algorithm != "rsa-sha256" {
		t.Errorf("Verifier of OpenDKIM's signature: %+v\n%s", got, stored)
	}
	for name, m := range tampered {
		if got := check(name, m); got.Result != relay.AuthFail {
			t.Errorf("Verifier, tampered %s: %+v", name, got)
		}
	}

	// go-msgauth directly.
	opts := &dkim.VerifyOptions{LookupTXT: lookupMap(map[string]string{"odkd._domainkey.example.org": rec})}
	vs, err := dkim.VerifyWithOptions(strings.NewReader(stored), opts)
	if err != nil || len(vs) != 1 || vs[0].Err != nil || vs[0].Domain != "example.org" {
		t.Errorf("dkim.Verify of OpenDKIM's signature: %v %+v", err, vs)
	}
	for name, m := range tampered {
		vs, err := dkim.VerifyWithOptions(strings.NewReader(m), opts)
		if err != nil || len(vs) != 1 || vs[0].Err == nil {
			t.Errorf("dkim.Verify, tampered %s: %v %+v", name, err, vs)
		}
	}
}
