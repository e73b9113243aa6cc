package smtp_test

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/postyard/postyard/smtp"
)

type discard struct{}

func (discard) NewSession(context.Context, *smtp.ConnInfo) (smtp.Session, error) {
	return discard{}, nil
}
func (discard) Mail(context.Context, smtp.Path, *smtp.MailOptions) error { return nil }
func (discard) Rcpt(context.Context, smtp.Path, *smtp.RcptOptions) error { return nil }
func (discard) Reset(context.Context)                                    {}
func (discard) Close() error                                             { return nil }
func (discard) Data(ctx context.Context, r io.Reader) (string, error) {
	_, err := io.Copy(io.Discard, r)
	return "", err
}

// BenchmarkTransaction measures one 4 KiB transaction (MAIL, RCPT, DATA) on
// a reused loopback connection with a discarding backend.
func BenchmarkTransaction(b *testing.B) {
	srv := &smtp.Server{Backend: discard{}, Hostname: "bench.test", Logger: slog.New(slog.DiscardHandler)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	expect := func(code string) {
		for {
			line, err := r.ReadString('\n')
			if err != nil || !strings.HasPrefix(line, code) {
				b.Fatalf("got %q, %v; want %s", line, err, code)
			}
			if line[3] == ' ' {
				return
			}
		}
	}
	expect("220")
	io.WriteString(c, "EHLO client.test\r\n")
	expect("250")
	body := strings.Repeat(strings.Repeat("x", 76)+"\r\n", 4096/78) + ".\r\n"
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		io.WriteString(c, "MAIL FROM:<a@bench.test>\r\nRCPT TO:<b@bench.test>\r\nDATA\r\n")
		expect("250")
		expect("250")
		expect("354")
		io.WriteString(c, body)
		expect("250")
	}
}
