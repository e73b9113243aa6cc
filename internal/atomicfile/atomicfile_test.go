package atomicfile_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/postyard/postyard/internal/atomicfile"
)

func TestWriteFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "sub", "f")
	for _, s := range []string{"one", "two"} {
		if err := atomicfile.WriteFile(p, []byte(s), 0o640); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(p)
		if err != nil || string(b) != s {
			t.Fatalf("read %q, %v; want %q", b, err, s)
		}
	}
	fi, _ := os.Stat(p)
	if fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %v", fi.Mode())
	}
	if ents, _ := os.ReadDir(filepath.Dir(p)); len(ents) != 1 {
		t.Errorf("%d files left in the directory", len(ents))
	}
}
