package relay

import (
	"bytes"
	"io"
	"mime"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/emersion/go-message/charset"
	"github.com/emersion/go-message/textproto"
)

// mimeParam is one parameter of a structured header field.
type mimeParam struct{ name, value string }

// maxNamesPerEntity bounds the file names kept for one entity.
const maxNamesPerEntity = 16

// parseMIMEParams splits the value of a Content-Type (RFC 2045 §5.1) or
// Content-Disposition (RFC 2183 §2) field into its first token, lower
// case without white space, and its parameters, with RFC 2231
// continuations joined and extended values decoded (RFC 2231 §3, §4).
// Names are lower case; quoted values are unquoted.
//
// It is lenient, since mail clients are and a check must see what they
// see: repeated parameters are all kept, in order; comments are skipped;
// an unterminated quoted string runs to the end; a parameter without "="
// is skipped. (mime.ParseMediaType instead rejects the whole field for
// any of these, which would hide a file name from a check.)
func parseMIMEParams(v string) (string, []mimeParam) {
	segs := splitParams(v)
	if len(segs) == 0 {
		return "", nil
	}
	first := strings.ToLower(strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
			return -1
		}
		return r
	}, segs[0]))
	var params []mimeParam
	for _, s := range segs[1:] {
		name, value, ok := strings.Cut(s, "=")
		if !ok {
			continue
		}
		name = strings.ToLower(strings.TrimSpace(name))
		if name == "" {
			continue
		}
		params = append(params, mimeParam{name, unquoteParam(strings.TrimSpace(value))})
	}
	return first, joinRFC2231(params)
}

// splitParams splits v at the semicolons outside quoted strings, with
// comments (RFC 5322 §3.2.2) removed.
func splitParams(v string) []string {
	var segs []string
	var b strings.Builder
	quoted, comment := false, 0
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case quoted:
			b.WriteByte(c)
			if c == '\\' && i+1 < len(v) {
				i++
				b.WriteByte(v[i])
			} else if c == '"' {
				quoted = false
			}
		case comment > 0:
			switch c {
			case '\\':
				i++
			case '(':
				comment++
			case ')':
				comment--
			}
		case c == '"':
			quoted = true
			b.WriteByte(c)
		case c == '(':
			comment = 1
		case c == ';':
			segs = append(segs, b.String())
			b.Reset()
		default:
			b.WriteByte(c)
		}
	}
	return append(segs, b.String())
}

// unquoteParam returns the content of a quoted string (RFC 5322 §3.2.4),
// or s itself if it is not quoted.
func unquoteParam(s string) string {
	if !strings.HasPrefix(s, `"`) {
		return s
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s):
			i++
			b.WriteByte(s[i])
		case c == '"':
			return b.String()
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// rfc2231Section is one section of a continued parameter (RFC 2231 §3).
type rfc2231Section struct {
	n        int
	extended bool
	value    string
}

// joinRFC2231 replaces the sections of each continued or extended
// parameter ("name*0*=", "name*1=", "name*=") by one parameter with the
// decoded value, where the first of its sections was; other parameters
// are kept as they are.
func joinRFC2231(params []mimeParam) []mimeParam {
	sections := make(map[string][]rfc2231Section)
	var out []mimeParam
	for _, p := range params {
		base, sec, ok := parseSectionName(p.name)
		if !ok {
			out = append(out, p)
			continue
		}
		if _, seen := sections[base]; !seen {
			out = append(out, mimeParam{name: base + "*"}) // placeholder
		}
		if len(sections[base]) < 100 {
			sec.value = p.value
			sections[base] = append(sections[base], sec)
		}
	}
	for i, p := range out {
		base, isPlaceholder := strings.CutSuffix(p.name, "*")
		if !isPlaceholder || p.value != "" || sections[base] == nil {
			continue
		}
		out[i] = mimeParam{base, decodeRFC2231(sections[base])}
		sections[base] = nil
	}
	return out
}

// parseSectionName parses "name*", "name*N" and "name*N*".
func parseSectionName(name string) (string, rfc2231Section, bool) {
	i := strings.IndexByte(name, '*')
	if i <= 0 {
		return "", rfc2231Section{}, false
	}
	base, rest := name[:i], name[i+1:]
	if rest == "" {
		return base, rfc2231Section{extended: true}, true
	}
	ext := strings.HasSuffix(rest, "*")
	rest = strings.TrimSuffix(rest, "*")
	n, err := strconv.Atoi(rest)
	if err != nil || n < 0 || n > 999 || rest[0] == '+' {
		return "", rfc2231Section{}, false
	}
	return base, rfc2231Section{n: n, extended: ext}, true
}

// decodeRFC2231 joins sections in order of their numbers and decodes the
// extended ones: percent-encoded octets in the charset the first extended
// section names ("charset'language'value", RFC 2231 §4).
func decodeRFC2231(secs []rfc2231Section) string {
	sort.SliceStable(secs, func(i, j int) bool { return secs[i].n < secs[j].n })
	var b []byte
	cs := ""
	for i, s := range secs {
		v := s.value
		if s.extended {
			if i == 0 {
				if c, rest, ok := strings.Cut(v, "'"); ok {
					if _, val, ok := strings.Cut(rest, "'"); ok {
						cs, v = c, val
					}
				}
			}
			b = append(b, percentDecode(v)...)
		} else {
			b = append(b, v...)
		}
	}
	return decodeCharset(cs, b)
}

// percentDecode decodes %XX escapes; a malformed one is kept as it is.
func percentDecode(s string) []byte {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			if h, ok1 := unhex(s[i+1]); ok1 {
				if l, ok2 := unhex(s[i+2]); ok2 {
					b = append(b, h<<4|l)
					i += 2
					continue
				}
			}
		}
		b = append(b, s[i])
	}
	return b
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// firstParams returns a map of the first value of each parameter.
func firstParams(params []mimeParam) map[string]string {
	m := make(map[string]string, len(params))
	for _, p := range params {
		if _, ok := m[p.name]; !ok {
			m[p.name] = p.value
		}
	}
	return m
}

// entityNames returns the file names an entity's header gives: the
// filename and name parameters of every Content-Disposition and
// Content-Type field (RFC 2183 §2.3; RFC 2046 §4.5.1 for the name
// parameter older clients use), with RFC 2231 and RFC 2047 encodings
// decoded (encoded-words in parameters are not standard, RFC 2047 §5, but
// common), without duplicates, at most maxNamesPerEntity.
func entityNames(h textproto.Header) []string {
	var names []string
	for _, field := range [...]string{"Content-Disposition", "Content-Type"} {
		for _, v := range h.Values(field) {
			_, params := parseMIMEParams(v)
			for _, p := range params {
				if p.name != "filename" && p.name != "name" {
					continue
				}
				n := decodeWords(p.value)
				if n != "" && !slices.Contains(names, n) && len(names) < maxNamesPerEntity {
					names = append(names, n)
				}
			}
		}
	}
	return names
}

// decodeWords decodes RFC 2047 encoded-words in s; s is returned as it is
// if it has none or they do not decode.
func decodeWords(s string) string {
	if !strings.Contains(s, "=?") {
		return s
	}
	d := mime.WordDecoder{CharsetReader: charsetReader}
	out, err := d.DecodeHeader(s)
	if err != nil {
		return s
	}
	return out
}

// charsetReader converts from a charset to UTF-8 with go-message's
// charset tables (RFC 2046 §4.1.2, IANA names and aliases).
func charsetReader(cs string, r io.Reader) (io.Reader, error) {
	switch strings.ToLower(cs) {
	case "", "utf-8", "utf8", "us-ascii", "ascii":
		return r, nil
	}
	return charset.Reader(cs, r)
}

// charsetText returns r converted from cs to UTF-8, or r itself when cs
// is not known.
func charsetText(cs string, r io.Reader) io.Reader {
	if c, err := charsetReader(cs, r); err == nil {
		return c
	}
	return r
}

// decodeCharset converts b from cs to UTF-8; unknown charsets and invalid
// input leave the octets as they are.
func decodeCharset(cs string, b []byte) string {
	r, err := charsetReader(cs, bytes.NewReader(b))
	if err != nil {
		return string(b)
	}
	out, err := io.ReadAll(io.LimitReader(r, int64(4*len(b)+16)))
	if err != nil {
		return string(b)
	}
	return string(out)
}
