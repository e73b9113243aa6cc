package pop3_test

// Interop tests: real clients (python's poplib, curl, fetchmail, getmail6,
// mutt) against a Server over memstore and over maildir, on loopback TCP
// listeners, one with STLS and one with implicit TLS. Each test checks what
// the client downloaded against what was delivered, byte for byte (allowing
// for clients that hand messages on with LF line endings), and what is left
// in the store afterwards. A missing program skips the test, or fails it
// under POSTYARD_INTEROP=require (see ARCHITECTURE.md, "Testing layers").

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postyard/postyard/auth"
	"github.com/postyard/postyard/internal/interop"
	"github.com/postyard/postyard/internal/selfsigned"
	"github.com/postyard/postyard/mailbox"
	"github.com/postyard/postyard/mailbox/maildir"
	"github.com/postyard/postyard/mailbox/memstore"
	"github.com/postyard/postyard/pop3"
)

// interopUsers holds the one user of the interop tests, alice with password
// secret. Deriving the password hash and the SCRAM credentials is slow under
// the race detector, so it is done once; Users is safe for concurrent use.
var interopUsers = sync.OnceValues(func() (*auth.Users, error) {
	users := &auth.Users{}
	return users, users.Add("alice", "secret")
})

// interopMessages are delivered to alice before each test: the plain
// message of the transcript tests, one with every dot-stuffing case, 8-bit
// text and an mbox "From " line, and a large one of long lines.
var interopMessages = []string{
	msg1,
	"From: dots@example.org\r\nSubject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" +
		".\r\n..\r\n.leading dot\r\n...three\r\nFrom the start of a line\r\nGrüße, ½ ✓\r\n. \r\nend\r\n",
	"From: big@example.org\r\nSubject: big\r\n\r\n" + strings.Repeat(strings.Repeat("0123456789", 99)+"\r\n", 300),
}

// openStore returns a new, empty store, closed when the test ends.
type openStore func(t *testing.T) mailbox.Store

// forEachStore runs f as a subtest for each store implementation:
// memstore, and maildir in a temporary directory.
func forEachStore(t *testing.T, f func(t *testing.T, open openStore)) {
	for _, s := range []struct {
		name string
		open openStore
	}{
		{"memstore", func(t *testing.T) mailbox.Store {
			st := memstore.New(nil)
			t.Cleanup(func() { st.Close() })
			return st
		}},
		{"maildir", func(t *testing.T) mailbox.Store {
			st, err := maildir.Open(t.TempDir(), nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		}},
	} {
		t.Run(s.name, func(t *testing.T) { f(t, s.open) })
	}
}

// interopServer is a Server on 127.0.0.1 over a store holding
// interopMessages for alice.
type interopServer struct {
	srv      *pop3.Server
	st       mailbox.Store
	host     string
	port     string // STLS
	tlsPort  string // implicit TLS
	caFile   string // PEM of the self-signed certificate for 127.0.0.1
	msgCount int
}

// startInterop starts a server on 127.0.0.1:0 with STLS and on another port
// with implicit TLS. Cleanup closes it, waits for every connection
// goroutine to end, and checks that Serve returned ErrServerClosed.
func startInterop(t *testing.T, open openStore, configure func(*pop3.Server)) *interopServer {
	t.Helper()
	users, err := interopUsers()
	if err != nil {
		t.Fatal(err)
	}
	st := open(t)
	for _, m := range interopMessages {
		deliver(t, st, "alice", m)
	}
	conf, _, err := selfsigned.Config("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	srv := &pop3.Server{
		Store:         st,
		Authenticator: users,
		Hostname:      "pop.interop.test",
		TLSConfig:     conf,
		AuthThrottle:  &auth.Throttle{BaseDelay: -1},
		Logger:        slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	if configure != nil {
		configure(srv)
	}
	is := &interopServer{srv: srv, st: st, msgCount: len(interopMessages)}
	is.caFile = filepath.Join(t.TempDir(), "ca.pem")
	der := conf.Certificates[0].Certificate[0]
	if err := os.WriteFile(is.caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 2)
	for _, implicit := range []bool{false, true} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		host, port, _ := net.SplitHostPort(ln.Addr().String())
		is.host = host
		if implicit {
			is.tlsPort = port
			go func() { served <- srv.ServeTLS(ln) }()
		} else {
			is.port = port
			go func() { served <- srv.Serve(ln) }()
		}
	}
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("connections still running after Close: %v", err)
		}
		for range 2 {
			if err := <-served; !errors.Is(err, pop3.ErrServerClosed) {
				t.Errorf("Serve returned %v, want ErrServerClosed", err)
			}
		}
	})
	return is
}

func (is *interopServer) url(scheme, path string) string {
	port := is.port
	if scheme == "pop3s" {
		port = is.tlsPort
	}
	return scheme + "://" + net.JoinHostPort(is.host, port) + path
}

// left returns the messages left in alice's INBOX.
func (is *interopServer) left(t *testing.T) []string {
	t.Helper()
	return inbox(t, is.st, "alice")
}

// checkLeft checks that alice's INBOX holds all of interopMessages (keep)
// or none.
func (is *interopServer) checkLeft(t *testing.T, keep bool) {
	t.Helper()
	got := is.left(t)
	if keep && !slices.Equal(got, interopMessages) {
		t.Errorf("INBOX has %d messages, want all %d unchanged", len(got), len(interopMessages))
	}
	if !keep && len(got) != 0 {
		t.Errorf("INBOX has %d messages, want none", len(got))
	}
}

// checkDownloaded checks the downloaded messages against want, in order.
// With lf, the client stored them with LF line endings.
func checkDownloaded(t *testing.T, got, want []string, lf bool) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("downloaded %d messages, want %d", len(got), len(want))
	}
	for i, want := range want {
		if lf {
			want = strings.ReplaceAll(want, "\r\n", "\n")
		}
		if got[i] != want {
			t.Errorf("message %d differs:\n%q\nwant\n%q", i+1, clip(got[i]), clip(want))
		}
	}
}

func clip(s string) string {
	if len(s) > 300 {
		return s[:300] + "..."
	}
	return s
}

// readDir returns the contents of the files in dir whose names match
// pattern, sorted by name.
func readDir(t *testing.T, dir, pattern string) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, pattern))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	var out []string
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	return out
}

func TestInteropPoplib(t *testing.T) {
	t.Parallel()
	forEachStore(t, testInteropPoplib)
}

func testInteropPoplib(t *testing.T, open openStore) {
	interop.Require(t, "python3", "apt-get install python3")
	script := filepath.Join("testdata", "interop", "poplib_client.py")
	run := func(t *testing.T, is *interopServer, mode string) (dir, out string) {
		t.Helper()
		dir = t.TempDir()
		port := is.port
		if mode == "implicit" {
			port = is.tlsPort
		}
		return dir, string(interop.Run(t, nil, nil, "python3", script, mode, is.host, port, is.caFile, dir))
	}
	// checkReport checks what poplib saw: the capabilities, LIST sizes equal
	// to the stored sizes and to the octets RETR sent, and UIDLs.
	checkReport := func(t *testing.T, dir string) {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(dir, "report.txt"))
		if err != nil {
			t.Fatal(err)
		}
		report := string(b)
		for i, m := range interopMessages {
			for _, want := range []string{
				fmt.Sprintf("LIST %d %d\n", i+1, len(m)),
				fmt.Sprintf("UIDL %d %08X", i+1, i+1),
			} {
				if !strings.Contains(report, want) {
					t.Errorf("poplib report lacks %q:\n%s", want, report)
				}
			}
		}
		if !strings.Contains(report, "CAPA AUTH-RESP-CODE EXPIRE IMPLEMENTATION PIPELINING RESP-CODES SASL TOP UIDL USER\n") {
			t.Errorf("CAPA over TLS: %s", report)
		}
	}

	for _, tc := range []struct {
		mode string
		keep bool
	}{
		{"stls-delete", false},
		{"stls-keep", true},
		{"implicit", true},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			is := startInterop(t, open, nil)
			dir, _ := run(t, is, tc.mode)
			checkDownloaded(t, readDir(t, dir, "*.eml"), interopMessages, false)
			checkReport(t, dir)
			is.checkLeft(t, tc.keep)
		})
	}
	t.Run("drop-after-dele", func(t *testing.T) {
		is := startInterop(t, open, nil)
		run(t, is, "drop")
		is.checkLeft(t, true)
		// The lock was released with the connection: a new session works.
		dir, _ := run(t, is, "stls-keep")
		checkDownloaded(t, readDir(t, dir, "*.eml"), interopMessages, false)
	})
	t.Run("in-use", func(t *testing.T) {
		is := startInterop(t, open, nil)
		_, out := run(t, is, "in-use")
		if !strings.HasPrefix(out, "-ERR [IN-USE] ") {
			t.Errorf("second login: %q, want -ERR [IN-USE]", out)
		}
	})
	t.Run("leave-mail", func(t *testing.T) {
		is := startInterop(t, open, func(s *pop3.Server) { s.Policy.LeaveMail = true })
		dir, _ := run(t, is, "stls-delete")
		checkDownloaded(t, readDir(t, dir, "*.eml"), interopMessages, false)
		is.checkLeft(t, true)
	})
}

func TestInteropCurl(t *testing.T) {
	t.Parallel()
	forEachStore(t, testInteropCurl)
}

func testInteropCurl(t *testing.T, open openStore) {
	interop.Require(t, "curl", "apt-get install curl")
	curl := func(t *testing.T, is *interopServer, args ...string) string {
		t.Helper()
		base := []string{"-sS", "--max-time", "60", "--user", "alice:secret", "--cacert", is.caFile}
		return string(interop.Run(t, nil, nil, "curl", append(base, args...)...))
	}
	t.Run("pop3-stls-list", func(t *testing.T) {
		is := startInterop(t, open, nil)
		got := curl(t, is, "--ssl-reqd", is.url("pop3", "/"))
		var want strings.Builder
		for i, m := range interopMessages {
			fmt.Fprintf(&want, "%d %d\r\n", i+1, len(m))
		}
		if got != want.String() {
			t.Errorf("LIST: %q, want %q", got, want.String())
		}
	})
	for _, tc := range []struct{ name, scheme, opt string }{
		{"pop3-stls-retr", "pop3", "--ssl-reqd"},
		{"pop3s-retr-sasl-ir", "pop3s", "--sasl-ir"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			is := startInterop(t, open, nil)
			var got []string
			for i := range interopMessages {
				got = append(got, curl(t, is, tc.opt, is.url(tc.scheme, fmt.Sprintf("/%d", i+1))))
			}
			checkDownloaded(t, got, interopMessages, false)
			is.checkLeft(t, true)
		})
	}
	t.Run("pop3s-dele", func(t *testing.T) {
		is := startInterop(t, open, nil)
		curl(t, is, "--request", "DELE", "--head", is.url("pop3s", "/2"))
		if got := is.left(t); len(got) != 2 || got[0] != interopMessages[0] || got[1] != interopMessages[2] {
			t.Errorf("INBOX after DELE 2: %d messages", len(got))
		}
	})
	t.Run("plaintext-login-refused", func(t *testing.T) {
		// Without STLS the server offers no login; curl must fail.
		is := startInterop(t, open, nil)
		out, err := interop.Output(nil, nil, "curl", "-sS", "--max-time", "60", "--user", "alice:secret", is.url("pop3", "/"))
		if err == nil {
			t.Errorf("curl logged in without TLS: %s", out)
		}
		is.checkLeft(t, true)
	})
}

func TestInteropFetchmail(t *testing.T) {
	t.Parallel()
	forEachStore(t, testInteropFetchmail)
}

func testInteropFetchmail(t *testing.T, open openStore) {
	fetchmail := interop.Require(t, "fetchmail", "apt-get install fetchmail")
	// run polls once, delivering each message to a file of its own through
	// an MDA command. It returns fetchmail's exit status: 0 when mail was
	// fetched, 1 when there was none.
	run := func(t *testing.T, is *interopServer, home, out, keep string) int {
		t.Helper()
		rc := filepath.Join(home, "fetchmailrc")
		conf := fmt.Sprintf(`set no syslog
poll %s service %s proto POP3 auth password uidl
  user "alice" there with password "secret" is "alice" here
  options %s fetchall sslproto "tls1.2+" sslcertck sslcertfile "%s"
  mda "cat > %s/$$.eml"
`, is.host, is.port, keep, is.caFile, out)
		if keep == "keep" {
			conf = strings.Replace(conf, "fetchall ", "", 1) // only new messages, by UIDL
		}
		if err := os.WriteFile(rc, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		env := []string{"HOME=" + home, "FETCHMAILHOME=" + home}
		o, err := interop.Output(nil, env, fetchmail, "--fetchmailrc", rc, "--nodetach", "--invisible", "--verbose")
		var ee interface{ ExitCode() int }
		switch {
		case err == nil:
			return 0
		case errors.As(err, &ee) && ee.ExitCode() == 1:
			return 1
		}
		t.Fatalf("fetchmail: %v\n%s", err, o)
		return -1
	}
	for _, keep := range []string{"keep", "nokeep"} {
		t.Run(keep, func(t *testing.T) {
			is := startInterop(t, open, nil)
			home, out := t.TempDir(), t.TempDir()
			if st := run(t, is, home, out, keep); st != 0 {
				t.Fatalf("fetchmail exit status %d, want 0", st)
			}
			got := readDir(t, out, "*.eml")
			// fetchmail hands messages to the MDA with LF line endings, in
			// the order it fetched them; the MDA file names do not keep it.
			checkDownloaded(t, bySize(got), bySize(interopMessages), true)
			is.checkLeft(t, keep == "keep")
			// A second poll finds nothing new: in keep mode because the
			// UIDLs are the same, otherwise because the mail is gone.
			if st := run(t, is, home, t.TempDir(), keep); st != 1 {
				t.Errorf("second poll: exit status %d, want 1 (no mail)", st)
			}
		})
	}
}

// bySize returns msgs sorted by size, for clients that deliver messages
// to files whose names do not keep the order.
func bySize(msgs []string) []string {
	msgs = slices.Clone(msgs)
	slices.SortStableFunc(msgs, func(a, b string) int { return len(a) - len(b) })
	return msgs
}

func TestInteropGetmail(t *testing.T) {
	t.Parallel()
	forEachStore(t, testInteropGetmail)
}

func testInteropGetmail(t *testing.T, open openStore) {
	getmail := interop.Require(t, "getmail", "apt-get install getmail6")
	// run retrieves once, delivering each message to a file of its own
	// through an MDA command (getmail's Maildir destination refuses to
	// run as root, as CI does).
	run := func(t *testing.T, is *interopServer, gdir, out string, del bool) string {
		t.Helper()
		rc := filepath.Join(gdir, "getmailrc")
		conf := fmt.Sprintf(`[retriever]
type = SimplePOP3SSLRetriever
server = %s
port = %s
username = alice
password = secret
ca_certs = %s

[destination]
type = MDA_external
path = /bin/sh
arguments = ("-c", "cat > %s/$$.eml")
allow_root_commands = true

[options]
delete = %v
read_all = false
delivered_to = false
received = false
verbose = 1
`, is.host, is.tlsPort, is.caFile, out, del)
		if err := os.WriteFile(rc, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		return string(interop.Run(t, nil, []string{"HOME=" + gdir}, getmail, "--rcfile="+rc, "--getmaildir="+gdir))
	}
	for _, del := range []bool{false, true} {
		t.Run(fmt.Sprintf("delete=%v", del), func(t *testing.T) {
			is := startInterop(t, open, nil)
			gdir, out := t.TempDir(), t.TempDir()
			run(t, is, gdir, out, del)
			got := readDir(t, out, "*.eml")
			for i, m := range got {
				// getmail writes the envelope sender, which POP3 does not
				// know, as a header of its own.
				got[i] = strings.TrimPrefix(m, "Return-Path: <unknown>\n")
			}
			checkDownloaded(t, bySize(got), bySize(interopMessages), true)
			is.checkLeft(t, !del)
			// A second run gets nothing new: with delete=false because
			// getmail remembers the UIDLs.
			out2 := t.TempDir()
			log := run(t, is, gdir, out2, del)
			if n := len(readDir(t, out2, "*.eml")); n != 0 {
				t.Errorf("a second run delivered %d messages, want none:\n%s", n, log)
			}
		})
	}
}

// TestInteropMutt runs mutt in batch mode (keystrokes pushed with -e):
// <fetch-mail> downloads the maildrop over STLS into a local mbox and, with
// pop_delete, deletes it on the server.
func TestInteropMutt(t *testing.T) {
	t.Parallel()
	forEachStore(t, testInteropMutt)
}

func testInteropMutt(t *testing.T, open openStore) {
	mutt := interop.Require(t, "mutt", "apt-get install mutt")
	// mutt only opens a mailbox with a terminal on its standard input
	// (else it sends mail in batch mode): python's pty module gives it one.
	interop.Require(t, "python3", "apt-get install python3")
	is := startInterop(t, open, nil)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "muttrc")
	mbox := filepath.Join(dir, "mbox")
	conf := fmt.Sprintf(`set pop_host="pop://alice:secret@%s"
set pop_delete=yes
set pop_authenticators="user"
set ssl_starttls=yes
set ssl_force_tls=yes
set ssl_ca_certificates_file=%s
set folder=%s
set spoolfile=%s
set mbox_type=mbox
set wait_key=no
set beep=no
set quit=yes
set move=no
set record=""
`, net.JoinHostPort(is.host, is.port), is.caFile, dir, mbox)
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(mbox, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"HOME=" + dir, "TERM=vt100", "COLUMNS=80", "LINES=24", "MAILCAPS=/dev/null"}
	out, err := interop.Output(nil, env, "python3", "-c",
		"import os, pty, sys; sys.exit(os.waitstatus_to_exitcode(pty.spawn(sys.argv[1:])))",
		mutt, "-n", "-F", cfg, "-f", mbox, "-e", "push '<fetch-mail><quit>'")
	if err != nil {
		t.Fatalf("mutt: %v\n%s", err, out)
	}
	b, err := os.ReadFile(mbox)
	if err != nil {
		t.Fatal(err)
	}
	got, err := splitMbox(string(b))
	if err != nil {
		t.Fatalf("%v in mutt's mbox:\n%s", err, clip(string(b)))
	}
	checkDownloaded(t, got, interopMessages, true)
	is.checkLeft(t, false)
}

// splitMbox returns the messages of an mbox that mutt wrote: each has a
// "From " separator line, and Status, Content-Length and Lines headers that
// mutt adds at the end of the header; the body is Content-Length octets.
func splitMbox(s string) ([]string, error) {
	var msgs []string
	for s != "" {
		sep, rest, ok := strings.Cut(s, "\n")
		if !ok || !strings.HasPrefix(sep, "From ") {
			return nil, fmt.Errorf("no separator at %q", clip(s))
		}
		header, rest, ok := strings.Cut(rest, "\n\n")
		if !ok {
			return nil, fmt.Errorf("no end of header at %q", clip(rest))
		}
		var kept []string
		n := -1
		for line := range strings.Lines(header + "\n") {
			switch name, value, _ := strings.Cut(strings.TrimSuffix(line, "\n"), ": "); name {
			case "Content-Length":
				if _, err := fmt.Sscan(value, &n); err != nil {
					return nil, err
				}
			case "Status", "Lines":
			default:
				kept = append(kept, line)
			}
		}
		if n < 0 || n > len(rest) {
			return nil, fmt.Errorf("bad Content-Length in %q", header)
		}
		msgs = append(msgs, strings.Join(kept, "")+"\n"+rest[:n])
		s = strings.TrimPrefix(rest[n:], "\n")
	}
	return msgs, nil
}
