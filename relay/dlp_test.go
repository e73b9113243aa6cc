package relay_test

import (
	"encoding/base64"
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"strings"
	"testing"

	"github.com/postyard/postyard/auth"
	"github.com/postyard/postyard/mailbox/memstore"
	"github.com/postyard/postyard/queue"
	"github.com/postyard/postyard/queue/memqueue"
	"github.com/postyard/postyard/relay"
	"github.com/postyard/postyard/smtp"
)

func qpPart(ctype, qp string) string {
	return "Content-Type: " + ctype + "\nContent-Transfer-Encoding: quoted-printable\n\n" + qp + "\n"
}

func TestDLPCardNumbers(t *testing.T) {
	dlp := &relay.DLP{Rules: []relay.DLPRule{{Name: "cards", CardNumbers: true}}}
	for _, tc := range []struct {
		name, msg string
		match     bool
	}{
		{"plain text", mailWith(textPart[:len(textPart)-1] + " Card: 4111 1111 1111 1111, exp 09/27\n"), true},
		{"dashes", mailWith("Content-Type: text/plain\n\npay 5555-5555-5555-4444 now\n"), true},
		{"in the subject", crlf("From: a@example.org\nSubject: =?utf-8?q?card_378282246310005?=\n\nhi\n"), true},
		{"split by a soft line break", mailWith(qpPart("text/plain; charset=us-ascii", "Card 4111 1111 11=\n11 1111 thanks")), true},
		{"quoted-printable digits", mailWith(qpPart("text/plain", "=34=31=31=31=31=31=31=31=31=31=31=31=31=31=31=31")), true},
		{"HTML table cells", mailWith(multipart("alternative", "a1", textPart,
			"Content-Type: text/html\n\n<table><tr><td>4111 1111</td><td>1111 1111</td></tr></table>\n")), true},
		{"HTML character references", mailWith("Content-Type: text/html\n\n<p>&#52;111&nbsp;1111&#x20;1111 1111</p>\n"), true},
		{"base64 CSV attachment", mailWith(multipart("mixed", "b1", textPart,
			attachment("Content-Type: application/octet-stream\nContent-Disposition: attachment; filename=customers.csv", "name,card\r\nBob,6011111111111117\r\n"))), true},
		{"UTF-16 text", mailWith("Content-Type: text/plain; charset=utf-16le\nContent-Transfer-Encoding: base64\n\n" +
			base64.StdEncoding.EncodeToString(utf16le("card 4111111111111111")) + "\n"), true},
		{"zero-width spaces", mailWith("Content-Type: text/plain; charset=utf-8\n\n4111\u200b1111\u200b1111\u200b1111\n"), true},

		{"fails Luhn", mailWith("Content-Type: text/plain\n\ncard 4111 1111 1111 1112\n"), false},
		{"phone numbers", mailWith("Content-Type: text/plain\n\ncall +1 415 555 2671 or +44 20 7946 0958 or (415) 555-2671\n"), false},
		{"order and tracking numbers", mailWith("Content-Type: text/plain\n\nOrder 2024-000123-4567, tracking 1Z999AA10123456784, ref 00000041111111111111110\n"), false},
		{"binary attachment", mailWith(multipart("mixed", "b1", textPart,
			attachment("Content-Type: application/pdf\nContent-Disposition: attachment; filename=a.pdf", "4111 1111 1111 1111"))), false},
	} {
		v := dataVerdict(t, dlp, false, tc.msg)
		if !tc.match {
			if v.Action != relay.ActionDefault {
				t.Errorf("%s: %+v", tc.name, v)
			}
			continue
		}
		if v.Action != relay.ActionReject || v.Reply == nil || v.Reply.Code != 550 || v.Reply.EnhancedCode != "5.7.1" ||
			v.Reply.Message != "Message refused by data-loss rule cards" {
			t.Errorf("%s: %+v %+v", tc.name, v, v.Reply)
			continue
		}
		if v.Reason != "data-loss rule cards: 1 card number" {
			t.Errorf("%s: reason %q", tc.name, v.Reason)
		}
	}
}

// utf16le encodes ASCII s as UTF-16LE with a byte order mark.
func utf16le(s string) []byte {
	b := []byte{0xff, 0xfe}
	for _, c := range []byte(s) {
		b = append(b, c, 0)
	}
	return b
}

func TestDLPRules(t *testing.T) {
	dlp := &relay.DLP{Rules: []relay.DLPRule{
		{Name: "secret", Keywords: []string{"Confidential", "geschäftsgeheimnis", "top  secret"}, Action: relay.ActionQuarantine},
		{Name: "falcon", Patterns: []*regexp.Regexp{regexp.MustCompile(`(?i)\bproject\s+falcon\b`)}},
		{Name: "keys", FileNames: []*regexp.Regexp{regexp.MustCompile(`(?i)\.(kdbx|pem|key)$`)}},
		{Name: "iban", IBANs: true},
	}}
	for _, tc := range []struct {
		name, msg, rule string
	}{
		{"keyword split by a soft line break", mailWith(qpPart("text/plain", "This is strictly confi=\ndential.")), "secret"},
		{"keyword in latin-1", mailWith(qpPart("text/plain; charset=iso-8859-1", "Ein Gesch=E4ftsgeheimnis!")), "secret"},
		{"phrase across lines", mailWith("Content-Type: text/plain\n\nthis is TOP\n   Secret\n"), "secret"},
		{"keyword in an attachment name", mailWith(multipart("mixed", "b1", textPart,
			attachment("Content-Type: application/pdf; name=\"Confidential-roadmap.pdf\"", "%PDF"))), "secret"},
		{"pattern across HTML tags", mailWith("Content-Type: text/html\n\n<b>Project</b>\n<i>Falcon</i> launches\n"), "falcon"},
		{"pattern in an enclosed message", mailWith(multipart("mixed", "b1", textPart,
			"Content-Type: message/rfc822\n\nSubject: fwd\n\nabout project falcon\n")), "falcon"},
		{"Subject of an enclosed message", mailWith(multipart("mixed", "b1", textPart,
			"Content-Type: message/rfc822\n\nSubject: =?utf-8?q?Project_Falcon?=\n\nsee subject\n")), "falcon"},
		{"file name", mailWith(multipart("mixed", "b1", textPart,
			attachment("Content-Type: application/octet-stream\nContent-Disposition: attachment; filename*=utf-8''passwords.KDBX", "x"))), "keys"},
		{"IBAN", mailWith("Content-Type: text/plain\n\nplease pay to DE89 3704 0044 0532 0130 00 today\n"), "iban"},
	} {
		v := dataVerdict(t, dlp, false, tc.msg)
		if !strings.HasPrefix(v.Reason, "data-loss rule "+tc.rule+":") {
			t.Errorf("%s: %+v", tc.name, v)
		}
	}
	for name, msg := range map[string]string{
		"other words":    mailWith("Content-Type: text/plain\n\nthe secretary of project falconry; unconfidentiality\n"),
		"invalid IBAN":   mailWith("Content-Type: text/plain\n\nDE89 3704 0044 0532 0130 01\n"),
		"ok attachments": mailWith(multipart("mixed", "b1", textPart, attachment("Content-Type: application/pdf; name=\"notes.pdf\"", "x"))),
	} {
		if v := dataVerdict(t, dlp, false, msg); v.Action != relay.ActionDefault {
			t.Errorf("%s: %+v", name, v)
		}
	}
	if v := dataVerdict(t, dlp, false, mailWith(qpPart("text/plain", "confidential"))); v.Action != relay.ActionQuarantine || v.Reply != nil {
		t.Errorf("quarantine rule: %+v", v)
	}
}

func TestDLPOptions(t *testing.T) {
	cards := func(n ...string) string {
		return mailWith("Content-Type: text/plain\n\n" + strings.Join(n, "\n") + "\n")
	}
	dlp := &relay.DLP{Rules: []relay.DLPRule{{Name: "bulk", CardNumbers: true, MinMatches: 3, Direction: relay.DirectionOutgoing}}}
	if v := dataVerdict(t, dlp, true, cards("4111111111111111", "5555555555554444")); v.Action != relay.ActionDefault {
		t.Errorf("2 of 3: %+v", v)
	}
	if v := dataVerdict(t, dlp, true, cards("4111111111111111", "4111 1111 1111 1111", "4111-1111-1111-1111")); v.Action != relay.ActionDefault {
		t.Errorf("one card three times: %+v", v)
	}
	three := cards("4111111111111111", "5555555555554444", "378282246310005")
	v := dataVerdict(t, dlp, true, three)
	if v.Action != relay.ActionReject || v.Reason != "data-loss rule bulk: 3 card number" {
		t.Errorf("3 of 3: %+v", v)
	}
	if strings.Contains(v.Reason, "4111") {
		t.Errorf("matched value in the reason: %q", v.Reason)
	}
	if v := dataVerdict(t, dlp, false, three); v.Action != relay.ActionDefault {
		t.Errorf("outgoing rule on incoming mail: %+v", v)
	}

	// Scanning stops after MaxScanBytes of text.
	late := mailWith("Content-Type: text/plain\n\n" + strings.Repeat("padding ", 200) + "4111111111111111\n")
	dlp = &relay.DLP{Rules: []relay.DLPRule{{Name: "cards", CardNumbers: true}}, MaxScanBytes: 1000}
	if v := dataVerdict(t, dlp, false, late); v.Action != relay.ActionDefault {
		t.Errorf("card after MaxScanBytes: %+v", v)
	}
	dlp.MaxScanBytes = -1
	if v := dataVerdict(t, dlp, false, late); v.Action != relay.ActionReject {
		t.Errorf("unlimited scan: %+v", v)
	}

	// A structure too deep to check is held (the first rule's action).
	deep := textPart
	for i := range 5 {
		deep = multipart("mixed", fmt.Sprintf("d%d", i), deep)
	}
	dlp = &relay.DLP{Rules: []relay.DLPRule{{Name: "cards", CardNumbers: true, Action: relay.ActionQuarantine}},
		Limits: relay.MIMELimits{MaxDepth: 3}, Logger: discard}
	if v := dataVerdict(t, dlp, false, mailWith(deep)); v.Action != relay.ActionQuarantine {
		t.Errorf("too deep: %+v", v)
	}
	dlp.OnLimit = relay.ActionAccept
	if v := dataVerdict(t, dlp, false, mailWith(deep)); v.Action != relay.ActionDefault {
		t.Errorf("too deep, OnLimit accept: %+v", v)
	}
}

// TestDLPSubmissionHeld submits mail with card numbers through a
// Submission server whose data-loss rule quarantines outgoing mail: the
// remote copy is held in the queue.
func TestDLPSubmissionHeld(t *testing.T) {
	f := &fixture{store: memstore.New(nil), q: memqueue.New(&queue.Options{Hostname: "mx.example.com"})}
	t.Cleanup(func() { f.q.Close(); f.store.Close() })
	users := &auth.Users{}
	users.Add("alice", "secret")
	dlp := &relay.DLP{Rules: []relay.DLPRule{
		{Name: "cards", CardNumbers: true, Direction: relay.DirectionOutgoing, Action: relay.ActionQuarantine},
		{Name: "falcon", Keywords: []string{"project falcon"}, Direction: relay.DirectionOutgoing},
	}}
	sub := &relay.Submission{
		Inbound:  relay.Inbound{Policy: testPolicy(), Deliverer: f.store, Queue: f.q, Filters: []relay.Filter{dlp}, Logger: slog.New(slog.DiscardHandler)},
		Hostname: "mx.example.com",
	}
	srv := &smtp.Server{Hostname: "mx.example.com", Backend: sub, Authenticator: users, AllowInsecureAuth: true, RequireAuth: true, Logger: slog.New(slog.DiscardHandler)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	msg := "From: alice@example.com\r\nTo: carol@elsewhere.example\r\nSubject: order\r\n\r\nmy card: 4111 1111 1111 1111"
	if _, data := submit(t, ln.Addr().String(), "alice@example.com", "carol@elsewhere.example", msg); !strings.HasPrefix(data, "250") {
		t.Fatalf("DATA: %q", data)
	}
	q := f.queued(t)
	if len(q) != 1 || !q[0].Held {
		t.Fatalf("queued: %+v", q)
	}
	msg = "From: alice@example.com\r\nTo: carol@elsewhere.example\r\nSubject: news\r\n\r\nProject Falcon is late."
	if _, data := submit(t, ln.Addr().String(), "alice@example.com", "carol@elsewhere.example", msg); data != "550 5.7.1 Message refused by data-loss rule falcon" {
		t.Fatalf("DATA: %q", data)
	}
	if n := len(f.queued(t)); n != 1 {
		t.Fatalf("%d queued after the refusal", n)
	}
}

// A data-loss rule set for outgoing mail: card numbers and IBANs hold the
// message in the queue, a project name refuses it.
func ExampleDLP() {
	dlp := &relay.DLP{Rules: []relay.DLPRule{
		{Name: "payment data", Direction: relay.DirectionOutgoing, CardNumbers: true, IBANs: true, Action: relay.ActionQuarantine},
		{Name: "falcon", Direction: relay.DirectionOutgoing, Keywords: []string{"project falcon"},
			FileNames: []*regexp.Regexp{regexp.MustCompile(`(?i)falcon.*\.(pdf|docx)$`)}},
	}}
	sub := &relay.Submission{Inbound: relay.Inbound{Filters: []relay.Filter{dlp, &relay.AttachmentRule{}, &relay.SizeRule{MaxOutgoing: 10 << 20}}}}
	fmt.Println(len(sub.Filters))
	// Output: 3
}
