package mailbox_test

import (
	"bytes"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/postyard/postyard/mailbox"
)

var parseSeeds = []string{
	"",
	"Subject: x\r\n\r\nbody\r\n",
	"From: \"A, B\" <a@b>, g: c@d, <@r:e@f>;\r\nTo: (c) x@y (Name)\r\n\r\n",
	"Content-Type: multipart/mixed; boundary=b\r\n\r\npre\r\n--b\r\n\r\nA\r\n--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: in\r\n\r\nB\r\n--b--\r\nepi\r\n",
	"Content-Type: multipart/digest; boundary=d\n\n--d\n\nSubject: s\n\nx\n--d--",
	"Content-Type: multipart/a; boundary=o\r\n\r\n--o\r\nContent-Type: multipart/b; boundary=i\r\n\r\n--i\r\n--o--\r\n",
	"Content-Type: text/plain; name*0=a; name*1=b\r\nContent-Disposition: inline\r\nContent-Language: en\r\n\r\n",
	"\r\n\r\n--x\r\n",
	"Subject: =?utf-8?b?w6k=?= =?iso-2022-jp?b?GyRCJEgbKEI=?=\r\n\r\n",
}

// FuzzParse checks that Parse never fails or panics on content, that its
// offsets describe the input, and that feeding it one byte at a time
// changes nothing.
func FuzzParse(f *testing.F) {
	for _, s := range parseSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		opts := &mailbox.ParseOptions{MaxHeaderSize: 512, MaxDepth: 8, MaxParts: 50}
		m, err := mailbox.Parse(bytes.NewReader(raw), opts)
		if err != nil {
			t.Fatalf("Parse: %v", err)
		}
		checkOffsets(t, m, int64(len(raw)))
		m2, err := mailbox.Parse(iotest.OneByteReader(bytes.NewReader(raw)), opts)
		if err != nil {
			t.Fatal(err)
		}
		if a, b := strings.Join(dump(m.Body), "\n"), strings.Join(dump(m2.Body), "\n"); a != b {
			t.Fatalf("byte-at-a-time parse differs:\n%s\n--\n%s", a, b)
		}
		parts := 0
		m.Body.Walk(func(sec []int, p *mailbox.Part) bool {
			parts++
			if len(sec) > opts.MaxDepth+1 {
				t.Fatalf("section %v deeper than MaxDepth", sec)
			}
			return true
		})
		if parts > 2*opts.MaxParts {
			t.Fatalf("%d parts, MaxParts %d", parts, opts.MaxParts)
		}
	})
}

// FuzzAddressList checks the envelope address parser through Parse: it
// terminates, and groups are balanced.
func FuzzAddressList(f *testing.F) {
	for _, s := range []string{
		`a@b`, `"x" <a@b>`, `g: a@b, c@d;`, `(comment) a@b (n)`, `<@r,@s:a@b>`, `"unterminated`, `(nested (c))`, `a@[1.2.3.4]`, `g:;`, `,;<>:`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, list string) {
		if strings.ContainsAny(list, "\r\n") {
			return
		}
		m, err := mailbox.Parse(strings.NewReader("To: "+list+"\r\n\r\n"), nil)
		if err != nil {
			t.Fatal(err)
		}
		depth := 0
		for _, a := range m.Envelope.To {
			switch {
			case a.GroupStart:
				depth++
			case a.GroupEnd:
				depth--
			}
			if depth < 0 || depth > 1 {
				t.Fatalf("unbalanced groups in %+v", m.Envelope.To)
			}
		}
		if depth != 0 {
			t.Fatalf("unterminated group in %+v", m.Envelope.To)
		}
	})
}
