package pop3_test

import (
	"context"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
)

// FuzzSession feeds arbitrary client input to a server with two messages
// in alice's maildrop. The server must neither panic nor hang, every
// response line must end in CRLF, and without a QUIT nothing in the store
// may change, whatever DELE said.
func FuzzSession(f *testing.F) {
	f.Add("USER alice\r\nPASS secret\r\nSTAT\r\nLIST\r\nUIDL 1\r\nTOP 1 1\r\nRETR 2\r\nDELE 1\r\nRSET\r\nDELE 2\r\nQUIT\r\n")
	f.Add("CAPA\r\nAUTH PLAIN AGFsaWNlAHNlY3JldA==\r\nDELE 1\r\nDELE 1\r\nLIST 1\r\nNOOP\r\n")
	f.Add("AUTH LOGIN\r\nYWxpY2U=\r\nc2VjcmV0\r\nDELE 2\r\nquit\r\n")
	f.Add("USER alice\nPASS secret\nDELE 1\n")
	f.Add("STLS\r\nAPOP alice 0123\r\nUSER \x00\r\nLIST 99999999999999999999999\r\nTOP 1 -1\r\n")
	f.Fuzz(func(t *testing.T, input string) {
		synctest.Test(t, func(t *testing.T) {
			st := newStore(t, map[string][]string{"alice": {msg1, ".\r\n..\r\nx"}})
			before := inboxMessages(t, st, "alice")
			srv := newServer(st)
			cc, sc := net.Pipe()
			done := make(chan error, 1)
			go func() { done <- srv.ServeConn(context.Background(), sc) }()
			go func() {
				io.WriteString(cc, input)
				cc.Close()
			}()
			out := make(chan string, 1)
			go func() {
				b, _ := io.ReadAll(cc)
				out <- string(b)
			}()
			<-done
			resp := <-out
			if resp != "" && !strings.HasSuffix(resp, "\r\n") || strings.Count(resp, "\n") != strings.Count(resp, "\r\n") {
				t.Fatalf("malformed response %q", resp)
			}
			if !strings.Contains(strings.ToUpper(input), "QUIT") {
				if after := inboxMessages(t, st, "alice"); !slices.Equal(after, before) {
					t.Fatalf("store changed without QUIT: %+v", after)
				}
			}
		})
	})
}
