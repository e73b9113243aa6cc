package order

import (
	"strings"
	"testing"

	"github.com/postyard/postyard/mailtest"
)

func TestOrderMail(t *testing.T) {
	srv := mailtest.NewServer(t) // SMTP on 127.0.0.1:0, closed by t.Cleanup

	sendOrderConfirmation(srv.Addr(), "bob@example.org") // the code under test

	m := srv.WaitOne(t, mailtest.To("bob@example.org"), mailtest.Subject("order"))
	if !strings.Contains(m.Text(), "Order 1234") {
		t.Errorf("body: %q", m.Text())
	}
}
