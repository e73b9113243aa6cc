package pop3

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// FuzzCommand checks the command parser's invariants on arbitrary lines:
// no panic; a line with a control character is refused; otherwise the
// keyword is a known one or "", arguments hold no spaces and are the
// line's words in order, and rest is the line after the keyword.
func FuzzCommand(f *testing.F) {
	for _, s := range []string{
		"", "USER alice", "pass  two  words ", "LIST 1", "list", "TOP 1 10", "TOP 1 10 extra more",
		"AUTH PLAIN AGFsaWNlAHNlY3JldA==", "APOP mrose c4c9334bac560ecc979e58001b3e22fb",
		"RETR 99999999999999999999", "DELE -1", "USER\x00x", "STAT\t", "Grüße x", "CONNECT x:443 HTTP/1.1",
		"toplongkeyword 1", " LIST", "UIDL  ",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		var c command
		ok := c.parse([]byte(line))
		hasCtl := strings.ContainsFunc(line, func(r rune) bool { return r < ' ' || r == 0x7f })
		if ok == hasCtl {
			t.Fatalf("parse(%q) = %v with control characters %v", line, ok, hasCtl)
		}
		if !ok {
			return
		}
		kw, rest, _ := strings.Cut(line, " ")
		if c.name != "" && (c.name != strings.ToUpper(kw) || !slices.Contains(keywords[:], c.name)) {
			t.Fatalf("parse(%q): keyword %q", line, c.name)
		}
		if c.name == "" && slices.Contains(keywords[:], strings.ToUpper(kw)) && len(kw) <= 8 {
			t.Fatalf("parse(%q): keyword %q not recognised", line, kw)
		}
		if c.rest != rest {
			t.Fatalf("parse(%q): rest %q, want %q", line, c.rest, rest)
		}
		words := strings.Fields(rest)
		if len(c.args) > maxArgs+1 || len(words) <= maxArgs && !slices.Equal(c.args, words) {
			t.Fatalf("parse(%q): args %q, want %q", line, c.args, words)
		}
		if len(words) > maxArgs {
			if !slices.Equal(c.args[:maxArgs], words[:maxArgs]) || strings.Fields(c.args[maxArgs])[0] != words[maxArgs] {
				t.Fatalf("parse(%q): args %q, words %q", line, c.args, words)
			}
		}
		for _, a := range c.args[:min(len(c.args), maxArgs)] {
			if a == "" || strings.Contains(a, " ") {
				t.Fatalf("parse(%q): argument %q", line, a)
			}
		}
		for _, w := range words {
			n, ok := parseNumber(w)
			want, err := strconv.ParseUint(w, 10, 64)
			digits := !strings.ContainsFunc(w, func(r rune) bool { return r < '0' || r > '9' })
			switch {
			case ok != digits:
				t.Fatalf("parseNumber(%q) ok = %v", w, ok)
			case ok && err == nil && want < math.MaxInt32 && n != int(want):
				t.Fatalf("parseNumber(%q) = %d, want %d", w, n, want)
			case ok && (err != nil || want >= math.MaxInt32) && n != math.MaxInt32:
				t.Fatalf("parseNumber(%q) = %d, want MaxInt32", w, n)
			}
		}
	})
}
