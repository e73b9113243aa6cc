package relay

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"mime/quotedprintable"
	"slices"
	"strings"
	"testing"
)

// walkAll walks msg and describes each entity: depth, type, names, and
// the decoded text of leaves.
func walkAll(t testing.TB, msg string, lim MIMELimits) ([]string, error) {
	w := newMIMEWalker(strings.NewReader(msg), lim)
	var out []string
	for {
		e, err := w.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		s := fmt.Sprintf("%d %s", e.Depth, e.MediaType)
		if len(e.Names) > 0 {
			s += fmt.Sprintf(" %q", e.Names)
		}
		if e.Container {
			s += " container"
		} else {
			b, err := io.ReadAll(e.text())
			if err != nil {
				return out, err
			}
			s += fmt.Sprintf(" %q", b)
		}
		out = append(out, s)
	}
}

func TestMIMEWalk(t *testing.T) {
	msg := strings.ReplaceAll(`From: a@example.org
Subject: walk
Content-Type: multipart/mixed; boundary="outer"

preamble
--outer
Content-Type: multipart/alternative; boundary=inner

--inner
Content-Type: text/plain; charset=iso-8859-1
Content-Transfer-Encoding: quoted-printable

Gr=FC=DFe, a soft=
 break.
--inner
Content-Type: text/html

<p>hi</p>

--inner--
--outer
Content-Type: message/rfc822

Subject: enclosed
Content-Type: text/plain; charset="utf-8"
Content-Transfer-Encoding: base64

aGVs
bG8=
--outer
Content-Type: application/octet-stream;
 name*0*=utf-8''%E2%82%AC;
 name*1=".bin"
Content-Disposition: attachment; filename="=?utf-8?q?euro=E2=82=AC.bin?="

AAA
--outer--
epilogue
`, "\n", "\r\n")
	got, err := walkAll(t, msg, MIMELimits{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`0 multipart/mixed container`,
		`1 multipart/alternative container`,
		`2 text/plain "Grüße, a soft break."`,
		`2 text/html "<p>hi</p>\r\n"`,
		`1 message/rfc822 container`,
		`2 text/plain "hello"`,
		`1 application/octet-stream ["euro€.bin" "€.bin"] "AAA"`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("walk:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// Not MIME at all, LF line ends, no body.
	for msg, want := range map[string][]string{
		"Subject: x\n\nbody\n":         {`0 text/plain "body\n"`},
		"Subject: x\r\n":               {`0 text/plain ""`},
		"":                             {`0 text/plain ""`},
		"Content-Type: bogus\r\n\r\nx": {`0 text/plain "x"`},
		"Content-Type: multipart/mixed\r\n\r\nno boundary": {`0 multipart/mixed "no boundary"`},
	} {
		got, err := walkAll(t, msg, MIMELimits{})
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("walk %q = %q, %v; want %q", msg, got, err, want)
		}
	}
}

func TestMIMEWalkLimits(t *testing.T) {
	nested := "Content-Type: text/plain\r\n\r\nx\r\n"
	for i := range 5 {
		b := fmt.Sprintf("b%d", i)
		nested = "Content-Type: multipart/mixed; boundary=" + b + "\r\n\r\n--" + b + "\r\n" + nested + "--" + b + "--\r\n"
	}
	if _, err := walkAll(t, nested, MIMELimits{MaxDepth: 5}); err != nil {
		t.Errorf("depth 5 at limit 5: %v", err)
	}
	if _, err := walkAll(t, nested, MIMELimits{MaxDepth: 4}); !isMIMELimit(err) {
		t.Errorf("depth 5 at limit 4: %v", err)
	}
	if _, err := walkAll(t, nested, MIMELimits{MaxParts: 5}); !isMIMELimit(err) {
		t.Errorf("6 parts at limit 5: %v", err)
	}
	if _, err := walkAll(t, nested, MIMELimits{MaxParts: -1, MaxDepth: -1, MaxHeaderBytes: -1}); err != nil {
		t.Errorf("unlimited: %v", err)
	}
	long := "Subject: " + strings.Repeat("x", 100<<10) + "\r\n\r\nbody"
	if _, err := walkAll(t, long, MIMELimits{}); !isMIMELimit(err) {
		t.Errorf("100 KiB header: %v", err)
	}
}

func TestParseMIMEParams(t *testing.T) {
	for _, tc := range []struct {
		in, first string
		params    []mimeParam
	}{
		{`text/plain; charset="utf-8"`, "text/plain", []mimeParam{{"charset", "utf-8"}}},
		{` Text/HTML ; Charset = ISO-8859-1 (latin) `, "text/html", []mimeParam{{"charset", "ISO-8859-1"}}},
		{`attachment; filename="a;b \"c\".txt"; size=3`, "attachment", []mimeParam{{"filename", `a;b "c".txt`}, {"size", "3"}}},
		{`attachment; filename=a.txt; filename=b.exe`, "attachment", []mimeParam{{"filename", "a.txt"}, {"filename", "b.exe"}}},
		{`attachment; filename*1="b.exe"; filename*0="a"; x=y`, "attachment", []mimeParam{{"filename", "ab.exe"}, {"x", "y"}}},
		{`attachment; filename*=UTF-8''%e2%82%ac%zz`, "attachment", []mimeParam{{"filename", "€%zz"}}},
		{`attachment; filename*0*=iso-8859-1'de'%E4; filename*1*=%F6.txt`, "attachment", []mimeParam{{"filename", "äö.txt"}}},
		{`attachment; filename="unterminated`, "attachment", []mimeParam{{"filename", "unterminated"}}},
		{`attachment; novalue; =x; filename*x=bad`, "attachment", []mimeParam{{"filename*x", "bad"}}},
		{``, "", nil},
	} {
		first, params := parseMIMEParams(tc.in)
		if first != tc.first || !slices.Equal(params, tc.params) {
			t.Errorf("parseMIMEParams(%q) = %q %q, want %q %q", tc.in, first, params, tc.first, tc.params)
		}
	}
}

func TestTransferDecoding(t *testing.T) {
	for in, want := range map[string]string{
		"a=3Db=\r\nc  \r\nd=\r": "a=bc\r\nd",
		"bad =ZZ =4 =\x01 x":    "bad =ZZ =4 =\x01 x",
		"lf=\nonly  \n":         "lfonly\n",
		"soft =  \r\nbreak":     "soft break",
		"eq at end=":            "eq at end=",
		"hex at end=4":          "hex at end=4",
		"mid = space":           "mid = space",
		"lower=c3=a9":           "lower\xc3\xa9",
		"bare\rCR":              "bare\rCR",
	} {
		got, err := io.ReadAll(newQPReader(strings.NewReader(in)))
		if err != nil || string(got) != want {
			t.Errorf("QP %q = %q, %v; want %q", in, got, err, want)
		}
	}
	for in, want := range map[string]string{
		"aGVsbG8=":         "hello",
		"aGVs\r\nbG8=":     "hello",
		"aGVsbG8=aGVsbG8=": "hellohello",
		"aGVs bG8 *!":      "hello",
		"aGVsbG8":          "hello",
		"aGVsbA==IQ==":     "hell!",
		"=":                "",
	} {
		got, err := io.ReadAll(newBase64Reader(strings.NewReader(in)))
		if err != nil || string(got) != want {
			t.Errorf("base64 %q = %q, %v; want %q", in, got, err, want)
		}
	}
}

func FuzzMIMEWalk(f *testing.F) {
	f.Add("Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--\r\n")
	f.Add("Content-Type: message/rfc822\n\nContent-Type: multipart/digest; boundary=\"d\"\n\n--d\n\nSubject: x\n\n--d--")
	f.Add("Content-Type: multipart/a; boundary=b\r\n\r\n--b\r\n--b\r\n--b--\r\n--b\r\n")
	f.Add("Content-Type: multipart/a; boundary=b\r\n\r\n--b\r\nContent-Type: multipart/a; boundary=bb\r\n\r\n--bb\r\n--b\r\n--bb--\r\n")
	f.Add("Content-Transfer-Encoding: base64\r\nContent-Type: text/plain; charset=utf-16\r\n\r\n//4=\r\n")
	f.Add("Content-Disposition: a; filename*0*=x'y'%; filename*1*=%4\r\n\r\n")
	f.Fuzz(func(t *testing.T, msg string) {
		lim := MIMELimits{MaxParts: 50, MaxDepth: 8, MaxHeaderBytes: 1024}
		w := newMIMEWalker(strings.NewReader(msg), lim)
		n := 0
		for {
			e, err := w.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				if !isMIMELimit(err) {
					t.Fatalf("walk: %v", err)
				}
				break
			}
			n++
			if n > lim.MaxParts || e.Depth > lim.MaxDepth || len(e.Names) > maxNamesPerEntity {
				t.Fatalf("bounds: part %d depth %d names %d", n, e.Depth, len(e.Names))
			}
			if e.MediaType == "" || (e.Container && e.Depth > lim.MaxDepth-1) {
				t.Fatalf("entity %+v", e)
			}
			if n%2 == 0 { // read some bodies, skip others
				if _, err := io.Copy(io.Discard, e.text()); err != nil {
					t.Fatalf("body: %v", err)
				}
			}
		}
		if w2, err := walkAll(t, msg, lim); err != nil && !isMIMELimit(err) {
			t.Fatalf("walkAll: %v (%q)", err, w2)
		}
	})
}

func FuzzMIMEParams(f *testing.F) {
	for _, s := range []string{`text/plain; charset="utf-8"`, `a; filename*0*=utf-8''%e2; filename*1=x`, `a; b="\`, `(c`, `x; =; ;;`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		first, params := parseMIMEParams(s)
		if strings.ContainsAny(first, " \t") || (!strings.Contains(s, `"`) && strings.Contains(first, ";")) {
			t.Fatalf("first token %q", first)
		}
		for _, p := range params {
			if p.name == "" || p.name != strings.ToLower(p.name) || strings.Contains(p.name, "=") {
				t.Fatalf("param %+v from %q", p, s)
			}
		}
	})
}

func FuzzQPReader(f *testing.F) {
	for _, s := range []string{"a=3D", "x \r\ny", "=\r\n", "\x00\xff", "line\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// What an encoder writes decodes to the original octets.
		var enc bytes.Buffer
		qw := quotedprintable.NewWriter(&enc)
		qw.Binary = true
		qw.Write(data)
		qw.Close()
		got, err := io.ReadAll(newQPReader(&enc))
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("round trip of %q via %q: %q, %v", data, enc.Bytes(), got, err)
		}
		// Anything decodes without growing.
		got, err = io.ReadAll(newQPReader(bytes.NewReader(data)))
		if err != nil || len(got) > len(data) {
			t.Fatalf("decoding %q: %q, %v", data, got, err)
		}
	})
}

func FuzzBase64Reader(f *testing.F) {
	for _, s := range []string{"hello", "", "\x00", "ab"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s := base64.StdEncoding.EncodeToString(data)
		var wrapped strings.Builder
		for len(s) > 76 {
			wrapped.WriteString(s[:76] + "\r\n")
			s = s[76:]
		}
		wrapped.WriteString(s)
		got, err := io.ReadAll(newBase64Reader(strings.NewReader(wrapped.String())))
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("round trip of %q: %q, %v", data, got, err)
		}
		got, err = io.ReadAll(newBase64Reader(bytes.NewReader(data)))
		if err != nil || len(got) > len(data)*3/4+2 {
			t.Fatalf("decoding %q: %q, %v", data, got, err)
		}
	})
}
