package mailtest_test

import (
	"net"
	"net/smtp"
	"testing"

	"github.com/postyard/postyard/mailtest"
)

// BenchmarkNewServer measures what a test pays for a server: start-up, one
// message sent over loopback TCP with net/smtp, WaitOne, and Close.
func BenchmarkNewServer(b *testing.B) {
	benchRoundTrip(b, nil, func(srv *mailtest.Server, body []byte) {
		if err := smtp.SendMail(srv.Addr(), nil, "a@example.org", []string{"b@example.org"}, body); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkNewServerInMemory is BenchmarkNewServer over net.Pipe.
func BenchmarkNewServerInMemory(b *testing.B) {
	benchRoundTrip(b, []mailtest.Option{mailtest.WithInMemory()}, func(srv *mailtest.Server, body []byte) {
		conn, err := srv.DialContext(b.Context(), "tcp", srv.Addr())
		if err != nil {
			b.Fatal(err)
		}
		sendConn(b, conn, body)
	})
}

// BenchmarkNewServerTLS adds STARTTLS: a certificate made and a handshake.
func BenchmarkNewServerTLS(b *testing.B) {
	benchRoundTrip(b, []mailtest.Option{mailtest.WithSTARTTLS()}, func(srv *mailtest.Server, body []byte) {
		c, err := smtp.Dial(srv.Addr())
		if err != nil {
			b.Fatal(err)
		}
		if err := c.StartTLS(srv.ClientTLSConfig()); err != nil {
			b.Fatal(err)
		}
		sendClient(b, c, body)
	})
}

// benchRoundTrip starts a server with opts, sends one message with send,
// waits for it and closes the server, b.N times.
func benchRoundTrip(b *testing.B, opts []mailtest.Option, send func(*mailtest.Server, []byte)) {
	body := msg("a@example.org", "b@example.org", "bench", "x")
	for b.Loop() {
		srv := mailtest.NewServer(b, opts...)
		send(srv, body)
		srv.WaitOne(b, mailtest.Subject("bench"))
		srv.Close()
	}
}

func sendConn(b *testing.B, conn net.Conn, body []byte) {
	c, err := smtp.NewClient(conn, "localhost")
	if err != nil {
		b.Fatal(err)
	}
	sendClient(b, c, body)
}

func sendClient(b *testing.B, c *smtp.Client, body []byte) {
	if err := c.Mail("a@example.org"); err != nil {
		b.Fatal(err)
	}
	if err := c.Rcpt("b@example.org"); err != nil {
		b.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		b.Fatal(err)
	}
	w.Write(body)
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	c.Quit()
}
