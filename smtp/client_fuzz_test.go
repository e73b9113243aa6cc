package smtp_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/emersion/go-sasl"

	"github.com/postyard/postyard/smtp"
)

// clientFuzzSeeds are server outputs: a whole session's replies, written
// at once, as a server that does not wait for commands would.
var clientFuzzSeeds = []string{
	"220 mx.example ESMTP\r\n250-mx.example\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n250-SIZE 1000\r\n250 AUTH PLAIN\r\n" +
		"250 2.0.0 Ok\r\n235 2.7.0 ok\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 go\r\n250 2.0.0 Ok: queued as X\r\n221 2.0.0 Bye\r\n",
	"220 mx.example\r\n250-mx.example\r\n250-CHUNKING\r\n250 PIPELINING\r\n250 ok\r\n334 \r\n235 ok\r\n250 ok\r\n550 5.1.1 no\r\n250 ok\r\n250 ok\r\n",
	"220 x\r\n502 no\r\n250 x\r\n250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n250 ok\r\n",
	"220 x\r\n250-x\r\n250 STARTTLS\r\n220 go\r\n\x16\x03\x01\x00\x05hello",
	"220-x\r\n220-y\r\n221 z\r\n",
	"554 5.7.1 no\r\n",
	"220 x\r\n250-x\r\n250 ENHANCEDSTATUSCODES\r\n550-5.1.1 a\r\n550-5.1.2 b\r\n550 5.1.1\r\n",
	"220 x\r\n250 x\r\n421 4.3.2 bye\r\n",
	"220 x\r\n250-x\r\n250 AUTH PLAIN LOGIN\r\n250 ok\r\n334 VXNlcm5hbWU6\r\n334 !!!\r\n501 cancelled\r\n",
	"220 x\n250 x\n250\n2",
	"220 x\r\n250-x\r\n250 CHUNKING\r\n250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n",
	"220 x\r\n250-x\r\n250 ENHANCEDSTATUSCODES\r\n250 2.999.999 x\r\n451 4.0.0\r\n",
}

// FuzzClientReply feeds arbitrary server output to a Client that runs a
// whole session (EHLO, NOOP, AUTH, SendMail, STARTTLS, QUIT). It must not
// panic or hang, and every *Error it returns must carry a 4yz or 5yz code
// with a matching enhanced code, if any.
func FuzzClientReply(f *testing.F) {
	for _, s := range clientFuzzSeeds {
		f.Add([]byte(s), false)
	}
	f.Add([]byte(clientFuzzSeeds[1]), true)
	f.Fuzz(func(t *testing.T, data []byte, lmtp bool) {
		synctest.Test(t, func(t *testing.T) {
			cc, sc := net.Pipe()
			defer cc.Close()
			go io.Copy(io.Discard, sc) // the server ignores what it is told
			go func() {
				sc.Write(data)
				sc.Close()
			}()
			check := func(what string, err error) {
				var e *smtp.Error
				if !errors.As(err, &e) {
					return
				}
				if e.Code < 400 || e.Code > 599 {
					t.Fatalf("%s: *Error with code %d", what, e.Code)
				}
				if e.EnhancedCode != "" && e.EnhancedCode[0] != byte('0'+e.Code/100) {
					t.Fatalf("%s: enhanced code %q for %d", what, e.EnhancedCode, e.Code)
				}
				if strings.ContainsAny(e.Message, "\r\x00") {
					t.Fatalf("%s: control characters in %q", what, e.Message)
				}
			}
			ctx := context.Background()
			c, err := smtp.NewClient(ctx, cc, &smtp.ClientOptions{LMTP: lmtp, MaxReplyLines: 20})
			check("NewClient", err)
			if err != nil {
				return
			}
			defer c.Close()
			for kw := range c.Extensions() {
				if kw != strings.ToUpper(kw) || kw == "" {
					t.Fatalf("extension keyword %q", kw)
				}
			}
			check("Noop", c.Noop(ctx))
			check("Auth", c.Auth(ctx, sasl.NewPlainClient("", "u", "p")))
			res, err := c.SendMail(ctx, smtp.Path{Local: "a", Domain: "example.org"}, &smtp.MailOptions{Size: 10},
				[]smtp.Rcpt{{To: smtp.Path{Local: "b", Domain: "example.com"}}, {To: smtp.Path{Local: "c", Domain: "example.com"}}},
				strings.NewReader("Subject: x\n\n.hi\n"))
			check("SendMail", err)
			if res != nil {
				if len(res.Rcpts) != 2 {
					t.Fatalf("%d recipient results", len(res.Rcpts))
				}
				for i := range res.Rcpts {
					check("SendMail recipient", res.Err(i))
				}
			}
			check("StartTLS", c.StartTLS(ctx, &tls.Config{InsecureSkipVerify: true}))
			check("Quit", c.Quit(ctx))
		})
	})
}
