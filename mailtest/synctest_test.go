package mailtest_test

import (
	"crypto/tls"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/postyard/postyard/mailtest"
	"github.com/postyard/postyard/smtp"
)

func TestSynctestInMemory(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := mailtest.NewServer(t, mailtest.WithInMemory())
		// A 3-minute delay costs no real time on the bubble's clock.
		srv.Fault(mailtest.OnDATA().Delay(3 * time.Minute))

		conn, err := srv.DialContext(t.Context(), "tcp", srv.Addr())
		if err != nil {
			t.Fatal(err)
		}
		c, err := smtp.NewClient(t.Context(), conn, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		start := time.Now()
		res, err := c.SendMail(t.Context(), smtp.Path{Local: "a", Domain: "example.org"}, nil,
			[]smtp.Rcpt{{To: smtp.Path{Local: "b", Domain: "example.org"}}},
			strings.NewReader(string(msg("a@example.org", "b@example.org", "slow", "x"))))
		if err != nil || res.Err(0) != nil {
			t.Fatalf("SendMail: %v %v", err, res)
		}
		if d := time.Since(start); d != 3*time.Minute {
			t.Errorf("took %v on the fake clock, want 3m", d)
		}
		m := srv.WaitOne(t, mailtest.Subject("slow"))
		if m.ID != "MT000001" {
			t.Errorf("ID = %q", m.ID)
		}
		c.Quit(t.Context())

		// A wait that times out does so on the fake clock too.
		ft := &fakeTB{TB: t}
		start = time.Now()
		srv.WaitOne(ft, mailtest.Subject("never"))
		if d := time.Since(start); d != mailtest.DefaultWaitTimeout || ft.msg() == "" {
			t.Errorf("wait took %v, failure %q", d, ft.msg())
		}
	})
}

func TestSynctestCommandTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := mailtest.NewServer(t, mailtest.WithInMemory(),
			mailtest.WithSMTP(func(s *smtp.Server) { s.CommandTimeout = time.Minute }))
		conn, err := srv.DialContext(t.Context(), "tcp", srv.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		buf := make([]byte, 512)
		n, _ := conn.Read(buf) // greeting
		if !strings.HasPrefix(string(buf[:n]), "220 ") {
			t.Fatalf("greeting %q", buf[:n])
		}
		start := time.Now()
		n, _ = conn.Read(buf) // the client says nothing: 421 after a minute
		if !strings.HasPrefix(string(buf[:n]), "421 4.4.2") || time.Since(start) != time.Minute {
			t.Errorf("after %v: %q", time.Since(start), buf[:n])
		}
	})
}

// TestSynctestAllServices checks that every service works in memory and
// that Close leaves no goroutine behind (synctest.Test fails otherwise).
func TestSynctestAllServices(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := mailtest.NewServer(t, mailtest.WithInMemory(), mailtest.WithImplicitTLS(),
			mailtest.WithIMAP(), mailtest.WithPOP3())
		conn, err := srv.DialContext(t.Context(), "tcp", srv.TLSAddr())
		if err != nil {
			t.Fatal(err)
		}
		tc := tls.Client(conn, srv.ClientTLSConfig())
		c, err := smtp.NewClient(t.Context(), tc, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := c.TLS(); !ok {
			t.Error("no TLS")
		}
		res, err := c.SendMail(t.Context(), smtp.Path{Local: "a", Domain: "example.org"}, nil,
			[]smtp.Rcpt{{To: smtp.Path{Local: "b", Domain: "example.org"}}},
			strings.NewReader(string(msg("a@example.org", "b@example.org", "tls", "x"))))
		if err != nil || res.Err(0) != nil {
			t.Fatalf("SendMail: %v %v", err, res)
		}
		if m := srv.WaitOne(t); !m.TLS {
			t.Error("message not marked TLS")
		}
		for _, addr := range []string{srv.IMAPAddr(), srv.POP3Addr()} {
			conn, err := srv.DialContext(t.Context(), "tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			greeting := make([]byte, 100)
			n, _ := conn.Read(greeting)
			if !strings.HasPrefix(string(greeting[:n]), "* OK") && !strings.HasPrefix(string(greeting[:n]), "+OK") {
				t.Errorf("%s greeting %q", addr, greeting[:n])
			}
			// Left open: Close must end the session.
		}
		c.Close()
		srv.Close()
	})
}
