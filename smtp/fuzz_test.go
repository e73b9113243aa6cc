package smtp

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// Fuzz targets for the parsers in path.go, params.go and xtext.go. Seeds
// are added here and kept in testdata/fuzz/<Target>.

var fuzzPathSeeds = []string{
	"<user@example.org>",
	"<>",
	"<> SIZE=1",
	"<Postmaster>",
	`<"a b\"c"@x.example>`,
	`<"a@b"@x.example>`,
	"<user%remote@local.example>",
	"<remote!user@local.example>",
	"<@a.example,@b.example:user@c.example>",
	"<a@[192.0.2.1]>",
	"<a@[IPv6:2001:db8::1]>",
	"<a@[IPv6:::ffff:192.0.2.1]>",
	"<a@[tag:content]>",
	"<用户@例子.广告>",
	"<jöran@bücher.de> SMTPUTF8",
	"<a@xn--bcher-kva.de>",
	"user@example.org SIZE=1",
	"<a..b@c>",
	"<a@b.>",
	"<" + strings.Repeat("a", 64) + "@" + strings.Repeat("b.", 90) + "c>",
}

func FuzzParsePath(f *testing.F) {
	for _, s := range fuzzPathSeeds {
		f.Add(s, uint8(0))
		f.Add(s, uint8(15))
	}
	f.Fuzz(func(t *testing.T, s string, flags uint8) {
		opts := PathOptions{
			UTF8:            flags&1 != 0,
			AllowNull:       flags&2 != 0,
			AllowPostmaster: flags&4 != 0,
			Lenient:         flags&8 != 0,
		}
		p, rest, err := ParsePath(s, opts)
		if err != nil {
			var pe *PathError
			if !errors.As(err, &pe) || pe.Msg == "" {
				t.Fatalf("error %v is not a *PathError", err)
			}
			if !errors.Is(err, ErrPathSyntax) && !errors.Is(err, ErrPathTooLong) && !errors.Is(err, ErrPathNonASCII) {
				t.Fatalf("error %v wraps no sentinel", err)
			}
			return
		}
		if !strings.HasSuffix(s, rest) || strings.HasPrefix(rest, " ") {
			t.Fatalf("rest %q is not a trimmed suffix of %q", rest, s)
		}
		if p.IsNull() != (p.Local == "" && p.Domain == "") || p.IsNull() && !opts.AllowNull {
			t.Fatalf("unexpected null path %+v", p)
		}
		if !opts.UTF8 && !p.IsASCII() {
			t.Fatalf("non-ASCII path %+v without UTF8", p)
		}
		if !utf8.ValidString(p.Local) || !utf8.ValidString(p.Domain) {
			t.Fatalf("invalid UTF-8 in %+v", p)
		}
		if len(p.Local) > pathMaxLocal || len(p.Domain) > pathMaxDomain {
			t.Fatalf("limits exceeded: %+v", p)
		}
		if _, err := p.ASCIIDomain(); err != nil {
			t.Fatalf("ASCIIDomain(%q): %v", p.Domain, err)
		}
		// The canonical form parses back to the same Local and Domain.
		str := p.String()
		p2, rest2, err := ParsePath("<"+str+">", opts)
		if err != nil {
			t.Fatalf("ParsePath(%q) -> %+v; canonical %q: %v", s, p, str, err)
		}
		if p2.Local != p.Local || p2.Domain != p.Domain || rest2 != "" || p2.SourceRoute != nil {
			t.Fatalf("canonical %q of %q parses to %+v, want %+v", str, s, p2, p)
		}
		if p2.String() != str {
			t.Fatalf("String is not stable: %q then %q", str, p2.String())
		}
	})
}

var fuzzMailSeeds = []string{
	"",
	"SIZE=1000",
	"SIZE=99999999999999999999",
	"BODY=8BITMIME",
	"BODY=BINARYMIME SMTPUTF8",
	"REQUIRETLS",
	"RET=HDRS ENVID=QQ314159",
	"ENVID=a+2Bb",
	"AUTH=<>",
	"AUTH=e+3Dmc2@example.com",
	"AUTH=jöran@example.com SMTPUTF8",
	"SIZE=1 BODY=7BIT SMTPUTF8 REQUIRETLS RET=FULL ENVID=x AUTH=<>",
	"FOO=bar",
	"SIZE=1 SIZE=2",
	"  size=5   body=7bit  ",
}

func FuzzParseMailParams(f *testing.F) {
	for _, s := range fuzzMailSeeds {
		f.Add(s, uint32(0xff))
		f.Add(s, uint32(ParamSize|ParamDSN))
	}
	f.Fuzz(func(t *testing.T, s string, allowed uint32) {
		set := ParamSet(allowed)
		o, err := ParseMailParams(s, set)
		if err != nil {
			fuzzCheckParamErr(t, err)
			if o != (MailOptions{}) {
				t.Fatalf("options %+v with error", o)
			}
			return
		}
		if o.Size < 0 || len(o.EnvelopeID) > paramMaxEnvID || !paramTextOK(o.Auth) || !paramTextOK(o.EnvelopeID) {
			t.Fatalf("bad options %+v", o)
		}
		// What the client writes parses back to the same options.
		wire := string(o.AppendParams(nil))
		if fuzzLongestValue(wire) > paramMaxValue {
			return // re-encoding UTF-8 as xtext made it too long
		}
		o2, err := ParseMailParams(wire, set)
		if err != nil || o2 != o {
			t.Fatalf("%q -> %+v -> %q -> %+v, %v", s, o, wire, o2, err)
		}
	})
}

var fuzzRcptSeeds = []string{
	"",
	"NOTIFY=NEVER",
	"NOTIFY=SUCCESS,FAILURE,DELAY",
	"ORCPT=rfc822;a@example.org",
	"ORCPT=rfc822;e+3Dmc2@example.org NOTIFY=DELAY",
	`ORCPT=utf-8;j\x{F6}ran@example.org`,
	"ORCPT=utf-8;jöran@example.org",
	"ORCPT=x400;c+3Dus;a+3Dx",
	"NOTIFY=NEVER,SUCCESS",
	`ORCPT=utf-8;\x{D800}`,
}

func FuzzParseRcptParams(f *testing.F) {
	for _, s := range fuzzRcptSeeds {
		f.Add(s, uint32(ParamDSN))
		f.Add(s, uint32(ParamDSN|ParamSMTPUTF8))
	}
	f.Fuzz(func(t *testing.T, s string, allowed uint32) {
		set := ParamSet(allowed)
		o, err := ParseRcptParams(s, set)
		if err != nil {
			fuzzCheckParamErr(t, err)
			if o != (RcptOptions{}) {
				t.Fatalf("options %+v with error", o)
			}
			return
		}
		if o.Notify&NotifyNever != 0 && o.Notify != NotifyNever || o.Notify > NotifyDelay<<1-1 {
			t.Fatalf("bad Notify %v", o.Notify)
		}
		if (o.OriginalRcpt == "") != (o.OriginalRcptType == "") || !paramTextOK(o.OriginalRcpt) {
			t.Fatalf("bad ORCPT %+v", o)
		}
		if o.OriginalRcptType != strings.ToLower(o.OriginalRcptType) {
			t.Fatalf("ORCPT type %q not lower-cased", o.OriginalRcptType)
		}
		// What the client writes parses back to the same options, even
		// without SMTPUTF8.
		wire := string(o.AppendParams(nil))
		if fuzzLongestValue(wire) > paramMaxValue {
			return // re-encoding UTF-8 as utf-8-addr-xtext made it too long
		}
		o2, err := ParseRcptParams(wire, set&^ParamSMTPUTF8)
		if err != nil || o2 != o {
			t.Fatalf("%q -> %+v -> %q -> %+v, %v", s, o, wire, o2, err)
		}
	})
}

// fuzzLongestValue returns the length of the longest parameter value in
// a parameter list.
func fuzzLongestValue(params string) int {
	n := 0
	for _, p := range strings.Fields(params) {
		if _, v, ok := strings.Cut(p, "="); ok {
			n = max(n, len(v))
		}
	}
	return n
}

func fuzzCheckParamErr(t *testing.T, err error) {
	t.Helper()
	var pe *ParamError
	if !errors.As(err, &pe) || pe.Msg == "" {
		t.Fatalf("error %v is not a *ParamError", err)
	}
	if !errors.Is(err, ErrUnknownParam) && !errors.Is(err, ErrParamSyntax) {
		t.Fatalf("error %v wraps no sentinel", err)
	}
	if len(pe.Msg) > 120 || strings.ContainsAny(pe.Msg, "\r\n") || !utf8.ValidString(pe.Msg) {
		t.Fatalf("message %q is not fit for a reply", pe.Msg)
	}
}

func FuzzXtext(f *testing.F) {
	for _, s := range []string{"", "abc", "a+b=c d", "\x00\xff", "jöran@bücher.de", "用户", `\x{41}`, "+2B", "\U0010FFFF"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		// xtext round-trips any octets.
		enc := string(xtextAppend(nil, s))
		dec, err := xtextDecode(enc, false)
		if err != nil || dec != s {
			t.Fatalf("xtext %q -> %q -> %q, %v", s, enc, dec, err)
		}
		// Decoding arbitrary input never panics, and what decodes
		// re-encodes to something that decodes the same.
		if d, err := xtextDecode(s, true); err == nil {
			if d2, err := xtextDecode(string(xtextAppend(nil, d)), false); err != nil || d2 != d {
				t.Fatalf("xtext re-encoding of %q: %q, %v", d, d2, err)
			}
		}
		// utf-8-addr-xtext round-trips valid UTF-8 without NUL, and its
		// encoding is ASCII.
		if utf8.ValidString(s) && !strings.Contains(s, "\x00") {
			enc := string(utf8AddrAppend(nil, s))
			if !pathIsASCII(enc) {
				t.Fatalf("utf-8-addr-xtext of %q is not ASCII: %q", s, enc)
			}
			dec, err := utf8AddrDecode(enc, false)
			if err != nil || dec != s {
				t.Fatalf("utf-8-addr-xtext %q -> %q -> %q, %v", s, enc, dec, err)
			}
		}
		if d, err := utf8AddrDecode(s, true); err == nil {
			if !utf8.ValidString(d) {
				t.Fatalf("utf8AddrDecode(%q) = invalid UTF-8 %q", s, d)
			}
			if d2, err := utf8AddrDecode(string(utf8AddrAppend(nil, d)), false); err != nil || d2 != d {
				t.Fatalf("utf-8-addr-xtext re-encoding of %q: %q, %v", d, d2, err)
			}
		}
	})
}
