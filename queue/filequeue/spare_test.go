package filequeue_test

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/postyard/postyard/queue"
)

// TestSpareFiles: the file of a delivered message is written over by a
// later Enqueue (cut to its new length), except while a reader from Open
// still has it; Close deletes the spare files.
func TestSpareFiles(t *testing.T) {
	dir := t.TempDir()
	q := openQueue(t, dir, nil)
	stat := func(id queue.ID) os.FileInfo {
		t.Helper()
		fi, err := os.Stat(filepath.Join(dir, "msg", string(id)))
		if err != nil {
			t.Fatal(err)
		}
		return fi
	}
	deliver := func(id queue.ID) {
		t.Helper()
		l := lease(t, q)
		if l.ID() != id {
			t.Fatalf("leased %s, want %s", l.ID(), id)
		}
		complete(t, q, l, queue.Delivered(0, "mx.dest.example"))
	}

	long := strings.Repeat("a line of the first message, longer than the next\r\n", 200)
	a := enqueue(t, q, envelope("a@dest.example"), long)
	fa := stat(a)
	deliver(a)
	b := enqueue(t, q, envelope("b@dest.example"), body)
	fb := stat(b)
	if !os.SameFile(fa, fb) {
		t.Error("the file of the delivered message was not written over")
	}
	if got := content(t, q, b); got != body {
		t.Fatalf("content of the message in a spare file: %q, want %q", got, body)
	}

	r, err := q.Open(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	deliver(b)
	c := enqueue(t, q, envelope("c@dest.example"), long)
	if os.SameFile(fb, stat(c)) {
		t.Error("a file with an open reader was written over")
	}
	got, err := io.ReadAll(r)
	r.Close()
	if err != nil || string(got) != body {
		t.Fatalf("reader of a removed message: %q, %v; want %q", got, err, body)
	}

	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	if tmp, _ := os.ReadDir(filepath.Join(dir, "tmp")); len(tmp) != 0 {
		t.Errorf("%d files left in tmp/ after Close", len(tmp))
	}
	q = openQueue(t, dir, nil)
	defer q.Close()
	if got := content(t, q, c); got != long {
		t.Errorf("after reopening: content of %s differs", c)
	}
}
