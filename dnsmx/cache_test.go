package dnsmx_test

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/postyard/postyard/dnsmx"
	"github.com/postyard/postyard/dnsmx/dnstest"
)

// Answers are cached for their TTL: the lowest of the MX and address
// records for an assembled MX result.
func TestCacheHonoursTTL(t *testing.T) {
	srv := dnstest.NewServer(t, `
example.com.    300 MX 10 mx.example.com.
mx.example.com. 60  A 192.0.2.1
mx.example.com. 60  AAAA 2001:db8::1
`)
	synctest.Test(t, func(t *testing.T) {
		r := newResolver(srv)
		lookup := func() {
			t.Helper()
			if _, err := r.LookupMX(context.Background(), "example.com"); err != nil {
				t.Fatal(err)
			}
		}
		lookup()
		time.Sleep(59 * time.Second)
		lookup()
		if n := srv.Count("mx.example.com", "A"); n != 1 {
			t.Fatalf("after 59s: %d A queries, want 1", n)
		}
		time.Sleep(2 * time.Second)
		lookup() // the MX result expired with the A record; the MX record has not
		if a, mx := srv.Count("mx.example.com", "A"), srv.Count("example.com", "MX"); a != 2 || mx != 1 {
			t.Errorf("after 61s: %d A and %d MX queries, want 2 and 1", a, mx)
		}
		time.Sleep(300 * time.Second)
		lookup()
		if mx := srv.Count("example.com", "MX"); mx != 2 {
			t.Errorf("after 361s: %d MX queries, want 2", mx)
		}
	})
}

// Negative answers are cached for the SOA's TTL, at most its MINIMUM (RFC
// 2308 §5).
func TestCacheNegative(t *testing.T) {
	srv := dnstest.NewServer(t, `
example.com. 3600 SOA ns.example.com. hostmaster.example.com. 1 3600 600 86400 30
example.com. 3600 TXT "exists"
`)
	synctest.Test(t, func(t *testing.T) {
		r := newResolver(srv)
		for range 3 {
			_, err := r.LookupMX(context.Background(), "nx.example.com")
			wantError(t, err, dnsmx.ErrNXDomain, true)
		}
		if n := srv.Count("nx.example.com", "MX"); n != 1 {
			t.Errorf("%d queries, want 1", n)
		}
		time.Sleep(31 * time.Second)
		r.LookupMX(context.Background(), "nx.example.com")
		if n := srv.Count("nx.example.com", "MX"); n != 2 {
			t.Errorf("after the negative TTL: %d queries, want 2", n)
		}
	})
}

// The cache holds at most CacheSize answers, evicting the least recently
// used; a negative CacheSize turns it off.
func TestCacheSizeBound(t *testing.T) {
	srv := dnstest.NewServer(t, `
a.example. TXT "a"
b.example. TXT "b"
c.example. TXT "c"
`)
	r := newResolver(srv)
	r.CacheSize = 2
	ctx := context.Background()
	for _, name := range []string{"a.example", "b.example", "a.example", "c.example", "a.example", "b.example"} {
		if _, err := r.LookupTXT(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	// a stays (recently used), b is evicted by c and asked again.
	if a, b, c := srv.Count("a.example", "TXT"), srv.Count("b.example", "TXT"), srv.Count("c.example", "TXT"); a != 1 || b != 2 || c != 1 {
		t.Errorf("queries a=%d b=%d c=%d, want 1 2 1", a, b, c)
	}

	r = newResolver(srv)
	r.CacheSize = -1
	for range 3 {
		r.LookupTXT(ctx, "c.example")
	}
	if n := srv.Count("c.example", "TXT"); n != 1+3 {
		t.Errorf("without a cache: %d queries, want 3 more", n-1)
	}
}

// Concurrent identical lookups send one query.
func TestConcurrentLookupsMerged(t *testing.T) {
	srv := dnstest.NewServer(t, `
example.com. MX 10 mx.example.com.
mx.example.com. A 192.0.2.1
`)
	release := make(chan struct{})
	srv.SetHook(func(q dnstest.Query) {
		if q.Type == "MX" {
			<-release
		}
	})
	r := newResolver(srv)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			_, err := r.LookupMX(context.Background(), "example.com")
			errs <- err
		})
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := srv.Count("example.com", "MX"); n != 1 {
		t.Errorf("%d MX queries for 20 concurrent lookups, want 1", n)
	}
}

// A waiter whose leader gave up (its context ended) asks itself.
func TestMergedLookupLeaderCanceled(t *testing.T) {
	srv := dnstest.NewServer(t, "example.com. A 192.0.2.1\n")
	arrived := make(chan struct{}, 10)
	var once sync.Once
	release := make(chan struct{})
	srv.SetHook(func(dnstest.Query) {
		arrived <- struct{}{}
		once.Do(func() { <-release }) // hold the first answer until the leader gave up
	})
	r := newResolver(srv)
	leaderCtx, cancel := context.WithCancel(context.Background())
	leaderDone := make(chan error)
	go func() {
		_, err := r.LookupIP(leaderCtx, "ip4", "example.com")
		leaderDone <- err
	}()
	<-arrived
	waiterDone := make(chan error)
	go func() {
		_, err := r.LookupIP(context.Background(), "ip4", "example.com")
		waiterDone <- err
	}()
	cancel()
	wantError(t, <-leaderDone, context.Canceled, false)
	close(release)
	if err := <-waiterDone; err != nil {
		t.Fatalf("waiter: %v", err)
	}
}
