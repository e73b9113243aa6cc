package relay_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"testing"

	"github.com/postyard/postyard/relay"
	"github.com/postyard/postyard/smtp"
)

func testPolicy() *relay.Policy {
	users := map[string]bool{"alice": true, "bob": true, "postmaster": true}
	return &relay.Policy{
		Domains:        []string{"example.com", "bücher.example"},
		LocalAddresses: []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")},
		Users: func(ctx context.Context, local, domain string) (string, error) {
			if users[local] {
				return local, nil
			}
			return "", nil
		},
		Separator:       "+",
		Aliases:         map[string][]string{"info@example.com": {"alice@example.com", "carol@elsewhere.example"}, "loop": {"loop@example.com"}},
		CatchAll:        map[string]string{"bücher.example": "bob", "xn--bcher-kva.example": "bob"},
		TrustedNetworks: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
	}
}

func conn(ip, user string) *smtp.ConnInfo {
	return &smtp.ConnInfo{RemoteAddr: &net.TCPAddr{IP: net.ParseIP(ip), Port: 40000}, User: user}
}

func path(t *testing.T, s string) smtp.Path {
	t.Helper()
	p, _, err := smtp.ParsePath("<"+s+">", smtp.PathOptions{UTF8: true, AllowPostmaster: true})
	if err != nil {
		t.Fatalf("ParsePath(%q): %v", s, err)
	}
	return p
}

// relayForms are address forms an untrusted client may try; want is the
// policy's answer (nil: local delivery to user).
var relayForms = []struct {
	to   string
	want error    // nil: local delivery
	user []string // local users when want is nil
}{
	{"bob@remote.example", relay.ErrRelayDenied, nil},
	{"BOB@REMOTE.EXAMPLE", relay.ErrRelayDenied, nil},
	{"bob@remote.example.", relay.ErrRelayDenied, nil},
	{"bob@example.com.remote.example", relay.ErrRelayDenied, nil},
	{"bob@remote.example.example.org", relay.ErrRelayDenied, nil},
	{`"bob@remote.example"@example.com`, relay.ErrUnknownUser, nil},
	{`"bob%remote.example"@example.com`, relay.ErrUnknownUser, nil},
	{"bob%remote.example@example.com", relay.ErrUnknownUser, nil},
	{"bob%remote.example%example.com@example.com", relay.ErrUnknownUser, nil},
	{"remote.example!bob@example.com", relay.ErrUnknownUser, nil},
	{"remote.example!bob%example.com@example.com", relay.ErrUnknownUser, nil},
	{`"remote.example!bob"@example.com`, relay.ErrUnknownUser, nil},
	{"@example.com:bob@remote.example", relay.ErrRelayDenied, nil},
	{"@example.com,@example.com:bob@remote.example", relay.ErrRelayDenied, nil},
	{"bob@[192.0.2.99]", relay.ErrRelayDenied, nil},
	{"bob@[IPv6:2001:db8::99]", relay.ErrRelayDenied, nil},
	{"bob@xn--bcher-kva.remote.example", relay.ErrRelayDenied, nil},
	{"bob@bücher.remote.example", relay.ErrRelayDenied, nil},
	{"bob@BÜCHER.remote.example", relay.ErrRelayDenied, nil},
	{"nobody@example.com", relay.ErrUnknownUser, nil},
	{"alice+remote.example@example.com", nil, []string{"alice"}},
	{"@remote.example:alice@example.com", nil, []string{"alice"}},
	{"ALICE@EXAMPLE.COM", nil, []string{"alice"}},
	{"alice@Example.Com", nil, []string{"alice"}},
	{"alice@[192.0.2.1]", nil, []string{"alice"}},
	{"alice@[IPv6:2001:db8::1]", nil, []string{"alice"}},
	{"alice@[ipv6:2001:DB8::1]", nil, []string{"alice"}},
	{"anyone@XN--BCHER-KVA.EXAMPLE", nil, []string{"bob"}},
	{"anyone@BÜCHER.example", nil, []string{"bob"}},
	{"Postmaster", nil, []string{"postmaster"}},
	{"postmaster@example.com", nil, []string{"postmaster"}},
}

// TestOpenRelayBattery: none of these forms may reach a remote domain from
// an untrusted client without AUTH. Each is either refused or delivered to
// a local user (never to a remote one).
func TestOpenRelayBattery(t *testing.T) {
	p := testPolicy()
	stranger := conn("198.51.100.7", "")
	for _, tc := range relayForms {
		to, _, err := smtp.ParsePath("<"+tc.to+">", smtp.PathOptions{UTF8: true, AllowPostmaster: true})
		if err != nil {
			// The SMTP server answers 501 before the policy is asked.
			if tc.want == nil {
				t.Errorf("%s: %v", tc.to, err)
			}
			continue
		}
		d, err := p.Check(context.Background(), stranger, to)
		if !errors.Is(err, tc.want) && err != tc.want {
			t.Errorf("%s: got %v, want %v", tc.to, err, tc.want)
			continue
		}
		if err != nil {
			continue
		}
		if d.Kind != relay.Local || !slices.Equal(d.Users, tc.user) || len(d.Forward) != 0 {
			t.Errorf("%s: decision %+v, want local %v", tc.to, d, tc.user)
		}
	}
}

func TestRelayAllowed(t *testing.T) {
	p := testPolicy()
	for _, c := range []*smtp.ConnInfo{conn("198.51.100.7", "alice"), conn("10.1.2.3", "")} {
		for _, to := range []string{"bob@remote.example", "bob@[192.0.2.99]", "@a.example:bob@remote.example"} {
			d, err := p.Check(context.Background(), c, path(t, to))
			if err != nil || d.Kind != relay.Relay || len(d.Forward) != 1 || d.Forward[0].Domain == "" || len(d.Forward[0].SourceRoute) != 0 {
				t.Errorf("%s from %v: %+v, %v", to, c.RemoteAddr, d, err)
			}
		}
	}
	// An application rule.
	p.AllowRelay = func(ctx context.Context, c *smtp.ConnInfo, to smtp.Path) (bool, error) {
		return to.Domain == "partner.example", nil
	}
	if d, err := p.Check(context.Background(), conn("198.51.100.7", ""), path(t, "x@partner.example")); err != nil || d.Kind != relay.Relay {
		t.Errorf("AllowRelay: %+v, %v", d, err)
	}
	if _, err := p.Check(context.Background(), conn("198.51.100.7", ""), path(t, "x@other.example")); err != relay.ErrRelayDenied {
		t.Errorf("AllowRelay refusal: %v", err)
	}
}

func TestAliases(t *testing.T) {
	p := testPolicy()
	d, err := p.Check(context.Background(), conn("198.51.100.7", ""), path(t, "info@example.com"))
	if err != nil || d.Kind != relay.Local || !slices.Equal(d.Users, []string{"alice"}) || len(d.Forward) != 1 || d.Forward[0].String() != "carol@elsewhere.example" {
		t.Fatalf("alias: %+v, %v", d, err)
	}
	if _, err := p.Check(context.Background(), conn("198.51.100.7", ""), path(t, "loop@example.com")); err != relay.ErrAliasLoop {
		t.Fatalf("alias loop: %v", err)
	}
}

func TestZeroPolicyRefuses(t *testing.T) {
	var p relay.Policy
	if _, err := p.Check(context.Background(), conn("198.51.100.7", ""), path(t, "a@b.example")); err != relay.ErrRelayDenied {
		t.Fatalf("zero policy: %v", err)
	}
}
