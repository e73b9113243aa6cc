package dnsmx

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"sync"
	"time"
)

// PolicyFetcher fetches the MTA-STS policy body of a domain. Implementations
// must be safe for concurrent use.
type PolicyFetcher interface {
	// FetchPolicy returns the policy body for domain (A-labels), or an
	// error if there is none to be had.
	FetchPolicy(ctx context.Context, domain string) ([]byte, error)
}

// PolicyFetcherFunc adapts a function to [PolicyFetcher].
type PolicyFetcherFunc func(ctx context.Context, domain string) ([]byte, error)

// FetchPolicy calls f.
func (f PolicyFetcherFunc) FetchPolicy(ctx context.Context, domain string) ([]byte, error) {
	return f(ctx, domain)
}

// DefaultFetchTimeout bounds an HTTPS policy fetch.
const DefaultFetchTimeout = 30 * time.Second

// HTTPSFetcher fetches policies from https://mta-sts.<domain>/.well-known/mta-sts.txt
// as RFC 8461 §3.3 says: the certificate must be valid for the mta-sts host
// (the client's usual verification), redirects are not followed, only a 200
// answer of type text/plain counts, and the body is at most MaxPolicySize.
// The zero value is ready to use and safe for concurrent use.
type HTTPSFetcher struct {
	// Client makes the requests; its CheckRedirect is overridden. Nil
	// means a client with http.DefaultTransport.
	Client *http.Client

	// Timeout bounds one fetch. Zero means DefaultFetchTimeout (30s);
	// negative means only the context's deadline.
	Timeout time.Duration
}

// FetchPolicy implements [PolicyFetcher].
func (f *HTTPSFetcher) FetchPolicy(ctx context.Context, domain string) ([]byte, error) {
	var c http.Client
	if f.Client != nil {
		c = *f.Client
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c.Timeout = orDefault(f.Timeout, DefaultFetchTimeout, 0)
	domain, err := normalize(domain)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://mta-sts."+domain+"/.well-known/mta-sts.txt", nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP status %s", resp.Status)
	}
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err != nil || mt != "text/plain" {
		return nil, fmt.Errorf("content type %q, want text/plain", resp.Header.Get("Content-Type"))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxPolicySize+1))
	if err != nil {
		return nil, err
	}
	if len(body) > MaxPolicySize {
		return nil, fmt.Errorf("policy larger than %d octets", MaxPolicySize)
	}
	return body, nil
}

// DefaultSTSCacheSize is the number of domains whose policies [STS] keeps.
const DefaultSTSCacheSize = 1024

// STS discovers, fetches and caches MTA-STS policies (RFC 8461 §3, §5.1).
// The zero value is ready to use (the default Resolver and an
// HTTPSFetcher); configure it before the first Lookup. Safe for concurrent
// use; must not be copied after first use.
type STS struct {
	// Resolver looks up the _mta-sts TXT records. Nil means a Resolver
	// with default settings.
	Resolver Lookuper

	// Fetcher fetches policies. Nil means an HTTPSFetcher with default
	// settings.
	Fetcher PolicyFetcher

	// CacheSize bounds the number of domains whose policy is cached, each
	// for its max_age. Zero means DefaultSTSCacheSize (1024); negative
	// disables the cache.
	CacheSize int

	// Logger gets a Debug line when a cached policy stands in for one
	// that could not be had. Nil means slog.Default().
	Logger *slog.Logger

	once     sync.Once
	resolver Lookuper
	fetcher  PolicyFetcher
	cache    *lru[string, *STSPolicy]
	flights  flight[string, *STSPolicy]
}

func (s *STS) init() {
	s.once.Do(func() {
		s.resolver, s.fetcher = s.Resolver, s.Fetcher
		if s.resolver == nil {
			s.resolver = &Resolver{}
		}
		if s.fetcher == nil {
			s.fetcher = &HTTPSFetcher{}
		}
		s.cache = newLRU[string, *STSPolicy](orDefault(s.CacheSize, DefaultSTSCacheSize, 0))
	})
}

// Lookup returns the MTA-STS policy of domain, following RFC 8461:
//   - The _mta-sts TXT record is looked up every time (§3.1). If its id
//     is that of the cached policy, the cached one is returned; otherwise
//     the policy is fetched (§3.3), parsed (§3.2) and cached for its
//     max_age (§5.1), with its ID set.
//   - If the TXT record is missing, the fetch fails or the policy does not
//     parse, a cached policy that has not expired is returned (§5.1).
//
// Otherwise the error says why there is no policy: a permanent one from
// [LookupMTASTS] (the domain has no usable record) or ErrMalformed (the
// policy does not parse), a temporary one for DNS failures or ErrPolicyFetch.
// Either way RFC 8461 §5 says to deliver as if the domain had no policy
// (and to report the failure with TLS-RPT). A policy with mode none is
// returned as is.
//
// Policies are not refreshed ahead of expiry (§10.2 suggests it); a
// caller that wants that can call Lookup periodically.
func (s *STS) Lookup(ctx context.Context, domain string) (*STSPolicy, error) {
	s.init()
	name, err := normalizeOp("MTA-STS", domain)
	if err != nil {
		return nil, err
	}
	cached, haveCached := s.cache.get(name, time.Now())
	rec, err := LookupMTASTS(ctx, s.resolver, name)
	switch {
	case err != nil && haveCached:
		s.logCached(name, err)
		return cached, nil
	case err != nil:
		return nil, err
	case haveCached && cached.ID == rec.ID:
		return cached, nil
	}
	p, err := s.flights.do(ctx, name+" "+rec.ID, func() (*STSPolicy, error) {
		body, err := s.fetcher.FetchPolicy(ctx, name)
		if err != nil {
			return nil, &Error{Op: "MTA-STS policy", Name: name, Kind: ErrPolicyFetch, Err: err}
		}
		p, err := ParseSTSPolicy(body)
		if err != nil {
			var e *Error
			if errors.As(err, &e) {
				e.Name = name
			}
			return nil, err
		}
		p.ID = rec.ID
		s.cache.add(name, p, time.Now(), time.Now().Add(p.MaxAge))
		return p, nil
	})
	if err != nil {
		if haveCached {
			s.logCached(name, err)
			return cached, nil
		}
		if isContextError(err) && !isDNSError(err) {
			err = newError("MTA-STS policy", name, ctx.Err(), nil)
		}
		return nil, err
	}
	return p, nil
}

func (s *STS) logCached(domain string, err error) {
	logger := s.Logger
	if logger == nil {
		logger = slog.Default()
	}
	logger.Debug("MTA-STS: using cached policy", "domain", domain, "err", err)
}
