package imap

import (
	"strings"
	"testing"
)

// TestContainsFold compares containsFold with the plain
// strings.Contains(fold(s), fold(sub)) it replaces.
func TestContainsFold(t *testing.T) {
	hays := []string{"", "a", "Re: Topic-07 weekly", "TOPIC-07", "topic-0", "x topic-07",
		"Ünïcode TOPIC-07", "\u212Aelvin", "İstanbul", "tOpIc-07tOpIc-07", "ab\r\n ab"}
	subs := []string{"", "a", "topic-07", "TOPIC-07", "kelvin", "i", "istanbul", "07", "b\r\n a", "ü"}
	for _, h := range hays {
		for _, sub := range subs {
			f := fold(sub)
			if got, want := containsFold(h, f), strings.Contains(fold(h), f); got != want {
				t.Errorf("containsFold(%q, %q) = %v, want %v", h, f, got, want)
			}
		}
	}
}

func FuzzContainsFold(f *testing.F) {
	f.Add("Re: Topic-07", "topic")
	f.Add("\u212Aelvin", "k")
	f.Fuzz(func(t *testing.T, s, sub string) {
		sub = fold(sub)
		if got, want := containsFold(s, sub), strings.Contains(fold(s), sub); got != want {
			t.Fatalf("containsFold(%q, %q) = %v, want %v", s, sub, got, want)
		}
	})
}
