package mailtest_test

import (
	"fmt"
	"net/smtp"
	"strings"
	"testing"

	"github.com/postyard/postyard/mailtest"
)

// signupMailer is application code under test: it sends a welcome mail
// with the standard library's net/smtp, authenticating as the app.
type signupMailer struct {
	Addr, User, Password, From string
}

func (m *signupMailer) Welcome(to, name, token string) error {
	host := strings.Split(m.Addr, ":")[0]
	body := fmt.Sprintf("From: Example <%s>\r\nTo: <%s>\r\nSubject: Welcome, %s!\r\n"+
		"Content-Type: text/plain; charset=utf-8\r\n\r\n"+
		"Activate your account: https://app.example/activate?t=%s\r\n", m.From, to, name, token)
	return smtp.SendMail(m.Addr, smtp.PlainAuth("", m.User, m.Password, host), m.From, []string{to}, []byte(body))
}

// TestNetSMTPApplication shows how an application that sends mail with
// net/smtp is tested with mailtest: point it at srv.Addr(), run it, and
// wait for the message.
func TestNetSMTPApplication(t *testing.T) {
	srv := mailtest.NewServer(t, mailtest.WithUser("app", "s3cret"))
	mailer := &signupMailer{Addr: srv.Addr(), User: "app", Password: "s3cret", From: "noreply@app.example"}

	if err := mailer.Welcome("ann@example.org", "Ann", "tok123"); err != nil {
		t.Fatal(err)
	}

	m := srv.WaitOne(t, mailtest.To("ann@example.org"), mailtest.Subject("Welcome, Ann"))
	if m.User != "app" || m.From != "noreply@app.example" {
		t.Errorf("sent as %q from %q", m.User, m.From)
	}
	if !strings.Contains(m.Text(), "activate?t=tok123") {
		t.Errorf("no activation link in %q", m.Text())
	}

	// The application reports a refused recipient.
	srv.Fault(mailtest.OnRCPT(mailtest.To("gone@example.org")).Reply(550, "5.1.1", "no such user"))
	err := mailer.Welcome("gone@example.org", "Gone", "x")
	if code(err) != 550 || !strings.Contains(err.Error(), "5.1.1 no such user") {
		t.Errorf("Welcome to a refused recipient: %v", err)
	}
	srv.AssertNone(t, 0, mailtest.To("gone@example.org"))
}
