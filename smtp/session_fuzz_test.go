package smtp_test

import (
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"testing/synctest"
)

// FuzzSession feeds arbitrary client input to a server: command lines,
// parameters, DATA and BDAT content. The server must neither panic nor hang,
// and every stored message must be free of bare line endings.
func FuzzSession(f *testing.F) {
	f.Add("EHLO x\r\nMAIL FROM:<a@b> SIZE=10 BODY=8BITMIME\r\nRCPT TO:<c@d> NOTIFY=SUCCESS\r\nDATA\r\nhi\r\n.\r\nQUIT\r\n")
	f.Add("EHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nBDAT 4\r\nabcdBDAT 2 LAST\r\nef")
	f.Add("EHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\na\n.\nMAIL FROM:<x@y>\r\n.\r\n")
	f.Add("HELO x\r\nMAIL FROM:<\"a b\"@[IPv6:::1]> SMTPUTF8\r\nRCPT TO:<@a,@b:c@d>\r\nRSET\r\nVRFY x\r\nAUTH PLAIN\r\nSTARTTLS\r\n")
	f.Add("LHLO x\r\nBDAT 99999999999999999999\r\n")
	f.Fuzz(func(t *testing.T, input string) {
		synctest.Test(t, func(t *testing.T) {
			b := &recorder{}
			srv := newServer(b)
			cc, sc := net.Pipe()
			done := make(chan error, 1)
			go func() { done <- srv.ServeConn(context.Background(), sc) }()
			go func() {
				io.WriteString(cc, input)
				cc.Close()
			}()
			go io.Copy(io.Discard, cc)
			<-done
			for _, m := range b.messages() {
				d := strings.ReplaceAll(m.Data, "\r\n", "")
				if strings.ContainsAny(d, "\r\n") && m.Mail.Body != "BINARYMIME" {
					t.Fatalf("bare line ending stored: %q", m.Data)
				}
			}
		})
	})
}
