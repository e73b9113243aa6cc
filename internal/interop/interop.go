// Package interop helps tests drive real programs (swaks, curl, python3,
// msmtp, Postfix's smtp-source, Node.js clients) against postyard's servers
// on loopback.
//
// A missing program skips the test with a message naming what to install,
// unless POSTYARD_INTEROP=require is set (as in CI), when it fails instead.
package interop

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// Require returns the path of program, or skips (fails under
// POSTYARD_INTEROP=require) when it is not installed. install names the
// package that provides it.
func Require(t testing.TB, program, install string) string {
	t.Helper()
	if os.Getenv("POSTYARD_INTEROP") == "skip" {
		t.Skip("interop tests disabled by POSTYARD_INTEROP=skip")
	}
	for _, dir := range []string{"", "/usr/sbin/", "/usr/bin/"} {
		p := program
		if dir != "" {
			p = dir + program
		} else if lp, err := exec.LookPath(program); err == nil {
			return lp
		}
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	missing(t, program+" not found; install it with: "+install)
	return ""
}

func missing(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv("POSTYARD_INTEROP") == "require" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// NodeModules returns the node_modules folder holding the Node.js clients
// (see internal/interop/node/package.json), after checking that module is
// installed there.
func NodeModules(t testing.TB, module string) string {
	t.Helper()
	Require(t, "node", "apt-get install nodejs")
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "node", "node_modules")
	if _, err := os.Stat(filepath.Join(dir, module)); err != nil {
		missing(t, module+" not installed; run: (cd internal/interop/node && npm ci)")
	}
	return dir
}

// Run runs a program with a time limit and returns its combined output. It
// fails the test if the program fails, showing the output.
func Run(t testing.TB, stdin []byte, env []string, name string, args ...string) []byte {
	t.Helper()
	out, err := Output(stdin, env, name, args...)
	if err != nil {
		t.Fatalf("%s %q: %v\n%s", name, args, err, out)
	}
	return out
}

// Output runs a program with a time limit and returns its combined output
// and error.
func Output(stdin []byte, env []string, name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	return cmd.CombinedOutput()
}
