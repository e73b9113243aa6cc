package dnsmx_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/postyard/postyard/dnsmx"
	"github.com/postyard/postyard/dnsmx/dnstest"
)

func TestParseSTSPolicy(t *testing.T) {
	for _, tc := range []struct {
		body string
		want *dnsmx.STSPolicy // nil: an error
	}{
		// RFC 8461 §3.2 examples, CRLF and LF.
		{"version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmx: backupmx.example.com\r\nmax_age: 604800\r\n",
			&dnsmx.STSPolicy{Mode: dnsmx.STSEnforce, MX: []string{"mail.example.com", "*.example.net", "backupmx.example.com"}, MaxAge: 604800 * time.Second}},
		{"version: STSv1\nmode: testing\nmx: MX.Example.COM.\nmax_age: 86400",
			&dnsmx.STSPolicy{Mode: dnsmx.STSTesting, MX: []string{"mx.example.com"}, MaxAge: 86400 * time.Second}},
		{"version: STSv1\nmode: none\nmax_age: 0\n",
			&dnsmx.STSPolicy{Mode: dnsmx.STSNone, MaxAge: 0}},
		// Any order, whitespace after the colon and at line ends, blank lines.
		{"max_age:\t60 \nmx:   a.example\n\nmode: enforce\r\nversion: STSv1\n\n",
			&dnsmx.STSPolicy{Mode: dnsmx.STSEnforce, MX: []string{"a.example"}, MaxAge: time.Minute}},
		// Unknown keys ignored; repeated keys: the first counts.
		{"version: STSv1\nmode: enforce\nmode: none\nmx: a.example\nmax_age: 5\nmax_age: 6\nx-ext.1: some value ü\n",
			&dnsmx.STSPolicy{Mode: dnsmx.STSEnforce, MX: []string{"a.example"}, MaxAge: 5 * time.Second}},
		// max_age above a year is lowered to a year.
		{"version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 9999999999\n",
			&dnsmx.STSPolicy{Mode: dnsmx.STSEnforce, MX: []string{"a.example"}, MaxAge: 31557600 * time.Second}},
		// U-label mx patterns become A-labels.
		{"version: STSv1\nmode: enforce\nmx: *.bücher.example\nmax_age: 5\n",
			&dnsmx.STSPolicy{Mode: dnsmx.STSEnforce, MX: []string{"*.xn--bcher-kva.example"}, MaxAge: 5 * time.Second}},

		{"", nil},
		{"version: STSv2\nmode: enforce\nmx: a.example\nmax_age: 5\n", nil},
		{"mode: enforce\nmx: a.example\nmax_age: 5\n", nil},                                                   // no version
		{"version: STSv1\nmx: a.example\nmax_age: 5\n", nil},                                                  // no mode
		{"version: STSv1\nmode: enforce\nmx: a.example\n", nil},                                               // no max_age
		{"version: STSv1\nmode: enforce\nmax_age: 5\n", nil},                                                  // no mx
		{"version: STSv1\nmode: report\nmx: a.example\nmax_age: 5\n", nil},                                    // unknown mode
		{"version: STSv1\nmode: enforce\nmx: a.example\nmax_age: -5\n", nil},                                  // not digits
		{"version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 12345678901\n", nil},                         // 11 digits
		{"version: STSv1\nmode: enforce\nmx: a..example\nmax_age: 5\n", nil},                                  // bad pattern
		{"version: STSv1\nmode: enforce\nmx: a.*.example\nmax_age: 5\n", nil},                                 // bad wildcard
		{"version: STSv1\nmode: enforce\nmx: *\nmax_age: 5\n", nil},                                           // bad wildcard
		{"version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 5\nno colon here\n", nil},                    // bad line
		{"version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 5\n_key: v\n", nil},                          // bad key
		{"version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 5\nkey:\n", nil},                             // empty value
		{"version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 5\nkey: a\x00b\n", nil},                      // control character
		{"version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 5\nkey: \xff\n", nil},                        // not UTF-8
		{"version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 5\r\rkey: v\n", nil},                         // bare CR
		{"version : STSv1\nmode: enforce\nmx: a.example\nmax_age: 5\n", nil},                                  // space before colon
		{"version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 5\n" + strings.Repeat("x: y\n", 20000), nil}, // > 64 KiB
	} {
		got, err := dnsmx.ParseSTSPolicy([]byte(tc.body))
		if tc.want == nil {
			if err == nil {
				t.Errorf("%q: no error, policy %+v", tc.body, got)
			} else {
				wantError(t, err, dnsmx.ErrMalformed, true)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.body, err)
			continue
		}
		if got.Mode != tc.want.Mode || !slices.Equal(got.MX, tc.want.MX) || got.MaxAge != tc.want.MaxAge || got.ID != "" {
			t.Errorf("%q:\n got %+v\nwant %+v", tc.body, got, tc.want)
		}
	}
}

// RFC 8461 §4.1: a wildcard matches exactly one left-most label.
func TestSTSPolicyMatch(t *testing.T) {
	p := &dnsmx.STSPolicy{MX: []string{"mail.example.com", "*.example.net"}}
	for host, want := range map[string]bool{
		"mail.example.com":    true,
		"MAIL.Example.COM.":   true,
		"other.example.com":   false,
		"example.com":         false,
		"mx1.example.net":     true,
		"mx1.example.net.":    true,
		"example.net":         false,
		"a.b.example.net":     false,
		".example.net":        false,
		"mx1.example.network": false,
		"":                    false,
	} {
		if got := p.Match(host); got != want {
			t.Errorf("Match(%q) = %v", host, got)
		}
	}
}

func TestParseSTSRecord(t *testing.T) {
	for txt, want := range map[string]string{
		"v=STSv1; id=20160831085700Z;":           "20160831085700Z",
		"v=STSv1;id=abc":                         "abc",
		"v=STSv1 ; id=abc ; ext=val; ":           "abc",
		"v=STSv1; ext.x-y=1; id=abc; id=def":     "abc",
		"v=STSv1; id=" + strings.Repeat("a", 32): strings.Repeat("a", 32),
		"v=STSv1":                                "",
		"v=STSv1;":                               "",
		"v=STSv1; ext=1":                         "",
		"v=STSv1; id=":                           "",
		"v=STSv1; id=abc-def":                    "",
		"v=STSv1; id=" + strings.Repeat("a", 33): "",
		"v=STSv1; id=abc;; ext=1":                "",
		"v=STSv1x; id=abc":                       "",
		"v=STSv2; id=abc":                        "",
		" v=STSv1; id=abc":                       "",
		"v=STSv1; id=abc; bad key=1":             "",
		"v=STSv1; id=abc; k=v=w":                 "",
	} {
		rec, err := dnsmx.ParseSTSRecord(txt)
		switch {
		case want == "" && err == nil:
			t.Errorf("%q: no error, %+v", txt, rec)
		case want == "":
			wantError(t, err, dnsmx.ErrMalformed, true)
		case err != nil || rec.ID != want:
			t.Errorf("%q: %+v, %v; want id %q", txt, rec, err, want)
		}
	}
}

func TestParseTLSRPTRecord(t *testing.T) {
	for txt, want := range map[string]string{
		"v=TLSRPTv1; rua=mailto:reports@example.com":                            "mailto:reports@example.com",
		"v=TLSRPTv1;rua=https://reporting.example.com/v1/tlsrpt":                "https://reporting.example.com/v1/tlsrpt",
		"v=TLSRPTv1; rua=mailto:a@example.com,https://r.example/x; ext=1;":      "mailto:a@example.com https://r.example/x",
		"v=TLSRPTv1; rua=ftp://x.example/,mailto:a@example.com":                 "mailto:a@example.com",
		"v=TLSRPTv1; ext=1; rua=mailto:a@example.com; rua=mailto:b@example.com": "mailto:a@example.com",
		"v=TLSRPTv1; rua=ftp://x.example/":                                      "",
		"v=TLSRPTv1; rua=https:/no-host":                                        "",
		"v=TLSRPTv1":                                                            "",
		"v=TLSRPTv1; ext=1":                                                     "",
		"v=TLSRPTv2; rua=mailto:a@example.com":                                  "",
	} {
		rec, err := dnsmx.ParseTLSRPTRecord(txt)
		if want == "" {
			if err == nil {
				t.Errorf("%q: no error, %+v", txt, rec)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", txt, err)
			continue
		}
		var got []string
		for _, u := range rec.RUA {
			got = append(got, u.String())
		}
		if strings.Join(got, " ") != want {
			t.Errorf("%q: rua %v, want %s", txt, got, want)
		}
	}
}

// RFC 8461 §3.1 and RFC 8460 §3: of the TXT records only those starting
// with the version count, and there must be exactly one.
func TestLookupMTASTSAndTLSRPT(t *testing.T) {
	srv := dnstest.NewServer(t, `
_mta-sts.ok.example.     TXT "v=STSv1; id=1234;"
_mta-sts.ok.example.     TXT "something else"
_mta-sts.two.example.    TXT "v=STSv1; id=1;"
_mta-sts.two.example.    TXT "v=STSv1; id=2;"
_mta-sts.bad.example.    TXT "v=STSv1; id=!!;"
_mta-sts.alias.example.  CNAME _mta-sts.ok.example.
_smtp._tls.ok.example.   TXT "v=TLSRPTv1; rua=mailto:tls@ok.example"
_smtp._tls.ok.example.   TXT "v=spf1 -all"
_smtp._tls.two.example.  TXT "v=TLSRPTv1; rua=mailto:a@two.example"
_smtp._tls.two.example.  TXT "v=TLSRPTv1; rua=mailto:b@two.example"
`)
	r := newResolver(srv)
	ctx := context.Background()
	for _, domain := range []string{"ok.example", "alias.example"} {
		rec, err := dnsmx.LookupMTASTS(ctx, r, domain)
		if err != nil || rec.ID != "1234" {
			t.Errorf("%s: %+v, %v", domain, rec, err)
		}
	}
	_, err := dnsmx.LookupMTASTS(ctx, r, "two.example")
	wantError(t, err, dnsmx.ErrMultipleRecords, true)
	_, err = dnsmx.LookupMTASTS(ctx, r, "bad.example")
	wantError(t, err, dnsmx.ErrMalformed, true)
	_, err = dnsmx.LookupMTASTS(ctx, r, "none.example")
	wantError(t, err, dnsmx.ErrNXDomain, true)

	rpt, err := dnsmx.LookupTLSRPT(ctx, r, "ok.example")
	if err != nil || len(rpt.RUA) != 1 || rpt.RUA[0].String() != "mailto:tls@ok.example" {
		t.Errorf("TLS-RPT %+v, %v", rpt, err)
	}
	_, err = dnsmx.LookupTLSRPT(ctx, r, "two.example")
	wantError(t, err, dnsmx.ErrMultipleRecords, true)
	_, err = dnsmx.LookupTLSRPT(ctx, r, "none.example")
	wantError(t, err, dnsmx.ErrNXDomain, true)
}
