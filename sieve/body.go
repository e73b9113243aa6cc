package sieve

import (
	"bytes"
	"encoding/base64"
	"html"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"regexp"
	"strings"
)

// The body test (RFC 5173).

// bodyParts returns the decoded leaf parts of the message, parsing them on
// first use.
func (m *Message) bodyParts() []bodyPart {
	m.partsOnce.Do(func() {
		m.parse()
		var parts []bodyPart
		walkPart(m.header, m.raw[m.bodyOff:], "text/plain", 0, &parts)
		m.parts = parts
	})
	return m.parts
}

func partType(h Header, def string) (string, map[string]string) {
	v := h.Values("Content-Type")
	if len(v) == 0 {
		return def, nil
	}
	t, params, err := mime.ParseMediaType(v[0])
	if err != nil {
		// Keep what can be read of the type itself.
		t = strings.ToLower(strings.TrimSpace(strings.SplitN(v[0], ";", 2)[0]))
		if !strings.Contains(t, "/") {
			return def, nil
		}
	}
	return t, params
}

func walkPart(h Header, body []byte, def string, depth int, out *[]bodyPart) {
	if len(*out) >= maxMIMEParts {
		return
	}
	ct, params := partType(h, def)
	if strings.HasPrefix(ct, "multipart/") && depth < maxMIMEDepth && params["boundary"] != "" {
		childDef := "text/plain"
		if ct == "multipart/digest" {
			childDef = "message/rfc822"
		}
		// RFC 5173 §5.2: a multipart part's own text is its prologue and
		// epilogue.
		*out = append(*out, bodyPart{ctype: ct, text: prologueEpilogue(body, params["boundary"])})
		mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
		for len(*out) < maxMIMEParts {
			p, err := mr.NextRawPart()
			if err != nil {
				break
			}
			var ph Header
			for k, vs := range p.Header {
				for _, v := range vs {
					ph = append(ph, HeaderField{Name: k, Value: " " + v})
				}
			}
			pb, err := io.ReadAll(io.LimitReader(p, 64<<20))
			if err != nil && len(pb) == 0 {
				break
			}
			walkPart(ph, pb, childDef, depth+1, out)
		}
		return
	}
	if ct == "message/rfc822" && depth < maxMIMEDepth {
		// RFC 5173 §5.2: an attached message's own text is its header;
		// its body is searched as parts of its own.
		eh, off := parseHeader(body)
		*out = append(*out, bodyPart{ctype: ct, text: string(body[:off])})
		walkPart(eh, body[off:], "text/plain", depth+1, out)
		return
	}
	data := decodeTransfer(h, body)
	text := string(data)
	if strings.HasPrefix(ct, "text/") {
		cs := params["charset"]
		if r, err := charsetReader(cs, bytes.NewReader(data)); err == nil {
			if d, err := io.ReadAll(r); err == nil {
				text = string(d)
			}
		}
	}
	*out = append(*out, bodyPart{ctype: ct, text: text})
}

func decodeTransfer(h Header, body []byte) []byte {
	cte := ""
	if v := h.Values("Content-Transfer-Encoding"); len(v) > 0 {
		cte = strings.ToLower(strings.TrimSpace(v[0]))
	}
	switch cte {
	case "quoted-printable":
		d, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(body)))
		if err == nil || len(d) > 0 {
			return d
		}
	case "base64":
		clean := bytes.Map(func(r rune) rune {
			if r == '\r' || r == '\n' || r == ' ' || r == '\t' {
				return -1
			}
			return r
		}, body)
		clean = bytes.TrimRight(clean, "=")
		d, err := base64.RawStdEncoding.DecodeString(string(clean))
		if err == nil {
			return d
		}
	}
	return body
}

// typeMatches reports whether a part of content type ct is selected by a
// :content type (RFC 5173 §5.2): "" selects all, "type" a top-level type,
// "type/subtype" exactly.
func typeMatches(ct, want string) bool {
	want = strings.ToLower(strings.TrimSpace(want))
	if want == "" {
		return true
	}
	if strings.Contains(want, "/") {
		return ct == want
	}
	top, _, _ := strings.Cut(ct, "/")
	return top == want
}

var htmlTag = regexp.MustCompile(`(?s)<!--.*?-->|<(?i:script|style)\b.*?</(?i:script|style)\s*>|<[^>]*>`)

// htmlToText strips markup from an HTML part for :text.
func htmlToText(s string) string {
	s = htmlTag.ReplaceAllString(s, " ")
	return html.UnescapeString(s)
}

// bodyValues returns the strings a body test compares its keys against.
func (m *Message) bodyValues(tr bodyTransform, types []string) []string {
	switch tr {
	case btRaw:
		return []string{string(m.Body())}
	case btContent:
		var out []string
		for _, p := range m.bodyParts() {
			for _, t := range types {
				if typeMatches(p.ctype, t) {
					out = append(out, p.text)
					break
				}
			}
		}
		return out
	}
	// :text: the text parts, HTML turned into text.
	var out []string
	for _, p := range m.bodyParts() {
		switch {
		case p.ctype == "text/html":
			out = append(out, htmlToText(p.text))
		case strings.HasPrefix(p.ctype, "text/"):
			out = append(out, p.text)
		}
	}
	return out
}

// prologueEpilogue returns the text of a multipart body outside its parts.
func prologueEpilogue(body []byte, boundary string) string {
	delim := []byte("--" + boundary)
	var pro, epi []byte
	first := -1
	for off := 0; off <= len(body); {
		if bytes.HasPrefix(body[off:], delim) {
			first = off
			break
		}
		i := bytes.IndexByte(body[off:], '\n')
		if i < 0 {
			break
		}
		off += i + 1
	}
	if first < 0 {
		return string(body)
	}
	pro = body[:first]
	if i := bytes.LastIndex(body, append(delim, '-', '-')); i >= 0 {
		rest := body[i+len(delim)+2:]
		if j := bytes.IndexByte(rest, '\n'); j >= 0 {
			epi = rest[j+1:]
		}
	}
	pro = bytes.TrimRight(pro, "\r\n")
	return string(pro) + string(epi)
}
