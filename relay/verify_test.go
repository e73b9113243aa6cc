package relay

import (
	"strings"
	"testing"
)

func TestParseTagList(t *testing.T) {
	got := parseTagList(" v=1; a=rsa-sha256;\r\n\td=example.org; s = sel ; b=ab\r\n cd ef; bad; =x; d=second")
	want := map[string]string{"v": "1", "a": "rsa-sha256", "d": "example.org", "s": "sel", "b": "abcdef"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}

func FuzzParseTagList(f *testing.F) {
	for _, s := range []string{"v=1; a=rsa-sha256; b=abc", "=;=;", "a=b=c", " ; ;", "x\r\n =y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for k, v := range parseTagList(s) {
			if k == "" || strings.ContainsAny(v, " \t\r\n") || strings.Contains(k, ";") || strings.Contains(v, ";") {
				t.Fatalf("bad tag %q=%q from %q", k, v, s)
			}
		}
	})
}

func FuzzDKIMSignatures(f *testing.F) {
	f.Add("DKIM-Signature: v=1; d=example.org;\r\n s=x\r\nFrom: a\r\n\r\n")
	f.Add("dkim-signature :a=b\n\n")
	f.Fuzz(func(t *testing.T, s string) {
		n := strings.Count(strings.ToLower(s), "dkim-signature")
		if got := len(dkimSignatures([]byte(s))); got > n {
			t.Fatalf("%d signatures from %d names", got, n)
		}
	})
}
