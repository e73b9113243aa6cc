package dnsmx_test

import (
	"errors"
	"testing"
	"time"

	"github.com/postyard/postyard/dnsmx"
	"github.com/postyard/postyard/dnsmx/dnstest"
)

// newResolver returns a resolver that asks only the given test servers.
func newResolver(servers ...*dnstest.Server) *dnsmx.Resolver {
	r := &dnsmx.Resolver{}
	for _, s := range servers {
		r.Nameservers = append(r.Nameservers, s.Addr)
	}
	return r
}

// quickResolver is newResolver with a short timeout and no retries, for
// servers that do not answer.
func quickResolver(servers ...*dnstest.Server) *dnsmx.Resolver {
	r := newResolver(servers...)
	r.Timeout = 100 * time.Millisecond
	r.Retries = -1
	return r
}

// wantError checks that err is an *Error of kind, permanent or not.
func wantError(t *testing.T, err, kind error, permanent bool) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %v", kind)
	}
	var e *dnsmx.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %T %v is not a *dnsmx.Error", err, err)
	}
	if !errors.Is(err, kind) {
		t.Errorf("error %v, want kind %v", err, kind)
	}
	if e.Permanent != permanent {
		t.Errorf("error %v: Permanent = %v, want %v", err, e.Permanent, permanent)
	}
	if dnsmx.IsPermanent(err) != permanent {
		t.Errorf("error %v: IsPermanent = %v, want %v", err, !permanent, permanent)
	}
}
