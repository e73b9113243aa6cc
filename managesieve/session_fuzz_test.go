package managesieve_test

import (
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/postyard/postyard/managesieve"
)

// FuzzSession feeds arbitrary client input to a server over a MemStore
// where alice has an active script. The server must neither panic nor
// hang, its output must end in CRLF, and nothing but PUTSCRIPT, SETACTIVE,
// RENAMESCRIPT and DELETESCRIPT may change the store.
func FuzzSession(f *testing.F) {
	login := `AUTHENTICATE "PLAIN" "` + plain("alice", "secret") + "\"\r\n"
	f.Add(login + "LISTSCRIPTS\r\nGETSCRIPT \"main\"\r\nPUTSCRIPT \"b\" {5+}\r\nkeep;\r\nSETACTIVE \"b\"\r\nDELETESCRIPT \"main\"\r\nLOGOUT\r\n")
	f.Add(login + "RENAMESCRIPT \"main\" \"x\"\r\nHAVESPACE \"x\" 100\r\nCHECKSCRIPT \"foo;\"\r\nNOOP {3+}\r\nabc\r\n")
	f.Add("CAPABILITY\r\nAUTHENTICATE \"LOGIN\"\r\n\"YWxpY2U=\"\r\n{8+}\r\nc2VjcmV0\r\nUNAUTHENTICATE\r\n")
	f.Add(login + "PUTSCRIPT {1}\r\na {99}\r\nshort\r\nSTARTTLS\r\nGET / HTTP/1.1\r\n")
	f.Add("AUTHENTICATE \"PLAIN\"\r\n\"*\"\r\nAUTHENTICATE \"PLAIN\" {999999999999+}\r\n")
	f.Fuzz(func(t *testing.T, input string) {
		synctest.Test(t, func(t *testing.T) {
			st := &managesieve.MemStore{}
			ctx := context.Background()
			st.Put(ctx, "alice", "main", []byte("keep;"))
			st.SetActive(ctx, "alice", "main")
			before := scripts(t, st, "alice")
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
			if !strings.HasSuffix(resp, "\r\n") || strings.Contains(resp, "Internal error") {
				t.Fatalf("response %q", resp)
			}
			up := strings.ToUpper(input)
			if !strings.Contains(up, "SCRIPT") && !strings.Contains(up, "SETACTIVE") {
				if after := scripts(t, st, "alice"); strings.Join(after, "\x00") != strings.Join(before, "\x00") {
					t.Fatalf("store changed: %q", after)
				}
			}
		})
	})
}
