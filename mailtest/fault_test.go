package mailtest_test

import (
	"context"
	"errors"
	"io"
	"net"
	netsmtp "net/smtp"
	"net/textproto"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/postyard/postyard/mailtest"
	"github.com/postyard/postyard/smtp"
)

// code returns the SMTP reply code in err, 0 if none.
func code(err error) int {
	var tp *textproto.Error
	if errors.As(err, &tp) {
		return tp.Code
	}
	return 0
}

func TestFaultRCPTReply(t *testing.T) {
	srv := mailtest.NewServer(t)
	f := mailtest.OnRCPT(mailtest.To("gone@example.org")).Reply(550, "5.1.1", "no such user")
	srv.Fault(f)
	c, err := netsmtp.Dial(srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Mail("a@example.org"); err != nil {
		t.Fatal(err)
	}
	err = c.Rcpt("gone@example.org")
	if code(err) != 550 || !strings.Contains(err.Error(), "5.1.1 no such user") {
		t.Fatalf("RCPT gone: %v", err)
	}
	if err := c.Rcpt("here@example.org"); err != nil {
		t.Fatalf("RCPT here: %v", err)
	}
	w, _ := c.Data()
	w.Write(msg("a@example.org", "here@example.org", "s", "x"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if m := srv.WaitOne(t); len(m.To) != 1 || m.To[0] != "here@example.org" {
		t.Errorf("To = %v", m.To)
	}
	if f.Fired() != 1 {
		t.Errorf("Fired = %d", f.Fired())
	}
}

func TestFaultTimesEvery(t *testing.T) {
	srv := mailtest.NewServer(t)
	srv.Fault(mailtest.OnDATA().Reply(451, "4.3.0", "try again").Times(1))
	srv.Fault(mailtest.OnMAIL(mailtest.From("every@example.org")).Reply(452, "", "busy").Every(2))
	if err := send(t, srv.Addr(), "a@example.org", []string{"b@example.org"}, "one", "x"); code(err) != 451 {
		t.Fatalf("first DATA: %v", err)
	}
	if err := send(t, srv.Addr(), "a@example.org", []string{"b@example.org"}, "two", "x"); err != nil {
		t.Fatalf("second DATA: %v", err)
	}
	var codes []int
	for range 4 {
		codes = append(codes, code(send(t, srv.Addr(), "every@example.org", []string{"b@example.org"}, "e", "x")))
	}
	if want := []int{0, 452, 0, 452}; !slices.Equal(codes, want) {
		t.Errorf("Every(2) codes = %v, want %v", codes, want)
	}
	// The refused message was not recorded.
	srv.AssertNone(t, 0, mailtest.Subject("one"))
	srv.ClearFaults()
	if err := send(t, srv.Addr(), "every@example.org", []string{"b@example.org"}, "e", "x"); err != nil {
		t.Fatal(err)
	}
}

func TestFaultChanceIsReproducible(t *testing.T) {
	run := func(seed uint64) []int {
		srv := mailtest.NewServer(t)
		srv.Fault(mailtest.OnRCPT().Reply(450, "4.2.0", "mailbox busy").Chance(0.5, seed))
		c, err := netsmtp.Dial(srv.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Mail("a@example.org")
		var codes []int
		for range 40 {
			codes = append(codes, code(c.Rcpt("b@example.org")))
		}
		return codes
	}
	a, b, other := run(7), run(7), run(8)
	if !slices.Equal(a, b) {
		t.Errorf("same seed, different firings:\n%v\n%v", a, b)
	}
	if slices.Equal(a, other) {
		t.Errorf("different seeds, same firings: %v", a)
	}
	n := 0
	for _, c := range a {
		if c == 450 {
			n++
		}
	}
	if n < 8 || n > 32 {
		t.Errorf("%d of 40 fired at p=0.5", n)
	}
}

func TestFaultStages(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault *mailtest.Fault
		code  int // expected reply code; -1 for a dropped connection
	}{
		{"connect reply", mailtest.OnConnect().Reply(554, "5.3.2", "not now"), 554},
		{"connect disconnect", mailtest.OnConnect().Disconnect(), -1},
		{"greeting", mailtest.OnGreeting().Reply(421, "4.3.2", "going down"), 421},
		{"greeting disconnect", mailtest.OnGreeting().Disconnect(), -1},
		// net/smtp tries HELO after a refused EHLO: the fault fires twice.
		{"ehlo", mailtest.OnEHLO().Reply(550, "5.7.1", "go away"), 550},
		{"auth 5xx", mailtest.OnAUTH().Reply(535, "5.7.8", "bad"), 535},
		{"auth 4xx", mailtest.OnAUTH().Reply(454, "4.7.0", "later"), 454},
		{"mail", mailtest.OnMAIL().Reply(421, "4.7.0", "rate limited"), 421},
		{"mail disconnect", mailtest.OnMAIL().Disconnect(), -1},
		{"rcpt disconnect", mailtest.OnRCPT().Disconnect(), -1},
		{"data", mailtest.OnDATA(mailtest.Subject("spam")).Reply(554, "5.7.1", "spam"), 554},
		{"data disconnect", mailtest.OnDATA().Disconnect(), -1},
		{"data delay", mailtest.OnDATA().Delay(20 * time.Millisecond), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := mailtest.NewServer(t)
			srv.Fault(tc.fault)
			start := time.Now()
			err := netsmtp.SendMail(srv.Addr(), netsmtp.PlainAuth("", "u", "p", "127.0.0.1"),
				"a@example.org", []string{"b@example.org"}, msg("a@example.org", "b@example.org", "spam", "x"))
			switch {
			case tc.code == -1:
				if err == nil || code(err) != 0 {
					t.Errorf("want a dropped connection, got %v", err)
				}
			case code(err) != tc.code:
				t.Errorf("got %v, want code %d", err, tc.code)
			}
			if want := map[bool]int{true: 2, false: 1}[tc.name == "ehlo"]; tc.fault.Fired() != want {
				t.Errorf("Fired = %d", tc.fault.Fired())
			}
			if tc.code == 0 {
				srv.WaitOne(t)
				if d := time.Since(start); d < 20*time.Millisecond {
					t.Errorf("delay not applied: %v", d)
				}
			} else {
				srv.AssertNone(t, 0)
			}
		})
	}
}

func TestFaultHang(t *testing.T) {
	srv := mailtest.NewServer(t)
	srv.Fault(mailtest.OnDATA().Hang())
	c, err := smtp.Dial(t.Context(), "tcp", srv.Addr(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	_, err = c.SendMail(ctx, smtp.Path{Local: "a", Domain: "example.org"}, nil,
		[]smtp.Rcpt{{To: smtp.Path{Local: "b", Domain: "example.org"}}},
		strings.NewReader(string(msg("a@example.org", "b@example.org", "s", "x"))))
	if err == nil || !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, net.ErrClosed) && !errors.Is(err, io.EOF) {
		t.Logf("SendMail during Hang: %v", err)
	}
	if err == nil {
		t.Fatal("SendMail succeeded during Hang")
	}
	srv.AssertNone(t, 0)
	if tr := strings.Join(srv.Transcripts(), ""); !strings.Contains(tr, "-- fault: OnDATA().Hang()") {
		t.Errorf("transcript lacks the fault:\n%s", tr)
	}
}

func TestFaultImplicitTLSConnectBeforeHandshake(t *testing.T) {
	srv := mailtest.NewServer(t, mailtest.WithImplicitTLS())
	srv.Fault(mailtest.OnConnect().Reply(421, "4.3.2", "maintenance"))
	c, err := net.Dial("tcp", srv.TLSAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte{0x16}) // a TLS record starts; the fault strikes first
	b, _ := io.ReadAll(c)
	if string(b) != "421 4.3.2 maintenance\r\n" {
		t.Errorf("got %q", b)
	}
}
