package queuetest

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/postyard/postyard/queue"
	"github.com/postyard/postyard/smtp"
)

// leaseUntil leases (waiting) until it gets a message other than id, and
// completes every lease of id with fail.
func (s *suite) failUntilGone(t *testing.T, id queue.ID, fail queue.Outcome) *queue.Lease {
	t.Helper()
	for {
		l, err := s.q.Lease(ctx, nil)
		if err != nil {
			t.Fatalf("Lease: %v", err)
		}
		if l.ID() != id {
			return l
		}
		s.complete(t, l, fail)
	}
}

func testExpiry(t *testing.T, s *suite) {
	start := time.Now()
	id := s.enqueue(t, envelope(rcpt("a", "dest.example")), body)
	l := s.failUntilGone(t, id, queue.TempFail(0, tempErr("mailbox busy"), time.Time{}))
	// The last attempt was made when the message expired, or up to
	// DestinationMax later if its destination was backing off.
	if d := time.Since(start); d < 2*time.Hour || d > 2*time.Hour+queue.DefaultDestinationMax {
		t.Errorf("expired after %v, want 2h (+5m)", d)
	}
	s.gone(t, id)
	if ks := s.events.kinds(id); !slices.Contains(ks, queue.EventExpired) || ks[len(ks)-1] != queue.EventRemoved {
		t.Errorf("events %v: want expired ... removed", ks)
	}
	rep := s.wantReports(t, queue.ActionFailed)[0]
	if rep.msg.ID != l.ID() {
		t.Errorf("leased %s, want the report %s", l.ID(), rep.msg.ID)
	}
	r := rep.PerRecipient[0]
	for field, want := range map[string]string{
		"Final-Recipient": "rfc822; a@dest.example",
		"Action":          "failed",
		"Status":          "5.4.7",
		"Remote-MTA":      "dns; mx.dest.example",
		"Diagnostic-Code": "smtp; 451 4.3.0 mailbox busy",
	} {
		if got := r.Get(field); got != want {
			t.Errorf("%s = %q, want %q", field, got, want)
		}
	}
}

func testDelayReport(t *testing.T, s *suite) {
	start := time.Now()
	id := s.enqueue(t, envelope(rcpt("a", "dest.example"), rcpt("b", "dest.example")), body)
	// Fail for an hour: one delay report after 30 minutes.
	for time.Since(start) < time.Hour {
		l, err := s.q.Lease(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if l.ID() != id {
			continue // the report; leave it leased
		}
		var outcomes []queue.Outcome
		for _, i := range l.Recipients {
			outcomes = append(outcomes, queue.TempFail(i, tempErr("try later"), time.Time{}))
		}
		s.complete(t, l, outcomes...)
	}
	rep := s.wantReports(t, queue.ActionDelayed)[0]
	if len(rep.PerRecipient) != 2 {
		t.Fatalf("%d recipients in the delay report, want 2", len(rep.PerRecipient))
	}
	m := s.inspect(t, id)
	for field, want := range map[string]string{
		"Action":           "delayed",
		"Status":           "4.3.0",
		"Diagnostic-Code":  "smtp; 451 4.3.0 try later",
		"Will-Retry-Until": m.Enqueued.Add(queue.DefaultExpire).Format(time.RFC1123Z),
	} {
		if got := rep.PerRecipient[1].Get(field); got != want {
			t.Errorf("%s = %q, want %q", field, got, want)
		}
	}
	if got := rep.PerMessage.Get("Arrival-Date"); got != m.Enqueued.Format(time.RFC1123Z) {
		t.Errorf("Arrival-Date = %q", got)
	}
	if !slices.Equal(rep.Types, []string{"text/plain", "message/delivery-status", "text/rfc822-headers"}) {
		t.Errorf("parts %v", rep.Types)
	}
	if !strings.Contains(rep.returned, "Subject: test") || strings.Contains(rep.returned, "Hello.") {
		t.Errorf("delay report returned %q, want the header only", rep.returned)
	}
	for i := range m.Recipients {
		if !m.Recipients[i].DelayReported {
			t.Errorf("recipient %d: DelayReported not set", i)
		}
	}
}

func testSuccessReport(t *testing.T, s *suite) {
	env := envelope(rcpt("a", "dest.example"), rcpt("b", "dest.example"))
	env.Recipients[0].Options = smtp.RcptOptions{Notify: smtp.NotifySuccess, OriginalRcpt: "A@Dest.example", OriginalRcptType: "rfc822"}
	env.Options.EnvelopeID = "envid-1"
	id := s.enqueue(t, env, body)
	s.complete(t, s.leaseID(t, id), queue.Delivered(0, "mx.dest.example"), queue.Delivered(1, "mx.dest.example"))
	s.gone(t, id)
	rep := s.wantReports(t, queue.ActionDelivered)[0]
	if len(rep.PerRecipient) != 1 {
		t.Fatalf("%d recipients in the success report, want 1", len(rep.PerRecipient))
	}
	for field, want := range map[string]string{
		"Original-Recipient": "rfc822; A@Dest.example",
		"Final-Recipient":    "rfc822; a@dest.example",
		"Status":             "2.0.0",
		"Remote-MTA":         "dns; mx.dest.example",
	} {
		if got := rep.PerRecipient[0].Get(field); got != want {
			t.Errorf("%s = %q, want %q", field, got, want)
		}
	}
	if got := rep.PerMessage.Get("Original-Envelope-Id"); got != "envid-1" {
		t.Errorf("Original-Envelope-Id = %q", got)
	}
	if got := rep.PerMessage.Get("Reporting-MTA"); got != "dns; mx.test.example" {
		t.Errorf("Reporting-MTA = %q", got)
	}
	if rep.Types[2] != "text/rfc822-headers" {
		t.Errorf("success report returns %s, want the header only", rep.Types[2])
	}
	if !rep.msg.Envelope.From.IsNull() {
		t.Errorf("report sent from %v, want <>", rep.msg.Envelope.From)
	}
}

func testNoReports(t *testing.T, s *suite) {
	// Null reverse-path, NOTIFY=NEVER, NOTIFY without FAILURE: no report
	// for a permanent failure.
	nullEnv := &queue.Envelope{Recipients: []queue.Recipient{rcpt("a", "dest.example")}}
	never := envelope(rcpt("b", "dest.example"))
	never.Recipients[0].Options.Notify = smtp.NotifyNever
	success := envelope(rcpt("c", "dest.example"))
	success.Recipients[0].Options.Notify = smtp.NotifySuccess | smtp.NotifyDelay
	for _, env := range []*queue.Envelope{nullEnv, never, success} {
		id := s.enqueue(t, env, body)
		s.complete(t, s.leaseID(t, id), queue.PermFail(0, permErr("no")))
		s.gone(t, id)
	}
	s.nothingDue(t)
	s.wantReports(t)
}

func testReportReturn(t *testing.T, s *suite) {
	big := body + strings.Repeat("x", 1000) + "\r\n"
	utf8Env := envelope(queue.Recipient{To: smtp.Path{Local: "ü", Domain: "dest.example"}})
	utf8Env.Options.UTF8 = true
	hdrs := envelope(rcpt("a", "dest.example"))
	hdrs.Options.Return = smtp.DSNReturnHeaders
	full := envelope(rcpt("a", "dest.example"))
	full.Options.Return = smtp.DSNReturnFull
	tls := envelope(rcpt("a", "dest.example"))
	tls.Options.RequireTLS = true
	for _, tc := range []struct {
		name    string
		env     *queue.Envelope
		content string
		types   []string
		opts    smtp.MailOptions
	}{
		{"default", envelope(rcpt("a", "dest.example")), body,
			[]string{"text/plain", "message/delivery-status", "message/rfc822"}, smtp.MailOptions{}},
		{"RET=FULL", full, body,
			[]string{"text/plain", "message/delivery-status", "message/rfc822"}, smtp.MailOptions{}},
		{"RET=HDRS", hdrs, body,
			[]string{"text/plain", "message/delivery-status", "text/rfc822-headers"}, smtp.MailOptions{}},
		{"over ReturnLimit", envelope(rcpt("a", "dest.example")), big,
			[]string{"text/plain", "message/delivery-status", "text/rfc822-headers"}, smtp.MailOptions{}},
		{"REQUIRETLS", tls, body,
			[]string{"text/plain", "message/delivery-status", "text/rfc822-headers"}, smtp.MailOptions{RequireTLS: true}},
		{"SMTPUTF8", utf8Env, body,
			[]string{"text/plain", "message/global-delivery-status", "message/global"}, smtp.MailOptions{UTF8: true, Body: smtp.Body8BitMIME}},
	} {
		id := s.enqueue(t, tc.env, tc.content)
		s.complete(t, s.leaseID(t, id), queue.PermFail(0, permErr("no")))
		reps := s.reports(t)
		if len(reps) != 1 {
			t.Fatalf("%s: %d reports", tc.name, len(reps))
		}
		rep := s.readReport(t, reps[0].ID)
		if !slices.Equal(rep.Types, tc.types) {
			t.Errorf("%s: parts %v, want %v", tc.name, rep.Types, tc.types)
		}
		if tc.types[2] == "message/rfc822" && rep.returned != tc.content {
			t.Errorf("%s: returned %q, want the message", tc.name, rep.returned)
		}
		if got := rep.msg.Envelope.Options; got.UTF8 != tc.opts.UTF8 || got.RequireTLS != tc.opts.RequireTLS {
			t.Errorf("%s: report MAIL options %+v, want %+v", tc.name, got, tc.opts)
		}
		if tc.name == "SMTPUTF8" {
			if got := rep.PerRecipient[0].Get("Final-Recipient"); got != "utf-8; ü@dest.example" {
				t.Errorf("Final-Recipient = %q", got)
			}
		}
		if err := s.q.Delete(ctx, reps[0].ID); err != nil {
			t.Fatal(err)
		}
	}
}
