package imap_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/postyard/postyard/imap"
	"github.com/postyard/postyard/mailbox/memstore"
)

// scriptConn is a net.Conn that reads a fixed input and discards output.
type scriptConn struct {
	r io.Reader
}

func (c *scriptConn) Read(p []byte) (int, error)       { return c.r.Read(p) }
func (c *scriptConn) Write(p []byte) (int, error)      { return len(p), nil }
func (c *scriptConn) Close() error                     { return nil }
func (c *scriptConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *scriptConn) RemoteAddr() net.Addr             { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }
func (c *scriptConn) SetDeadline(time.Time) error      { return nil }
func (c *scriptConn) SetReadDeadline(time.Time) error  { return nil }
func (c *scriptConn) SetWriteDeadline(time.Time) error { return nil }

// panicCatcher fails the test when the server logs a recovered panic.
type panicCatcher struct {
	slog.Handler
	t *testing.T
}

func (h panicCatcher) Enabled(context.Context, slog.Level) bool { return true }
func (h panicCatcher) Handle(_ context.Context, r slog.Record) error {
	if r.Message == "panic" {
		h.t.Errorf("server panicked: %v", r)
	}
	return nil
}
func (h panicCatcher) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h panicCatcher) WithGroup(string) slog.Handler      { return h }

// fuzzSession runs a logged-in session with INBOX selected over input.
func fuzzSession(t *testing.T, st *memstore.Store, input string) {
	srv := &imap.Server{Store: st, Authenticator: testAuth, AllowInsecureAuth: true,
		Logger: slog.New(panicCatcher{t: t}), MaxBadCommands: -1}
	in := "L LOGIN alice pass\r\nS SELECT INBOX\r\n" + input + "\r\n"
	srv.ServeConn(context.Background(), &scriptConn{r: strings.NewReader(in)})
}

func fuzzStore(t *testing.T) *memstore.Store {
	st := memstore.New(nil)
	t.Cleanup(func() { st.Close() })
	deliver(t, st, "alice", "", msg1, nil)
	deliver(t, st, "alice", "", "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n\naGVsbG8=\n--b\nContent-Type: message/rfc822\n\nSubject: inner\n\ninner body\n--b--\n", nil)
	return st
}

func FuzzCommands(f *testing.F) {
	for _, s := range []string{
		"a FETCH 1:* (FLAGS BODY[1.2.TEXT] BINARY[1]<0.3>)", "a UID STORE 1:* +FLAGS (\\Seen x)",
		"a SEARCH OR (FROM x) NOT BODY hello", "a APPEND INBOX {3+}\r\nabc", "a LIST \"\" *",
		"a IDLE\r\nDONE", "a SELECT INBOX (QRESYNC (1 1 1:2 (1 1)))", "a MOVE 1 x", "a COPY 2 INBOX",
		"a CREATE \"&AGE-\"", "a EXPUNGE", "a ENABLE QRESYNC IMAP4rev2", "a STATUS INBOX (SIZE)",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		fuzzSession(t, fuzzStore(t), in)
	})
}

func FuzzSearch(f *testing.F) {
	for _, s := range []string{"ALL", "OR 1 2", "NOT (SEEN FLAGGED)", "HEADER X-Y z", "RETURN (MIN) BODY hello",
		"CHARSET UTF-8 TEXT ü", "MODSEQ 1", "SENTSINCE 1-Jan-2000", "UID 1:*", "(((((((((((((((((((((((((((((((((ALL)))))))))))))))))))))))))))))))))"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		fuzzSession(t, fuzzStore(t), "a SEARCH "+in+"\r\nb UID SEARCH "+in)
	})
}

func FuzzFetch(f *testing.F) {
	for _, s := range []string{"ALL", "FULL", "(BODY[HEADER.FIELDS.NOT (Subject)]<0.1>)", "BODY[2.MIME]", "BINARY.SIZE[1]",
		"(ENVELOPE BODYSTRUCTURE RFC822.HEADER) (CHANGEDSINCE 1)", "BODY[]<5.10>", "BODY.PEEK[2.HEADER]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		fuzzSession(t, fuzzStore(t), "a FETCH 1:* "+in+"\r\nb UID FETCH 1:* "+in)
	})
}

func FuzzSeqSet(f *testing.F) {
	for _, s := range []string{"1", "1:*", "*:3,5,7:9", "0", "4294967295", "1,", ":"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		imap.ParseSeqSet(s)
	})
}

func FuzzUTF7(f *testing.F) {
	for _, s := range []string{"Entw&APw-rfe", "&-", "&AGE-", "&2D3eAA-", "a&", "&Jjo-!"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if dec, err := imap.DecodeUTF7(s); err == nil {
			if enc := imap.EncodeUTF7(dec); enc != s {
				t.Errorf("DecodeUTF7(%q) = %q, which encodes as %q", s, dec, enc)
			}
		}
		if utf8.ValidString(s) {
			dec, err := imap.DecodeUTF7(imap.EncodeUTF7(s))
			if err != nil || dec != s {
				t.Errorf("round trip of %q: %q, %v", s, dec, err)
			}
		}
	})
}
