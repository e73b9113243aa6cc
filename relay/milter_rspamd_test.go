package relay_test

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/postyard/postyard/internal/interop"
	"github.com/postyard/postyard/relay"
)

const testGTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"

// toolPort returns a loopback TCP port that was free a moment ago.
func toolPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// startDaemon runs a program in the foreground for a test: its own process
// group, stopped (SIGTERM, then SIGKILL to the group) at cleanup.
// daemon is a process started by startDaemon; done is closed when it has
// exited.
type daemon struct {
	*exec.Cmd
	done chan struct{}
}

func startDaemon(t *testing.T, logFile string, name string, args ...string) *daemon {
	t.Helper()
	cmd := exec.Command(name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // workers left behind, if any
		if t.Failed() {
			t.Logf("%s output:\n%s", name, outputTail(out.Bytes(), 4000))
			if logFile != "" {
				b, _ := os.ReadFile(logFile)
				t.Logf("%s log:\n%s", name, outputTail(b, 8000))
			}
		}
	})
	return &daemon{cmd, done}
}

func outputTail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// waitTCP waits until something accepts TCP connections on addr, for
// at most limit.
func waitTCP(t *testing.T, d *daemon, addr string, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is not listening on %s: %v", d.Path, addr, err)
		}
		select {
		case <-d.done:
			t.Fatalf("%s exited without listening on %s", d.Path, addr)
		case <-tick.C:
		}
	}
}

// startRspamd starts rspamd with testdata/filters/rspamd.conf, and returns
// the addresses of its two milter proxies: one rejects spam, the other
// quarantines it.
func startRspamd(t *testing.T) (reject, quarantine string) {
	t.Helper()
	bin := interop.Require(t, "rspamd", "apt-get install rspamd")
	dir := t.TempDir()
	for _, d := range []string{"local", "db", "run", "log", "hs"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// Compiling the hyperscan databases takes most of rspamd's start (40 s
	// against 2 s); they are kept between runs in the user's cache.
	hs := filepath.Join(dir, "hs")
	if c, err := os.UserCacheDir(); err == nil {
		if err := os.MkdirAll(filepath.Join(c, "postyard-test", "rspamd-hs"), 0o755); err == nil {
			hs = filepath.Join(c, "postyard-test", "rspamd-hs")
		}
	}
	conf, err := filepath.Abs("testdata/filters/rspamd.conf")
	if err != nil {
		t.Fatal(err)
	}
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	g, err := user.LookupGroupId(u.Gid)
	if err != nil {
		t.Fatal(err)
	}
	rport, qport := toolPort(t), toolPort(t)
	cmd := startDaemon(t, filepath.Join(dir, "log", "rspamd.log"), bin, "-f", "-c", conf, "-u", u.Username, "-g", g.Name,
		"--var", "LOCAL_CONFDIR="+filepath.Join(dir, "local"),
		"--var", "DBDIR="+filepath.Join(dir, "db"),
		"--var", "RUNDIR="+filepath.Join(dir, "run"),
		"--var", "LOGDIR="+filepath.Join(dir, "log"),
		"--var", "HSDIR="+hs,
		"--var", "MILTER_PORT="+rport,
		"--var", "QUARANTINE_PORT="+qport,
	)
	reject, quarantine = "127.0.0.1:"+rport, "127.0.0.1:"+qport
	waitTCP(t, cmd, reject, time.Minute)
	waitTCP(t, cmd, quarantine, time.Minute)
	return reject, quarantine
}

// TestMilterRspamd runs mail through a real rspamd (its proxy worker in
// milter mode) from an SMTP client to the mailbox: a clean message is
// delivered with rspamd's header fields, GTUBE is refused with rspamd's
// reply, or quarantined into Junk by the proxy that quarantines.
func TestMilterRspamd(t *testing.T) {
	start := time.Now()
	reject, quarantine := startRspamd(t)
	t.Logf("rspamd started in %v", time.Since(start).Round(time.Millisecond))

	f := newFixture(t, withFilters(&relay.Milter{Network: "tcp", Address: reject, Hostname: "mx.example.com", EOMTimeout: time.Minute}))
	date := time.Now().Format(time.RFC1123Z)
	clean := "From: Sender <s@remote.example>\r\nTo: alice@example.com\r\nSubject: lunch\r\nDate: " + date + "\r\nMessage-ID: <lunch.1@remote.example>\r\n\r\nShall we meet at noon?"
	_, data := f.send(t, "127.0.0.1", "s@remote.example", []string{"alice@example.com"}, clean)
	if !strings.HasPrefix(data, "250") {
		t.Fatalf("clean message: %q", data)
	}
	in := f.inbox(t, "alice")
	if len(in) != 1 {
		t.Fatalf("alice has %d messages", len(in))
	}
	hdr, _, _ := strings.Cut(in[0], "\r\n\r\n")
	// rspamd's fields come first, after Return-Path; the queue ID is the
	// milter's i macro.
	if !regexp.MustCompile(`^Return-Path: <s@remote.example>\r\n(X-[A-Za-z-]+: [^\r]*\r\n(\s[^\r]*\r\n)*)+Received: from client.example`).MatchString(hdr) {
		t.Errorf("rspamd's fields are not at the top:\n%s", hdr)
	}
	for _, re := range []string{
		`\r\nX-Rspamd-Queue-Id: [0-9A-F]{12}\r\n`,
		`\r\nX-Spamd-Result: default: False \[-?[0-9.]+ / 15\.00\]`,
		`\r\nX-Rspamd-Server: `,
		`\r\nX-Spam-Status: No, score=-?[0-9.]+\r\n`,
	} {
		if !regexp.MustCompile(re).MatchString(hdr) {
			t.Errorf("no %s in the delivered header:\n%s", re, hdr)
		}
	}
	if !strings.HasSuffix(in[0], "\r\n\r\nShall we meet at noon?\r\n") {
		t.Errorf("body changed: %q", in[0])
	}

	spam := "From: Sender <s@remote.example>\r\nTo: alice@example.com\r\nSubject: offer\r\nDate: " + date + "\r\nMessage-ID: <offer.1@remote.example>\r\n\r\nThis is the GTUBE:\r\n" + testGTUBE
	// rspamd's reply names the symbol's description.
	if _, data := f.send(t, "127.0.0.1", "s@remote.example", []string{"alice@example.com"}, spam); data != "554 5.7.1 Gtube pattern" {
		t.Fatalf("GTUBE: %q", data)
	}
	if n := len(f.inbox(t, "alice")); n != 1 {
		t.Fatalf("alice has %d messages after GTUBE", n)
	}

	// The proxy with quarantine_on_reject: GTUBE goes to Junk.
	q := newFixture(t, withFilters(&relay.Milter{Network: "tcp", Address: quarantine, EOMTimeout: time.Minute}))
	u, _ := q.store.User(context.Background(), "alice")
	if err := u.Create(context.Background(), "Junk", nil); err != nil {
		t.Fatal(err)
	}
	if _, data := q.send(t, "127.0.0.1", "s@remote.example", []string{"alice@example.com"}, spam); !strings.HasPrefix(data, "250") {
		t.Fatalf("GTUBE to the quarantining proxy: %q", data)
	}
	junk := q.folder(t, "alice", "Junk")
	if len(junk) != 1 || !strings.Contains(junk[0], testGTUBE) || len(q.inbox(t, "alice")) != 0 {
		t.Fatalf("Junk %q; INBOX %d", junk, len(q.inbox(t, "alice")))
	}
	t.Logf("total %v", time.Since(start).Round(time.Millisecond))
}
