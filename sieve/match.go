package sieve

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Comparators (RFC 4790 §9) and match types (RFC 5228 §2.7.1, RFC 5231).

func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if c := b[j]; c >= 'A' && c <= 'Z' {
					b[j] = c + 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

func upperASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'a' && c <= 'z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if c := b[j]; c >= 'a' && c <= 'z' {
					b[j] = c - ('a' - 'A')
				}
			}
			return string(b)
		}
	}
	return s
}

func foldByte(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// numericKey returns the leading digits of s without leading zeros, and
// false when s does not start with a digit (positive infinity, RFC 4790
// §9.1.1).
func numericKey(s string) (string, bool) {
	i := 0
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	if i == 0 {
		return "", false
	}
	d := strings.TrimLeft(s[:i], "0")
	return d, true
}

// compare orders a and b under the comparator: negative, zero, positive.
func (c comparator) compare(a, b string) int {
	switch c {
	case cmpOctet:
		return strings.Compare(a, b)
	case cmpNumeric:
		da, oka := numericKey(a)
		db, okb := numericKey(b)
		switch {
		case !oka && !okb:
			return 0
		case !oka:
			return 1
		case !okb:
			return -1
		}
		if len(da) != len(db) {
			if len(da) < len(db) {
				return -1
			}
			return 1
		}
		return strings.Compare(da, db)
	}
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		x, y := foldByte(a[i]), foldByte(b[i])
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return len(a) - len(b)
}

func (c comparator) equal(a, b string) bool {
	switch c {
	case cmpOctet:
		return a == b
	case cmpCasemap:
		if len(a) != len(b) {
			return false
		}
		for i := 0; i < len(a); i++ {
			if a[i] != b[i] && foldByte(a[i]) != foldByte(b[i]) {
				return false
			}
		}
		return true
	}
	return c.compare(a, b) == 0
}

func (c comparator) contains(s, sub string) bool {
	if c == cmpCasemap {
		if len(s) > 4096 {
			// Linear-time search on long values (bodies).
			return strings.Contains(lowerASCII(s), lowerASCII(sub))
		}
		return indexFold(s, sub) >= 0
	}
	return strings.Contains(s, sub)
}

func (r relOp) holds(cmp int) bool {
	switch r {
	case relGT:
		return cmp > 0
	case relGE:
		return cmp >= 0
	case relLT:
		return cmp < 0
	case relLE:
		return cmp <= 0
	case relEQ:
		return cmp == 0
	case relNE:
		return cmp != 0
	}
	return false
}

// globTok is one element of a :matches pattern.
type globTok struct {
	kind byte // 'c' a literal byte, '?' one character, '*' any sequence
	c    byte
}

func compileGlob(p string) []globTok {
	toks := make([]globTok, 0, len(p))
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch c {
		case '\\':
			if i+1 < len(p) {
				i++
				toks = append(toks, globTok{kind: 'c', c: p[i]})
			}
		case '*':
			// Collapse runs of "*": each still yields a (possibly empty)
			// match variable, handled by keeping them as separate tokens.
			toks = append(toks, globTok{kind: '*'})
		case '?':
			toks = append(toks, globTok{kind: '?'})
		default:
			toks = append(toks, globTok{kind: 'c', c: c})
		}
	}
	return toks
}

// glob matches s against the pattern (RFC 5228 §2.7.1). Each "*" takes as
// little as possible except that the last one takes what is left, the
// classic single-backtrack algorithm: time O(len(s)·len(pattern)), never
// exponential. caps, if non-nil, receives one string per wildcard. work
// counts the inner loop iterations; past budget the match gives up and
// reports false with *work > budget.
func glob(s string, toks []globTok, fold bool, caps *[]string, work *int, budget int) bool {
	n, m := len(s), len(toks)
	var start, end []int
	if caps != nil {
		start = make([]int, m)
		end = make([]int, m)
	}
	si, pi := 0, 0
	starP, starS := -1, -1
	iter := 0
	for si < n {
		iter++
		if iter&1023 == 0 && *work+iter > budget {
			*work += iter
			return false
		}
		if pi < m {
			t := toks[pi]
			switch t.kind {
			case '?':
				_, sz := utf8.DecodeRuneInString(s[si:])
				if start != nil {
					start[pi], end[pi] = si, si+sz
				}
				si += sz
				pi++
				continue
			case 'c':
				if s[si] == t.c || fold && foldByte(s[si]) == foldByte(t.c) {
					si++
					pi++
					continue
				}
			case '*':
				if starP >= 0 && end != nil {
					end[starP] = starS
				}
				starP, starS = pi, si
				if start != nil {
					start[pi] = si
				}
				pi++
				continue
			}
		}
		if starP < 0 {
			*work += iter
			return false
		}
		_, sz := utf8.DecodeRuneInString(s[starS:])
		starS += sz
		si = starS
		pi = starP + 1
	}
	*work += iter
	for pi < m && toks[pi].kind == '*' {
		if starP >= 0 && end != nil {
			end[starP] = starS
		}
		starP, starS = pi, n
		if start != nil {
			start[pi] = n
		}
		pi++
	}
	if pi != m {
		return false
	}
	if caps != nil {
		if starP >= 0 {
			end[starP] = starS
		}
		out := (*caps)[:0]
		out = append(out, s)
		for i, t := range toks {
			if t.kind == '*' || t.kind == '?' {
				out = append(out, s[start[i]:end[i]])
			}
		}
		*caps = out
	}
	return true
}

// quoteWildcard escapes the characters :matches treats specially
// (RFC 5229 §4.1.2).
func quoteWildcard(s string) string {
	if !strings.ContainsAny(s, `*?\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '*' || c == '?' || c == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func itoa(n int) string { return strconv.Itoa(n) }

// indexFold is strings.Index with ASCII case folding, without allocating.
func indexFold(s, sub string) int {
	n := len(sub)
	if n == 0 {
		return 0
	}
	first := foldByte(sub[0])
	for i := 0; i+n <= len(s); i++ {
		if foldByte(s[i]) != first {
			continue
		}
		j := 1
		for j < n && foldByte(s[i+j]) == foldByte(sub[j]) {
			j++
		}
		if j == n {
			return i
		}
	}
	return -1
}
