package relay

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// luhnComplete appends the Luhn check digit to d.
func luhnComplete(d string) string {
	for c := byte('0'); c <= '9'; c++ {
		if luhnValid(d + string(c)) {
			return d + string(c)
		}
	}
	panic("unreachable")
}

func TestFindCardNumbers(t *testing.T) {
	for _, tc := range []struct {
		text string
		want []string
	}{
		{"Visa 4111 1111 1111 1111, exp 09/27", []string{"4111111111111111"}},
		{"4111-1111-1111-1111", []string{"4111111111111111"}},
		{"4012888888881881", []string{"4012888888881881"}},
		{"13 digits: 4222222222222.", []string{"4222222222222"}},
		{"MC 5555 5555 5555 4444 and 2223 0031 2200 3222", []string{"5555555555554444", "2223003122003222"}},
		{"Amex 3782 822463 10005", []string{"378282246310005"}},
		{"Discover 6011111111111117, JCB 3530111333300000, Diners 3056 930902 5904", []string{"6011111111111117", "3530111333300000", "30569309025904"}},
		{"UnionPay 6200000000000005", []string{"6200000000000005"}},
		{"card 4111 1111 1111 1111 0925 (expiry after it)", []string{"4111111111111111"}},
		{"(4111111111111111)", []string{"4111111111111111"}},

		{"Luhn fails: 4111 1111 1111 1112", nil},
		{"phone +1 415 555 2671, +44 20 7946 0958, (415) 555-2671", nil},
		{"international phone with Luhn-valid digits: +4111111111111111", nil},
		{"order 2024-000123-4567 and invoice 2024-12-02", nil},
		{"too long: 0000004111111111111111000", nil},
		{"decimal 3.4111111111111111", nil},
		{"glued to letters: ID4111111111111111x", nil},
		{"digit by digit: 4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1", nil},
		{"unknown issuer " + luhnComplete("999999999999999"), nil},
		{"Amex length wrong " + luhnComplete("3782822463100051"), nil},
	} {
		if got := findCardNumbers(tc.text, 10); !slices.Equal(got, tc.want) {
			t.Errorf("findCardNumbers(%q) = %q, want %q", tc.text, got, tc.want)
		}
	}
	// Random digit strings that fail the Luhn check are never cards.
	r := rand.New(rand.NewPCG(1, 2))
	for range 1000 {
		d := "4"
		for range 14 {
			d += string(rune('0' + r.IntN(10)))
		}
		bad := luhnComplete(d)
		bad = bad[:15] + string(rune('0'+(bad[15]-'0'+1+byte(r.IntN(9)))%10))
		if got := findCardNumbers("n "+bad+" n", 10); got != nil {
			t.Fatalf("%s fails Luhn but found %q", bad, got)
		}
	}
}

func TestFindIBANs(t *testing.T) {
	for _, tc := range []struct {
		text string
		want []string
	}{
		{"IBAN: DE89 3704 0044 0532 0130 00.", []string{"DE89370400440532013000"}},
		{"gb82west12345698765432 and FR14 2004 1010 0505 0001 3M02 606", []string{"GB82WEST12345698765432", "FR1420041010050500013M02606"}},
		{"NO93 8601 1117 947 is short", []string{"NO9386011117947"}},
		{"wrong check digits DE89 3704 0044 0532 0130 01", nil},
		{"too short DE89 3704 0044 0532 0130 0", nil},
		{"glued XDE89370400440532013000", nil},
		{"unknown country ZZ89 3704 0044 0532 0130 00", nil},
	} {
		if got := findIBANs(tc.text, 10); !slices.Equal(got, tc.want) {
			t.Errorf("findIBANs(%q) = %q, want %q", tc.text, got, tc.want)
		}
	}
}

func TestHTMLText(t *testing.T) {
	for in, want := range map[string]string{
		`<p>Card <b>4111</b> 1111&nbsp;1111 1111</p>`:           " Card  4111  1111\u00a01111 1111 ",
		`a<!-- 4111 1111 1111 1111 -->b`:                        "a b",
		`<script>var x = "<p>";</script><style>p{}</style>text`: "  text",
		`<a title="x > y">link</a> &#52;&#x31;11`:               " link  4111",
		`<SCRIPT>x</SCRIPT >y<unclosed`:                         " y ",
		`<div class='a"b'>t</div>`:                              " t ",
		"broken <!-- comment":                                   "broken ",
		`&lt;not a tag&gt;`:                                     "<not a tag>",
		`<p>Project</p>` + "\n" + `<p>Falcon</p>`:               " Project \n Falcon ",
		`<td>4111 1111</td><td>1111 1111</td>`:                  " 4111 1111  1111 1111 ",
		`<style>unterminated`:                                   " ",
		`x<br/>y`:                                               "x y",
	} {
		if got := htmlText(in); got != want {
			t.Errorf("htmlText(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDLPNormalize(t *testing.T) {
	if got := dlpNormalize(" a\r\n\t b\u00a0\u200bc\u00adonfi\u200bdential  "); got != "a b confidential" {
		t.Errorf("dlpNormalize = %q", got)
	}
	if !findKeyword("top secret: x", "top secret") || findKeyword("the secretary", "secret") || !findKeyword("secret", "secret") ||
		findKeyword("unsecret", "secret") || !findKeyword("a secret.", "secret") || !findKeyword("x secretary secret", "secret") {
		t.Error("findKeyword")
	}
}

func FuzzFindCardNumbers(f *testing.F) {
	for _, s := range []string{"4111 1111 1111 1111", "3782-822463-10005 x", "+4111111111111111", "1.2", "4111 1111 1111 1111 0925", "- - 1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, n := range findCardNumbers(s, 100) {
			if len(n) < minCardDigits || len(n) > maxCardDigits || strings.Trim(n, "0123456789") != "" || !luhnValid(n) || !cardPrefixValid(n) {
				t.Fatalf("bad card number %q from %q", n, s)
			}
		}
		// A card number standing alone among words is always found.
		card := "4111111111111111"
		if got := findCardNumbers("x "+card+" "+s, 1); len(got) != 1 || got[0] != card {
			t.Fatalf("card before %q: %q", s, got)
		}
	})
}

func FuzzFindIBANs(f *testing.F) {
	for _, s := range []string{"DE89 3704 0044 0532 0130 00", "gb82west12345698765432", "NO93 8601 1117 947", "DE89"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, n := range findIBANs(s, 100) {
			if ibanLengths[n[:2]] != len(n) || !ibanValid(n) || strings.ToUpper(n) != n {
				t.Fatalf("bad IBAN %q from %q", n, s)
			}
		}
	})
}

func FuzzHTMLText(f *testing.F) {
	for _, s := range []string{"<p>a</p>", "<!--", "<script>", "<a b='>'>x", "&#52;&amp;", "<style>x</style"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := htmlText(s)
		// Each tag becomes at most one space; references only shrink
		// (except the few whose replacement is longer, bounded by 2x).
		if len(out) > 2*len(s)+4 {
			t.Fatalf("htmlText(%q) = %q: grew", s, out)
		}
		if !strings.Contains(s, "<") && !strings.Contains(s, "&") && out != s {
			t.Fatalf("htmlText(%q) = %q: changed plain text", s, out)
		}
	})
}

func FuzzDLPNormalize(f *testing.F) {
	f.Add(" a \u200b b\r\n")
	f.Fuzz(func(t *testing.T, s string) {
		out := dlpNormalize(s)
		if strings.Contains(out, "  ") || strings.HasPrefix(out, " ") || strings.HasSuffix(out, " ") || !utf8.ValidString(out) {
			t.Fatalf("dlpNormalize(%q) = %q", s, out)
		}
		if dlpNormalize(out) != out {
			t.Fatalf("dlpNormalize not idempotent on %q", s)
		}
	})
}
