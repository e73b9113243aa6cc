package sieve

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// decodeEncoded replaces the encoded characters of RFC 5228 §2.4.2.4,
// "${hex:...}" and "${unicode:...}", in s. A sequence that does not parse
// is left as it is; a Unicode value outside the scalar range is an error.
func decodeEncoded(s string) (string, string) {
	if !strings.Contains(s, "${") {
		return s, ""
	}
	var b strings.Builder
	i := 0
	for i < len(s) {
		j := strings.Index(s[i:], "${")
		if j < 0 {
			b.WriteString(s[i:])
			break
		}
		b.WriteString(s[i : i+j])
		i += j
		rest := s[i+2:]
		end := strings.IndexByte(rest, '}')
		colon := strings.IndexByte(rest, ':')
		if end < 0 || colon < 0 || colon > end {
			b.WriteString("${")
			i += 2
			continue
		}
		kind := strings.ToLower(rest[:colon])
		body := rest[colon+1 : end]
		var out string
		var ok bool
		var errMsg string
		switch kind {
		case "hex":
			out, ok = decodeHexSeq(body)
		case "unicode":
			out, ok, errMsg = decodeUnicodeSeq(body)
		}
		if errMsg != "" {
			return "", errMsg
		}
		if !ok {
			b.WriteString("${")
			i += 2
			continue
		}
		b.WriteString(out)
		i += 2 + end + 1
	}
	return b.String(), ""
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// fields splits an encoded-character body at blanks (RFC 5228 §2.4.2.4:
// hex-pair-seq = *blank hex-pair *(1*blank hex-pair) *blank).
func blankFields(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r < 0x80 && isBlank(byte(r)) })
}

func decodeHexSeq(s string) (string, bool) {
	var b []byte
	for _, f := range blankFields(s) {
		if len(f)%2 != 0 {
			return "", false
		}
		for k := 0; k < len(f); k += 2 {
			v, err := strconv.ParseUint(f[k:k+2], 16, 8)
			if err != nil {
				return "", false
			}
			b = append(b, byte(v))
		}
	}
	return string(b), true
}

func decodeUnicodeSeq(s string) (string, bool, string) {
	var b strings.Builder
	for _, f := range blankFields(s) {
		if len(f) > 8 {
			// Allow leading zeros up to a sane length.
			t := strings.TrimLeft(f, "0")
			if len(t) > 6 {
				return "", false, "invalid unicode character in encoded-character string"
			}
		}
		v, err := strconv.ParseUint(f, 16, 64)
		if err != nil {
			return "", false, ""
		}
		if v > 0x10FFFF || v >= 0xD800 && v <= 0xDFFF {
			return "", false, "invalid unicode character " + f + " in encoded-character string"
		}
		b.WriteRune(rune(v))
	}
	return b.String(), true, ""
}

// parseTemplate splits s into literal text and variable references
// (RFC 5229 §3). References with a syntax error stay literal text.
// ok is false when a reference names a namespace other than "global"
// (which is only known with include) .
func parseTemplate(s string, globalNS bool) []tplPart {
	if !strings.Contains(s, "${") {
		return nil
	}
	var parts []tplPart
	var lit strings.Builder
	found := false
	i := 0
	for i < len(s) {
		j := strings.Index(s[i:], "${")
		if j < 0 {
			lit.WriteString(s[i:])
			break
		}
		lit.WriteString(s[i : i+j])
		i += j
		end := strings.IndexByte(s[i+2:], '}')
		if end < 0 {
			lit.WriteString(s[i:])
			break
		}
		ref := s[i+2 : i+2+end]
		p, ok := parseVarRef(ref, globalNS)
		if !ok {
			lit.WriteByte('$')
			i++
			continue
		}
		found = true
		if lit.Len() > 0 {
			parts = append(parts, tplPart{kind: tplLit, lit: lit.String()})
			lit.Reset()
		}
		parts = append(parts, p)
		i += 2 + end + 1
	}
	if !found {
		return nil
	}
	if lit.Len() > 0 {
		parts = append(parts, tplPart{kind: tplLit, lit: lit.String()})
	}
	return parts
}

func isIdentifier(s string) bool {
	if s == "" || !isAlpha(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isAlpha(s[i]) && !isDigit(s[i]) {
			return false
		}
	}
	return true
}

func isNumeric(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// maxMatchIndex is the largest match variable kept (RFC 5229 §3.2 asks for
// at least ${9}).
const maxMatchIndex = 32

func parseVarRef(ref string, globalNS bool) (tplPart, bool) {
	if isNumeric(ref) {
		n, err := strconv.Atoi(strings.TrimLeft(ref, "0") + "0")
		if err != nil || len(ref) > 6 {
			return tplPart{kind: tplMatch, idx: maxMatchIndex + 1}, true
		}
		return tplPart{kind: tplMatch, idx: n / 10}, true
	}
	if isIdentifier(ref) {
		return tplPart{kind: tplLocal, lit: strings.ToLower(ref)}, true
	}
	dot := strings.IndexByte(ref, '.')
	if dot > 0 && isIdentifier(ref[:dot]) {
		ns := strings.ToLower(ref[:dot])
		name := ref[dot+1:]
		if ns == "global" && globalNS && isIdentifier(name) {
			return tplPart{kind: tplGlobal, lit: strings.ToLower(name)}, true
		}
		// A reference into an unknown namespace expands to nothing, as
		// Pigeonhole does (it warns).
		valid := true
		for _, f := range strings.Split(name, ".") {
			if !isIdentifier(f) {
				valid = false
			}
		}
		if valid {
			return tplPart{kind: tplLit}, true
		}
	}
	return tplPart{}, false
}

// truncateUTF8 cuts s to at most n bytes without splitting a character.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
