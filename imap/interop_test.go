package imap_test

// Interop tests: real clients (python's imaplib, curl) against a Server on
// a loopback TCP listener over memstore, asserting on what the store holds
// afterwards as well as on the clients' output.

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/postyard/postyard/imap"
	"github.com/postyard/postyard/internal/interop"
	"github.com/postyard/postyard/internal/selfsigned"
	"github.com/postyard/postyard/mailbox"
	"github.com/postyard/postyard/mailbox/memstore"
)

type interopServer struct {
	srv    *imap.Server
	st     mailbox.Store
	addr   string
	port   string
	caFile string
}

// startInterop serves IMAP (or IMAPS with implicit) on 127.0.0.1:0 with a
// self-signed certificate.
func startInterop(t *testing.T, implicit bool) *interopServer {
	t.Helper()
	return startInteropOn(t, implicit, memstore.New(nil))
}

// startInteropOn is startInterop over st, which it closes at the end of
// the test.
func startInteropOn(t *testing.T, implicit bool, st mailbox.Store) *interopServer {
	t.Helper()
	conf, _, err := selfsigned.Config("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	srv := &imap.Server{
		Store: st, Authenticator: testAuth, TLSConfig: conf, AllowInsecureAuth: true,
		Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	is := &interopServer{srv: srv, st: st}
	is.caFile = filepath.Join(t.TempDir(), "ca.pem")
	der := conf.Certificates[0].Certificate[0]
	if err := os.WriteFile(is.caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	is.addr = ln.Addr().String()
	_, is.port, _ = net.SplitHostPort(is.addr)
	served := make(chan error, 1)
	go func() {
		if implicit {
			served <- srv.ServeTLS(ln)
		} else {
			served <- srv.Serve(ln)
		}
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-served; !errors.Is(err, imap.ErrServerClosed) {
			t.Errorf("Serve returned %v", err)
		}
		st.Close()
	})
	return is
}

func (is *interopServer) messages(t *testing.T, user, box string) []mailbox.Message {
	t.Helper()
	ctx := context.Background()
	u, err := is.st.User(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	mb, err := u.Open(ctx, box, &mailbox.OpenOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer mb.Close()
	var out []mailbox.Message
	for m, err := range mb.Messages(ctx, mailbox.AllUIDs(), nil) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, *m)
	}
	return out
}

const pyScript = `
import imaplib, sys, ssl
host, port = sys.argv[1], int(sys.argv[2])
M = imaplib.IMAP4(host, port)
ctx = ssl.create_default_context(cafile=sys.argv[3])
M.starttls(ssl_context=ctx)
M.login("alice", "pass")
M.create("Archive")
typ, data = M.append("INBOX", r"(\Flagged)", None, b"From: x@example.com\r\nSubject: py test\r\n\r\nhello from python\r\n")
assert typ == "OK", (typ, data)
typ, data = M.select("INBOX")
assert typ == "OK" and data[0] == b"2", data
typ, data = M.search(None, "SUBJECT", '"py test"')
assert data[0] == b"2", data
typ, data = M.fetch("2", "(BODY.PEEK[TEXT] FLAGS)")
assert b"hello from python" in data[0][1], data
typ, data = M.uid("FETCH", "1:*", "(UID RFC822.SIZE ENVELOPE BODYSTRUCTURE)")
assert typ == "OK" and len(data) >= 2, data
typ, data = M.store("1", "+FLAGS", r"(\Seen \Answered)")
assert typ == "OK", data
typ, data = M.copy("1", "Archive")
assert typ == "OK", data
M.store("2", "+FLAGS", r"\Deleted")
typ, data = M.expunge()
assert data == [b"2"], data
# IDLE by hand
tag = M._new_tag().decode()
M.send(("%s IDLE\r\n" % tag).encode())
line = M.readline()
assert line.startswith(b"+"), line
M.send(b"DONE\r\n")
while True:
    line = M.readline()
    if line.startswith(tag.encode()):
        assert b"OK" in line, line
        break
typ, data = M.list()
assert any(b"Archive" in d for d in data), data
M.logout()
print("python ok")
`

func TestInteropPythonImaplib(t *testing.T) {
	py := interop.Require(t, "python3", "apt-get install python3")
	forEachStore(t, func(t *testing.T, is *interopServer) {
		testPythonImaplib(t, py, is)
	})
}

func testPythonImaplib(t *testing.T, py string, is *interopServer) {
	deliver(t, is.st, "alice", "", msg1, nil)
	out := interop.Run(t, nil, nil, py, "-c", pyScript, "127.0.0.1", is.port, is.caFile)
	if !strings.Contains(string(out), "python ok") {
		t.Fatalf("output: %s", out)
	}
	inbox := is.messages(t, "alice", "INBOX")
	if len(inbox) != 1 || inbox[0].Flags != mailbox.FlagSeen|mailbox.FlagAnswered {
		t.Fatalf("INBOX after python: %+v", inbox)
	}
	archive := is.messages(t, "alice", "Archive")
	if len(archive) != 1 || archive[0].Flags != mailbox.FlagSeen|mailbox.FlagAnswered {
		t.Fatalf("Archive after python: %+v", archive)
	}
}

func TestInteropCurl(t *testing.T) {
	curl := interop.Require(t, "curl", "apt-get install curl")
	for _, implicit := range []bool{false, true} {
		for _, store := range interopStores() {
			t.Run(fmt.Sprintf("%s/implicitTLS=%v", store.name, implicit), func(t *testing.T) {
				testCurl(t, curl, startInteropOn(t, implicit, store.open(t)), implicit)
			})
		}
	}
}

func testCurl(t *testing.T, curl string, is *interopServer, implicit bool) {
	deliver(t, is.st, "alice", "", msg1, nil)
	deliver(t, is.st, "alice", "", msgN("second", "body two"), nil)
	base := "imap://127.0.0.1:" + is.port
	args := []string{"-sS", "--ssl-reqd", "--cacert", is.caFile, "-u", "alice:pass"}
	if implicit {
		base = "imaps://127.0.0.1:" + is.port
	}
	out := string(interop.Run(t, nil, nil, curl, append(args, base+"/")...))
	if !strings.Contains(out, `"INBOX"`) {
		t.Fatalf("list: %s", out)
	}
	out = string(interop.Run(t, nil, nil, curl, append(args, base+"/INBOX;UID=1")...))
	if !strings.Contains(out, "how are you?") || !strings.Contains(out, "Subject: Hello") {
		t.Fatalf("fetch: %s", out)
	}
	out = string(interop.Run(t, nil, nil, curl, append(args, base+"/INBOX?SUBJECT%20second")...))
	if !strings.Contains(out, "SEARCH 2") {
		t.Fatalf("search: %s", out)
	}
	// curl fetched with BODY[], which sets \Seen.
	if msgs := is.messages(t, "alice", "INBOX"); msgs[0].Flags&mailbox.FlagSeen == 0 {
		t.Fatalf("message 1 not \\Seen after curl fetch: %+v", msgs[0])
	}
}
