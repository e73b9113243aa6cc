package queue_test

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/postyard/postyard/queue"
	"github.com/postyard/postyard/smtp"
)

var statusRE = regexp.MustCompile(`^[245]\.[0-9]{1,3}\.[0-9]{1,3}$`)

// FuzzReport builds reports from hostile inputs (the content returned,
// the remote's reply text and enhanced code, addresses, ORCPT) and parses
// them back: they must always be well-formed, with exactly the expected
// fields, whatever the inputs contain.
func FuzzReport(f *testing.F) {
	f.Add(origContent, "No such user", "5.1.1", "user", "rfc822", "User@example.org", false, true)
	f.Add("Subject: x\r\n\r\n", "line\r\nInjected: 1", "5.1", "a b", "utf-8", "ü@x", true, false)
	f.Add("no header at all", "\x00\xff", "", "\"q\"", "x400", "\r\n", false, false)
	f.Add("Subject: "+strings.Repeat("x", 5000)+"\n\nbody", strings.Repeat("é", 400), "4.4.7", "é", "UTF-8", "a+b=c\\d", true, true)
	f.Add("A: b\r\n--boundary\r\n\r\n--", "--", "2.0.0", "--", "", "", false, true)
	f.Fuzz(func(t *testing.T, content, diag, enhanced, local, orcptType, orcpt string, utf8Env, permanent bool) {
		m := sampleMessage()
		m.Size = int64(len(content))
		m.Envelope.Options.UTF8 = utf8Env
		m.Envelope.From.Local = local
		if local == "" {
			m.Envelope.From.Local = "x"
		}
		m.Envelope.Recipients[1].Options = smtp.RcptOptions{OriginalRcpt: orcpt, OriginalRcptType: orcptType}
		m.Recipients[1].Err = &queue.DeliveryError{Permanent: permanent, Code: 550, EnhancedCode: enhanced, Message: diag, RemoteMTA: diag}
		for _, action := range []queue.Action{queue.ActionFailed, queue.ActionDelayed} {
			r := &queue.Report{Message: m, Action: action, Recipients: []int{1}, Hostname: "h.example", Date: dated, Deadline: dated}
			var buf bytes.Buffer
			if err := r.Write(&buf, strings.NewReader(content)); err != nil {
				t.Fatalf("Write: %v", err)
			}
			b := buf.Bytes()
			global := r.Global()
			if !global && !utf8.Valid(b[:bytes.Index(b, []byte("\r\n\r\n"))]) {
				t.Fatalf("ASCII report has a non-UTF-8 header")
			}
			p := parseReport(t, b)
			if len(p.Parts) != 3 {
				t.Fatalf("%d parts", len(p.Parts))
			}
			if len(p.PerRecipient) != 1 {
				t.Fatalf("%d recipient blocks:\n%s", len(p.PerRecipient), p.Parts[1])
			}
			allowed := map[string]bool{"Original-Recipient": true, "Final-Recipient": true, "Action": true, "Status": true,
				"Remote-Mta": true, "Diagnostic-Code": true, "Last-Attempt-Date": true, "Will-Retry-Until": true}
			n := 0
			for fl := p.PerRecipient[0].Fields(); fl.Next(); n++ {
				if !allowed[fl.Key()] {
					t.Fatalf("unexpected field %s: %q", fl.Key(), fl.Value())
				}
				if !global && !isASCIIString(fl.Value()) {
					t.Fatalf("non-ASCII %s in an ASCII report: %q", fl.Key(), fl.Value())
				}
			}
			if got := p.PerRecipient[0].Get("Status"); !statusRE.MatchString(got) {
				t.Fatalf("Status %q", got)
			}
			if got := p.PerRecipient[0].Get("Action"); got != string(action) {
				t.Fatalf("Action %q", got)
			}
			// Well-formed content comes back unchanged; other content is
			// made well-formed (see Report.Write).
			if r.ReturnsContent() && wellFormed(content) && string(p.Parts[2]) != content {
				t.Fatalf("returned content %q, want %q", p.Parts[2], content)
			}
		}
	})
}

func isASCIIString(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// wellFormed reports whether s is CRLF-terminated lines of at most 998
// octets, or empty.
func wellFormed(s string) bool {
	if s == "" {
		return true
	}
	if !strings.HasSuffix(s, "\r\n") {
		return false
	}
	for line := range strings.SplitSeq(strings.TrimSuffix(s, "\r\n"), "\r\n") {
		if len(line) > 998 || strings.ContainsAny(line, "\r\n") {
			return false
		}
	}
	return true
}
