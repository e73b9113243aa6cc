package relay_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/postyard/postyard/dnsmx"
	"github.com/postyard/postyard/dnsmx/dnstest"
	"github.com/postyard/postyard/internal/interop"
	"github.com/postyard/postyard/relay"
	"github.com/postyard/postyard/smtp"
)

// Interoperability of DKIM (RFC 6376, RFC 8463) with OpenDKIM 2.11's
// opendkim-testmsg (Debian: opendkim-tools). What the tool needs:
//
//   - The message must have the fields RFC 5322 §3.6 requires once each:
//     without a Date field (or with two From fields) every input, signing
//     or verifying, fails with "dkim_chunk(): Syntax error" (exit 70; the
//     header section ends inside dkim_chunk). Line ends are not the
//     cause: CRLF and LF both work.
//   - When signing, -C, or the DKIM-Signature it prints is corrupt: without
//     it, the tool removes the CRs of the folded field in place without
//     terminating the shortened string, so the last characters of b= are
//     printed twice.
//   - It signs with rsa-sha1 and c=relaxed/simple, always (the algorithm is
//     fixed in the tool). RFC 8301 §3.1 forbids verifiers to accept
//     rsa-sha1, and go-msgauth (and so the Verifier) does not.
//   - To verify, it looks the key up with the system resolver: there is no
//     option for a key file or another server, so runWithDNS gives it a
//     resolv.conf naming a loopback server, in namespaces of its own.

// interopMsg has the fields OpenDKIM requires (From, Date).
const interopMsg = testMsg

func TestDKIMInteropOpenDKIMVerifies(t *testing.T) {
	prog := interop.Require(t, "opendkim-testmsg", "apt-get install opendkim-tools")
	for _, tc := range []struct {
		name   string
		alg    relay.DKIMAlgorithm
		hc, bc dkim.Canonicalization
	}{
		{"rsa-sha256 relaxed/relaxed", relay.DKIMRSA, "", ""},
		{"rsa-sha256 simple/simple", relay.DKIMRSA, dkim.CanonicalizationSimple, dkim.CanonicalizationSimple},
		{"ed25519-sha256 relaxed/relaxed", relay.DKIMEd25519, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := newTestKey(t, tc.alg, "sel")
			s := &relay.DKIMSigner{
				Keys:                   []relay.DKIMKey{{Domain: "example.org", Selector: "sel", Signer: k.signer}},
				HeaderCanonicalization: tc.hc,
				BodyCanonicalization:   tc.bc,
			}
			var signed bytes.Buffer
			if err := s.Sign(context.Background(), &signed, strings.NewReader(interopMsg)); err != nil {
				t.Fatal(err)
			}
			zone := zoneTXT("sel._domainkey.example.org", k.record)
			if out, err := runWithDNS(t, zone, signed.Bytes(), prog); err != nil || len(out) != 0 {
				t.Fatalf("opendkim-testmsg refused our signature: %v\n%s\n%s", err, out, signed.String())
			}
			for _, bad := range []struct{ name, old, new, want string }{
				{"tampered body", "a test", "a TEST", "dkim_eom(): Bad signature"},
				{"tampered header", "Subject: hello", "Subject: hallo", "dkim_eom(): Bad signature"},
				{"added Cc", "To: bob", "Cc: mallory@example.com\r\nTo: bob", "dkim_eom(): Bad signature"},
				// Two From fields break RFC 5322 §3.6: refused before
				// any signature is checked.
				{"added From", "To: bob", "From: mallory@example.com\r\nTo: bob", "dkim_chunk(): Syntax error"},
			} {
				msg := strings.Replace(signed.String(), bad.old, bad.new, 1)
				out, err := runWithDNS(t, zone, []byte(msg), prog)
				if err == nil || !strings.Contains(string(out), bad.want) {
					t.Errorf("%s: %v %s, want %q", bad.name, err, out, bad.want)
				}
			}
		})
	}
	// The key is needed: a wrong one in DNS fails.
	k, other := newTestKey(t, relay.DKIMRSA, "sel"), newTestKey(t, relay.DKIMRSA, "sel")
	s := &relay.DKIMSigner{Keys: []relay.DKIMKey{{Domain: "example.org", Selector: "sel", Signer: k.signer}}}
	var signed bytes.Buffer
	if err := s.Sign(context.Background(), &signed, strings.NewReader(interopMsg)); err != nil {
		t.Fatal(err)
	}
	if out, err := runWithDNS(t, zoneTXT("sel._domainkey.example.org", other.record), signed.Bytes(), prog); err == nil || !strings.Contains(string(out), "Bad signature") {
		t.Errorf("another key in DNS: %v %s", err, out)
	}
	// No key in DNS at all: it cannot verify.
	if out, err := runWithDNS(t, zoneTXT("other._domainkey.example.org", k.record), signed.Bytes(), prog); err == nil || !strings.Contains(string(out), "Key retrieval failed") {
		t.Errorf("no key in DNS: %v %s", err, out)
	}
}

func TestDKIMInteropOpenDKIMSigns(t *testing.T) {
	prog := interop.Require(t, "opendkim-testmsg", "apt-get install opendkim-tools")
	genkey := interop.Require(t, "opendkim-genkey", "apt-get install opendkim-tools")
	dir := t.TempDir()
	interop.Run(t, nil, nil, genkey, "-b", "2048", "-d", "example.org", "-s", "odk", "-D", dir)

	// Its key files: the private key as ParseDKIMKey reads it, and the
	// record as DKIMRecord writes it (but for the h= tag).
	pem, err := os.ReadFile(filepath.Join(dir, "odk.private"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := relay.ParseDKIMKey(pem)
	if err != nil {
		t.Fatalf("ParseDKIMKey of opendkim-genkey's key: %v", err)
	}
	rec, _ := relay.DKIMRecord(key)
	txt, err := os.ReadFile(filepath.Join(dir, "odk.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var published strings.Builder
	for _, m := range regexp.MustCompile(`"([^"]*)"`).FindAllStringSubmatch(string(txt), -1) {
		published.WriteString(m[1])
	}
	if p := published.String(); p != strings.Replace(rec, "v=DKIM1; k=rsa;", "v=DKIM1; h=sha256; k=rsa;", 1) {
		t.Errorf("opendkim-genkey's record\n%s\ndiffers from DKIMRecord's\n%s", p, rec)
	}

	signed := interop.Run(t, []byte(interopMsg), nil, prog, "-C", "-d", "example.org", "-s", "odk", "-k", filepath.Join(dir, "odk.private"))
	sig, rest, ok := strings.Cut(string(signed), "\r\nFrom: ")
	if !ok || !strings.HasPrefix(sig, "DKIM-Signature: ") || "From: "+rest != interopMsg {
		t.Fatalf("opendkim-testmsg output:\n%s", signed)
	}
	tags := map[string]string{}
	for _, kv := range strings.Split(strings.Join(strings.Fields(strings.TrimPrefix(sig, "DKIM-Signature:")), ""), ";") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			tags[k] = v
		}
	}
	if tags["d"] != "example.org" || tags["s"] != "odk" || !strings.Contains(":"+strings.ToLower(tags["h"])+":", ":from:") {
		t.Fatalf("signature tags: %v", tags)
	}
	t.Logf("opendkim-testmsg signs with a=%s c=%s", tags["a"], tags["c"])

	zone := zoneTXT("odk._domainkey.example.org", rec)
	// OpenDKIM verifies its own signature, and not a tampered copy: the
	// signature is sound, whatever the Verifier says of its algorithm.
	if out, err := runWithDNS(t, zone, signed, prog); err != nil {
		t.Fatalf("opendkim-testmsg refused its own signature: %v\n%s", err, out)
	}
	tampered := strings.Replace(string(signed), "a test", "a TEST", 1)
	if out, err := runWithDNS(t, zone, []byte(tampered), prog); err == nil || !strings.Contains(string(out), "Bad signature") {
		t.Errorf("tampered body: %v %s", err, out)
	}

	srv := dnstest.NewServer(t, zone)
	v := &relay.Verifier{AuthServID: "mx.example.net", Resolver: &dnsmx.Resolver{Nameservers: []string{srv.Addr}}}
	verify := func(msg string) relay.DKIMCheck {
		t.Helper()
		res, err := v.Verify(context.Background(), testConn("192.0.2.1", "mail.example.org"), smtp.Path{}, strings.NewReader(msg))
		if err != nil {
			t.Fatal(err)
		}
		if len(res.DKIM) != 1 {
			t.Fatalf("%d DKIM results", len(res.DKIM))
		}
		return res.DKIM[0]
	}
	switch got := verify(string(signed)); tags["a"] {
	case "rsa-sha1":
		// RFC 8301 §3.1: not valid. The key was found and the tags
		// parsed: only the hash algorithm is refused.
		t.Logf("Verifier: %s (%v)", got.Result, got.Err)
		if got.Result == relay.AuthPass || got.Err == nil || !strings.Contains(got.Err.Error(), "sha1") {
			t.Errorf("rsa-sha1 signature: %+v", got)
		}
	case "rsa-sha256":
		if got.Result != relay.AuthPass {
			t.Errorf("OpenDKIM's signature: %+v", got)
		}
		if bad := verify(tampered); bad.Result != relay.AuthFail {
			t.Errorf("tampered: %+v", bad)
		}
	default:
		t.Errorf("unexpected algorithm %q", tags["a"])
	}
}
