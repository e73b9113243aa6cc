package dnsmx_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/postyard/postyard/dnsmx"
)

func FuzzParseSTSPolicy(f *testing.F) {
	for _, s := range []string{
		policyBody,
		"version: STSv1\nmode: testing\nmx: *.example.net\nmx: mx.example.com.\nmax_age: 31557600\n",
		"version: STSv1\nmode: none\nmax_age: 0",
		"max_age:\t60 \nmx:   a.example\n\nmode: enforce\r\nversion: STSv1\n\n",
		"version: STSv1\nmode: enforce\nmx: *.bücher.example\nmax_age: 9999999999\nx-ext: ü value\n",
		"version: STSv1\r\r\nmode: enforce\nmx: a..b\nmax_age: -1\n",
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := dnsmx.ParseSTSPolicy(body)
		if err != nil {
			var e *dnsmx.Error
			if !errors.As(err, &e) || !errors.Is(err, dnsmx.ErrMalformed) || !e.Permanent {
				t.Fatalf("error %v is not a permanent ErrMalformed *Error", err)
			}
			return
		}
		switch p.Mode {
		case dnsmx.STSEnforce, dnsmx.STSTesting:
			if len(p.MX) == 0 {
				t.Fatalf("mode %s without mx", p.Mode)
			}
		case dnsmx.STSNone:
		default:
			t.Fatalf("mode %q", p.Mode)
		}
		if p.MaxAge < 0 || p.MaxAge > 31557600*time.Second || p.MaxAge%time.Second != 0 {
			t.Fatalf("max_age %v", p.MaxAge)
		}
		// What was parsed prints back to a policy that parses the same, and
		// every pattern matches a host of its own shape.
		var b strings.Builder
		b.WriteString("version: STSv1\nmode: " + string(p.Mode) + "\n")
		for _, mx := range p.MX {
			if mx != strings.ToLower(mx) || strings.HasSuffix(mx, ".") {
				t.Fatalf("pattern %q not normalized", mx)
			}
			host := strings.Replace(mx, "*", "mx1", 1)
			if !p.Match(host) || !p.Match(strings.ToUpper(host)+".") {
				t.Fatalf("pattern %q does not match %q", mx, host)
			}
			if strings.HasPrefix(mx, "*.") && p.Match(mx[2:]) && !matchesOther(p, mx[2:], mx) {
				t.Fatalf("wildcard %q matches its bare domain", mx)
			}
			b.WriteString("mx: " + mx + "\n")
		}
		b.WriteString("max_age: " + strconv.FormatInt(int64(p.MaxAge/time.Second), 10) + "\n")
		q, err := dnsmx.ParseSTSPolicy([]byte(b.String()))
		if err != nil {
			t.Fatalf("reprinted policy %q: %v", b.String(), err)
		}
		if q.Mode != p.Mode || q.MaxAge != p.MaxAge || strings.Join(q.MX, " ") != strings.Join(p.MX, " ") {
			t.Fatalf("reparsed %+v, want %+v", q, p)
		}
	})
}

// matchesOther reports whether a pattern other than skip matches host.
func matchesOther(p *dnsmx.STSPolicy, host, skip string) bool {
	for _, mx := range p.MX {
		if mx != skip && (&dnsmx.STSPolicy{MX: []string{mx}}).Match(host) {
			return true
		}
	}
	return false
}

func FuzzParseSTSRecord(f *testing.F) {
	for _, s := range []string{
		"v=STSv1; id=20160831085700Z;",
		"v=STSv1 ; id=abc ; ext=val; ",
		"v=STSv1; id=abc;; ext=1",
		"v=TLSRPTv1; rua=mailto:a@example.com,https://r.example/x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, txt string) {
		if rec, err := dnsmx.ParseSTSRecord(txt); err == nil {
			if len(rec.ID) == 0 || len(rec.ID) > 32 {
				t.Fatalf("id %q", rec.ID)
			}
			if again, err := dnsmx.ParseSTSRecord("v=STSv1; id=" + rec.ID); err != nil || again.ID != rec.ID {
				t.Fatalf("id %q does not reparse: %v", rec.ID, err)
			}
		}
		if rec, err := dnsmx.ParseTLSRPTRecord(txt); err == nil && len(rec.RUA) == 0 {
			t.Fatal("TLS-RPT record without rua")
		}
	})
}
