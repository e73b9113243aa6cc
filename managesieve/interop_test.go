package managesieve_test

// Interop tests: real clients against a Server over MemStore and DirStore
// on a loopback listener with STARTTLS and a self-signed certificate:
// sieve-connect (Debian package sieve-connect) uploads, lists, activates,
// downloads and deletes a script, and a Python client speaking the
// protocol over socket/ssl checks the error replies for bad scripts,
// quota and malformed input. Each step is checked against what the Store
// holds. A missing program skips the test, or fails it under
// POSTYARD_INTEROP=require (see ARCHITECTURE.md, "Testing layers").

import (
	"encoding/pem"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/postyard/postyard/auth"
	"github.com/postyard/postyard/internal/interop"
	"github.com/postyard/postyard/internal/selfsigned"
	"github.com/postyard/postyard/managesieve"
)

// interopUsers holds alice with password "secret". Deriving the hashes is
// slow under the race detector, so it is done once; Users is safe for
// concurrent use.
var interopUsers = sync.OnceValues(func() (*auth.Users, error) {
	users := &auth.Users{}
	return users, users.Add("alice", "secret")
})

// interopServer starts a server with STARTTLS over st on 127.0.0.1:0 and
// returns its address and the PEM file of its certificate.
func interopServer(t *testing.T, st managesieve.Store, opts ...func(*managesieve.Server)) (addr, caFile string) {
	t.Helper()
	users, err := interopUsers()
	if err != nil {
		t.Fatal(err)
	}
	conf, _, err := selfsigned.Config("127.0.0.1", "localhost")
	if err != nil {
		t.Fatal(err)
	}
	caFile = filepath.Join(t.TempDir(), "ca.pem")
	pemData := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: conf.Certificates[0].Certificate[0]})
	if err := os.WriteFile(caFile, pemData, 0o600); err != nil {
		t.Fatal(err)
	}
	srv := &managesieve.Server{
		Store:         st,
		Authenticator: users,
		TLSConfig:     conf,
		AuthThrottle:  &auth.Throttle{BaseDelay: -1},
		Logger:        slog.New(slog.DiscardHandler),
	}
	for _, o := range opts {
		o(srv)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String(), caFile
}

// forEachInteropStore runs f for a MemStore and a DirStore.
func forEachInteropStore(t *testing.T, f func(t *testing.T, st managesieve.Store)) {
	t.Run("MemStore", func(t *testing.T) { f(t, &managesieve.MemStore{}) })
	t.Run("DirStore", func(t *testing.T) { f(t, &managesieve.DirStore{Root: t.TempDir()}) })
}

const interopScript = `require ["fileinto", "vacation"];
# File the newsletters.
if header :contains "list-id" "news" {
  fileinto "Newsletters";
  stop;
}
vacation :days 7 "I am away until Monday.";
`

func TestInteropSieveConnect(t *testing.T) {
	bin := interop.Require(t, "sieve-connect", "apt-get install sieve-connect")
	forEachInteropStore(t, func(t *testing.T, st managesieve.Store) {
		addr, caFile := interopServer(t, st)
		host, port, _ := net.SplitHostPort(addr)
		dir := t.TempDir()
		local := filepath.Join(dir, "filter.sieve")
		// sieve-connect sends the file as it is; a script with LF line
		// endings is stored with them.
		if err := os.WriteFile(local, []byte(interopScript), 0o600); err != nil {
			t.Fatal(err)
		}
		env := []string{"HOME=" + dir}
		run := func(args ...string) string {
			t.Helper()
			base := []string{"--server", host, "--port", port, "--nosrv", "--user", "alice", "--passwordfd", "0",
				"--tlscafile", caFile, "--tlshostname", "127.0.0.1", "--noclearchan"}
			return string(interop.Run(t, []byte("secret\n"), env, bin, append(base, args...)...))
		}
		want := func(w ...string) {
			t.Helper()
			if got := scripts(t, st, "alice"); !slices.Equal(got, w) {
				t.Fatalf("store holds %q, want %q", got, w)
			}
		}

		run("--upload", "--localsieve", local, "--remotesieve", "my filter")
		want("my filter=" + interopScript)

		if out := run("--list"); !strings.Contains(out, "my filter") {
			t.Fatalf("--list output:\n%s", out)
		}
		run("--activate", "--remotesieve", "my filter")
		want("my filter*=" + interopScript)
		if out := run("--debug", "--list"); !strings.Contains(out, "my filter") || !strings.Contains(strings.ToLower(out), "active") {
			t.Fatalf("--list output after --activate:\n%s", out)
		} else {
			t.Logf("sieve-connect --debug --list:\n%s", out)
		}

		down := filepath.Join(dir, "down.sieve")
		run("--download", "--remotesieve", "my filter", "--localsieve", down)
		if b, err := os.ReadFile(down); err != nil || string(b) != interopScript {
			t.Fatalf("downloaded %q, %v", b, err)
		}

		// A bad script is refused with its line number, and not stored.
		bad := filepath.Join(dir, "bad.sieve")
		os.WriteFile(bad, []byte("keep;\nfileinot \"x\";\n"), 0o600)
		out, err := interop.Output([]byte("secret\n"), env, bin, "--server", host, "--port", port, "--nosrv",
			"--user", "alice", "--passwordfd", "0", "--tlscafile", caFile, "--tlshostname", "127.0.0.1",
			"--upload", "--localsieve", bad, "--remotesieve", "bad")
		if err == nil || !strings.Contains(string(out), "line 2") {
			t.Fatalf("uploading a bad script: %v\n%s", err, out)
		}
		want("my filter*=" + interopScript)

		run("--deactivate")
		want("my filter=" + interopScript)
		run("--delete", "--remotesieve", "my filter")
		want()
	})
}

func TestInteropPython(t *testing.T) {
	python := interop.Require(t, "python3", "apt-get install python3")
	q := managesieve.Quota{MaxScripts: 2, MaxScriptSize: 1000}
	for _, st := range []managesieve.Store{&managesieve.MemStore{Quota: q}, &managesieve.DirStore{Root: t.TempDir(), Quota: q}} {
		t.Run(strings.TrimPrefix(fmt.Sprintf("%T", st), "*managesieve."), func(t *testing.T) {
			addr, caFile := interopServer(t, st, func(s *managesieve.Server) {
				s.MaxScriptSize = 2000
				s.MaxBadCommands = 20
			})
			script := filepath.Join("testdata", "interop", "managesieve_client.py")
			out := interop.Run(t, nil, nil, python, script, addr, caFile, "alice", "secret")
			t.Logf("%s", out)
			if got := scripts(t, st, "alice"); !slices.Equal(got, []string{"good*=keep;\r\n", "other=discard;\r\n"}) {
				t.Fatalf("store holds %q", got)
			}
		})
	}
}
