package smtp

import (
	"strings"
	"testing"
)

func TestXtextEncode(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"abc", "abc"},
		{"a+b", "a+2Bb"},
		{"a=b", "a+3Db"},
		{"a b", "a+20b"},
		{"<>", "<>"},
		{"!~", "!~"},
		{"\x00\x1f\x7f\x80\xff", "+00+1F+7F+80+FF"},
		{"jö", "j+C3+B6"},
		{"\r\n", "+0D+0A"},
	}
	for _, tt := range tests {
		if got := string(xtextAppend(nil, tt.in)); got != tt.want {
			t.Errorf("xtext(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestXtextDecode(t *testing.T) {
	tests := []struct {
		in     string
		utf8ok bool
		want   string
		ok     bool
	}{
		{"", false, "", true},
		{"abc", false, "abc", true},
		{"a+2Bb", false, "a+b", true},
		{"a+2bb", false, "a+b", true},
		{"+00+1F+7F+80+FF", false, "\x00\x1f\x7f\x80\xff", true},
		{"+41+42", false, "AB", true},
		{"a+", false, "", false},
		{"a+4", false, "", false},
		{"a+4G", false, "", false},
		{"a+G4", false, "", false},
		{"+-1", false, "", false},
		{"a=b", false, "", false},
		{"a b", false, "", false},
		{"a\x00b", false, "", false},
		{"a\x7fb", false, "", false},
		{"jö", false, "", false},
		{"jö", true, "jö", true},
		{"j+C3+B6ö", true, "jöö", true},
		{"j\xff", true, "", false},
		{"j\xc3", true, "", false},
	}
	for _, tt := range tests {
		got, err := xtextDecode(tt.in, tt.utf8ok)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("xtextDecode(%q, %v) = %q, %v; want %q, ok=%v", tt.in, tt.utf8ok, got, err, tt.want, tt.ok)
		}
	}
}

func TestXtextRoundTripAllOctets(t *testing.T) {
	var b strings.Builder
	for c := 0; c < 256; c++ {
		b.WriteByte(byte(c))
	}
	s := b.String()
	enc := string(xtextAppend(nil, s))
	for i := 0; i < len(enc); i++ {
		if enc[i] <= ' ' || enc[i] >= 0x7f || enc[i] == '=' {
			t.Fatalf("encoding contains %q", enc[i])
		}
	}
	dec, err := xtextDecode(enc, false)
	if err != nil || dec != s {
		t.Errorf("round trip: %q, %v", dec, err)
	}
}

func TestUTF8AddrEncode(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"a@b", "a@b"},
		{"jö", `j\x{F6}`},
		{"用户", `\x{7528}\x{6237}`},
		{"\U0001F600", `\x{1F600}`},
		{"\U0010FFFF", `\x{10FFFF}`},
		{"\u0100", `\x{100}`},
		{"\u0fff\u1000", `\x{FFF}\x{1000}`},
		{`+=\ `, `\x{2B}\x{3D}\x{5C}\x{20}`},
		{"\x01\x7f", `\x{01}\x{7F}`},
		{"\xff", `\x{FFFD}`},
	}
	for _, tt := range tests {
		if got := string(utf8AddrAppend(nil, tt.in)); got != tt.want {
			t.Errorf("utf8Addr(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestUTF8AddrDecode(t *testing.T) {
	tests := []struct {
		in      string
		unitext bool
		want    string
		ok      bool
	}{
		{"", false, "", true},
		{"a@b", false, "a@b", true},
		{`j\x{F6}`, false, "jö", true},
		{`j\x{f6}`, false, "jö", true},
		{`\x{7528}\x{6237}`, false, "用户", true},
		{`\x{1f600}`, false, "\U0001F600", true},
		{`\x{10FFFF}`, false, "\U0010FFFF", true},
		{`\x{2B}\x{3D}\x{5C}\x{20}`, false, `+=\ `, true},
		{`\x{01}\x{7F}`, false, "\x01\x7f", true},
		{"jö", false, "", false},
		{"jö", true, "jö", true},
		{`jö\x{F6}`, true, "jöö", true},
		{"j\xff", true, "", false},
		{"a+b", false, "", false},
		{"a=b", false, "", false},
		{"a b", false, "", false},
		{`a\`, false, "", false},
		{`a\x`, false, "", false},
		{`a\x{`, false, "", false},
		{`a\x{F6`, false, "", false},
		{`a\x{}`, false, "", false},
		{`a\x{F}`, false, "", false},
		{`a\x{0F6}`, false, "", false},
		{`a\x{00F6}`, false, "", false},
		{`a\x{0100}`, false, "", false},
		{`a\x{41}`, false, "", false},
		{`a\x{00}`, false, "", false},
		{`a\x{D800}`, false, "", false},
		{`a\x{DFFF}`, false, "", false},
		{`a\x{110000}`, false, "", false},
		{`a\x{FFFFFFF}`, false, "", false},
		{`a\X{F6}`, false, "", false},
		{`a\y{F6}`, false, "", false},
		{`a\x(F6)`, false, "", false},
		{`a\x{F6)`, false, "", false},
		{`a\x{-F6}`, false, "", false},
	}
	for _, tt := range tests {
		got, err := utf8AddrDecode(tt.in, tt.unitext)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("utf8AddrDecode(%q, %v) = %q, %v; want %q, ok=%v", tt.in, tt.unitext, got, err, tt.want, tt.ok)
		}
	}
}
