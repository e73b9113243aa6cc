package dnsmx_test

import (
	"context"
	"slices"
	"testing"

	"github.com/postyard/postyard/dnsmx"
	"github.com/postyard/postyard/dnsmx/dnstest"
)

// Character-strings are joined without spaces (RFC 7208 §3.3) and keep
// their bytes (quotes, backslashes, control characters).
func TestLookupTXT(t *testing.T) {
	srv := dnstest.NewServer(t, `
multi.example. TXT "v=spf1 " "include:a.example" " -all"
bytes.example. TXT "say \"hi\" \\ \009tab \255"
_dmarc.bücher.example. TXT "x"
`)
	srv.Add(`_dmarc.xn--bcher-kva.example. TXT "v=DMARC1; p=none"`)
	srv.SetSecure("multi.example", true)
	r := newResolver(srv)
	ctx := context.Background()
	res, err := r.LookupTXT(ctx, "multi.example")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Records, []string{"v=spf1 include:a.example -all"}) || !res.Authentic {
		t.Errorf("multi-string record %+v", res)
	}
	res, err = r.LookupTXT(ctx, "bytes.example")
	if err != nil {
		t.Fatal(err)
	}
	if want := "say \"hi\" \\ \ttab \xff"; len(res.Records) != 1 || res.Records[0] != want {
		t.Errorf("record %q, want %q", res.Records, want)
	}
	if _, err := dnsmx.LookupDMARC(ctx, r, "bücher.example"); err != nil {
		t.Errorf("DMARC of an IDN: %v", err)
	}
	_, err = r.LookupTXT(ctx, "none.example")
	wantError(t, err, dnsmx.ErrNXDomain, true)
}

// RFC 7208 §4.5: exactly one "v=spf1" record; none is "none", several is
// "permerror", a failure is "temperror".
func TestLookupSPF(t *testing.T) {
	srv := dnstest.NewServer(t, `
one.example.   TXT "v=spf1 ip4:192.0.2.0/24 -all"
one.example.   TXT "google-site-verification=abc"
one.example.   TXT "v=spf10 not spf"
upper.example. TXT "V=SPF1 -all"
bare.example.  TXT "v=spf1"
two.example.   TXT "v=spf1 -all"
two.example.   TXT "v=spf1 +all"
other.example. TXT "v=spf2.0/pra"
fail.example.  TXT "v=spf1 -all"
`)
	srv.SetFault("fail.example", dnstest.ServFail)
	r := quickResolver(srv)
	ctx := context.Background()
	for name, want := range map[string]string{
		"one.example":   "v=spf1 ip4:192.0.2.0/24 -all",
		"upper.example": "V=SPF1 -all",
		"bare.example":  "v=spf1",
	} {
		got, err := dnsmx.LookupSPF(ctx, r, name)
		if err != nil || got != want {
			t.Errorf("%s: %q, %v; want %q", name, got, err, want)
		}
	}
	_, err := dnsmx.LookupSPF(ctx, r, "two.example")
	wantError(t, err, dnsmx.ErrMultipleRecords, true)
	_, err = dnsmx.LookupSPF(ctx, r, "other.example")
	wantError(t, err, dnsmx.ErrNoRecords, true)
	_, err = dnsmx.LookupSPF(ctx, r, "nx.example")
	wantError(t, err, dnsmx.ErrNXDomain, true)
	_, err = dnsmx.LookupSPF(ctx, r, "fail.example")
	wantError(t, err, dnsmx.ErrServFail, false)
}

// RFC 7489 §6.6.3: the one record whose first tag is v=DMARC1.
func TestLookupDMARC(t *testing.T) {
	srv := dnstest.NewServer(t, `
_dmarc.ok.example.    TXT "v=DMARC1; p=reject; rua=mailto:d@ok.example"
_dmarc.ok.example.    TXT "v=spf1 -all"
_dmarc.space.example. TXT "v = DMARC1 ; p=none"
_dmarc.bare.example.  TXT "v=DMARC1"
_dmarc.bad.example.   TXT "v=DMARC10; p=none"
_dmarc.bad.example.   TXT "p=none; v=DMARC1"
_dmarc.two.example.   TXT "v=DMARC1; p=none"
_dmarc.two.example.   TXT "v=DMARC1; p=reject"
`)
	r := newResolver(srv)
	ctx := context.Background()
	for _, name := range []string{"ok.example", "space.example", "bare.example"} {
		if _, err := dnsmx.LookupDMARC(ctx, r, name); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	_, err := dnsmx.LookupDMARC(ctx, r, "bad.example")
	wantError(t, err, dnsmx.ErrNoRecords, true)
	_, err = dnsmx.LookupDMARC(ctx, r, "two.example")
	wantError(t, err, dnsmx.ErrMultipleRecords, true)
	_, err = dnsmx.LookupDMARC(ctx, r, "none.example")
	wantError(t, err, dnsmx.ErrNXDomain, true)
}
