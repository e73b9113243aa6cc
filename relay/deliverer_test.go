package relay_test

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/postyard/postyard/queue"
	"github.com/postyard/postyard/smtp"
)

// zone returns DNS data for the tests: example.test and sender.test have
// their MX at 127.0.0.1; null.test publishes a null MX.
func dlZone(extra ...string) string {
	return `
example.test.     MX 10 mx.example.test.
mx.example.test.  A  127.0.0.1
sender.test.      MX 10 mx.sender.test.
mx.sender.test.   A  127.0.0.1
null.test.        MX 0 .
` + strings.Join(extra, "\n")
}

// TestDelivererSmtpSink delivers to Postfix's smtp-sink: many small
// messages, a 10 MiB message and a message with 100 recipients, and checks
// that each arrived once, byte for byte.
func TestDelivererSmtpSink(t *testing.T) {
	s := startSink(t)
	r := newRig(t, dlZone(), s.port)
	r.start(t)

	want := map[string][]byte{}
	for i := range 20 {
		subj := "small " + strconv.Itoa(i)
		body := testMessage(subj, 4<<10)
		want[subj] = body
		r.enqueue(t, "sender@sender.test", []string{"rcpt@example.test"}, body, nil)
	}
	big := testMessage("big", 10<<20)
	want["big"] = big
	r.enqueue(t, "sender@sender.test", []string{"rcpt@example.test"}, big, nil)
	var many []string
	for i := range 100 {
		many = append(many, fmt.Sprintf("rcpt%03d@example.test", i))
	}
	wide := testMessage("wide", 8<<10)
	want["wide"] = wide
	r.enqueue(t, "sender@sender.test", many, wide, &smtp.MailOptions{Body: smtp.Body8BitMIME})

	r.ev.wait(t, "all delivered", func(l []queue.Event) bool { return countEvents(l, queue.EventRemoved) == 22 })
	evs := r.ev.wait(t, "", func([]queue.Event) bool { return true })
	if n := countEvents(evs, queue.EventDelivered); n != 121 {
		t.Errorf("%d recipients delivered, want 121", n)
	}
	if n := countEvents(evs, queue.EventFailed); n != 0 {
		t.Errorf("%d recipients failed:\n%s", n, dumpEvents(evs))
	}

	got := s.messages(t)
	if len(got) != 22 {
		t.Fatalf("smtp-sink got %d messages, want 22", len(got))
	}
	seen := map[string]bool{}
	var total int
	for _, m := range got {
		subj := ""
		for _, l := range strings.Split(string(m.body[:min(len(m.body), 500)]), "\n") {
			if v, ok := strings.CutPrefix(l, "Subject: "); ok {
				subj = v
			}
		}
		w, ok := want[subj]
		if !ok || seen[subj] {
			t.Errorf("unexpected or repeated message %q", subj)
			continue
		}
		seen[subj] = true
		if !bytes.Equal(m.body, crlfToLF(w)) {
			t.Errorf("message %q: %d octets arrived, want %d (content differs)", subj, len(m.body), len(crlfToLF(w)))
		}
		total += len(m.body)
		if !strings.HasPrefix(m.mail, "<sender@sender.test>") {
			t.Errorf("message %q: MAIL %q", subj, m.mail)
		}
		wantRcpts := 1
		if subj == "wide" {
			wantRcpts = 100
			if !strings.Contains(m.mail, "BODY=8BITMIME") {
				t.Errorf("BODY=8BITMIME not passed on: %q", m.mail)
			}
		}
		if len(m.rcpts) != wantRcpts {
			t.Errorf("message %q: %d recipients, want %d", subj, len(m.rcpts), wantRcpts)
		}
	}
	wantTotal := 0
	for _, w := range want {
		wantTotal += len(crlfToLF(w))
	}
	if total != wantTotal {
		t.Errorf("smtp-sink got %d octets in all, want %d", total, wantTotal)
	}
}

// TestDelivererConnectionReuse: messages to one destination share
// connections, at most MaxConnsPerDest at once.
func TestDelivererConnectionReuse(t *testing.T) {
	port := freePort(t)
	var mu countConns
	c := &captureBackend{connect: func(*smtp.ConnInfo) error { mu.inc(); return nil }}
	serveSMTP(t, &smtp.Server{Hostname: "mx.example.test", Backend: c}, "127.0.0.1", port, false)
	r := newRig(t, dlZone(), port)
	r.d.MaxConnsPerDest = 2
	r.start(t)
	for i := range 30 {
		r.enqueue(t, "sender@sender.test", []string{"rcpt@example.test"}, testMessage("m"+strconv.Itoa(i), 1000), nil)
	}
	r.ev.wait(t, "all delivered", func(l []queue.Event) bool { return countEvents(l, queue.EventRemoved) == 30 })
	if n := len(c.got()); n != 30 {
		t.Fatalf("server got %d messages, want 30", n)
	}
	if n := mu.get(); n > 2 {
		t.Errorf("%d connections for 30 messages, want at most MaxConnsPerDest = 2", n)
	}
}

// TestDelivererNullMX: a domain with a null MX fails at once, and the
// sender gets a failure report.
func TestDelivererNullMX(t *testing.T) {
	port := freePort(t)
	c := &captureBackend{}
	serveSMTP(t, &smtp.Server{Hostname: "mx.sender.test", Backend: c}, "127.0.0.1", port, false)
	r := newRig(t, dlZone(), port)
	r.start(t)
	id := r.enqueue(t, "sender@sender.test", []string{"nobody@null.test"}, testMessage("to null", 500), nil)
	evs := r.ev.wait(t, "report delivered", func(l []queue.Event) bool { return countEvents(l, queue.EventRemoved) == 2 })
	f := findEvent(evs, queue.EventFailed)
	if f == nil || f.ID != id || !f.Err.Permanent || f.Err.Status() != "5.1.10" {
		t.Fatalf("want a permanent 5.1.10 failure; eventLog:\n%s", dumpEvents(evs))
	}
	if n := countEvents(evs, queue.EventDeferred); n != 0 {
		t.Errorf("%d deferrals, want none", n)
	}
	got := c.got()
	if len(got) != 1 || !got[0].from.IsNull() || got[0].rcpts[0].String() != "sender@sender.test" {
		t.Fatalf("want one report to sender@sender.test from <>, got %+v", got)
	}
	if !bytes.Contains(got[0].data, []byte("multipart/report")) || !bytes.Contains(got[0].data, []byte("5.1.10")) {
		t.Errorf("report does not look right:\n%s", got[0].data)
	}
}

// TestDeliverer5xx: a recipient refused with 5yz fails for good and the
// sender gets a report naming the remote host and its reply; the other
// recipient is delivered.
func TestDeliverer5xx(t *testing.T) {
	port := freePort(t)
	c := &captureBackend{rcpt: func(_ *smtp.ConnInfo, to smtp.Path) error {
		if to.Local == "bad" {
			return &smtp.Error{Code: 550, EnhancedCode: "5.1.1", Message: "no such mailbox here"}
		}
		return nil
	}}
	serveSMTP(t, &smtp.Server{Hostname: "mx.example.test", Backend: c}, "127.0.0.1", port, false)
	r := newRig(t, dlZone(), port)
	r.start(t)
	r.enqueue(t, "sender@sender.test", []string{"good@example.test", "bad@example.test"}, testMessage("mixed", 500), nil)
	evs := r.ev.wait(t, "report delivered", func(l []queue.Event) bool { return countEvents(l, queue.EventRemoved) == 2 })
	f := findEvent(evs, queue.EventFailed)
	if f == nil || f.Recipient != 1 || f.Err.Code != 550 || f.Err.Status() != "5.1.1" || f.Err.RemoteMTA != "mx.example.test" {
		t.Fatalf("want recipient 1 failed with 550 5.1.1 at mx.example.test; eventLog:\n%s", dumpEvents(evs))
	}
	got := c.got()
	if len(got) != 2 {
		t.Fatalf("server got %d messages, want the message and a report", len(got))
	}
	report := got[1]
	if !report.from.IsNull() || report.rcpts[0].String() != "sender@sender.test" {
		report = got[0]
	}
	for _, want := range []string{"multipart/report", "bad@example.test", "5.1.1", "mx.example.test", "no such mailbox here"} {
		if !bytes.Contains(report.data, []byte(want)) {
			t.Errorf("report lacks %q:\n%s", want, report.data)
		}
	}
}

// TestDeliverer4xxThenSuccess: a 4yz reply defers the recipient; the
// retry delivers it, once.
func TestDeliverer4xxThenSuccess(t *testing.T) {
	port := freePort(t)
	var tries countConns
	c := &captureBackend{rcpt: func(*smtp.ConnInfo, smtp.Path) error {
		if tries.inc() == 1 {
			return &smtp.Error{Code: 451, EnhancedCode: "4.3.0", Message: "try again later"}
		}
		return nil
	}}
	serveSMTP(t, &smtp.Server{Hostname: "mx.example.test", Backend: c}, "127.0.0.1", port, false)
	r := newRig(t, dlZone(), port)
	r.start(t)
	r.enqueue(t, "sender@sender.test", []string{"rcpt@example.test"}, testMessage("retry", 500), nil)
	evs := r.ev.wait(t, "delivered", func(l []queue.Event) bool { return countEvents(l, queue.EventRemoved) == 1 })
	d := findEvent(evs, queue.EventDeferred)
	if d == nil || d.Err.Code != 451 || d.Err.Permanent {
		t.Fatalf("want a 451 deferral first; eventLog:\n%s", dumpEvents(evs))
	}
	if countEvents(evs, queue.EventDelivered) != 1 || len(c.got()) != 1 {
		t.Fatalf("want one delivery; server got %d; eventLog:\n%s", len(c.got()), dumpEvents(evs))
	}
}

// TestDelivererMXFallback: the first MX refuses connections, the second
// answers 421; the third takes the message on the first attempt.
func TestDelivererMXFallback(t *testing.T) {
	port := freePort(t, "127.0.0.2", "127.0.0.3", "127.0.0.4")
	busy := &captureBackend{connect: func(*smtp.ConnInfo) error {
		return &smtp.Error{Code: 421, EnhancedCode: "4.3.2", Message: "too busy"}
	}}
	serveSMTP(t, &smtp.Server{Hostname: "mx2.fallback.test", Backend: busy}, "127.0.0.3", port, false)
	good := &captureBackend{}
	serveSMTP(t, &smtp.Server{Hostname: "mx3.fallback.test", Backend: good}, "127.0.0.4", port, false)
	r := newRig(t, dlZone(`
fallback.test.     MX 10 mx1.fallback.test.
fallback.test.     MX 20 mx2.fallback.test.
fallback.test.     MX 30 mx3.fallback.test.
mx1.fallback.test. A 127.0.0.2
mx2.fallback.test. A 127.0.0.3
mx3.fallback.test. A 127.0.0.4
`), port)
	r.start(t)
	r.enqueue(t, "sender@sender.test", []string{"rcpt@fallback.test"}, testMessage("fallback", 500), nil)
	evs := r.ev.wait(t, "delivered", func(l []queue.Event) bool { return countEvents(l, queue.EventRemoved) == 1 })
	if countEvents(evs, queue.EventDeferred) != 0 || countEvents(evs, queue.EventDelivered) != 1 {
		t.Fatalf("want delivery on the first attempt; eventLog:\n%s", dumpEvents(evs))
	}
	if len(good.got()) != 1 || len(busy.got()) != 0 {
		t.Fatalf("mx3 got %d, mx2 got %d; want 1 and 0", len(good.got()), len(busy.got()))
	}
}

// TestDelivererSMTPUTF8: an internationalized message to a server
// without SMTPUTF8 (smtp-sink) fails permanently instead of being
// mangled.
func TestDelivererSMTPUTF8(t *testing.T) {
	s := startSink(t)
	r := newRig(t, dlZone(), s.port)
	r.start(t)
	r.enqueue(t, "", []string{"jösé@example.test"}, testMessage("utf8", 500), &smtp.MailOptions{UTF8: true})
	evs := r.ev.wait(t, "failed", func(l []queue.Event) bool { return countEvents(l, queue.EventRemoved) == 1 })
	f := findEvent(evs, queue.EventFailed)
	if f == nil || !f.Err.Permanent || f.Err.Status() != "5.6.7" {
		t.Fatalf("want a permanent 5.6.7 failure; eventLog:\n%s", dumpEvents(evs))
	}
	if n := len(s.messages(t)); n != 0 {
		t.Errorf("smtp-sink got %d messages", n)
	}
}

// TestDelivererShutdown: Shutdown returns promptly with nothing to do,
// and Start fails afterwards.
func TestDelivererShutdown(t *testing.T) {
	r := newRig(t, dlZone(), freePort(t))
	r.start(t)
	if err := r.d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.d.Start(); err == nil {
		t.Fatal("Start after Close succeeded")
	}
}
