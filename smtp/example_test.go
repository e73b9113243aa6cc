package smtp_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"

	"github.com/postyard/postyard/smtp"
)

// printer is a Session that prints each message's envelope and body.
type printer struct{ from smtp.Path }

func (p *printer) Mail(ctx context.Context, from smtp.Path, _ *smtp.MailOptions) error {
	p.from = from
	return nil
}

func (p *printer) Rcpt(ctx context.Context, to smtp.Path, _ *smtp.RcptOptions) error {
	if to.Domain != "example.com" {
		return smtp.ErrRelayDenied
	}
	fmt.Printf("to <%s>\n", to)
	return nil
}

func (p *printer) Data(ctx context.Context, r io.Reader) (string, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return "", err
	}
	_, content, _ := strings.Cut(string(b), "\r\n\r\n") // past the headers
	fmt.Printf("from <%s>: %q\n", p.from, content)
	return "42", nil
}

func (p *printer) Reset(ctx context.Context) {}
func (p *printer) Close() error              { return nil }

// A server that prints what it receives, and a client that sends to it.
func Example() {
	srv := &smtp.Server{
		Hostname: "mx.example.com",
		Backend: smtp.BackendFunc(func(ctx context.Context, c *smtp.ConnInfo) (smtp.Session, error) {
			return &printer{}, nil
		}),
		Logger: slog.New(slog.DiscardHandler),
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go srv.Serve(ln)
	defer srv.Close()

	ctx := context.Background()
	c, err := smtp.Dial(ctx, "tcp", ln.Addr().String(), &smtp.ClientOptions{Hostname: "client.example.org"})
	if err != nil {
		panic(err)
	}
	defer c.Close()
	from := smtp.Path{Local: "alice", Domain: "example.org"}
	rcpts := []smtp.Rcpt{
		{To: smtp.Path{Local: "bob", Domain: "example.com"}},
		{To: smtp.Path{Local: "carol", Domain: "elsewhere.example"}},
	}
	res, err := c.SendMail(ctx, from, nil, rcpts, strings.NewReader("Subject: hi\r\n\r\nHello, Bob.\r\n"))
	if err != nil {
		panic(err)
	}
	fmt.Println("carol:", res.Rcpts[1])
	fmt.Println("reply:", res.Reply)
	c.Quit(ctx)
	// Output:
	// to <bob@example.com>
	// from <alice@example.org>: "Hello, Bob.\r\n"
	// carol: smtp: 554 5.7.1 Relay access denied
	// reply: Ok: queued as 42
}
