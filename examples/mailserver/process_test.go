package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/postyard/postyard/internal/interop"
	"github.com/postyard/postyard/mailbox"
	"github.com/postyard/postyard/mailbox/maildir"
	"github.com/postyard/postyard/smtp"
)

// The tests in this file build the command with "go build" and run it as
// a process, as an operator would: a config file, JSON logs, signals.

var binary struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binary.dir != "" {
		os.RemoveAll(binary.dir)
	}
	os.Exit(code)
}

// buildBinary builds the command once per test run (with -race when the
// tests have it).
func buildBinary(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build the server with")
	}
	binary.once.Do(func() {
		if binary.dir, binary.err = os.MkdirTemp("", "mailserver-bin-"); binary.err != nil {
			return
		}
		binary.path = filepath.Join(binary.dir, "mailserver")
		args := []string{"build", "-o", binary.path}
		if raceEnabled {
			args = append(args, "-race")
		}
		out, err := exec.Command(goTool, append(args, ".")...).CombinedOutput()
		if err != nil {
			binary.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binary.err != nil {
		t.Fatal(binary.err)
	}
	return binary.path
}

// proc is the server running as a process.
type proc struct {
	cmd   *exec.Cmd
	addrs map[string]string // service → address, from the "listening" logs
	done  chan struct{}     // closed when the process has exited
	err   error             // its exit error, once done

	mu   sync.Mutex
	logs []string // stderr lines
}

// startProc runs the server with args and waits until it logs "ready".
func startProc(t *testing.T, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(bin, args...), addrs: map[string]string{}, done: make(chan struct{})}
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(nil, 1<<20)
		isReady := false
		for sc.Scan() {
			line := sc.Text()
			var rec struct {
				Msg     string `json:"msg"`
				Service string `json:"service"`
				Addr    string `json:"addr"`
			}
			json.Unmarshal([]byte(line), &rec)
			p.mu.Lock()
			p.logs = append(p.logs, line)
			if rec.Msg == "listening" {
				p.addrs[rec.Service] = rec.Addr
			}
			p.mu.Unlock()
			if rec.Msg == "ready" && !isReady {
				isReady = true
				close(ready)
			}
		}
		io.Copy(io.Discard, stderr)
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("server log:\n%s", p.log())
		}
	})
	select {
	case <-ready:
	case <-p.done:
		t.Fatalf("server exited: %v\n%s", p.err, p.log())
	case <-time.After(60 * time.Second):
		t.Fatalf("server not ready:\n%s", p.log())
	}
	return p
}

func (p *proc) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.logs, "\n")
}

// stop sends SIGTERM and waits for a clean exit.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.wait(t)
}

// wait waits for the process to exit, which must be with status 0.
func (p *proc) wait(t *testing.T) {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		t.Fatalf("server did not exit after SIGTERM:\n%s", p.log())
	}
	if p.err != nil {
		t.Fatalf("server exit: %v\n%s", p.err, p.log())
	}
	if !strings.Contains(p.log(), `"msg":"stopped"`) {
		t.Fatalf("no clean stop in the log:\n%s", p.log())
	}
}

// processConfig writes a config file for a server with every service on
// a free loopback port (port 0; the test reads the ports from the log),
// JSON logs, and the users file DATA/users.
func processConfig(t *testing.T, data string) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "hostname = \"mail.test\"\ndomains = [\"example.test\"]\ndata_dir = %q\n", data)
	b.WriteString("[listen]\n")
	for _, s := range []string{"smtp", "submission", "submissions", "imap", "imaps", "pop3", "pop3s", "managesieve"} {
		fmt.Fprintf(&b, "%s = \"127.0.0.1:0\"\n", s)
	}
	b.WriteString("[log]\nformat = \"json\"\n")
	return writeConfig(t, b.String())
}

// TestProcessInterop: the built server, configured by a file, with a user
// added by "mailserver adduser": swaks submits with AUTH over STARTTLS;
// python's imaplib (STARTTLS) and poplib (implicit TLS) and curl (IMAPS,
// POP3 with STLS) read the message back; SIGTERM stops it cleanly.
func TestProcessInterop(t *testing.T) {
	swaks := interop.Require(t, "swaks", "apt-get install swaks")
	curl := interop.Require(t, "curl", "apt-get install curl")
	python := interop.Require(t, "python3", "apt-get install python3")
	bin := buildBinary(t)
	data := t.TempDir()
	conf := processConfig(t, data)
	const user, password = "alice@example.test", "correct horse"
	interop.Run(t, []byte(password+"\n"), nil, bin, "adduser", "-config", conf, user)

	p := startProc(t, bin, "-config", conf)
	body := "Body through the binary, token 7f3a9c"
	// swaks exits with a failure status unless every step succeeded.
	interop.Run(t, nil, nil, swaks, "--server", p.addrs["submission"], "-tls", "--auth", "PLAIN",
		"--auth-user", user, "--auth-password", password, "--from", user, "--to", user,
		"--header", "Subject: process test", "--body", body)

	host, port, _ := net.SplitHostPort(p.addrs["imap"])
	im := interop.Run(t, nil, nil, python, "-c", `
import imaplib, ssl, sys
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
m = imaplib.IMAP4(sys.argv[1], int(sys.argv[2]))
m.starttls(ssl_context=ctx)
m.login(sys.argv[3], sys.argv[4])
m.select("INBOX")
typ, data = m.uid("FETCH", "1:*", "(BODY.PEEK[])")
assert typ == "OK", typ
for item in data:
    if isinstance(item, tuple):
        sys.stdout.buffer.write(item[1])
m.logout()
`, host, port, user, password)
	host, port, _ = net.SplitHostPort(p.addrs["pop3s"])
	pop := interop.Run(t, nil, nil, python, "-c", `
import poplib, ssl, sys
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
p = poplib.POP3_SSL(sys.argv[1], int(sys.argv[2]), context=ctx)
p.user(sys.argv[3])
p.pass_(sys.argv[4])
for i in range(1, len(p.list()[1]) + 1):
    resp, lines, octets = p.retr(i)
    sys.stdout.buffer.write(b"\r\n".join(lines) + b"\r\n")
p.quit()
`, host, port, user, password)
	login := user + ":" + password
	curlIMAP := interop.Run(t, nil, nil, curl, "-sSk", "--url", "imaps://"+p.addrs["imaps"]+"/INBOX;UID=1", "--user", login)
	curlPOP := interop.Run(t, nil, nil, curl, "-sSk", "--ssl-reqd", "--url", "pop3://"+p.addrs["pop3"]+"/1", "--user", login)
	for name, got := range map[string][]byte{"imaplib": im, "poplib": pop, "curl imaps": curlIMAP, "curl pop3": curlPOP} {
		if !strings.Contains(string(got), body) || !strings.Contains(string(got), "Subject: process test") ||
			!strings.Contains(string(got), "Return-Path: <"+user+">") {
			t.Errorf("%s read:\n%s", name, got)
		}
	}
	if _, err := os.Stat(filepath.Join(data, "tls", "cert.pem")); err != nil {
		t.Errorf("self-signed certificate not kept in the data directory: %v", err)
	}
	p.stop(t)
}

// TestProcessSIGTERMUnderLoad: clients send messages on several
// connections at once; the server gets SIGTERM in the middle; it exits
// cleanly, is started again on the same data directory and stopped again.
// Every message that got a 250 is in the mailbox exactly once, and no
// message is there twice.
func TestProcessSIGTERMUnderLoad(t *testing.T) {
	bin := buildBinary(t)
	data := t.TempDir()
	conf := processConfig(t, data)
	if out, code := runCLI(t, "pw\n", "adduser", "-data", data, "alice@example.test"); code != 0 {
		t.Fatal(out)
	}
	p := startProc(t, bin, "-config", conf)
	mx := p.addrs["smtp"]

	const workers, before = 8, 100 // SIGTERM after this many acknowledgements
	var (
		mu     sync.Mutex
		acked  = map[string]bool{}
		enough = make(chan struct{})
		once   sync.Once
		wg     sync.WaitGroup
	)
	for w := range workers {
		wg.Go(func() {
			seq := 0
			for conn := 0; conn < 100; conn++ { // reconnect after 421 until the listener is gone
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				c, err := smtp.Dial(ctx, "tcp", mx, nil)
				if err != nil {
					cancel()
					return
				}
				for {
					token := fmt.Sprintf("w%d-m%d", w, seq)
					seq++
					msg := "From: <load@example.org>\r\nTo: <alice@example.test>\r\nSubject: load " + token +
						"\r\nX-Token: " + token + "\r\n\r\n" + strings.Repeat("load test line\r\n", 50)
					res, err := c.SendMail(ctx, path("load@example.org"), nil, []smtp.Rcpt{{To: path("alice@example.test")}}, strings.NewReader(msg))
					if err != nil || res.Err(0) != nil {
						break
					}
					mu.Lock()
					acked[token] = true
					n := len(acked)
					mu.Unlock()
					if n >= before {
						once.Do(func() { close(enough) })
					}
				}
				c.Close()
				cancel()
			}
		})
	}
	select {
	case <-enough:
	case <-p.done:
		t.Fatalf("server exited under load: %v", p.err)
	case <-time.After(2 * time.Minute):
		t.Fatalf("load did not get %d messages through", before)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	wg.Wait()
	p.wait(t)
	mu.Lock()
	n := len(acked)
	mu.Unlock()
	t.Logf("%d messages acknowledged", n)

	// Again on the same data directory: recovery, then a clean stop.
	p = startProc(t, bin, "-config", conf)
	p.stop(t)

	store, err := maildir.Open(filepath.Join(data, "mail"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	stored := storedTokens(t, store, "alice@example.test")
	for token := range acked {
		if stored[token] != 1 {
			t.Errorf("acknowledged message %s stored %d times", token, stored[token])
		}
	}
	for token, k := range stored {
		if k != 1 {
			t.Errorf("message %s stored %d times", token, k)
		}
	}
	t.Logf("%d messages stored (%d acknowledged)", len(stored), n)
}

// storedTokens counts the X-Token values of the messages in user's INBOX.
func storedTokens(t *testing.T, store mailbox.Store, user string) map[string]int {
	t.Helper()
	ctx := context.Background()
	u, err := store.User(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	mb, err := u.Open(ctx, "INBOX", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer mb.Close()
	re := regexp.MustCompile(`(?m)^X-Token: (\S+)\r$`)
	tokens := map[string]int{}
	for m, err := range mb.Messages(ctx, mailbox.AllUIDs(), nil) {
		if err != nil {
			t.Fatal(err)
		}
		c, err := mb.Open(ctx, m.UID)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(c)
		c.Close()
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(b)) != m.Size {
			t.Errorf("UID %d: %d bytes, size %d", m.UID, len(b), m.Size)
		}
		sm := re.FindSubmatch(b)
		if sm == nil {
			t.Errorf("UID %d without a token:\n%s", m.UID, b)
			continue
		}
		tokens[string(sm[1])]++
	}
	if len(tokens) == 0 {
		t.Fatal(errors.New("no message stored"))
	}
	return tokens
}
