package dnsmx_test

import (
	"context"
	"testing"

	"github.com/postyard/postyard/dnsmx"
	"github.com/postyard/postyard/dnsmx/dnstest"
)

const benchZone = `
example.com.     MX 10 mx1.example.com.
example.com.     MX 10 mx2.example.com.
example.com.     MX 20 mx3.example.com.
mx1.example.com. A    192.0.2.1
mx1.example.com. AAAA 2001:db8::1
mx2.example.com. A    192.0.2.2
mx3.example.com. A    192.0.2.3
`

// warmResolver returns a resolver whose cache holds the MX result of
// example.com, and starts the benchmark's allocation report.
func warmResolver(b *testing.B) (*dnsmx.Resolver, context.Context) {
	srv := dnstest.NewServer(b, benchZone)
	r := newResolver(srv)
	ctx := context.Background()
	if _, err := r.LookupMX(ctx, "example.com"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	return r, ctx
}

// BenchmarkLookupMXCached is the steady state of a delivery worker: the MX
// result comes from the cache, shuffled among equal preferences.
func BenchmarkLookupMXCached(b *testing.B) {
	r, ctx := warmResolver(b)
	for b.Loop() {
		if _, err := r.LookupMX(ctx, "example.com"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLookupMXCachedParallel is the cached lookup from many workers.
func BenchmarkLookupMXCachedParallel(b *testing.B) {
	r, ctx := warmResolver(b)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := r.LookupMX(ctx, "example.com"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkLookupIPCached is a cached A+AAAA lookup.
func BenchmarkLookupIPCached(b *testing.B) {
	srv := dnstest.NewServer(b, benchZone)
	r := newResolver(srv)
	ctx := context.Background()
	if _, err := r.LookupIP(ctx, "ip", "mx1.example.com"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.LookupIP(ctx, "ip", "mx1.example.com"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLookupMXCold is a lookup without a cache: one MX query, then
// the AAAA and A queries of all hosts at once, over loopback UDP.
func BenchmarkLookupMXCold(b *testing.B) {
	srv := dnstest.NewServer(b, benchZone)
	r := newResolver(srv)
	r.CacheSize = -1
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.LookupMX(ctx, "example.com"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseSTSPolicy(b *testing.B) {
	body := []byte(policyBody)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := dnsmx.ParseSTSPolicy(body); err != nil {
			b.Fatal(err)
		}
	}
}
