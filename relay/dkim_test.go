package relay_test

import (
	"bytes"
	"context"
	"crypto"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/postyard/postyard/dnsmx"
	"github.com/postyard/postyard/dnsmx/dnstest"
	"github.com/postyard/postyard/relay"
	"github.com/postyard/postyard/smtp"
)

const testMsg = "From: Alice <alice@example.org>\r\n" +
	"To: bob@example.net\r\n" +
	"Subject: hello\r\n" +
	"Date: Mon, 2 Jan 2006 15:04:05 +0000\r\n" +
	"Message-ID: <1@example.org>\r\n" +
	"\r\n" +
	"Hi Bob,\r\n" +
	"\r\n" +
	"this is a test.\r\n"

// zoneTXT returns a zone line for a TXT record, split into quoted strings
// of at most 255 octets (RFC 1035 §3.3.14).
func zoneTXT(name, txt string) string {
	var b strings.Builder
	b.WriteString(name + ". TXT")
	for len(txt) > 0 {
		n := min(len(txt), 255)
		b.WriteString(` "` + txt[:n] + `"`)
		txt = txt[n:]
	}
	return b.String() + "\n"
}

type testKey struct {
	alg      relay.DKIMAlgorithm
	selector string
	signer   crypto.Signer
	record   string
}

func newTestKey(t testing.TB, alg relay.DKIMAlgorithm, selector string) testKey {
	t.Helper()
	k, err := relay.GenerateDKIMKey(alg)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := relay.DKIMRecord(k)
	if err != nil {
		t.Fatal(err)
	}
	return testKey{alg, selector, k, rec}
}

func lookupMap(recs map[string]string) func(string) ([]string, error) {
	return func(name string) ([]string, error) {
		if r, ok := recs[name]; ok {
			return []string{r}, nil
		}
		return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
	}
}

func TestDKIMSignVerifyMsgauth(t *testing.T) {
	rsaKey := newTestKey(t, relay.DKIMRSA, "rsa")
	edKey := newTestKey(t, relay.DKIMEd25519, "ed")
	s := &relay.DKIMSigner{Keys: []relay.DKIMKey{
		{Domain: "example.org", Selector: "rsa", Signer: rsaKey.signer},
		{Domain: "example.org", Selector: "ed", Signer: edKey.signer},
	}}
	var signed bytes.Buffer
	if err := s.Sign(context.Background(), &signed, strings.NewReader(testMsg)); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(signed.String(), testMsg) {
		t.Fatalf("message changed by signing:\n%s", signed.String())
	}
	hdr := signed.String()[:signed.Len()-len(testMsg)]
	if n := strings.Count(hdr, "DKIM-Signature:"); n != 2 {
		t.Fatalf("%d signatures, want 2:\n%s", n, hdr)
	}
	for _, want := range []string{"a=rsa-sha256", "a=ed25519-sha256", "c=relaxed/relaxed", "d=example.org", "s=rsa", "s=ed"} {
		if !strings.Contains(hdr, want) {
			t.Errorf("signatures lack %q:\n%s", want, hdr)
		}
	}
	if !strings.Contains(strings.Join(strings.Fields(hdr), ""), "h=From:From:") {
		t.Errorf("From not over-signed:\n%s", hdr)
	}

	opts := &dkim.VerifyOptions{LookupTXT: lookupMap(map[string]string{
		"rsa._domainkey.example.org": rsaKey.record,
		"ed._domainkey.example.org":  edKey.record,
	})}
	check := func(name, msg string, wantOK bool) {
		t.Helper()
		vs, err := dkim.VerifyWithOptions(strings.NewReader(msg), opts)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(vs) != 2 {
			t.Fatalf("%s: %d verifications", name, len(vs))
		}
		for _, v := range vs {
			if (v.Err == nil) != wantOK {
				t.Errorf("%s: verification error %v, want ok=%v", name, v.Err, wantOK)
			}
		}
	}
	check("signed", signed.String(), true)
	// Relaxed canonicalization survives re-folding and trailing space.
	check("refolded", strings.Replace(signed.String(), "Subject: hello", "Subject:  hello ", 1), true)
	check("tampered body", strings.Replace(signed.String(), "a test", "a TEST", 1), false)
	check("tampered header", strings.Replace(signed.String(), "Subject: hello", "Subject: hallo", 1), false)
	check("added From", strings.Replace(signed.String(), "To: bob", "From: mallory@example.com\r\nTo: bob", 1), false)
}

func TestDKIMSpool(t *testing.T) {
	k := newTestKey(t, relay.DKIMEd25519, "ed")
	dir := t.TempDir()
	s := &relay.DKIMSigner{
		Keys:        []relay.DKIMKey{{Domain: "example.org", Selector: "ed", Signer: k.signer}},
		SpoolMemory: 64,
		TempDir:     dir,
	}
	body := strings.Repeat("a long line of text that makes the message big\r\n", 1000)
	var out bytes.Buffer
	if err := s.Sign(context.Background(), &out, strings.NewReader(testMsg+body)); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(out.String(), testMsg+body) {
		t.Fatal("spooled message changed")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("spool files left behind: %v", ents)
	}
	vs, err := dkim.VerifyWithOptions(&out, &dkim.VerifyOptions{LookupTXT: lookupMap(map[string]string{"ed._domainkey.example.org": k.record})})
	if err != nil || len(vs) != 1 || vs[0].Err != nil {
		t.Fatalf("verify: %v %v", vs, err)
	}
}

func TestDKIMNoKey(t *testing.T) {
	k := newTestKey(t, relay.DKIMEd25519, "ed")
	s := &relay.DKIMSigner{Keys: []relay.DKIMKey{{Domain: "example.com", Selector: "ed", Signer: k.signer}}}
	sigs, err := s.Signatures(context.Background(), strings.NewReader(testMsg))
	if err != nil || sigs != "" {
		t.Fatalf("Signatures = %q, %v; want none", sigs, err)
	}
	// A parent domain's key signs for subdomains.
	s.Keys[0].Domain = "org" // but never a TLD's
	if sigs, _ := s.Signatures(context.Background(), strings.NewReader(testMsg)); sigs != "" {
		t.Errorf("signed with a TLD key: %q", sigs)
	}
	s.Keys[0].Domain = "example.org"
	sub := strings.Replace(testMsg, "alice@example.org", "alice@mail.example.org", 1)
	if sigs, _ := s.Signatures(context.Background(), strings.NewReader(sub)); !strings.Contains(sigs, "d=example.org") {
		t.Errorf("subdomain not signed by parent key: %q", sigs)
	}
}

func TestDKIMKeyPEM(t *testing.T) {
	for _, alg := range []relay.DKIMAlgorithm{relay.DKIMRSA, relay.DKIMEd25519} {
		k := newTestKey(t, alg, "s")
		p, err := relay.MarshalDKIMKey(k.signer)
		if err != nil {
			t.Fatal(err)
		}
		k2, err := relay.ParseDKIMKey(p)
		if err != nil {
			t.Fatal(err)
		}
		if rec, _ := relay.DKIMRecord(k2); rec != k.record {
			t.Errorf("%s: record after PEM round trip differs", alg)
		}
		if !strings.HasPrefix(k.record, "v=DKIM1; k="+string(alg)+"; p=") {
			t.Errorf("record %q", k.record)
		}
	}
	if got := relay.DKIMRecordName("sel", "example.org."); got != "sel._domainkey.example.org" {
		t.Errorf("DKIMRecordName = %q", got)
	}
}

// TestDKIMVerifier verifies our signatures through the Verifier, with the
// keys served over DNS on loopback.
func TestDKIMVerifier(t *testing.T) {
	rsaKey := newTestKey(t, relay.DKIMRSA, "rsa")
	edKey := newTestKey(t, relay.DKIMEd25519, "ed")
	srv := dnstest.NewServer(t, zoneTXT("rsa._domainkey.example.org", rsaKey.record)+
		zoneTXT("ed._domainkey.example.org", edKey.record))
	s := &relay.DKIMSigner{Keys: []relay.DKIMKey{
		{Domain: "example.org", Selector: "rsa", Signer: rsaKey.signer},
		{Domain: "example.org", Selector: "ed", Signer: edKey.signer},
	}}
	var signed bytes.Buffer
	if err := s.Sign(context.Background(), &signed, strings.NewReader(testMsg)); err != nil {
		t.Fatal(err)
	}
	v := &relay.Verifier{AuthServID: "mx.example.net", Resolver: &dnsmx.Resolver{Nameservers: []string{srv.Addr}}}
	for _, tc := range []struct {
		name, msg string
		want      relay.AuthValue
	}{
		{"signed", signed.String(), relay.AuthPass},
		{"tampered body", strings.Replace(signed.String(), "a test", "a TEST", 1), relay.AuthFail},
		{"tampered header", strings.Replace(signed.String(), "Subject: hello", "Subject: hallo", 1), relay.AuthFail},
	} {
		res, err := v.Verify(context.Background(), testConn("192.0.2.1", "mail.example.org"), smtp.Path{}, strings.NewReader(tc.msg))
		if err != nil {
			t.Fatal(err)
		}
		if len(res.DKIM) != 2 {
			t.Fatalf("%s: %d DKIM results", tc.name, len(res.DKIM))
		}
		for _, d := range res.DKIM {
			if d.Result != tc.want || d.Domain != "example.org" {
				t.Errorf("%s: %+v, want %s", tc.name, d, tc.want)
			}
		}
	}
}

// Sign a message, publish the key, and verify the signature.
func ExampleDKIMSigner() {
	key, _ := relay.GenerateDKIMKey(relay.DKIMEd25519)
	record, _ := relay.DKIMRecord(key)

	// Publish record at DKIMRecordName (here on a loopback test server).
	srv, _ := dnstest.Start(zoneTXT(relay.DKIMRecordName("2026a", "example.org"), record))
	defer srv.Close()

	signer := &relay.DKIMSigner{Keys: []relay.DKIMKey{
		{Domain: "example.org", Selector: "2026a", Signer: key},
	}}
	var signed bytes.Buffer
	signer.Sign(context.Background(), &signed, strings.NewReader(testMsg))

	v := &relay.Verifier{AuthServID: "mx.example.net", Resolver: &dnsmx.Resolver{Nameservers: []string{srv.Addr}}}
	res, _ := v.Verify(context.Background(), nil, smtp.Path{}, &signed)
	d := res.DKIM[0]
	fmt.Println(d.Result, d.Domain, d.Selector, d.Algorithm)
	// Output: pass example.org 2026a ed25519-sha256
}

func testConn(ip, helo string) *smtp.ConnInfo {
	return &smtp.ConnInfo{RemoteAddr: &net.TCPAddr{IP: net.ParseIP(ip), Port: 50000}, Hello: helo, ESMTP: true}
}
