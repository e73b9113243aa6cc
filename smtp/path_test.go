package smtp_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/postyard/postyard/smtp"
)

var (
	pathOptsStrict = smtp.PathOptions{}
	pathOptsMail   = smtp.PathOptions{AllowNull: true}
	pathOptsRcpt   = smtp.PathOptions{AllowPostmaster: true}
	pathOptsUTF8   = smtp.PathOptions{UTF8: true}
	pathOptsLax    = smtp.PathOptions{Lenient: true, AllowNull: true}
)

func TestParsePathValid(t *testing.T) {
	long64 := strings.Repeat("a", 64)
	label63 := strings.Repeat("b", 63)
	// A path of exactly 256 octets: "<" + 64 + "@" + 189 + ">".
	dom189 := strings.Join([]string{label63, label63, strings.Repeat("c", 61)}, ".")

	tests := []struct {
		in     string
		opts   smtp.PathOptions
		local  string
		domain string
		route  []string
		rest   string
		str    string // String(); "" means in without brackets
	}{
		{in: "<user@example.org>", local: "user", domain: "example.org"},
		{in: "<User.Name+tag@Example.ORG>", local: "User.Name+tag", domain: "Example.ORG"},
		{in: "<a@b>", local: "a", domain: "b"},
		{in: "<1@2.3>", local: "1", domain: "2.3"},
		{in: "<a-b@a-b.c-d>", local: "a-b", domain: "a-b.c-d"},
		{in: "<!#$%&'*+-/=?^_`{|}~@example.org>", local: "!#$%&'*+-/=?^_`{|}~", domain: "example.org"},
		// Routing characters are kept in the local part, never interpreted.
		{in: "<user%remote@local.example>", local: "user%remote", domain: "local.example"},
		{in: "<remote!user@local.example>", local: "remote!user", domain: "local.example"},
		// Quoted local parts are decoded and re-quoted only when needed.
		{in: `<"a@b"@x.example>`, local: "a@b", domain: "x.example"},
		{in: `<"a b"@x.example>`, local: "a b", domain: "x.example"},
		{in: `<"a\"b"@x.example>`, local: `a"b`, domain: "x.example"},
		{in: `<"a\\b"@x.example>`, local: `a\b`, domain: "x.example"},
		{in: `<"\a\b\c"@x.example>`, local: "abc", domain: "x.example", str: "abc@x.example"},
		{in: `<"abc"@x.example>`, local: "abc", domain: "x.example", str: "abc@x.example"},
		{in: `<"a..b"@x.example>`, local: "a..b", domain: "x.example"},
		{in: `<".a"@x.example>`, local: ".a", domain: "x.example"},
		{in: `<"a."@x.example>`, local: "a.", domain: "x.example"},
		{in: `<" "@x.example>`, local: " ", domain: "x.example"},
		{in: `<"\ "@x.example>`, local: " ", domain: "x.example", str: `" "@x.example`},
		{in: `<"a,b:c<d>e[f]g(h)i;j"@x.example>`, local: "a,b:c<d>e[f]g(h)i;j", domain: "x.example"},
		// Limits, just inside.
		{in: "<" + long64 + "@x.example>", local: long64, domain: "x.example"},
		{in: "<a@" + label63 + ".example>", local: "a", domain: label63 + ".example"},
		{in: "<" + long64 + "@" + dom189 + ">", local: long64, domain: dom189},
		// Address literals.
		{in: "<a@[192.0.2.1]>", local: "a", domain: "[192.0.2.1]"},
		{in: "<a@[0.0.0.0]>", local: "a", domain: "[0.0.0.0]"},
		{in: "<a@[255.255.255.255]>", local: "a", domain: "[255.255.255.255]"},
		{in: "<a@[IPv6:2001:db8::1]>", local: "a", domain: "[IPv6:2001:db8::1]"},
		{in: "<a@[ipv6:2001:DB8::1]>", local: "a", domain: "[ipv6:2001:DB8::1]"},
		{in: "<a@[IPv6:2001:db8:0:0:0:0:0:1]>", local: "a", domain: "[IPv6:2001:db8:0:0:0:0:0:1]"},
		{in: "<a@[IPv6:::1]>", local: "a", domain: "[IPv6:::1]"},
		{in: "<a@[IPv6:::]>", local: "a", domain: "[IPv6:::]"},
		{in: "<a@[IPv6:::ffff:192.0.2.1]>", local: "a", domain: "[IPv6:::ffff:192.0.2.1]"},
		{in: "<a@[IPv6:1:2:3:4:5:6:192.0.2.1]>", local: "a", domain: "[IPv6:1:2:3:4:5:6:192.0.2.1]"},
		// Source routes are accepted and kept, and String drops them.
		{in: "<@a.example:user@c.example>", local: "user", domain: "c.example", route: []string{"a.example"}, str: "user@c.example"},
		{in: "<@a.example,@b.example:user@c.example>", local: "user", domain: "c.example", route: []string{"a.example", "b.example"}, str: "user@c.example"},
		// Null path, Postmaster.
		{in: "<>", opts: pathOptsMail, str: ""},
		{in: "<> SIZE=10", opts: pathOptsMail, rest: "SIZE=10", str: ""},
		{in: "<Postmaster>", opts: pathOptsRcpt, local: "Postmaster", str: "Postmaster"},
		{in: "<postmaster>", opts: pathOptsRcpt, local: "postmaster", str: "postmaster"},
		{in: "<POSTMASTER@example.org>", opts: pathOptsRcpt, local: "POSTMASTER", domain: "example.org"},
		// The rest of the line.
		{in: "<a@b.example> SIZE=100 BODY=8BITMIME", local: "a", domain: "b.example", rest: "SIZE=100 BODY=8BITMIME", str: "a@b.example"},
		{in: "<a@b.example>   NOTIFY=NEVER ", local: "a", domain: "b.example", rest: "NOTIFY=NEVER ", str: "a@b.example"},
		{in: "<a@b.example> ", local: "a", domain: "b.example", str: "a@b.example"},
		// UTF-8 (RFC 6531).
		{in: "<用户@例子.广告>", opts: pathOptsUTF8, local: "用户", domain: "例子.广告"},
		{in: "<jöran@bücher.de>", opts: pathOptsUTF8, local: "jöran", domain: "bücher.de"},
		{in: "<jöran@BÜCHER.de>", opts: pathOptsUTF8, local: "jöran", domain: "BÜCHER.de"},
		{in: `<"jö ran"@bücher.de>`, opts: pathOptsUTF8, local: "jö ran", domain: "bücher.de"},
		{in: "<user@xn--bcher-kva.de>", local: "user", domain: "xn--bcher-kva.de"},
		{in: "<δοκιμή@παράδειγμα.δοκιμή>", opts: pathOptsUTF8, local: "δοκιμή", domain: "παράδειγμα.δοκιμή"},
		{in: "<ü.ö@example.org>", opts: pathOptsUTF8, local: "ü.ö", domain: "example.org"},
		// Lenient: no brackets, no space after ">".
		{in: "user@example.org", opts: pathOptsLax, local: "user", domain: "example.org"},
		{in: "user@example.org SIZE=1", opts: pathOptsLax, local: "user", domain: "example.org", rest: "SIZE=1", str: "user@example.org"},
		{in: `"a b"@example.org SIZE=1`, opts: pathOptsLax, local: "a b", domain: "example.org", rest: "SIZE=1", str: `"a b"@example.org`},
		{in: "<user@example.org>SIZE=1", opts: pathOptsLax, local: "user", domain: "example.org", rest: "SIZE=1", str: "user@example.org"},
		{in: "<>SIZE=1", opts: pathOptsLax, rest: "SIZE=1", str: ""},
		{in: "<user@example.org>", opts: pathOptsLax, local: "user", domain: "example.org"},
	}
	for _, tt := range tests {
		p, rest, err := smtp.ParsePath(tt.in, tt.opts)
		if err != nil {
			t.Errorf("ParsePath(%q): %v", tt.in, err)
			continue
		}
		if p.Local != tt.local || p.Domain != tt.domain || !slices.Equal(p.SourceRoute, tt.route) || rest != tt.rest {
			t.Errorf("ParsePath(%q) = %q, %q, %q, rest %q; want %q, %q, %q, rest %q",
				tt.in, p.Local, p.Domain, p.SourceRoute, rest, tt.local, tt.domain, tt.route, tt.rest)
		}
		want := tt.str
		if want == "" && tt.local != "" {
			want = strings.TrimSuffix(strings.TrimPrefix(tt.in, "<"), ">")
		}
		if s := p.String(); s != want {
			t.Errorf("ParsePath(%q).String() = %q, want %q", tt.in, s, want)
		}
		if p.IsNull() != (tt.local == "" && tt.domain == "") {
			t.Errorf("ParsePath(%q).IsNull() = %v", tt.in, p.IsNull())
		}
		// The canonical form parses back to the same path.
		p2, _, err := smtp.ParsePath("<"+p.String()+">", tt.opts)
		if err != nil || p2.Local != p.Local || p2.Domain != p.Domain {
			t.Errorf("round trip of %q via %q: %q, %q, %v", tt.in, p.String(), p2.Local, p2.Domain, err)
		}
	}
}

func TestParsePathInvalid(t *testing.T) {
	long65 := strings.Repeat("a", 65)
	label63 := strings.Repeat("b", 63)
	dom256 := strings.Join([]string{label63, label63, label63, label63 + "b"}, ".")
	dom190 := strings.Join([]string{label63, label63, strings.Repeat("c", 62)}, ".")

	syntax, tooLong, nonASCII := smtp.ErrPathSyntax, smtp.ErrPathTooLong, smtp.ErrPathNonASCII
	tests := []struct {
		in   string
		opts smtp.PathOptions
		want error
	}{
		{"", pathOptsStrict, syntax},
		{"", pathOptsLax, syntax},
		{"<", pathOptsStrict, syntax},
		{"<>", pathOptsStrict, syntax},
		{"<>", pathOptsRcpt, syntax},
		{"<> x", pathOptsStrict, syntax},
		{"user@example.org", pathOptsStrict, syntax},
		{"<user@example.org", pathOptsStrict, syntax},
		{"<user@example.org>>", pathOptsStrict, syntax},
		{"<user@example.org>SIZE=1", pathOptsStrict, syntax},
		{"<user>", pathOptsStrict, syntax},
		{"<Postmaster>", pathOptsStrict, syntax},
		{`<"Postmaster">`, pathOptsRcpt, syntax},
		{"<@a.example:Postmaster>", pathOptsRcpt, syntax},
		{"<@example.org>", pathOptsStrict, syntax},
		{"<user@>", pathOptsStrict, syntax},
		{"<@>", pathOptsStrict, syntax},
		{"<a@b@c>", pathOptsStrict, syntax},
		{"<a b@c>", pathOptsStrict, syntax},
		{"< a@c>", pathOptsStrict, syntax},
		{"<a@c >", pathOptsStrict, syntax},
		{"<a@c> <d@e>", pathOptsStrict, nil}, // the rest is the caller's
		{"<a(comment)@c>", pathOptsStrict, syntax},
		{"<a,b@c>", pathOptsStrict, syntax},
		{"<a;b@c>", pathOptsStrict, syntax},
		{"<a[b]@c>", pathOptsStrict, syntax},
		{"<a\\@b@c>", pathOptsStrict, syntax},
		// Dots.
		{"<.a@c>", pathOptsStrict, syntax},
		{"<a.@c>", pathOptsStrict, syntax},
		{"<a..b@c>", pathOptsStrict, syntax},
		{"<.@c>", pathOptsStrict, syntax},
		// Quoted strings.
		{`<""@c>`, pathOptsStrict, syntax},
		{`<"a@c>`, pathOptsStrict, syntax},
		{`<"a\"@c>`, pathOptsStrict, syntax},
		{`<"a"b@c>`, pathOptsStrict, syntax},
		{`<a"b"@c>`, pathOptsStrict, syntax},
		{"<\"a\tb\"@c>", pathOptsStrict, syntax},
		{"<\"a\\\tb\"@c>", pathOptsStrict, syntax},
		{"<\"a\\\x01\"@c>", pathOptsStrict, syntax},
		{"<\"a\x7f\"@c>", pathOptsStrict, syntax},
		{"<\"a\x00\"@c>", pathOptsStrict, syntax},
		{"<\"a\r\n\"@c>", pathOptsStrict, syntax},
		// Control characters.
		{"<a\x00b@c>", pathOptsStrict, syntax},
		{"<a\tb@c>", pathOptsStrict, syntax},
		{"<ab@c\r\n>", pathOptsStrict, syntax},
		{"<ab@c\x7f>", pathOptsStrict, syntax},
		// Domains.
		{"<a@-c.example>", pathOptsStrict, syntax},
		{"<a@c-.example>", pathOptsStrict, syntax},
		{"<a@c..example>", pathOptsStrict, syntax},
		{"<a@.example>", pathOptsStrict, syntax},
		{"<a@example.>", pathOptsStrict, syntax},
		{"<a@exa_mple>", pathOptsStrict, syntax},
		{"<a@exa mple>", pathOptsStrict, syntax},
		{"<a@example.org:25>", pathOptsStrict, syntax},
		// Address literals.
		{"<a@[192.0.2.256]>", pathOptsStrict, syntax},
		{"<a@[192.0.2]>", pathOptsStrict, syntax},
		{"<a@[192.0.2.1.5]>", pathOptsStrict, syntax},
		{"<a@[192.000.2.1]>", pathOptsStrict, syntax},
		{"<a@[192.0.2.1>", pathOptsStrict, syntax},
		{"<a@[192.0.2.1]x>", pathOptsStrict, syntax},
		{"<a@[]>", pathOptsStrict, syntax},
		{"<a@[IPv6:]>", pathOptsStrict, syntax},
		{"<a@[IPv6:2001:db8::1%eth0]>", pathOptsStrict, syntax},
		{"<a@[IPv6:2001:db8::g]>", pathOptsStrict, syntax},
		{"<a@[IPv6:1::2::3]>", pathOptsStrict, syntax},
		{"<a@[IPv6:1:2:3:4:5:6:7:8:9]>", pathOptsStrict, syntax},
		{"<a@[IPv6:12345::1]>", pathOptsStrict, syntax},
		{"<a@[IPv6:192.0.2.1]>", pathOptsStrict, syntax},
		{"<a@[2001:db8::1]>", pathOptsStrict, syntax},
		{"<a@[x-tag:content]>", pathOptsStrict, syntax},
		{"<a@[example.org]>", pathOptsStrict, syntax},
		{"<a@[ 192.0.2.1]>", pathOptsStrict, syntax},
		{"<a@[IPv6:::1]x>", pathOptsStrict, syntax},
		// Source routes.
		{"<@a.example user@c>", pathOptsStrict, syntax},
		{"<@a.example,user@c>", pathOptsStrict, syntax},
		{"<@a.example,:user@c>", pathOptsStrict, syntax},
		{"<@:user@c>", pathOptsStrict, syntax},
		{"<@[192.0.2.1]:user@c>", pathOptsStrict, syntax},
		// Lengths.
		{"<" + long65 + "@c>", pathOptsStrict, tooLong},
		{`<"` + long65[:63] + `"@c>`, pathOptsStrict, tooLong},
		{"<a@" + label63 + "b.example>", pathOptsStrict, tooLong},
		{"<a@" + dom256 + ">", pathOptsStrict, tooLong},
		{"<" + long65[:64] + "@" + dom190 + ">", pathOptsStrict, tooLong},
		{"<@" + dom190 + ":" + long65[:64] + "@c>", pathOptsStrict, tooLong},
		{long65[:64] + "@" + dom190, pathOptsLax, tooLong},
		// Non-ASCII without SMTPUTF8, and bad UTF-8 with it.
		{"<jöran@example.org>", pathOptsStrict, nonASCII},
		{"<joran@bücher.de>", pathOptsStrict, nonASCII},
		{`<"jö"@example.org>`, pathOptsStrict, nonASCII},
		{"<@bücher.de:a@b>", pathOptsStrict, nonASCII},
		{"<a\xff@example.org>", pathOptsStrict, nonASCII},
		{"<a\xff@example.org>", pathOptsUTF8, syntax},
		{"<\"a\xc3\"@example.org>", pathOptsUTF8, syntax},
		{"<a@b\xe4\xbe>", pathOptsUTF8, syntax},
		{"<a\u0085b@example.org>", pathOptsUTF8, syntax},
		{"<a@[\u00e4]>", pathOptsUTF8, syntax},
		{`<"a\ä"@example.org>`, pathOptsUTF8, syntax},
		// U-labels must be valid IDNA and must not map to ASCII or split.
		{"<a@\u200d.example>", pathOptsUTF8, syntax},
		{"<a@-ü.example>", pathOptsUTF8, syntax},
		{"<a@ü-.example>", pathOptsUTF8, syntax},
		{"<a@ｅｘａｍｐｌｅ.org>", pathOptsUTF8, syntax},
		{"<a@a。b.example>", pathOptsUTF8, syntax},
		{"<a@" + strings.Repeat("ü", 60) + ".example>", pathOptsUTF8, tooLong},
		{"<a@ü_x.example>", pathOptsUTF8, syntax},
		// Lenient still requires a well-formed address.
		{"user", pathOptsLax, syntax},
		{"user@", pathOptsLax, syntax},
		{"user@example.org>", pathOptsLax, syntax},
		{"<user@example.org", pathOptsLax, syntax},
		{" <user@example.org>", pathOptsLax, syntax},
	}
	for _, tt := range tests {
		p, rest, err := smtp.ParsePath(tt.in, tt.opts)
		if tt.want == nil {
			if err != nil {
				t.Errorf("ParsePath(%q): %v", tt.in, err)
			}
			continue
		}
		if !errors.Is(err, tt.want) {
			t.Errorf("ParsePath(%q) = %+v, %q, %v; want %v", tt.in, p, rest, err, tt.want)
			continue
		}
		var pe *smtp.PathError
		if !errors.As(err, &pe) || pe.Msg == "" {
			t.Errorf("ParsePath(%q): error %v is not a *PathError with a message", tt.in, err)
		} else if strings.ContainsAny(pe.Msg, "\r\n") || !strings.Contains(err.Error(), pe.Msg) {
			t.Errorf("ParsePath(%q): bad message %q", tt.in, pe.Msg)
		}
		if p.Local != "" || p.Domain != "" || p.SourceRoute != nil || rest != "" {
			t.Errorf("ParsePath(%q) returned %+v, %q with an error", tt.in, p, rest)
		}
	}
}

func TestPathString(t *testing.T) {
	tests := []struct {
		p    smtp.Path
		want string
	}{
		{smtp.Path{}, ""},
		{smtp.Path{Local: "a", Domain: "b"}, "a@b"},
		{smtp.Path{Local: "a.b", Domain: "c"}, "a.b@c"},
		{smtp.Path{Local: "a b", Domain: "c"}, `"a b"@c`},
		{smtp.Path{Local: `a"b\c`, Domain: "d"}, `"a\"b\\c"@d`},
		{smtp.Path{Local: "a@b", Domain: "c"}, `"a@b"@c`},
		{smtp.Path{Local: ".a", Domain: "c"}, `".a"@c`},
		{smtp.Path{Local: "a.", Domain: "c"}, `"a."@c`},
		{smtp.Path{Local: "a..b", Domain: "c"}, `"a..b"@c`},
		{smtp.Path{Local: "ü", Domain: "c"}, `ü@c`},
		{smtp.Path{Local: "a(b)", Domain: "c"}, `"a(b)"@c`},
		{smtp.Path{Local: "user", Domain: "c", SourceRoute: []string{"r"}}, "user@c"},
		{smtp.Path{Local: "Postmaster"}, "Postmaster"},
		{smtp.Path{Local: "a", Domain: "[IPv6:::1]"}, "a@[IPv6:::1]"},
	}
	for _, tt := range tests {
		if got := tt.p.String(); got != tt.want {
			t.Errorf("%+v.String() = %q, want %q", tt.p, got, tt.want)
		}
	}
}

func TestPathASCIIDomain(t *testing.T) {
	tests := []struct {
		domain, want string
	}{
		{"example.org", "example.org"},
		{"Example.ORG", "Example.ORG"},
		{"ab--cd.example", "ab--cd.example"},
		{"bücher.de", "xn--bcher-kva.de"},
		{"BÜCHER.DE", "xn--bcher-kva.DE"},
		{"例子.测试", "xn--fsqu00a.xn--0zwm56d"},
		{"[192.0.2.1]", "[192.0.2.1]"},
		{"[IPv6:2001:db8::1]", "[IPv6:2001:db8::1]"},
		{"", ""},
	}
	for _, tt := range tests {
		got, err := smtp.Path{Local: "a", Domain: tt.domain}.ASCIIDomain()
		if err != nil || got != tt.want {
			t.Errorf("ASCIIDomain(%q) = %q, %v; want %q", tt.domain, got, err, tt.want)
		}
	}
	if got, err := (smtp.Path{Local: "a", Domain: "\u200d.example"}).ASCIIDomain(); err == nil {
		t.Errorf("ASCIIDomain of an invalid U-label = %q, want an error", got)
	}
}

func TestPathIsASCII(t *testing.T) {
	tests := []struct {
		p    smtp.Path
		want bool
	}{
		{smtp.Path{}, true},
		{smtp.Path{Local: "a", Domain: "b.example"}, true},
		{smtp.Path{Local: "a", Domain: "xn--bcher-kva.de"}, true},
		{smtp.Path{Local: "jö", Domain: "b.example"}, false},
		{smtp.Path{Local: "a", Domain: "bücher.de"}, false},
	}
	for _, tt := range tests {
		if got := tt.p.IsASCII(); got != tt.want {
			t.Errorf("%+v.IsASCII() = %v, want %v", tt.p, got, tt.want)
		}
	}
}

func TestParsePathSourceRouteIsACopy(t *testing.T) {
	// Appending to one path's route must not affect another's.
	p1, _, err := smtp.ParsePath("<@a,@b:u@c>", pathOptsStrict)
	if err != nil {
		t.Fatal(err)
	}
	p2, _, err := smtp.ParsePath("<@a,@b:u@c>", pathOptsStrict)
	if err != nil {
		t.Fatal(err)
	}
	p1.SourceRoute[0] = "x"
	if p2.SourceRoute[0] != "a" {
		t.Errorf("source routes share memory")
	}
}
