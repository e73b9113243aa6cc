package dnsmx_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/postyard/postyard/dnsmx"
	"github.com/postyard/postyard/dnsmx/dnstest"
)

// RFC 7672 §2.2: authenticated records, authenticated denial, insecure
// answers and temporary failures are four different outcomes.
func TestLookupTLSA(t *testing.T) {
	srv := dnstest.NewServer(t, `
_25._tcp.mx.signed.example.   TLSA 3 1 1 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
_25._tcp.mx.signed.example.   TLSA 1 1 1 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
_25._tcp.mx.signed.example.   TLSA 2 0 9 bb
mx.signed.example.            A 192.0.2.1
nodane.signed.example.        A 192.0.2.2
_25._tcp.mx.unsigned.example. TLSA 3 1 1 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
_25._tcp.broken.signed.example. TLSA 3 1 1 00
_25._tcp.alias.signed.example. CNAME _25._tcp.mx.signed.example.
`)
	srv.SetSecure("signed.example", true)
	srv.SetFault("_25._tcp.broken.signed.example", dnstest.ServFail)
	r := newResolver(srv)
	ctx := context.Background()

	res, err := r.LookupTLSA(ctx, "MX.signed.example.", 25)
	if err != nil {
		t.Fatal(err)
	}
	if res.Name != "_25._tcp.mx.signed.example" || len(res.Records) != 3 {
		t.Fatalf("result %+v", res)
	}
	u := res.Usable()
	if len(u) != 1 || u[0].Usage != dnsmx.DANEEE || u[0].Selector != dnsmx.SelectorSPKI || u[0].MatchingType != dnsmx.MatchSHA256 ||
		!bytes.Equal(u[0].Data[:4], []byte{0x01, 0x23, 0x45, 0x67}) || len(u[0].Data) != 32 {
		t.Errorf("usable records %+v", u)
	}

	if res, err := r.LookupTLSA(ctx, "alias.signed.example", 25); err != nil || len(res.Records) != 3 {
		t.Errorf("through a signed CNAME: %v, %v", res, err)
	}

	_, err = r.LookupTLSA(ctx, "nodane.signed.example", 25) // NXDOMAIN, authenticated
	wantError(t, err, dnsmx.ErrNoRecords, true)
	_, err = r.LookupTLSA(ctx, "mx.signed.example", 587) // NXDOMAIN at another port
	wantError(t, err, dnsmx.ErrNoRecords, true)

	_, err = r.LookupTLSA(ctx, "mx.unsigned.example", 25)
	wantError(t, err, dnsmx.ErrInsecure, true)
	_, err = r.LookupTLSA(ctx, "nothing.unsigned.example", 25)
	wantError(t, err, dnsmx.ErrInsecure, true)

	_, err = r.LookupTLSA(ctx, "broken.signed.example", 25)
	wantError(t, err, dnsmx.ErrServFail, false)

	for _, port := range []int{0, -1, 65536} {
		_, err = r.LookupTLSA(ctx, "mx.signed.example", port)
		wantError(t, err, dnsmx.ErrInvalidName, true)
	}
}

func TestTLSAUsable(t *testing.T) {
	for _, tc := range []struct {
		rec  dnsmx.TLSA
		want bool
	}{
		{dnsmx.TLSA{Usage: 3, Selector: 1, MatchingType: 1}, true},
		{dnsmx.TLSA{Usage: 2, Selector: 0, MatchingType: 2}, true},
		{dnsmx.TLSA{Usage: 3, Selector: 0, MatchingType: 0}, true},
		{dnsmx.TLSA{Usage: 0, Selector: 1, MatchingType: 1}, false}, // PKIX-TA, RFC 7672 §3.1.3
		{dnsmx.TLSA{Usage: 1, Selector: 1, MatchingType: 1}, false},
		{dnsmx.TLSA{Usage: 4, Selector: 1, MatchingType: 1}, false},
		{dnsmx.TLSA{Usage: 3, Selector: 2, MatchingType: 1}, false},
		{dnsmx.TLSA{Usage: 3, Selector: 1, MatchingType: 3}, false},
	} {
		if got := tc.rec.Usable(); got != tc.want {
			t.Errorf("%+v: Usable = %v", tc.rec, got)
		}
	}
}
