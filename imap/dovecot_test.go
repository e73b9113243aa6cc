package imap_test

// A private Dovecot for the differential test: its own config, Maildir,
// passwd-file and runtime directories in a temp dir, listening on a
// loopback port, no system services. Modelled on the shared bench's
// peers.sh.

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/postyard/postyard/internal/interop"
)

// startDovecot starts Dovecot's IMAP server with user alice, password
// pass, and returns its address. It skips (fails under
// POSTYARD_INTEROP=require) when Dovecot is missing or cannot start.
func startDovecot(t *testing.T) string {
	t.Helper()
	bin := interop.Require(t, "dovecot", "apt-get install dovecot-imapd")
	if _, err := os.Stat("/usr/lib/dovecot/imap"); err != nil {
		skipOrFail(t, "Dovecot's imap binary is missing; install it with: apt-get install dovecot-imapd")
	}
	// A short path: Dovecot's UNIX sockets live under it (108-byte limit).
	dir, err := os.MkdirTemp("", "pydc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// Dovecot's unprivileged processes (auth, login) must reach the
	// passwd-file; the test's credentials are no secret.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	uid, gid := os.Getuid(), os.Getgid()
	var extra string
	if uid == 0 {
		// Dovecot never gives mail access to root: the mail belongs to
		// nobody, as in the shared bench.
		uid, gid = 65534, 65534
	} else {
		// Everything runs as the current user, without chroot.
		u, err := user.Current()
		if err != nil {
			t.Fatal(err)
		}
		extra = fmt.Sprintf(`default_login_user = %[1]s
default_internal_user = %[1]s
first_valid_uid = %[2]d
first_valid_gid = %[3]d
service imap-login {
  chroot =
}
service anvil {
  chroot =
}
`, u.Username, uid, gid)
	}
	home := filepath.Join(dir, "home")
	if err := os.Mkdir(home, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(home, uid, gid); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	passwd := filepath.Join(dir, "passwd")
	if err := os.WriteFile(passwd, fmt.Appendf(nil, "alice:{PLAIN}pass:%d:%d::%s::\n", uid, gid, home), 0o644); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "dovecot.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, `# Differential test instance: loopback only, plaintext auth.
protocols = imap
listen = 127.0.0.1
base_dir = %[1]s/run
state_dir = %[1]s/state
instance_name = postyard-difftest-%[2]s
log_path = %[1]s/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:~/Maildir
namespace inbox {
  inbox = yes
}
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%%u %[1]s/passwd
}
userdb {
  driver = passwd-file
  args = username_format=%%u %[1]s/passwd
}
service imap-login {
  inet_listener imap {
    port = %[2]s
  }
  inet_listener imaps {
    port = 0
  }
}
%[3]s`, dir, port, extra), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"run", "state"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(bin, "-F", "-c", conf)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		skipOrFail(t, "cannot start Dovecot: "+err.Error())
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
	addr := net.JoinHostPort("127.0.0.1", port)
	for deadline := time.Now().Add(20 * time.Second); ; {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return addr
		}
		select {
		case err := <-exited:
			exited <- err
			log, _ := os.ReadFile(filepath.Join(dir, "dovecot.log"))
			skipOrFail(t, fmt.Sprintf("Dovecot exited (%v): %s%s", err, out.String(), log))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "dovecot.log"))
			skipOrFail(t, "Dovecot did not listen on "+addr+": "+out.String()+string(log))
		}
	}
}

// skipOrFail skips with msg, or fails under POSTYARD_INTEROP=require.
func skipOrFail(t *testing.T, msg string) {
	t.Helper()
	if os.Getenv("POSTYARD_INTEROP") == "require" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// rawClient is a minimal IMAP client: it sends commands as given and
// returns every response line up to the tagged one, literals included.
type rawClient struct {
	c   net.Conn
	r   *bufio.Reader
	tag int
}

func dialRaw(t *testing.T, addr string) *rawClient {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	rc := &rawClient{c: c, r: bufio.NewReader(c)}
	if _, err := rc.readResponse(); err != nil {
		t.Fatal(err)
	}
	return rc
}

// readResponse reads one response: a line and the literals it
// announces, as they were on the wire.
func (rc *rawClient) readResponse() (string, error) {
	rc.c.SetReadDeadline(time.Now().Add(30 * time.Second))
	var b strings.Builder
	for {
		line, err := rc.r.ReadString('\n')
		b.WriteString(line)
		if err != nil {
			return b.String(), err
		}
		n, ok := literalAtEnd(line)
		if !ok {
			return b.String(), nil
		}
		buf := make([]byte, n)
		if _, err := io.ReadFull(rc.r, buf); err != nil {
			return b.String(), err
		}
		b.Write(buf)
	}
}

// literalAtEnd reports the size of the literal a line ends with.
func literalAtEnd(line string) (int, bool) {
	line = strings.TrimSuffix(line, "\r\n")
	if !strings.HasSuffix(line, "}") {
		return 0, false
	}
	i := strings.LastIndexByte(line, '{')
	if i < 0 {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimSuffix(line[i+1:len(line)-1], "+"))
	return n, err == nil
}

// cmd sends a command (literals must be non-synchronizing, LITERAL+)
// and returns its responses, the tagged one last.
func (rc *rawClient) cmd(t *testing.T, command string) []string {
	t.Helper()
	rc.tag++
	tag := fmt.Sprintf("d%03d", rc.tag)
	if _, err := io.WriteString(rc.c, tag+" "+command+"\r\n"); err != nil {
		t.Fatal(err)
	}
	var resps []string
	for {
		r, err := rc.readResponse()
		if err != nil {
			if errors.Is(err, io.EOF) && strings.HasPrefix(command, "LOGOUT") {
				return resps
			}
			t.Fatalf("%s: %v after %q", command, err, resps)
		}
		resps = append(resps, r)
		if strings.HasPrefix(r, tag+" ") {
			return resps
		}
	}
}

// appendMsg APPENDs a message with a synchronizing literal.
func (rc *rawClient) appendMsg(t *testing.T, flags, date, msg string) []string {
	t.Helper()
	rc.tag++
	tag := fmt.Sprintf("d%03d", rc.tag)
	fmt.Fprintf(rc.c, "%s APPEND INBOX (%s) \"%s\" {%d}\r\n", tag, flags, date, len(msg))
	if r, err := rc.readResponse(); err != nil || !strings.HasPrefix(r, "+") {
		t.Fatalf("APPEND: %q %v", r, err)
	}
	io.WriteString(rc.c, msg+"\r\n")
	var resps []string
	for {
		r, err := rc.readResponse()
		if err != nil {
			t.Fatal(err)
		}
		resps = append(resps, r)
		if strings.HasPrefix(r, tag+" ") {
			return resps
		}
	}
}
