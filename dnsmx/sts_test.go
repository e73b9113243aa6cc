package dnsmx_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/postyard/postyard/dnsmx"
	"github.com/postyard/postyard/dnsmx/dnstest"
	"github.com/postyard/postyard/internal/selfsigned"
)

const policyBody = "version: STSv1\r\nmode: enforce\r\nmx: mx.example.com\r\nmax_age: 86400\r\n"

// policyFetcher starts an HTTPS server on loopback with a certificate for
// certHosts and returns a fetcher whose connections all go to it.
func policyFetcher(t *testing.T, h http.Handler, certHosts ...string) *dnsmx.HTTPSFetcher {
	t.Helper()
	cfg, pool, err := selfsigned.Config(certHosts...)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are the point of some tests
	srv.TLS = cfg
	srv.StartTLS()
	t.Cleanup(srv.Close)
	addr := srv.Listener.Addr().String()
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &dnsmx.HTTPSFetcher{Client: &http.Client{Transport: tr}}
}

// RFC 8461 §3.3: GET https://mta-sts.<domain>/.well-known/mta-sts.txt, a
// valid certificate for that host, 200 and text/plain only, no redirects,
// a bounded body.
func TestHTTPSFetcher(t *testing.T) {
	handler := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path != "/.well-known/mta-sts.txt" || req.Method != http.MethodGet {
			http.NotFound(w, req)
			return
		}
		switch req.Host {
		case "mta-sts.example.com":
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			fmt.Fprint(w, policyBody)
		case "mta-sts.redirect.example":
			http.Redirect(w, req, "https://mta-sts.example.com/.well-known/mta-sts.txt", http.StatusFound)
		case "mta-sts.html.example":
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, policyBody)
		case "mta-sts.big.example":
			w.Header().Set("Content-Type", "text/plain")
			fmt.Fprint(w, policyBody+strings.Repeat("x: y\r\n", 12000))
		default:
			http.NotFound(w, req)
		}
	})
	f := policyFetcher(t, handler, "mta-sts.example.com", "mta-sts.redirect.example", "mta-sts.html.example",
		"mta-sts.big.example", "mta-sts.missing.example")
	ctx := context.Background()
	body, err := f.FetchPolicy(ctx, "example.com")
	if err != nil || string(body) != policyBody {
		t.Fatalf("fetch: %q, %v", body, err)
	}
	for _, domain := range []string{"redirect.example", "html.example", "big.example", "missing.example", "nocert.example"} {
		if body, err := f.FetchPolicy(ctx, domain); err == nil {
			t.Errorf("%s: no error, body %q", domain, body)
		}
	}
	var certErr *tls.CertificateVerificationError
	if _, err := f.FetchPolicy(ctx, "nocert.example"); !errors.As(err, &certErr) {
		t.Errorf("certificate for another host: %v", err)
	}
}

// STS end to end: the TXT record from DNS, the policy over HTTPS, a new
// policy when the id changes.
func TestSTSLookup(t *testing.T) {
	srv := dnstest.NewServer(t, `_mta-sts.example.com. TXT "v=STSv1; id=1;"`+"\n")
	body := policyBody
	var mu sync.Mutex
	handler := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprint(w, body)
	})
	r := newResolver(srv)
	r.CacheSize = -1 // see the record change at once
	sts := &dnsmx.STS{Resolver: r, Fetcher: policyFetcher(t, handler, "mta-sts.example.com")}
	ctx := context.Background()
	p, err := sts.Lookup(ctx, "Example.COM")
	if err != nil {
		t.Fatal(err)
	}
	if p.ID != "1" || p.Mode != dnsmx.STSEnforce || !p.Match("mx.example.com") || p.MaxAge != 24*time.Hour {
		t.Errorf("policy %+v", p)
	}

	srv.Remove("_mta-sts.example.com", "TXT")
	srv.Add(`_mta-sts.example.com. TXT "v=STSv1; id=2;"`)
	mu.Lock()
	body = strings.Replace(policyBody, "enforce", "testing", 1)
	mu.Unlock()
	p, err = sts.Lookup(ctx, "example.com")
	if err != nil || p.ID != "2" || p.Mode != dnsmx.STSTesting {
		t.Errorf("new id: %+v, %v", p, err)
	}
	_, err = sts.Lookup(ctx, "none.example")
	wantError(t, err, dnsmx.ErrNXDomain, true)
}

// txtLookuper answers LookupTXT from fields; other methods are not used.
type txtLookuper struct {
	dnsmx.Lookuper
	mu  sync.Mutex
	txt string
	err error
}

func (l *txtLookuper) set(txt string, kind error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.txt, l.err = txt, nil
	if kind != nil {
		l.err = &dnsmx.Error{Op: "TXT", Kind: kind, Permanent: kind == dnsmx.ErrNXDomain}
	}
}

func (l *txtLookuper) LookupTXT(ctx context.Context, name string) (*dnsmx.TXTResult, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return nil, l.err
	}
	return &dnsmx.TXTResult{Name: name, Records: []string{l.txt}}, nil
}

// RFC 8461 §5.1 caching: a policy is kept for max_age and fetched again
// only when the TXT id changes; a cached policy stands in when the record
// or the fetch fails.
func TestSTSCache(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dns := &txtLookuper{}
		var mu sync.Mutex
		fetches, body, fetchErr := 0, strings.Replace(policyBody, "86400", "100", 1), error(nil)
		fetcher := dnsmx.PolicyFetcherFunc(func(ctx context.Context, domain string) ([]byte, error) {
			mu.Lock()
			defer mu.Unlock()
			fetches++
			return []byte(body), fetchErr
		})
		setFetch := func(b string, err error) {
			mu.Lock()
			defer mu.Unlock()
			body, fetchErr = b, err
		}
		sts := &dnsmx.STS{Resolver: dns, Fetcher: fetcher}
		ctx := context.Background()
		lookup := func(wantID string, wantFetches int) {
			t.Helper()
			p, err := sts.Lookup(ctx, "example.com")
			if err != nil {
				t.Fatalf("want id %s: %v", wantID, err)
			}
			mu.Lock()
			defer mu.Unlock()
			if p.ID != wantID || fetches != wantFetches {
				t.Fatalf("id %s after %d fetches, want %s after %d", p.ID, fetches, wantID, wantFetches)
			}
		}

		dns.set("v=STSv1; id=1", nil)
		lookup("1", 1)
		lookup("1", 1) // same id: cached
		dns.set("v=STSv1; id=2", nil)
		lookup("2", 2) // new id: fetched

		setFetch("", errors.New("connection refused"))
		dns.set("v=STSv1; id=3", nil)
		lookup("2", 3) // fetch failed: the cached policy stands in
		setFetch("garbage", nil)
		lookup("2", 4) // policy does not parse: likewise
		dns.set("", dnsmx.ErrNXDomain)
		lookup("2", 4) // the record is gone: likewise
		dns.set("", dnsmx.ErrServFail)
		lookup("2", 4)

		time.Sleep(101 * time.Second) // max_age has passed
		dns.set("", dnsmx.ErrNXDomain)
		_, err := sts.Lookup(ctx, "example.com")
		wantError(t, err, dnsmx.ErrNXDomain, true)
		dns.set("", dnsmx.ErrServFail)
		_, err = sts.Lookup(ctx, "example.com")
		wantError(t, err, dnsmx.ErrServFail, false)
		dns.set("v=STSv1; id=4", nil)
		_, err = sts.Lookup(ctx, "example.com")
		wantError(t, err, dnsmx.ErrMalformed, true)
		setFetch("", errors.New("connection refused"))
		_, err = sts.Lookup(ctx, "example.com")
		wantError(t, err, dnsmx.ErrPolicyFetch, false)

		// max_age 0: never cached.
		setFetch(strings.Replace(policyBody, "86400", "0", 1), nil)
		lookup("4", 7)
		lookup("4", 8)
		dns.set("", dnsmx.ErrNXDomain)
		_, err = sts.Lookup(ctx, "example.com")
		wantError(t, err, dnsmx.ErrNXDomain, true)

		// A cache of none: every lookup fetches.
		dns.set("v=STSv1; id=5", nil)
		setFetch(policyBody, nil)
		sts = &dnsmx.STS{Resolver: dns, Fetcher: fetcher, CacheSize: -1}
		lookup("5", 9)
		lookup("5", 10)
	})
}
