package main

import (
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/postyard/postyard/sieve"
)

// TestREADMECode: the programs the README shows are the files in
// testdata/readme, which compile (go vet type-checks them, the mailtest
// example's test file included).
func TestREADMECode(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		heading, file string
		whole         bool // the block is the whole file, not a part of it
	}{
		{"## A receiver in 30 lines", "testdata/readme/receiver/main.go", true},
		{"## A complete server in 60 lines", "testdata/readme/server/main.go", true},
		{"## Testing an application that sends mail", "testdata/readme/mailtest/order_test.go", false},
	} {
		block, ok := codeBlockAfter(string(readme), tc.heading, "go")
		if !ok {
			t.Errorf("README: no Go block after %q", tc.heading)
			continue
		}
		file, err := os.ReadFile(tc.file)
		if err != nil {
			t.Fatal(err)
		}
		if tc.whole && block != string(file) || !tc.whole && !strings.Contains(string(file), block) {
			t.Errorf("README block after %q differs from %s:\n%s", tc.heading, tc.file, block)
		}
	}

	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	if out, err := exec.Command(goTool, "vet", "./testdata/readme/...").CombinedOutput(); err != nil {
		t.Fatalf("go vet ./testdata/readme/...: %v\n%s", err, out)
	}
}

// TestREADMEConfigAndSieve: the example server's config lines the README
// shows are valid, and so is its Sieve script.
func TestREADMEConfigAndSieve(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	conf, ok := codeBlockAfter(string(readme), "### Filters and the archive", "toml")
	if !ok {
		t.Fatal("README: no toml block after the filters heading")
	}
	c, err := parseConfig("mailserver", []string{"-config", writeConfig(t, conf)}, io.Discard)
	if err != nil {
		t.Fatalf("README config: %v\n%s", err, conf)
	}
	if fs, err := c.filters(nil, nil); err != nil || len(fs.mx) != 3 || c.Archive.User == "" {
		t.Errorf("README config: %d filters, archive %+v, %v", len(fs.mx), c.Archive, err)
	}
	script, ok := codeBlockAfter(string(readme), "### Filing mail with Sieve", "sieve")
	if !ok {
		t.Fatal("README: no sieve block after the Sieve heading")
	}
	if _, err := sieve.Compile([]byte(script), nil); err != nil {
		t.Errorf("README Sieve script: %v\n%s", err, script)
	}
}

// codeBlockAfter returns the first ```lang block after the line that
// starts with heading.
func codeBlockAfter(doc, heading, lang string) (string, bool) {
	i := strings.Index(doc, "\n"+heading)
	if i < 0 {
		return "", false
	}
	doc = doc[i:]
	open := "```" + lang + "\n"
	j := strings.Index(doc, open)
	if j < 0 {
		return "", false
	}
	doc = doc[j+len(open):]
	k := strings.Index(doc, "```")
	if k < 0 {
		return "", false
	}
	return doc[:k], true
}
