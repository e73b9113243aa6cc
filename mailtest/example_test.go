package mailtest_test

import (
	"context"
	"errors"
	"fmt"
	"net/smtp"
	"net/textproto"
	"testing"

	"github.com/postyard/postyard/mailtest"
	pysmtp "github.com/postyard/postyard/smtp"
)

// In a real test, t is the test's *testing.T.
var t = &testing.T{}

func ExampleNewServer() {
	srv := mailtest.NewServer(t)
	defer srv.Close() // done by t.Cleanup in a real test

	// The code under test sends a message.
	err := smtp.SendMail(srv.Addr(), nil, "shop@example.com", []string{"bob@example.org"},
		[]byte("Subject: Your order\r\n\r\nOrder 1234 has shipped.\r\n"))
	if err != nil {
		fmt.Println(err)
		return
	}

	m := srv.WaitOne(t, mailtest.To("bob@example.org"), mailtest.Subject("order"))
	fmt.Println(m.ID, m.From, m.To)
	fmt.Print(m.Text())
	// Output:
	// MT000001 shop@example.com [bob@example.org]
	// Order 1234 has shipped.
}

func ExampleServer_Fault() {
	srv := mailtest.NewServer(t)
	defer srv.Close()
	srv.Fault(mailtest.OnRCPT(mailtest.To("gone@example.org")).Reply(550, "5.1.1", "no such user"))
	srv.Fault(mailtest.OnDATA().Reply(451, "4.3.0", "try again later").Times(1))

	send := func(to string) string {
		err := smtp.SendMail(srv.Addr(), nil, "a@example.com", []string{to}, []byte("Subject: hi\r\n\r\nhi\r\n"))
		var reply *textproto.Error
		if errors.As(err, &reply) {
			return fmt.Sprint(reply.Code, " ", reply.Msg)
		}
		return fmt.Sprint(err)
	}
	fmt.Println(send("gone@example.org"))
	fmt.Println(send("bob@example.org"))
	fmt.Println(send("bob@example.org"))
	fmt.Println(len(srv.Messages()), "message accepted")
	// Output:
	// 550 5.1.1 no such user
	// 451 4.3.0 try again later
	// <nil>
	// 1 message accepted
}

func ExampleNewResolver() {
	srv := mailtest.NewServer(t)
	defer srv.Close()
	r := mailtest.NewResolver(t).MX("dest.example", srv)

	// The application looks up the MX and connects with r.DialContext.
	ctx := context.Background()
	mx, err := r.LookupMX(ctx, "dest.example")
	if err != nil {
		fmt.Println(err)
		return
	}
	hop := mx.Hosts[0]
	fmt.Println(hop.Host, hop.Preference)
	conn, err := r.DialContext(ctx, "tcp", hop.Addrs[0].String()+":25")
	if err != nil {
		fmt.Println(err)
		return
	}
	c, err := pysmtp.NewClient(ctx, conn, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	c.Close()
	fmt.Println(len(srv.Transcripts()), "connection")
	// Output:
	// mx1.dest.example 10
	// 1 connection
}
