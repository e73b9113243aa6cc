package mailbox_test

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/postyard/postyard/mailbox"
)

func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

func parse(t *testing.T, raw string, opts *mailbox.ParseOptions) *mailbox.Metadata {
	t.Helper()
	m, err := mailbox.Parse(strings.NewReader(raw), opts)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	checkOffsets(t, m, int64(len(raw)))
	return m
}

// checkOffsets checks the invariants of part offsets.
func checkOffsets(t testing.TB, m *mailbox.Metadata, size int64) {
	t.Helper()
	if m.Body.HeaderOffset != 0 || m.Body.End != size {
		t.Fatalf("root offsets %d..%d, size %d", m.Body.HeaderOffset, m.Body.End, size)
	}
	var check func(p *mailbox.Part, lo, hi int64)
	check = func(p *mailbox.Part, lo, hi int64) {
		if p.HeaderOffset < lo || p.HeaderOffset > p.BodyOffset || p.BodyOffset > p.End || p.End > hi || p.Size != p.End-p.BodyOffset || p.Lines < 0 {
			t.Fatalf("part %s/%s offsets %d %d %d size %d lines %d outside %d..%d", p.Type, p.Subtype, p.HeaderOffset, p.BodyOffset, p.End, p.Size, p.Lines, lo, hi)
		}
		if p.Type == "multipart" && len(p.Parts) == 0 {
			t.Fatalf("multipart without parts")
		}
		prev := p.BodyOffset
		for _, c := range p.Parts {
			check(c, prev, p.End)
			prev = c.End
		}
		if p.Message != nil {
			check(p.Message, p.BodyOffset, p.End)
		}
	}
	check(m.Body, 0, size)
}

func TestParseStructure(t *testing.T) {
	raw := crlf(`From: "Alice A." <alice@example.com>
Subject: =?utf-8?q?caf=C3=A9?= time
Content-Type: multipart/mixed; boundary="b1"

preamble
--b1
Content-Type: text/plain; charset=utf-8

hello
world
--b1
Content-Type: message/rfc822

Subject: inner
Content-Type: multipart/alternative; boundary=b2

--b2

inner text
--b2
Content-Type: text/html

<p>x</p>

--b2--
--b1
Content-Type: application/octet-stream
Content-Transfer-Encoding: base64
Content-Disposition: attachment; filename="a b.bin"
Content-Language: en, de
Content-ID: <id@x>
Content-Description: some data

AAAA
--b1--
epilogue
`)
	m := parse(t, raw, nil)
	type row struct {
		section string
		typ     string
		body    string
		lines   int64
	}
	var got []row
	m.Body.Walk(func(sec []int, p *mailbox.Part) bool {
		s := strings.Trim(strings.Join(strings.Fields(fmt.Sprint(sec)), "."), "[]")
		got = append(got, row{s, p.Type + "/" + p.Subtype, raw[p.BodyOffset:p.End], p.Lines})
		return true
	})
	want := []string{"", "1", "2", "2.1", "2.2", "3"}
	for i, r := range got {
		if i >= len(want) || r.section != want[i] {
			t.Fatalf("sections %+v", got)
		}
	}
	for _, c := range []struct {
		i     int
		typ   string
		body  string
		lines int64
	}{
		{1, "text/plain", "hello\r\nworld", 2},
		{3, "text/plain", "inner text", 1},
		{4, "text/html", "<p>x</p>\r\n", 1},
		{5, "application/octet-stream", "AAAA", 1},
	} {
		if r := got[c.i]; r.typ != c.typ || r.body != c.body || r.lines != c.lines {
			t.Errorf("section %s = %s %q %d lines, want %s %q %d", r.section, r.typ, r.body, r.lines, c.typ, c.body, c.lines)
		}
	}
	msg := m.Body.Parts[1]
	if msg.Envelope == nil || msg.Envelope.Subject != "inner" || msg.Message == nil || msg.Message.Subtype != "alternative" {
		t.Fatalf("message/rfc822 part: %+v", msg)
	}
	if got := raw[msg.Message.HeaderOffset:msg.Message.BodyOffset]; !strings.HasPrefix(got, "Subject: inner\r\n") || !strings.HasSuffix(got, "\r\n\r\n") {
		t.Errorf("encapsulated header %q", got)
	}
	att := m.Body.Parts[2]
	if att.Encoding != "BASE64" || att.Disposition != "attachment" || !slices.Equal(att.DispositionParams, []mailbox.Param{{Name: "filename", Value: "a b.bin"}}) ||
		!slices.Equal(att.Language, []string{"en", "de"}) || att.ID != "<id@x>" || att.Description != "some data" {
		t.Errorf("attachment %+v", att)
	}
	if p := m.Body.Parts[0]; !slices.Equal(p.Params, []mailbox.Param{{Name: "charset", Value: "utf-8"}}) || p.Encoding != "7BIT" {
		t.Errorf("text part %+v", p)
	}
	if !slices.Equal(m.Header("subject"), []string{"café time"}) || m.Envelope.Subject != "=?utf-8?q?caf=C3=A9?= time" {
		t.Errorf("subject %q, envelope %q", m.Header("subject"), m.Envelope.Subject)
	}
	if got := raw[m.Body.HeaderOffset:m.Body.BodyOffset]; !strings.HasSuffix(got, "\"b1\"\r\n\r\n") {
		t.Errorf("root header %q", got)
	}
}

func TestParseEdgeCases(t *testing.T) {
	for _, c := range []struct {
		name  string
		raw   string
		check func(t *testing.T, raw string, m *mailbox.Metadata)
	}{
		{"empty", "", func(t *testing.T, raw string, m *mailbox.Metadata) {
			if m.Body.Type != "text" || m.Body.Size != 0 || m.Body.Lines != 0 {
				t.Errorf("%+v", m.Body)
			}
		}},
		{"header only", "Subject: x\r\n", func(t *testing.T, raw string, m *mailbox.Metadata) {
			if m.Body.BodyOffset != int64(len(raw)) || m.Envelope.Subject != "x" {
				t.Errorf("%+v", m.Body)
			}
		}},
		{"no header", "\r\nbody\r\nmore", func(t *testing.T, raw string, m *mailbox.Metadata) {
			if m.Body.BodyOffset != 2 || m.Body.Lines != 2 || !slices.Equal(m.Body.Params, []mailbox.Param{{Name: "charset", Value: "us-ascii"}}) {
				t.Errorf("%+v", m.Body)
			}
		}},
		{"LF only", "Subject: lf\n\nline1\nline2\n", func(t *testing.T, raw string, m *mailbox.Metadata) {
			if m.Body.BodyOffset != 13 || m.Body.Lines != 2 || m.Envelope.Subject != "lf" {
				t.Errorf("%+v", m.Body)
			}
		}},
		{"garbage header line", "Subject: a\r\nthis is not a field\r\nTo: b@c\r\n\r\nx", func(t *testing.T, raw string, m *mailbox.Metadata) {
			if m.Envelope.Subject != "a" || len(m.Envelope.To) != 1 || m.Body.Size != 1 {
				t.Errorf("%+v %+v", m.Envelope, m.Body)
			}
		}},
		{"folded header", "Subject: a\r\n  b\r\n\tc\r\n\r\n", func(t *testing.T, raw string, m *mailbox.Metadata) {
			if m.Envelope.Subject != "a b c" {
				t.Errorf("subject %q", m.Envelope.Subject)
			}
		}},
		{"multipart without boundary", "Content-Type: multipart/mixed\r\n\r\n--x\r\nbody\r\n", func(t *testing.T, raw string, m *mailbox.Metadata) {
			if m.Body.Type != "text" || len(m.Body.Parts) != 0 || m.Body.Lines != 2 {
				t.Errorf("%+v", m.Body)
			}
		}},
		{"multipart without delimiter", "Content-Type: multipart/mixed; boundary=q\r\n\r\njust text\r\n", func(t *testing.T, raw string, m *mailbox.Metadata) {
			if m.Body.Type != "text" || m.Body.Subtype != "plain" || m.Body.Lines != 1 {
				t.Errorf("%+v", m.Body)
			}
		}},
		{"missing close delimiter", "Content-Type: multipart/mixed; boundary=q\r\n\r\n--q\r\n\r\nA\r\n--q\r\n\r\nB\r\n", func(t *testing.T, raw string, m *mailbox.Metadata) {
			if len(m.Body.Parts) != 2 || raw[m.Body.Parts[1].BodyOffset:m.Body.Parts[1].End] != "B\r\n" {
				t.Errorf("%+v", m.Body.Parts)
			}
		}},
		{"outer delimiter closes inner", "Content-Type: multipart/mixed; boundary=o\r\n\r\n--o\r\nContent-Type: multipart/mixed; boundary=i\r\n\r\n--i\r\n\r\nA\r\n--o\r\n\r\nB\r\n--o--\r\n", func(t *testing.T, raw string, m *mailbox.Metadata) {
			if len(m.Body.Parts) != 2 || len(m.Body.Parts[0].Parts) != 1 || raw[m.Body.Parts[1].BodyOffset:m.Body.Parts[1].End] != "B" {
				t.Errorf("%+v", m.Body.Parts)
			}
		}},
		{"delimiter lookalikes", "Content-Type: multipart/mixed; boundary=q\r\n\r\n--q\r\n\r\n--qq\r\n--q x\r\n-- q\r\n--q--\r\n", func(t *testing.T, raw string, m *mailbox.Metadata) {
			if len(m.Body.Parts) != 1 || m.Body.Parts[0].Lines != 3 {
				t.Errorf("%+v", m.Body.Parts)
			}
		}},
		{"transport padding", "Content-Type: multipart/mixed; boundary=q\r\n\r\n--q \t\r\n\r\nA\r\n--q-- \r\n", func(t *testing.T, raw string, m *mailbox.Metadata) {
			if len(m.Body.Parts) != 1 || raw[m.Body.Parts[0].BodyOffset:m.Body.Parts[0].End] != "A" {
				t.Errorf("%+v", m.Body.Parts)
			}
		}},
		{"part without header end", "Content-Type: multipart/mixed; boundary=q\r\n\r\n--q\r\nContent-Type: text/html\r\n--q--\r\n", func(t *testing.T, raw string, m *mailbox.Metadata) {
			if len(m.Body.Parts) != 1 || m.Body.Parts[0].Subtype != "html" || m.Body.Parts[0].Size != 0 {
				t.Errorf("%+v", m.Body.Parts)
			}
		}},
		{"digest", "Content-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n\r\nSubject: in digest\r\n\r\nbody\r\n--d--\r\n", func(t *testing.T, raw string, m *mailbox.Metadata) {
			p := m.Body.Parts[0]
			if p.Type != "message" || p.Subtype != "rfc822" || p.Envelope == nil || p.Envelope.Subject != "in digest" {
				t.Errorf("%+v", p)
			}
		}},
		{"encoded message/rfc822 is opaque", "Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\nU3ViamVjdDogeA==\r\n", func(t *testing.T, raw string, m *mailbox.Metadata) {
			if m.Body.Message != nil || m.Body.Envelope != nil || m.Body.Lines != 1 {
				t.Errorf("%+v", m.Body)
			}
		}},
		{"bad content type", "Content-Type: text\r\n\r\nx", func(t *testing.T, raw string, m *mailbox.Metadata) {
			if m.Body.Type != "text" || m.Body.Subtype != "plain" {
				t.Errorf("%+v", m.Body)
			}
		}},
		{"RFC 2231 parameter", "Content-Type: application/x; name*0=\"a\"; name*1=\"b\"; NAME2*=utf-8''%C3%A9\r\n\r\n", func(t *testing.T, raw string, m *mailbox.Metadata) {
			if !slices.Equal(m.Body.Params, []mailbox.Param{{Name: "name", Value: "ab"}, {Name: "name2", Value: "é"}}) {
				t.Errorf("%+v", m.Body.Params)
			}
		}},
		{"long lines", "Subject: long\r\n\r\n" + strings.Repeat("x", 100000) + "\r\n" + strings.Repeat("y", 40000), func(t *testing.T, raw string, m *mailbox.Metadata) {
			if m.Body.Lines != 2 || m.Body.End != int64(len(raw)) {
				t.Errorf("%+v", m.Body)
			}
		}},
		{"CR split across buffer", "Subject: s\r\n\r\n" + strings.Repeat("x", 16<<10-15) + "\r\nnext\r\n", func(t *testing.T, raw string, m *mailbox.Metadata) {
			if m.Body.Lines != 2 {
				t.Errorf("%+v", m.Body)
			}
		}},
		{"date", "Date: Mon, 2 Jan 2006 15:04:05 -0700 (MST)\r\n\r\n", func(t *testing.T, raw string, m *mailbox.Metadata) {
			if m.Date.Unix() != 1136239445 || m.Envelope.Date != "Mon, 2 Jan 2006 15:04:05 -0700 (MST)" {
				t.Errorf("date %v %q", m.Date, m.Envelope.Date)
			}
		}},
		{"unknown charset left encoded", "Subject: =?x-unknown?q?abc?=\r\n\r\n", func(t *testing.T, raw string, m *mailbox.Metadata) {
			if m.Header("Subject")[0] != "=?x-unknown?q?abc?=" {
				t.Errorf("%q", m.Header("Subject"))
			}
		}},
		{"legacy charset decoded", "Subject: =?windows-1252?q?=80uro?= =?koi8-r?b?8NLJ18XU?=\r\n\r\n", func(t *testing.T, raw string, m *mailbox.Metadata) {
			if m.Header("Subject")[0] != "€uroПривет" {
				t.Errorf("%q", m.Header("Subject"))
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.check(t, c.raw, parse(t, c.raw, nil))
		})
	}
}

func TestParseLimits(t *testing.T) {
	// Nesting deeper than MaxDepth is reported as opaque leaves.
	var b strings.Builder
	const depth = 50
	for i := range depth {
		fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n", i, i)
	}
	b.WriteString("\r\nleaf\r\n")
	for i := depth - 1; i >= 0; i-- {
		fmt.Fprintf(&b, "--b%d--\r\n", i)
	}
	m := parse(t, b.String(), &mailbox.ParseOptions{MaxDepth: 5})
	levels := 0
	for p := m.Body; len(p.Parts) > 0; p = p.Parts[0] {
		levels++
	}
	if levels != 5 {
		t.Errorf("%d multipart levels parsed, want 5", levels)
	}
	parse(t, b.String(), nil)

	// Parts beyond MaxParts are skipped.
	b.Reset()
	b.WriteString("Content-Type: multipart/mixed; boundary=p\r\n\r\n")
	for i := range 100 {
		fmt.Fprintf(&b, "--p\r\n\r\npart %d\r\n", i)
	}
	b.WriteString("--p--\r\n")
	m = parse(t, b.String(), &mailbox.ParseOptions{MaxParts: 10})
	if n := len(m.Body.Parts); n != 9 {
		t.Errorf("%d parts, want 9 (the root counts)", n)
	}
	if n := len(parse(t, b.String(), &mailbox.ParseOptions{MaxParts: -1}).Body.Parts); n != 100 {
		t.Errorf("%d parts without limit", n)
	}

	// A header beyond MaxHeaderSize is cut at a line, and the body found.
	raw := "Subject: kept\r\n" + strings.Repeat("X-Pad: "+strings.Repeat("p", 90)+"\r\n", 100) + "To: lost@example.com\r\n\r\nbody"
	m = parse(t, raw, &mailbox.ParseOptions{MaxHeaderSize: 1000})
	if m.Envelope.Subject != "kept" || len(m.Envelope.To) != 0 || raw[m.Body.BodyOffset:] != "body" {
		t.Errorf("truncated header: %+v, body at %d", m.Envelope, m.Body.BodyOffset)
	}
}

func TestParseReaderError(t *testing.T) {
	r := iotest.TimeoutReader(strings.NewReader(strings.Repeat("Subject: x\r\n", 10000)))
	if _, err := mailbox.Parse(r, nil); err != iotest.ErrTimeout {
		t.Errorf("error %v, want the reader's", err)
	}
	// One byte at a time gives the same result as all at once.
	raw := crlf("Content-Type: multipart/mixed; boundary=z\n\n--z\n\na\n--z\nContent-Type: message/rfc822\n\nSubject: s\n\nb\n--z--\n")
	m1 := parse(t, raw, nil)
	m2, err := mailbox.Parse(iotest.OneByteReader(strings.NewReader(raw)), nil)
	if err != nil {
		t.Fatal(err)
	}
	var s1, s2 bytes.Buffer
	fmt.Fprintf(&s1, "%+v", dump(m1.Body))
	fmt.Fprintf(&s2, "%+v", dump(m2.Body))
	if s1.String() != s2.String() {
		t.Errorf("one byte at a time:\n%s\nall at once:\n%s", &s2, &s1)
	}
}

func dump(p *mailbox.Part) []string {
	var out []string
	p.Walk(func(sec []int, p *mailbox.Part) bool {
		out = append(out, fmt.Sprint(sec, p.Type, p.Subtype, p.HeaderOffset, p.BodyOffset, p.End, p.Lines))
		return true
	})
	return out
}

func TestEnvelopeAddresses(t *testing.T) {
	raw := crlf(`From: "Doe, John" <john@example.com>
To: bob@example.com (Bob Smith), undisclosed-recipients:;, Team: c@x.org, "Q" <d@y.org>;
Cc: <@route.example,@b.example:e@z.org>, =?utf-8?q?J=C3=B6rg?= <j@x.de>, "esc\"aped" <f@g>
Bcc: broken@, no-at-sign, "unterminated <x@y>
Reply-To:
In-Reply-To: <a@b>
Message-ID: <m@b>

`)
	e := parse(t, raw, nil).Envelope
	a := func(name, mbox, host string) mailbox.Address {
		return mailbox.Address{Name: name, Mailbox: mbox, Host: host}
	}
	for _, c := range []struct {
		field string
		got   []mailbox.Address
		want  []mailbox.Address
	}{
		{"From", e.From, []mailbox.Address{a("Doe, John", "john", "example.com")}},
		{"Sender", e.Sender, e.From},
		{"ReplyTo", e.ReplyTo, e.From},
		{"To", e.To, []mailbox.Address{
			a("Bob Smith", "bob", "example.com"),
			{GroupStart: true, Mailbox: "undisclosed-recipients"}, {GroupEnd: true},
			{GroupStart: true, Mailbox: "Team"}, a("", "c", "x.org"), a("Q", "d", "y.org"), {GroupEnd: true},
		}},
		{"Cc", e.Cc, []mailbox.Address{a("", "e", "z.org"), a("=?utf-8?q?J=C3=B6rg?=", "j", "x.de"), a(`esc"aped`, "f", "g")}},
		{"Bcc", e.Bcc, []mailbox.Address{a("", "broken", ""), a("", "no-at-sign", ""), a("", `unterminated <x`, "y>")}},
	} {
		if !slices.Equal(c.got, c.want) {
			t.Errorf("%s = %+v\nwant %+v", c.field, c.got, c.want)
		}
	}
	if e.InReplyTo != "<a@b>" || e.MessageID != "<m@b>" {
		t.Errorf("ids %q %q", e.InReplyTo, e.MessageID)
	}
}

func TestCachedFields(t *testing.T) {
	m := parse(t, "subject: A\r\nTO: x@y\r\nX-Other: no\r\nReferences: <1@x>\r\n <2@x>\r\n\r\n", nil)
	if !slices.Equal(m.Header("To"), []string{"x@y"}) || m.Header("X-Other") != nil || !slices.Equal(m.Header("references"), []string{"<1@x> <2@x>"}) {
		t.Errorf("fields %+v", m.Fields)
	}
	if !mailbox.IsCachedField("message-id") || mailbox.IsCachedField("X-Other") {
		t.Error("IsCachedField")
	}
}

// BenchmarkParse parses a 4 KiB multipart/alternative message, what a
// delivery parses once (three header blocks: the message's and its two
// parts').
func BenchmarkParse(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("Received: from mx1.example.org by mx.example.com; Mon, 2 Jan 2006 15:04:05 -0700\r\n" +
		"From: Sender <sender@example.org>\r\nTo: bench@example.com, Other <other@example.net>\r\n" +
		"Subject: topic-07 message number 7\r\nDate: Mon, 2 Jan 2006 15:04:05 -0700\r\n" +
		"Message-ID: <7.bench@example.org>\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/alternative; boundary=\"b1\"\r\n\r\n" +
		"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
	line := strings.Repeat("lorem ipsum dolor sit amet ", 2) + "\r\n"
	for sb.Len() < 2600 {
		sb.WriteString(line)
	}
	sb.WriteString("--b1\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n<p>")
	for sb.Len() < 4000 {
		sb.WriteString(line)
	}
	sb.WriteString("</p>\r\n--b1--\r\n")
	msg := sb.String()
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := mailbox.Parse(strings.NewReader(msg), nil); err != nil {
			b.Fatal(err)
		}
	}
}
