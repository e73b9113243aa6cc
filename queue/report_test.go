package queue_test

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message"
	"github.com/postyard/postyard/internal/interop"
	"github.com/postyard/postyard/queue"
	"github.com/postyard/postyard/queue/queuetest"
	"github.com/postyard/postyard/smtp"
)

const origContent = "From: Sender <sender@origin.example>\r\n" +
	"To: a@dest.example\r\n" +
	"Subject: quarterly report\r\n" +
	"Message-ID: <orig-1@origin.example>\r\n" +
	"\r\n" +
	"Body line one.\r\n" +
	"Body line two.\r\n"

var (
	arrival = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	attempt = time.Date(2026, 3, 1, 10, 5, 0, 0, time.UTC)
	dated   = time.Date(2026, 3, 1, 10, 5, 1, 0, time.UTC)
)

// sampleMessage is a settled record with one delivered, one failed, one
// expired and one deferred recipient.
func sampleMessage() *queue.Message {
	return &queue.Message{
		ID: "01TESTID",
		Envelope: queue.Envelope{
			From:    smtp.Path{Local: "sender", Domain: "origin.example"},
			Options: smtp.MailOptions{EnvelopeID: "QQ314159", Body: smtp.Body8BitMIME},
			Recipients: []queue.Recipient{
				{To: smtp.Path{Local: "ok", Domain: "dest.example"},
					Options: smtp.RcptOptions{Notify: smtp.NotifySuccess}},
				{To: smtp.Path{Local: "nouser", Domain: "dest.example"},
					Options: smtp.RcptOptions{OriginalRcpt: "NoUser@Dest.example", OriginalRcptType: "rfc822"}},
				{To: smtp.Path{Local: "slow", Domain: "other.example"}},
				{To: smtp.Path{Local: "later", Domain: "other.example"}},
			},
		},
		Size:     int64(len(origContent)),
		Enqueued: arrival,
		Recipients: []queue.RecipientStatus{
			{State: queue.RecipientDelivered, Attempts: 1, LastAttempt: attempt, RemoteMTA: "mx1.dest.example"},
			{State: queue.RecipientFailed, Attempts: 1, LastAttempt: attempt, Err: &queue.DeliveryError{
				Permanent: true, Code: 550, EnhancedCode: "5.1.1", Message: "No such user\r\nInjected: yes", RemoteMTA: "mx1.dest.example"}},
			{State: queue.RecipientFailed, Attempts: 9, LastAttempt: attempt, Err: &queue.DeliveryError{
				Message: "connection timed out", Err: io.ErrUnexpectedEOF}},
			{State: queue.RecipientPending, Attempts: 3, LastAttempt: attempt, NextAttempt: attempt.Add(time.Hour), Err: &queue.DeliveryError{
				Code: 452, EnhancedCode: "4.2.2", Message: "Mailbox full", RemoteMTA: "mx.other.example"}},
		},
	}
}

func writeReport(t testing.TB, r *queue.Report, content string) []byte {
	t.Helper()
	var buf bytes.Buffer
	var cr io.Reader
	if content != "" {
		cr = strings.NewReader(content)
	}
	if err := r.Write(&buf, cr); err != nil {
		t.Fatalf("Write: %v", err)
	}
	return buf.Bytes()
}

func parseReport(t testing.TB, b []byte) *queuetest.ParsedReport {
	t.Helper()
	return queuetest.ParseReport(t, b)
}

// checkFields compares every field of h with want; fields missing from
// want must be missing from h.
func checkFields(t *testing.T, what string, h message.Header, want map[string]string) {
	t.Helper()
	seen := map[string]bool{}
	for f := h.Fields(); f.Next(); {
		k := f.Key()
		seen[k] = true
		w, ok := want[k]
		switch {
		case !ok:
			t.Errorf("%s: unexpected field %s: %q", what, k, f.Value())
		case f.Value() != w:
			t.Errorf("%s: %s = %q, want %q", what, k, f.Value(), w)
		}
	}
	for k := range want {
		if !seen[k] {
			t.Errorf("%s: missing field %s", what, k)
		}
	}
}

func TestReportFailure(t *testing.T) {
	m := sampleMessage()
	r := &queue.Report{Message: m, Action: queue.ActionFailed, Recipients: []int{1, 2}, Hostname: "mx.report.example", Date: dated}
	b := writeReport(t, r, origContent)
	if bytes.Contains(bytes.ReplaceAll(b, []byte("\r\n"), nil), []byte("\n")) {
		t.Error("report has a bare LF")
	}
	p := parseReport(t, b)

	if got := p.Header.Get("From"); got != "Mail Delivery System <MAILER-DAEMON@mx.report.example>" {
		t.Errorf("From = %q", got)
	}
	for k, want := range map[string]string{
		"To": "<sender@origin.example>", "Subject": "Undelivered Mail Returned to Sender",
		"Date": "Sun, 01 Mar 2026 10:05:01 +0000", "Auto-Submitted": "auto-replied", "MIME-Version": "1.0",
	} {
		if got := p.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if id := p.Header.Get("Message-ID"); !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, "@mx.report.example>") {
		t.Errorf("Message-ID = %q", id)
	}
	typ, params, _ := p.Header.ContentType()
	if typ != "multipart/report" || params["report-type"] != "delivery-status" || params["boundary"] == "" {
		t.Errorf("Content-Type = %s %v", typ, params)
	}
	if want := []string{"text/plain", "message/delivery-status", "message/rfc822"}; strings.Join(p.Types, " ") != strings.Join(want, " ") {
		t.Errorf("parts %v, want %v", p.Types, want)
	}
	if string(p.Parts[2]) != origContent {
		t.Errorf("returned message %q, want the original", p.Parts[2])
	}
	text := string(p.Parts[0])
	for _, want := range []string{"mx.report.example", "<nouser@dest.example>: host mx1.dest.example said: 550 5.1.1 No such user  Injected: yes", "<slow@other.example>: 4.0.0 connection timed out (delivery time expired)"} {
		if !strings.Contains(text, want) {
			t.Errorf("text part lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "unexpected EOF") || strings.Contains(string(b), "unexpected EOF") {
		t.Error("the cause of an error reached the report")
	}

	checkFields(t, "per-message", p.PerMessage, map[string]string{
		"Original-Envelope-Id": "QQ314159",
		"Reporting-Mta":        "dns; mx.report.example",
		"X-Postyard-Queue-Id":  "01TESTID",
		"Arrival-Date":         "Sun, 01 Mar 2026 10:00:00 +0000",
	})
	if len(p.PerRecipient) != 2 {
		t.Fatalf("%d recipient blocks, want 2", len(p.PerRecipient))
	}
	checkFields(t, "recipient 1", p.PerRecipient[0], map[string]string{
		"Original-Recipient": "rfc822; NoUser@Dest.example",
		"Final-Recipient":    "rfc822; nouser@dest.example",
		"Action":             "failed",
		"Status":             "5.1.1",
		"Remote-Mta":         "dns; mx1.dest.example",
		"Diagnostic-Code":    "smtp; 550 5.1.1 No such user  Injected: yes",
		"Last-Attempt-Date":  "Sun, 01 Mar 2026 10:05:00 +0000",
	})
	checkFields(t, "recipient 2 (expired)", p.PerRecipient[1], map[string]string{
		"Final-Recipient":   "rfc822; slow@other.example",
		"Action":            "failed",
		"Status":            "5.4.7",
		"Diagnostic-Code":   "X-Postyard; connection timed out",
		"Last-Attempt-Date": "Sun, 01 Mar 2026 10:05:00 +0000",
	})

	env := r.Envelope()
	if !env.From.IsNull() || len(env.Recipients) != 1 || env.Recipients[0].To.String() != "sender@origin.example" ||
		env.Recipients[0].Options.Notify != smtp.NotifyNever || env.Options.Body != smtp.Body8BitMIME || env.Options.UTF8 {
		t.Errorf("report envelope %+v", env)
	}
}

func TestReportDelayAndSuccess(t *testing.T) {
	m := sampleMessage()
	deadline := arrival.Add(queue.DefaultExpire)
	r := &queue.Report{Message: m, Action: queue.ActionDelayed, Recipients: []int{3}, Hostname: "mx.report.example", Date: dated, Deadline: deadline}
	p := parseReport(t, writeReport(t, r, origContent))
	if got := p.Header.Get("Subject"); got != "Delayed Mail (still being retried)" {
		t.Errorf("Subject = %q", got)
	}
	if p.Types[2] != "text/rfc822-headers" {
		t.Errorf("delay report returns %s, want text/rfc822-headers", p.Types[2])
	}
	if want, _, _ := strings.Cut(origContent, "\r\n\r\n"); string(p.Parts[2]) != want+"\r\n" {
		t.Errorf("returned header %q, want %q", p.Parts[2], want+"\r\n")
	}
	checkFields(t, "delayed", p.PerRecipient[0], map[string]string{
		"Final-Recipient":   "rfc822; later@other.example",
		"Action":            "delayed",
		"Status":            "4.2.2",
		"Remote-Mta":        "dns; mx.other.example",
		"Diagnostic-Code":   "smtp; 452 4.2.2 Mailbox full",
		"Last-Attempt-Date": "Sun, 01 Mar 2026 10:05:00 +0000",
		"Will-Retry-Until":  "Fri, 06 Mar 2026 10:00:00 +0000",
	})

	r = &queue.Report{Message: m, Action: queue.ActionDelivered, Recipients: []int{0}, Hostname: "mx.report.example", Date: dated}
	p = parseReport(t, writeReport(t, r, origContent))
	checkFields(t, "delivered", p.PerRecipient[0], map[string]string{
		"Final-Recipient":   "rfc822; ok@dest.example",
		"Action":            "delivered",
		"Status":            "2.0.0",
		"Remote-Mta":        "dns; mx1.dest.example",
		"Last-Attempt-Date": "Sun, 01 Mar 2026 10:05:00 +0000",
	})
	if p.Types[2] != "text/rfc822-headers" {
		t.Errorf("success report returns %s", p.Types[2])
	}
	// Without content, two parts.
	p = parseReport(t, writeReport(t, r, ""))
	if len(p.Parts) != 2 {
		t.Errorf("report without content has %d parts", len(p.Parts))
	}
}

func TestReportReturnRules(t *testing.T) {
	for _, tc := range []struct {
		name  string
		edit  func(*queue.Report)
		full  bool
		third string
	}{
		{"default", func(*queue.Report) {}, true, "message/rfc822"},
		{"RET=FULL", func(r *queue.Report) { r.Message.Envelope.Options.Return = smtp.DSNReturnFull }, true, "message/rfc822"},
		{"RET=HDRS", func(r *queue.Report) { r.Message.Envelope.Options.Return = smtp.DSNReturnHeaders }, false, "text/rfc822-headers"},
		{"REQUIRETLS", func(r *queue.Report) { r.Message.Envelope.Options.RequireTLS = true }, false, "text/rfc822-headers"},
		{"BINARYMIME", func(r *queue.Report) { r.Message.Envelope.Options.Body = smtp.BodyBinaryMIME }, false, "text/rfc822-headers"},
		{"over limit", func(r *queue.Report) { r.ReturnLimit = 10 }, false, "text/rfc822-headers"},
		{"no limit", func(r *queue.Report) { r.ReturnLimit = -1; r.Message.Size = 1 << 40 }, true, "message/rfc822"},
		{"delayed", func(r *queue.Report) { r.Action = queue.ActionDelayed }, false, "text/rfc822-headers"},
	} {
		r := &queue.Report{Message: sampleMessage(), Action: queue.ActionFailed, Recipients: []int{1}, Hostname: "h.example"}
		tc.edit(r)
		if got := r.ReturnsContent(); got != tc.full {
			t.Errorf("%s: ReturnsContent = %v", tc.name, got)
		}
		p := parseReport(t, writeReport(t, r, origContent))
		if p.Types[2] != tc.third {
			t.Errorf("%s: third part %s, want %s", tc.name, p.Types[2], tc.third)
		}
		if env := r.Envelope(); env.Options.RequireTLS != r.Message.Envelope.Options.RequireTLS {
			t.Errorf("%s: report REQUIRETLS %v", tc.name, env.Options.RequireTLS)
		}
	}
	// No report to the null reverse-path.
	r := &queue.Report{Message: sampleMessage(), Action: queue.ActionFailed, Recipients: []int{1}, Hostname: "h.example"}
	r.Message.Envelope.From = smtp.Path{}
	if env := r.Envelope(); env != nil {
		t.Errorf("Envelope for a bounce = %+v, want nil", env)
	}
}

// TestReportUTF8 checks RFC 6533: global types and utf-8 addresses.
func TestReportUTF8(t *testing.T) {
	m := sampleMessage()
	m.Envelope.From = smtp.Path{Local: "sénder", Domain: "origin.example"}
	m.Envelope.Options.UTF8 = true
	m.Envelope.Recipients[1].To = smtp.Path{Local: "nöuser", Domain: "bücher.example"}
	m.Envelope.Recipients[1].Options = smtp.RcptOptions{OriginalRcpt: "Nöuser@bücher.example", OriginalRcptType: "utf-8"}
	r := &queue.Report{Message: m, Action: queue.ActionFailed, Recipients: []int{1}, Hostname: "mx.report.example", Date: dated}
	p := parseReport(t, writeReport(t, r, origContent))
	if want := "message/global-delivery-status"; p.Types[1] != want {
		t.Errorf("status part %s, want %s", p.Types[1], want)
	}
	if want := "message/global"; p.Types[2] != want {
		t.Errorf("returned part %s, want %s", p.Types[2], want)
	}
	if got := p.Header.Get("To"); got != "<sénder@origin.example>" {
		t.Errorf("To = %q", got)
	}
	checkFields(t, "utf-8 recipient", p.PerRecipient[0], map[string]string{
		"Original-Recipient": "utf-8; Nöuser@bücher.example",
		"Final-Recipient":    "utf-8; nöuser@bücher.example",
		"Action":             "failed",
		"Status":             "5.1.1",
		"Remote-Mta":         "dns; mx1.dest.example",
		"Diagnostic-Code":    "smtp; 550 5.1.1 No such user  Injected: yes",
		"Last-Attempt-Date":  "Sun, 01 Mar 2026 10:05:00 +0000",
	})
	if env := r.Envelope(); !env.Options.UTF8 || env.Recipients[0].To.Local != "sénder" {
		t.Errorf("report envelope %+v, want SMTPUTF8 to sénder", env)
	}

	// An ASCII report writes a utf-8 ORCPT as utf-8-addr-xtext.
	m = sampleMessage()
	m.Envelope.Recipients[1].Options = smtp.RcptOptions{OriginalRcpt: "a+b=c\\d@x.example", OriginalRcptType: "utf-8"}
	r = &queue.Report{Message: m, Action: queue.ActionFailed, Recipients: []int{1}, Hostname: "h.example"}
	p = parseReport(t, writeReport(t, r, origContent))
	if got, want := p.PerRecipient[0].Get("Original-Recipient"), `utf-8; a\x{2B}b\x{3D}c\x{5C}d@x.example`; got != want {
		t.Errorf("Original-Recipient = %q, want %q", got, want)
	}
	if p.Types[1] != "message/delivery-status" {
		t.Errorf("status part %s", p.Types[1])
	}
}

// TestAppendUTF8AddrXtext round-trips through the smtp package's ORCPT
// decoder.
func TestAppendUTF8AddrXtext(t *testing.T) {
	for _, addr := range []string{"plain@example.org", "nöuser@bücher.example", "a+b=c\\d@x", "日本@例え.jp", "sp ace@x", "\U0001F600@x"} {
		enc := string(queue.AppendUTF8AddrXtext(nil, addr))
		for i := 0; i < len(enc); i++ {
			if enc[i] < '!' || enc[i] > '~' {
				t.Errorf("%q encodes to non-ASCII %q", addr, enc)
				break
			}
		}
		o, err := smtp.ParseRcptParams("ORCPT=utf-8;"+enc, smtp.ParamDSN)
		if err != nil {
			t.Errorf("%q -> %q: smtp rejects it: %v", addr, enc, err)
			continue
		}
		if o.OriginalRcpt != addr {
			t.Errorf("%q -> %q -> %q", addr, enc, o.OriginalRcpt)
		}
	}
}

// TestReportPython feeds a report to python3's email package, as a mail
// client would read it.
func TestReportPython(t *testing.T) {
	py := interop.Require(t, "python3", "apt-get install python3")
	m := sampleMessage()
	r := &queue.Report{Message: m, Action: queue.ActionFailed, Recipients: []int{1, 2}, Hostname: "mx.report.example", Date: dated}
	file := filepath.Join(t.TempDir(), "report.eml")
	if err := os.WriteFile(file, writeReport(t, r, origContent), 0o600); err != nil {
		t.Fatal(err)
	}
	const script = `
import email, email.policy, json, sys
with open(sys.argv[1], 'rb') as f:
    msg = email.message_from_binary_file(f, policy=email.policy.default)
out = {
    'type': msg.get_content_type(),
    'report_type': msg.get_param('report-type'),
    'to': str(msg['To']),
    'defects': [str(d) for d in msg.defects],
    'parts': [],
}
for part in msg.iter_parts():
    p = {'type': part.get_content_type(), 'defects': [str(d) for d in part.defects]}
    if part.get_content_type() == 'message/delivery-status':
        p['blocks'] = [dict(b.items()) for b in part.get_payload()]
    elif part.get_content_type() == 'message/rfc822':
        inner = part.get_payload()[0]
        p['subject'] = str(inner['Subject'])
        p['body'] = inner.get_content()
    else:
        p['text'] = part.get_content()
    out['parts'].append(p)
json.dump(out, sys.stdout)
`
	outb := interop.Run(t, nil, nil, py, "-c", script, file)
	var out struct {
		Type       string `json:"type"`
		ReportType string `json:"report_type"`
		To         string `json:"to"`
		Defects    []string
		Parts      []struct {
			Type    string
			Defects []string
			Blocks  []map[string]string
			Subject string
			Body    string
			Text    string
		}
	}
	if err := json.Unmarshal(outb, &out); err != nil {
		t.Fatalf("python output %s: %v", outb, err)
	}
	if out.Type != "multipart/report" || out.ReportType != "delivery-status" || !strings.Contains(out.To, "sender@origin.example") || len(out.Defects) != 0 {
		t.Errorf("python sees %s report-type=%s To=%s defects %v", out.Type, out.ReportType, out.To, out.Defects)
	}
	if len(out.Parts) != 3 {
		t.Fatalf("python sees %d parts", len(out.Parts))
	}
	for i, want := range []string{"text/plain", "message/delivery-status", "message/rfc822"} {
		if out.Parts[i].Type != want || len(out.Parts[i].Defects) != 0 {
			t.Errorf("part %d: %s defects %v, want %s", i, out.Parts[i].Type, out.Parts[i].Defects, want)
		}
	}
	if !strings.Contains(out.Parts[0].Text, "nouser@dest.example") {
		t.Errorf("python text part %q", out.Parts[0].Text)
	}
	blocks := out.Parts[1].Blocks
	if len(blocks) != 3 || blocks[0]["Reporting-MTA"] != "dns; mx.report.example" ||
		blocks[1]["Final-Recipient"] != "rfc822; nouser@dest.example" || blocks[1]["Status"] != "5.1.1" ||
		blocks[2]["Action"] != "failed" || blocks[2]["Status"] != "5.4.7" {
		t.Errorf("python delivery-status blocks %v", blocks)
	}
	if out.Parts[2].Subject != "quarterly report" || !strings.Contains(out.Parts[2].Body, "Body line two.") {
		t.Errorf("python returned message: subject %q body %q", out.Parts[2].Subject, out.Parts[2].Body)
	}
}
