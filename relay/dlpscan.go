package relay

import (
	"html"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Payment card numbers (ISO/IEC 7812) as DLP.CardNumbers finds them.
const (
	minCardDigits = 13
	maxCardDigits = 19
	maxCardGroups = 5 // "4111 1111 1111 1111 123" at most
	minGroupLen   = 3 // in a number written in groups
)

// findCardNumbers returns the payment card numbers in s, digits only, at
// most limit of them: 13 to 19 digits, written together or in groups of
// three or more separated by one space or dash ("4111 1111 1111 1111",
// "3782-822463-10005"), not part of a longer word or number (nor of a
// decimal or a phone number starting with "+"), with a valid Luhn check
// digit (ISO/IEC 7812-1 Annex B) and an issuer prefix whose network uses
// that length (Visa, Mastercard, American Express, Discover, Diners, JCB,
// UnionPay, Maestro, Mir).
//
// A run of groups is tried at each group boundary, so that a card number
// followed by more digits ("4111 1111 1111 1111 0925") is found; a run of
// digits without separators is taken whole: 25 digits are not a card.
func findCardNumbers(s string, limit int) []string {
	var found []string
	var groups [][2]int
	for i := 0; i < len(s) && len(found) < limit; {
		if !isASCIIDigit(s[i]) {
			i++
			continue
		}
		start := i
		groups = groups[:0]
		j := i
		for {
			k := j
			for k < len(s) && isASCIIDigit(s[k]) {
				k++
			}
			groups = append(groups, [2]int{j, k})
			if k+1 < len(s) && (s[k] == ' ' || s[k] == '-') && isASCIIDigit(s[k+1]) && len(groups) < 64 {
				j = k + 1
				continue
			}
			j = k
			break
		}
		i = j
		startOK := numberStartOK(s, start)
		endOK := numberEndOK(s, j)
		last := len(groups) - 1
		for a := 0; a <= last && len(found) < limit; a++ {
			if a == 0 && !startOK {
				continue
			}
			digits := 0
			for b := a; b <= last && b-a < maxCardGroups; b++ {
				g := groups[b][1] - groups[b][0]
				if b > a && (g < minGroupLen || groups[b-1][1]-groups[b-1][0] < minGroupLen) {
					break
				}
				digits += g
				if digits > maxCardDigits {
					break
				}
				if digits < minCardDigits || (b == last && !endOK) {
					continue
				}
				var num strings.Builder
				for _, gr := range groups[a : b+1] {
					num.WriteString(s[gr[0]:gr[1]])
				}
				if n := num.String(); luhnValid(n) && cardPrefixValid(n) {
					found = append(found, n)
					a = b // go on after this number
					break
				}
			}
		}
	}
	return found
}

// numberStartOK reports whether a number may start at s[i]: not after a
// letter or digit, a "+" (a phone number), or a "." or "," after a digit
// (a decimal).
func numberStartOK(s string, i int) bool {
	if i == 0 {
		return true
	}
	c := s[i-1]
	switch {
	case isASCIIAlnum(c) || c == '+' || c == '_':
		return false
	case (c == '.' || c == ',' || c == '-' || c == '/') && i >= 2 && isASCIIDigit(s[i-2]):
		return false
	}
	r, _ := utf8.DecodeLastRuneInString(s[:i])
	return !unicode.IsLetter(r)
}

// numberEndOK reports whether a number may end before s[j].
func numberEndOK(s string, j int) bool {
	if j == len(s) {
		return true
	}
	c := s[j]
	switch {
	case isASCIIAlnum(c) || c == '_':
		return false
	case (c == '.' || c == ',' || c == '-' || c == '/') && j+1 < len(s) && isASCIIDigit(s[j+1]):
		return false
	}
	r, _ := utf8.DecodeRuneInString(s[j:])
	return !unicode.IsLetter(r)
}

// luhnValid reports whether the last digit of d is its Luhn check digit.
func luhnValid(d string) bool {
	sum := 0
	double := false
	for i := len(d) - 1; i >= 0; i-- {
		v := int(d[i] - '0')
		if double {
			v *= 2
			if v > 9 {
				v -= 9
			}
		}
		sum += v
		double = !double
	}
	return sum%10 == 0
}

// cardPrefixValid reports whether the issuer identification number of d
// belongs to a card network that issues numbers of len(d) digits.
func cardPrefixValid(d string) bool {
	n := len(d)
	p := func(k int) int {
		v := 0
		for i := 0; i < k && i < n; i++ {
			v = v*10 + int(d[i]-'0')
		}
		return v
	}
	between := func(v, lo, hi int) bool { return lo <= v && v <= hi }
	switch {
	case d[0] == '4': // Visa
		return n == 13 || n == 16 || n == 19
	case between(p(2), 51, 55), between(p(4), 2221, 2720): // Mastercard
		return n == 16
	case p(2) == 34, p(2) == 37: // American Express
		return n == 15
	case between(p(4), 2200, 2204): // Mir
		return n >= 16
	case p(4) == 6011, between(p(3), 644, 649), p(2) == 65, between(p(6), 622126, 622925): // Discover
		return n >= 16
	case p(2) == 62: // UnionPay
		return n >= 16
	case between(p(3), 300, 305), p(2) == 36, p(2) == 38, p(2) == 39: // Diners Club
		return n >= 14
	case between(p(4), 3528, 3589): // JCB
		return n >= 16
	case p(2) == 50, between(p(2), 56, 69): // Maestro
		return true
	}
	return false
}

// ibanLengths are the IBAN lengths of the countries in the ISO 13616
// registry.
var ibanLengths = map[string]int{
	"AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16,
	"BG": 22, "BH": 22, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28,
	"CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24,
	"FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18,
	"GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23,
	"IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32,
	"LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24, "ME": 22,
	"MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24,
	"PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24,
	"SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28,
	"TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}

// findIBANs returns the IBANs in s (ISO 13616), upper case without
// spaces, at most limit of them: a country code of the registry, two
// check digits, and the country's length of letters and digits, written
// together or with single spaces, not part of a longer word, whose check
// digits are right (ISO 7064 MOD 97-10: the number mod 97 is 1).
func findIBANs(s string, limit int) []string {
	var found []string
	for i := 0; i+4 <= len(s) && len(found) < limit; i++ {
		if !isASCIILetter(s[i]) || !isASCIILetter(s[i+1]) || !isASCIIDigit(s[i+2]) || !isASCIIDigit(s[i+3]) {
			continue
		}
		if i > 0 && (isASCIIAlnum(s[i-1]) || !numberStartOK(s, i)) {
			continue
		}
		cc := strings.ToUpper(s[i : i+2])
		want, ok := ibanLengths[cc]
		if !ok {
			continue
		}
		var b strings.Builder
		j := i
		for j < len(s) && b.Len() < want {
			c := s[j]
			switch {
			case isASCIIAlnum(c):
				b.WriteByte(c)
			case c == ' ' && j+1 < len(s) && isASCIIAlnum(s[j+1]) && b.Len() > 0:
			default:
				j = len(s) + 1 // not an IBAN character
				continue
			}
			j++
		}
		if b.Len() != want || j > len(s) || !numberEndOK(s, j) {
			continue
		}
		iban := strings.ToUpper(b.String())
		if ibanValid(iban) {
			found = append(found, iban)
			i = j - 1
		}
	}
	return found
}

// ibanValid checks the IBAN check digits: with the first four characters
// moved to the end and letters as 10 to 35, the number mod 97 is 1.
func ibanValid(iban string) bool {
	r := iban[4:] + iban[:4]
	m := 0
	for i := 0; i < len(r); i++ {
		c := r[i]
		switch {
		case isASCIIDigit(c):
			m = (m*10 + int(c-'0')) % 97
		case 'A' <= c && c <= 'Z':
			m = (m*100 + int(c-'A'+10)) % 97
		default:
			return false
		}
	}
	return m == 1
}

func isASCIIDigit(c byte) bool  { return '0' <= c && c <= '9' }
func isASCIILetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isASCIIAlnum(c byte) bool  { return isASCIIDigit(c) || isASCIILetter(c) }

// htmlText returns the text of an HTML document, roughly: tags and
// comments become a space, the content of script and style elements is
// dropped, and character references are decoded (so that "&#52;" is "4").
func htmlText(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		c := s[i]
		if c != '<' {
			j := strings.IndexByte(s[i:], '<')
			if j < 0 {
				j = len(s) - i
			}
			b.WriteString(s[i : i+j])
			i += j
			continue
		}
		if strings.HasPrefix(s[i:], "<!--") {
			end := strings.Index(s[i+4:], "-->")
			if end < 0 {
				break
			}
			i += 4 + end + 3
			b.WriteByte(' ')
			continue
		}
		end := tagEnd(s, i+1)
		name := strings.ToLower(tagName(s[i+1 : end]))
		i = min(end+1, len(s))
		b.WriteByte(' ')
		if name == "script" || name == "style" {
			close := indexFold(s[i:], "</"+name)
			if close < 0 {
				break
			}
			i = min(tagEnd(s, i+close+2)+1, len(s))
		}
	}
	return html.UnescapeString(b.String())
}

// tagEnd returns the index of the ">" that ends the tag starting before
// s[i], skipping quoted attribute values, or len(s).
func tagEnd(s string, i int) int {
	var quote byte
	for ; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '>':
			return i
		}
	}
	return len(s)
}

// tagName returns the element name at the start of a tag's text.
func tagName(t string) string {
	i := 0
	for i < len(t) && (isASCIIAlnum(t[i]) || t[i] == '-') {
		i++
	}
	return t[:i]
}

// indexFold is strings.Index ignoring ASCII case; sub must be lower case.
func indexFold(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return i
		}
	}
	return -1
}

// dlpNormalize prepares text for matching: invisible format characters
// (U+200B, soft hyphens, direction marks: Unicode category Cf) are
// removed and each run of white space (line breaks and U+00A0 included)
// becomes one space, so that a phrase wrapped over lines or padded with
// zero-width spaces still matches.
func dlpNormalize(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for _, r := range s {
		switch {
		case unicode.IsSpace(r):
			space = true
		case unicode.Is(unicode.Cf, r):
		default:
			if space && b.Len() > 0 {
				b.WriteByte(' ')
			}
			space = false
			b.WriteRune(r)
		}
	}
	return b.String()
}

// findKeyword reports whether the lower-case text holds the lower-case
// keyword kw as whole words: not preceded nor followed by a letter or
// digit.
func findKeyword(text, kw string) bool {
	if kw == "" {
		return false
	}
	for off := 0; off < len(text); {
		i := strings.Index(text[off:], kw)
		if i < 0 {
			return false
		}
		i += off
		before, _ := utf8.DecodeLastRuneInString(text[:i])
		after, _ := utf8.DecodeRuneInString(text[i+len(kw):])
		if (i == 0 || !isWordRune(before)) && (i+len(kw) == len(text) || !isWordRune(after)) {
			return true
		}
		_, size := utf8.DecodeRuneInString(text[i:])
		off = i + size
	}
	return false
}

func isWordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }
