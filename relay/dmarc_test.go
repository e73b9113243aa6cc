package relay_test

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/postyard/postyard/dnsmx"
	"github.com/postyard/postyard/dnsmx/dnstest"
	"github.com/postyard/postyard/relay"
	"github.com/postyard/postyard/smtp"
)

// TestVerifierDMARC runs whole messages through the Verifier: SPF, DKIM
// and DMARC from a loopback zone, and the Authentication-Results field.
func TestVerifierDMARC(t *testing.T) {
	key := newTestKey(t, relay.DKIMEd25519, "sel")
	zone := zoneTXT("sel._domainkey.signed.example", key.record) + `
signed.example.          TXT "v=spf1 -all"
_dmarc.signed.example.   TXT "v=DMARC1; p=reject"
spf.example.             TXT "v=spf1 ip4:192.0.2.1 -all"
_dmarc.spf.example.      TXT "v=DMARC1; p=reject; aspf=s"
bounce.spf.example.      TXT "v=spf1 ip4:192.0.2.1 -all"
reject.example.          TXT "v=spf1 -all"
_dmarc.reject.example.   TXT "v=DMARC1; p=reject; sp=quarantine"
sub.reject.example.      TXT "v=spf1 -all"
quar.example.            TXT "v=spf1 -all"
_dmarc.quar.example.     TXT "v=DMARC1; p=quarantine"
nodmarc.example.         TXT "v=spf1 -all"
temp.example.            TXT "v=spf1 -all"
_dmarc.temp.example.     TXT "v=DMARC1; p=reject"
perm.example.            TXT "v=spf1 -all"
_dmarc.perm.example.     TXT "v=DMARC1; p=bogus"
`
	srv := dnstest.NewServer(t, zone)
	srv.SetFault("_dmarc.temp.example", dnstest.ServFail)
	signer := &relay.DKIMSigner{Keys: []relay.DKIMKey{{Domain: "signed.example", Selector: "sel", Signer: key.signer}}}

	msg := func(from string) string {
		m := strings.Replace(testMsg, "alice@example.org", from, 1)
		sigs, err := signer.Signatures(context.Background(), strings.NewReader(m))
		if err != nil {
			t.Fatal(err)
		}
		return sigs + m
	}
	for _, tc := range []struct {
		name, mailFrom, from string
		wantDMARC            relay.AuthValue
		wantAction           relay.Action
		wantHeader           string
	}{
		{"dkim aligned", "a@signed.example", "alice@signed.example", relay.AuthPass, relay.ActionAccept,
			"Authentication-Results: mx.example.net;\r\n" +
				"\tspf=fail smtp.mailfrom=a@signed.example;\r\n" +
				"\tdkim=pass header.d=signed.example header.s=sel header.a=ed25519-sha256 header.b=XXXXXXXX;\r\n" +
				"\tdmarc=pass header.from=signed.example (p=reject)\r\n"},
		{"spf aligned strict", "a@spf.example", "alice@spf.example", relay.AuthPass, relay.ActionAccept,
			"Authentication-Results: mx.example.net;\r\n" +
				"\tspf=pass smtp.mailfrom=a@spf.example;\r\n" +
				"\tdkim=none;\r\n" +
				"\tdmarc=pass header.from=spf.example (p=reject)\r\n"},
		{"spf relaxed only, strict policy", "a@bounce.spf.example", "alice@spf.example", relay.AuthFail, relay.ActionReject, ""},
		{"reject", "a@reject.example", "alice@reject.example", relay.AuthFail, relay.ActionReject, ""},
		{"subdomain policy", "a@sub.reject.example", "alice@sub.reject.example", relay.AuthFail, relay.ActionQuarantine, ""},
		{"quarantine", "a@quar.example", "alice@quar.example", relay.AuthFail, relay.ActionQuarantine, ""},
		{"none", "a@nodmarc.example", "alice@nodmarc.example", relay.AuthNone, relay.ActionAccept,
			"Authentication-Results: mx.example.net;\r\n" +
				"\tspf=fail smtp.mailfrom=a@nodmarc.example;\r\n" +
				"\tdkim=none;\r\n" +
				"\tdmarc=none header.from=nodmarc.example\r\n"},
		{"temperror", "a@temp.example", "alice@temp.example", relay.AuthTempError, relay.ActionAccept, ""},
		{"permerror", "a@perm.example", "alice@perm.example", relay.AuthPermError, relay.ActionAccept, ""},
		{"no From", "a@nodmarc.example", "", relay.AuthPermError, relay.ActionAccept, ""},
	} {
		v := &relay.Verifier{AuthServID: "mx.example.net", Resolver: &dnsmx.Resolver{Nameservers: []string{srv.Addr}, Retries: -1}}
		m := msg(tc.from)
		if tc.from == "" {
			m = strings.Replace(testMsg, "From: Alice <alice@example.org>\r\n", "", 1)
		}
		local, domain, _ := strings.Cut(tc.mailFrom, "@")
		res, err := v.Verify(context.Background(), testConn("192.0.2.1", "client.example"), smtp.Path{Local: local, Domain: domain}, strings.NewReader(m))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if res.DMARC.Result != tc.wantDMARC || res.Action != tc.wantAction {
			t.Errorf("%s: dmarc=%s (%v) action %s, want %s %s", tc.name, res.DMARC.Result, res.DMARC.Err, res.Action, tc.wantDMARC, tc.wantAction)
		}
		if (res.Reply() != nil) != (tc.wantAction == relay.ActionReject) {
			t.Errorf("%s: Reply() = %v", tc.name, res.Reply())
		} else if r := res.Reply(); r != nil && (r.Code != 550 || r.EnhancedCode != "5.7.1") {
			t.Errorf("%s: Reply() = %v", tc.name, r)
		}
		if tc.wantHeader != "" {
			got := res.Header()
			if len(res.DKIM) > 0 && len(res.DKIM[0].Signature) == 8 {
				got = strings.Replace(got, "header.b="+res.DKIM[0].Signature, "header.b=XXXXXXXX", 1)
			}
			if got != tc.wantHeader {
				t.Errorf("%s: header\n%s\nwant\n%s", tc.name, got, tc.wantHeader)
			}
		}
	}

	// The configured action replaces the policy's.
	v := &relay.Verifier{AuthServID: "mx.example.net", Resolver: &dnsmx.Resolver{Nameservers: []string{srv.Addr}}, OnReject: relay.ActionQuarantine}
	res, err := v.Verify(context.Background(), testConn("192.0.2.1", "client.example"), smtp.Path{Local: "a", Domain: "reject.example"}, strings.NewReader(msg("alice@reject.example")))
	if err != nil || res.Action != relay.ActionQuarantine {
		t.Errorf("OnReject: %v %v", res.Action, err)
	}
}

// TestVerifierCheck: the delivered message has our Authentication-Results
// first and a forged one claiming our authserv-id removed.
func TestVerifierCheck(t *testing.T) {
	srv := dnstest.NewServer(t, `example.org. TXT "v=spf1 ip4:192.0.2.1 -all"`)
	v := &relay.Verifier{AuthServID: "mx.example.net", Resolver: &dnsmx.Resolver{Nameservers: []string{srv.Addr}}, SpoolMemory: 16, TempDir: t.TempDir()}
	in := "Authentication-Results: MX.example.net (forged);\r\n\tspf=pass\r\n" +
		"Authentication-Results: other.example; dkim=pass\r\n" + testMsg
	rc, res, err := v.Check(context.Background(), testConn("192.0.2.1", "c.example"), smtp.Path{Local: "alice", Domain: "example.org"}, strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	want := res.Header() + "Authentication-Results: other.example; dkim=pass\r\n" + testMsg
	if string(out) != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
	if res.SPF.Result != relay.AuthPass {
		t.Errorf("spf %s", res.SPF.Result)
	}
}

func TestStripAuthResults(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Authentication-Results: mx.example; none\r\nA: b\r\n\r\nbody\r\nAuthentication-Results: mx.example; x\r\n",
			"A: b\r\n\r\nbody\r\nAuthentication-Results: mx.example; x\r\n"},
		{"authentication-results : (c (nested)) mx.example\r\n (x); spf=pass\r\nA: b\r\n\r\n", "A: b\r\n\r\n"},
		{"Authentication-Results: mx.example.org; none\r\n\r\n", "Authentication-Results: mx.example.org; none\r\n\r\n"},
		{"Authentication-Results: \"mx.example\"; none\r\n\r\n", "\r\n"},
		{"X: y\n", "X: y\n"},
	} {
		var b bytes.Buffer
		if err := relay.StripAuthResults(&b, strings.NewReader(tc.in), "mx.example", 0); err != nil {
			t.Fatal(err)
		}
		if b.String() != tc.want {
			t.Errorf("Strip(%q) = %q, want %q", tc.in, b.String(), tc.want)
		}
	}
}

func TestAuthServID(t *testing.T) {
	for in, want := range map[string]string{
		" mx.example; spf=pass":     "mx.example",
		"mx.example 1; none":        "mx.example",
		" (comment \\) x) mx.ex;":   "mx.ex",
		"\r\n\tmx.example(c); none": "mx.example",
		` "quoted\"id"; none`:       `quoted"id`,
		"":                          "",
		"(unterminated":             "",
	} {
		if got := relay.AuthServID(in); got != want {
			t.Errorf("AuthServID(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzAuthServID(f *testing.F) {
	for _, s := range []string{" mx.example; spf=pass", "(a(b)c) x", `"q\"x"`, "\\", "((", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id := relay.AuthServID(s)
		if len(id) > len(s) {
			t.Fatalf("id %q longer than input %q", id, s)
		}
	})
}

func FuzzStripAuthResults(f *testing.F) {
	f.Add("Authentication-Results: mx.example; none\r\nA: b\r\n\r\nbody")
	f.Add("A: b\n c\nAuthentication-Results:mx.example\n\n")
	f.Add("Authentication-Results")
	f.Fuzz(func(t *testing.T, s string) {
		var b bytes.Buffer
		if err := relay.StripAuthResults(&b, strings.NewReader(s), "mx.example", 0); err != nil {
			t.Fatal(err)
		}
		if b.Len() > len(s) {
			t.Fatalf("output longer than input")
		}
		// Stripping is idempotent.
		var b2 bytes.Buffer
		relay.StripAuthResults(&b2, bytes.NewReader(b.Bytes()), "mx.example", 0)
		if b2.String() != b.String() {
			t.Fatalf("not idempotent: %q then %q", b.String(), b2.String())
		}
	})
}
