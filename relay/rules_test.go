package relay_test

import (
	"context"
	"encoding/base64"
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/postyard/postyard/relay"
	"github.com/postyard/postyard/smtp"
)

var discard = slog.New(slog.DiscardHandler)

// crlf turns the LF line breaks of a test message into CRLF.
func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

// dataVerdict runs a filter's DATA stage on msg for a transaction from a
// client on the internet (submission false) or an authenticated user.
func dataVerdict(t *testing.T, f relay.Filter, submission bool, msg string) relay.Verdict {
	t.Helper()
	ctx := context.Background()
	c := &smtp.ConnInfo{RemoteAddr: &net.TCPAddr{IP: net.ParseIP("192.0.2.10"), Port: 40000}}
	if submission {
		c.User = "alice"
	}
	s, err := f.NewSession(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tx := &relay.Transaction{Conn: c, From: smtp.Path{Local: "s", Domain: "example.org"}, Options: &smtp.MailOptions{},
		Rcpts: []smtp.Path{{Local: "r", Domain: "example.net"}}, Submission: submission}
	v, err := s.Data(ctx, tx, relay.RulesTestMessage(t, msg))
	if err != nil {
		t.Fatalf("Data: %v", err)
	}
	return v
}

func TestSizeRule(t *testing.T) {
	r := &relay.SizeRule{MaxIncoming: 1000, MaxOutgoing: 100}
	big := crlf("Subject: x\n\n" + strings.Repeat("y", 200) + "\n")
	if v := dataVerdict(t, r, false, big); v.Action != relay.ActionDefault {
		t.Errorf("incoming %d octets under 1000: %v", len(big), v.Action)
	}
	if v := dataVerdict(t, r, true, big); v.Action != relay.ActionReject || v.Reply != relay.ErrMessageTooBig {
		t.Errorf("outgoing %d octets over 100: %+v", len(big), v)
	}
	huge := crlf("Subject: x\n\n" + strings.Repeat("y", 2000) + "\n")
	if v := dataVerdict(t, r, false, huge); v.Action != relay.ActionReject {
		t.Errorf("incoming over 1000: %v", v.Action)
	}
	if v := dataVerdict(t, &relay.SizeRule{}, false, huge); v.Action != relay.ActionDefault {
		t.Errorf("zero rule: %v", v.Action)
	}

	// SIZE= at MAIL FROM (RFC 1870).
	ctx := context.Background()
	s, _ := r.NewSession(ctx, &smtp.ConnInfo{})
	for _, tc := range []struct {
		size       int64
		submission bool
		want       relay.Action
	}{{0, true, relay.ActionDefault}, {100, true, relay.ActionDefault}, {101, true, relay.ActionReject}, {500, false, relay.ActionDefault}, {1001, false, relay.ActionReject}} {
		v, _ := s.Mail(ctx, &relay.Transaction{Conn: &smtp.ConnInfo{}, Options: &smtp.MailOptions{Size: tc.size}, Submission: tc.submission})
		if v.Action != tc.want {
			t.Errorf("SIZE=%d submission=%v: %v", tc.size, tc.submission, v.Action)
		}
	}
}

// attachment returns a body part with the given header lines and base64
// content.
func attachment(header, content string) string {
	return header + "\nContent-Transfer-Encoding: base64\n\n" + base64.StdEncoding.EncodeToString([]byte(content)) + "\n"
}

func multipart(subtype, boundary string, parts ...string) string {
	var b strings.Builder
	b.WriteString("Content-Type: multipart/" + subtype + "; boundary=\"" + boundary + "\"\n\npreamble\n")
	for _, p := range parts {
		b.WriteString("--" + boundary + "\n" + p)
	}
	b.WriteString("--" + boundary + "--\nepilogue\n")
	return b.String()
}

const textPart = "Content-Type: text/plain; charset=utf-8\n\nSee the attachment. program.exe is mentioned here only.\n"

func mailWith(body string) string {
	return crlf("From: a@example.org\nTo: b@example.net\nSubject: test\nMIME-Version: 1.0\n" + body)
}

func TestAttachmentRule(t *testing.T) {
	exe := "MZ\x90\x00 this program cannot be run in DOS mode"
	for _, tc := range []struct {
		name    string
		msg     string
		blocked string // "" when the message passes
	}{
		{"plain exe", mailWith(multipart("mixed", "b1", textPart,
			attachment("Content-Type: application/octet-stream\nContent-Disposition: attachment; filename=\"invoice.exe\"", exe))), "invoice.exe"},
		{"pdf passes", mailWith(multipart("mixed", "b1", textPart,
			attachment("Content-Type: application/pdf\nContent-Disposition: attachment; filename=\"invoice.exe.pdf\"", "%PDF-1.7"))), ""},
		{"text only", mailWith(textPart), ""},
		{"double extension, upper case", mailWith(multipart("mixed", "b1", textPart,
			attachment("Content-Type: application/octet-stream\nContent-Disposition: attachment; filename=\"Invoice.PDF.ScR\"", exe))), "Invoice.PDF.ScR"},
		{"deeply nested", mailWith(multipart("mixed", "outer",
			multipart("alternative", "alt", textPart,
				multipart("related", "rel", "Content-Type: text/html\n\n<p>hi</p>\n",
					attachment("Content-Type: application/x-iso9660-image; name=\"disk.iso\"", "CD001"))))), "disk.iso"},
		{"in an enclosed message", mailWith(multipart("mixed", "b1", textPart,
			"Content-Type: message/rfc822\n\n"+"From: x@example.com\nSubject: fwd\nMIME-Version: 1.0\n"+
				multipart("mixed", "inner", textPart, attachment("Content-Type: application/octet-stream; name=run.bat", "@echo off")))), "run.bat"},
		{"name on Content-Type only", mailWith(multipart("mixed", "b1", textPart,
			attachment("Content-Type: application/octet-stream; name=\"setup.msi\"", exe))), "setup.msi"},
		{"RFC 2231 continuation", mailWith(multipart("mixed", "b1", textPart,
			attachment("Content-Type: application/octet-stream\nContent-Disposition: attachment;\n filename*0=\"quarterly-report\";\n filename*1=\".pdf  .js\"", "alert(1)"))), "quarterly-report.pdf  .js"},
		{"RFC 2231 charset, right-to-left override", mailWith(multipart("mixed", "b1", textPart,
			attachment("Content-Type: application/octet-stream\nContent-Disposition: attachment; filename*=utf-8''invoice%E2%80%AEfdp.exe", exe))), "invoice?fdp.exe"},
		{"RFC 2231 latin-1", mailWith(multipart("mixed", "b1", textPart,
			attachment("Content-Type: application/octet-stream\nContent-Disposition: attachment; filename*=iso-8859-1'fr'r%E9sum%E9.hta", "<hta>"))), "r?sum?.hta"},
		{"RFC 2047 encoded-word", mailWith(multipart("mixed", "b1", textPart,
			attachment("Content-Type: application/octet-stream\nContent-Disposition: attachment; filename=\"=?utf-8?B?"+base64.StdEncoding.EncodeToString([]byte("Rechnung.vbs"))+"?=\"", "MsgBox 1"))), "Rechnung.vbs"},
		{"duplicate parameters", mailWith(multipart("mixed", "b1", textPart,
			attachment("Content-Type: application/octet-stream\nContent-Disposition: attachment; filename=a.txt; filename=b.lnk", "L"))), "b.lnk"},
		{"trailing dots and spaces", mailWith(multipart("mixed", "b1", textPart,
			attachment("Content-Type: application/octet-stream\nContent-Disposition: attachment; filename=\"photo.jpg.exe. . \"", exe))), "photo.jpg.exe. . "},
		{"NUL truncation", mailWith(multipart("mixed", "b1", textPart,
			attachment("Content-Type: application/octet-stream\nContent-Disposition: attachment; filename*=utf-8''evil.cmd%00.txt", "x"))), "evil.cmd?.txt"},
		{"path in the name", mailWith(multipart("mixed", "b1", textPart,
			attachment("Content-Type: application/octet-stream\nContent-Disposition: attachment; filename=\"C:\\\\temp\\\\x.pif\"", "x"))), `C:\temp\x.pif`},
		{"declared type", mailWith(multipart("mixed", "b1", textPart,
			attachment("Content-Type: application/x-msdownload\nContent-Disposition: attachment; filename=\"update.bin\"", exe))), "update.bin"},
		{"the message is the attachment", mailWith("Content-Type: application/x-msdownload\nContent-Transfer-Encoding: base64\n\nTVo=\n"), "application/x-msdownload"},
		{"missing close delimiter", mailWith("Content-Type: multipart/mixed; boundary=b1\n\n--b1\n" + textPart + "--b1\n" +
			attachment("Content-Type: application/octet-stream\nContent-Disposition: attachment; filename=x.com", exe)), "x.com"},
		{"header line that is not a field", mailWith(multipart("mixed", "b1", textPart,
			attachment("Content-Type: application/octet-stream\nthis is not a header field\nContent-Disposition: attachment; filename=x.vbe", "x"))), "x.vbe"},
		{"digest part defaults to message/rfc822", mailWith(multipart("digest", "d1",
			"\nFrom: x@example.com\nMIME-Version: 1.0\n"+multipart("mixed", "inner", textPart, attachment("Content-Type: application/octet-stream; name=a.jse", "x")))), "a.jse"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := dataVerdict(t, &relay.AttachmentRule{}, false, tc.msg)
			if tc.blocked == "" {
				if v.Action != relay.ActionDefault {
					t.Fatalf("blocked: %+v", v)
				}
				return
			}
			if v.Action != relay.ActionReject || v.Reply == nil || v.Reply.Code != 552 || v.Reply.EnhancedCode != "5.7.0" ||
				!strings.Contains(v.Reply.Message, "("+tc.blocked+")") {
				t.Fatalf("got %+v %+v, want 552 5.7.0 naming %q", v, v.Reply, tc.blocked)
			}
		})
	}
	// LF line endings (as some clients submit).
	lf := strings.ReplaceAll(mailWith(multipart("mixed", "b1", textPart, attachment("Content-Type: application/octet-stream; name=a.exe", exe))), "\r\n", "\n")
	if v := dataVerdict(t, &relay.AttachmentRule{}, false, lf); v.Action != relay.ActionReject {
		t.Errorf("LF-only message: %v", v.Action)
	}
}

func TestAttachmentRuleOptions(t *testing.T) {
	msg := mailWith(multipart("mixed", "b1", textPart,
		attachment("Content-Type: application/zip\nContent-Disposition: attachment; filename=\"archive.zip\"", "PK")))
	if v := dataVerdict(t, &relay.AttachmentRule{}, false, msg); v.Action != relay.ActionDefault {
		t.Errorf(".zip with the defaults: %v", v.Action)
	}
	r := &relay.AttachmentRule{Extensions: []string{".ZIP"}, ContentTypes: []string{}, Action: relay.ActionQuarantine}
	if v := dataVerdict(t, r, false, msg); v.Action != relay.ActionQuarantine || v.Reply != nil || !strings.Contains(v.Reason, "archive.zip") {
		t.Errorf("quarantined .zip: %+v", v)
	}
	r = &relay.AttachmentRule{Extensions: []string{"zip"}, Direction: relay.DirectionOutgoing}
	if v := dataVerdict(t, r, false, msg); v.Action != relay.ActionDefault {
		t.Errorf("outgoing rule on incoming mail: %v", v.Action)
	}
	if v := dataVerdict(t, r, true, msg); v.Action != relay.ActionReject {
		t.Errorf("outgoing rule on outgoing mail: %v", v.Action)
	}
	r = &relay.AttachmentRule{Extensions: []string{"zip"}, Reply: &smtp.Error{Code: 554, EnhancedCode: "5.7.1", Message: "No archives"}}
	if v := dataVerdict(t, r, false, msg); v.Reply == nil || v.Reply.Message != "No archives" {
		t.Errorf("own reply: %+v", v.Reply)
	}
}

func TestAttachmentRuleLimits(t *testing.T) {
	nested := textPart
	for i := range 8 {
		nested = multipart("mixed", "n"+string(rune('a'+i)), nested)
	}
	msg := mailWith(nested)
	if v := dataVerdict(t, &relay.AttachmentRule{}, false, msg); v.Action != relay.ActionDefault {
		t.Errorf("depth 8 with the defaults: %+v", v)
	}
	r := &relay.AttachmentRule{Limits: relay.MIMELimits{MaxDepth: 4}, Logger: discard}
	if v := dataVerdict(t, r, false, msg); v.Action != relay.ActionReject || !strings.Contains(v.Reply.Message, "too complex") {
		t.Errorf("depth 8 over 4: %+v", v)
	}
	r.OnLimit = relay.ActionAccept
	if v := dataVerdict(t, r, false, msg); v.Action != relay.ActionDefault {
		t.Errorf("OnLimit accept: %+v", v)
	}
	many := make([]string, 20)
	for i := range many {
		many[i] = textPart
	}
	r = &relay.AttachmentRule{Limits: relay.MIMELimits{MaxParts: 10}, OnLimit: relay.ActionQuarantine, Logger: discard}
	if v := dataVerdict(t, r, false, mailWith(multipart("mixed", "b", many...))); v.Action != relay.ActionQuarantine {
		t.Errorf("20 parts over 10: %+v", v)
	}
	r = &relay.AttachmentRule{Limits: relay.MIMELimits{MaxHeaderBytes: 100}, Logger: discard}
	if v := dataVerdict(t, r, false, mailWith(multipart("mixed", "b", "X-Long: "+strings.Repeat("a", 200)+"\n"+textPart))); v.Action != relay.ActionReject {
		t.Errorf("part header over 100 octets: %+v", v)
	}
}

// TestAttachmentRuleInbound refuses a message with an executable at the
// end of DATA and delivers nothing.
func TestAttachmentRuleInbound(t *testing.T) {
	f := newFixture(t, withFilters(&relay.AttachmentRule{}, &relay.SizeRule{MaxIncoming: 1 << 20}))
	msg := strings.TrimPrefix(mailWith(multipart("mixed", "b1", textPart,
		attachment("Content-Type: application/octet-stream\nContent-Disposition: attachment; filename=\"invoice.exe\"", "MZ"))), "")
	_, data := f.send(t, "127.0.0.1", "s@remote.example", []string{"alice@example.com"}, strings.TrimSuffix(msg, "\r\n"))
	if !strings.HasPrefix(data, "552 5.7.0 Message refused: attachment type not allowed (invoice.exe)") {
		t.Fatalf("DATA: %q", data)
	}
	if n := len(f.inbox(t, "alice")); n != 0 {
		t.Fatalf("%d messages delivered", n)
	}
	_, data = f.send(t, "127.0.0.1", "s@remote.example", []string{"alice@example.com"}, strings.TrimSuffix(mailWith(textPart), "\r\n"))
	if !strings.HasPrefix(data, "250") {
		t.Fatalf("clean message: %q", data)
	}
}
