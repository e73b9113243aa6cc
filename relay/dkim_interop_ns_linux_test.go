//go:build linux

package relay_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/postyard/postyard/dnsmx/dnstest"
)

// OpenDKIM's library looks keys up with the system resolver (res_nquery),
// which asks the nameservers of /etc/resolv.conf on port 53; the tools
// have no option for another server or a key file. So runWithDNS runs a
// program in new user, mount and network namespaces (no privileges
// needed where unprivileged user namespaces are allowed): a copy of this
// test binary brings up loopback, serves the zone on 127.0.0.1:53,
// bind-mounts a resolv.conf naming it over /etc/resolv.conf, and runs the
// program there.

const (
	nsHelperEnv  = "POSTYARD_DNS_NS_HELPER" // the zone file, in the helper
	nsHelperFail = 125                      // exit status: the helper could not set up
)

// runWithDNS runs prog with args and stdin where DNS answers from zone.
// It skips the test (fails under POSTYARD_INTEROP=require) when the
// namespaces cannot be made.
func runWithDNS(t *testing.T, zone string, stdin []byte, prog string, args ...string) ([]byte, error) {
	t.Helper()
	dir := t.TempDir()
	zf := filepath.Join(dir, "zone")
	if err := os.WriteFile(zf, []byte(zone), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], append([]string{"-test.run=^TestDNSNamespaceHelper$", "--", prog}, args...)...)
	cmd.Env = append(os.Environ(), nsHelperEnv+"="+zf)
	cmd.Stdin = strings.NewReader(string(stdin))
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS | syscall.CLONE_NEWNET,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
	}
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if err != nil && (!errors.As(err, &ee) || ee.ExitCode() == nsHelperFail) {
		msg := fmt.Sprintf("cannot run %s with a test DNS server (user namespaces not allowed?): %v\n%s", prog, err, out)
		if os.Getenv("POSTYARD_INTEROP") == "require" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return out, err
}

// TestDNSNamespaceHelper is the process runWithDNS starts; it does nothing
// in a normal test run.
func TestDNSNamespaceHelper(t *testing.T) {
	zf := os.Getenv(nsHelperEnv)
	if zf == "" {
		t.Skip("helper process for runWithDNS")
	}
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "namespace helper:", err)
		os.Exit(nsHelperFail)
	}
	args := os.Args
	for i, a := range args {
		if a == "--" {
			args = args[i+1:]
			break
		}
	}
	zone, err := os.ReadFile(zf)
	if err != nil {
		fail(err)
	}
	if err := loopbackUp(); err != nil {
		fail(fmt.Errorf("loopback up: %w", err))
	}
	srv, err := dnstest.Start(string(zone))
	if err != nil {
		fail(err)
	}
	if err := forwardDNS("127.0.0.1:53", srv.Addr); err != nil {
		fail(err)
	}
	conf := filepath.Join(filepath.Dir(zf), "resolv.conf")
	if err := os.WriteFile(conf, []byte("nameserver 127.0.0.1\noptions timeout:2 attempts:1\n"), 0o644); err != nil {
		fail(err)
	}
	if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
		fail(fmt.Errorf("make mounts private: %w", err))
	}
	if err := syscall.Mount(conf, "/etc/resolv.conf", "", syscall.MS_BIND, ""); err != nil {
		fail(fmt.Errorf("bind-mount resolv.conf: %w", err))
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err = cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		os.Exit(0)
	case errors.As(err, &ee):
		os.Exit(ee.ExitCode())
	}
	fail(err)
}

// loopbackUp sets the IFF_UP flag of "lo" (a new network namespace has it
// down) with the SIOCGIFFLAGS and SIOCSIFFLAGS ioctls.
func loopbackUp() error {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM, 0)
	if err != nil {
		return err
	}
	defer syscall.Close(fd)
	var ifr [40]byte // struct ifreq: name[16], then the flags (short)
	copy(ifr[:], "lo")
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), syscall.SIOCGIFFLAGS, uintptr(unsafe.Pointer(&ifr[0]))); e != 0 {
		return e
	}
	flags := binary.NativeEndian.Uint16(ifr[16:]) | syscall.IFF_UP
	binary.NativeEndian.PutUint16(ifr[16:], flags)
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), syscall.SIOCSIFFLAGS, uintptr(unsafe.Pointer(&ifr[0]))); e != 0 {
		return e
	}
	return nil
}

// forwardDNS relays UDP and TCP queries on addr to upstream, for the life
// of the helper process.
func forwardDNS(addr, upstream string) error {
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	go func() {
		buf := make([]byte, 65535)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			q := append([]byte(nil), buf[:n]...)
			go func() {
				c, err := net.Dial("udp", upstream)
				if err != nil {
					return
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				if _, err := c.Write(q); err != nil {
					return
				}
				resp := make([]byte, 65535)
				m, err := c.Read(resp)
				if err == nil {
					pc.WriteTo(resp[:m], from)
				}
			}()
		}
	}()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				u, err := net.Dial("tcp", upstream)
				if err != nil {
					return
				}
				defer u.Close()
				go io.Copy(u, c)
				io.Copy(c, u)
			}()
		}
	}()
	return nil
}
