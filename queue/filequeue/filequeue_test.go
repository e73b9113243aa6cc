package filequeue_test

import (
	"context"
	"errors"
	"io"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/postyard/postyard/queue"
	"github.com/postyard/postyard/queue/filequeue"
	"github.com/postyard/postyard/queue/queuetest"
	"github.com/postyard/postyard/smtp"
)

func TestMain(m *testing.M) {
	if os.Getenv(crashChildEnv) != "" {
		os.Exit(crashChild())
	}
	if dir := os.Getenv(recoverChildEnv); dir != "" {
		os.Exit(recoverChild(dir))
	}
	os.Exit(m.Run())
}

var ctx = context.Background()

func openQueue(t testing.TB, dir string, opts *queue.Options) *filequeue.Queue {
	t.Helper()
	q, err := filequeue.Open(dir, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return q
}

func TestConformance(t *testing.T) {
	dirs := make(map[queue.Queue]string)
	open := func(t *testing.T, dir string, opts *queue.Options) queue.Queue {
		q := openQueue(t, dir, opts)
		dirs[q] = dir
		return q
	}
	queuetest.Run(t, queuetest.Harness{
		New: func(t *testing.T, opts *queue.Options) queue.Queue {
			return open(t, t.TempDir(), opts)
		},
		Reopen: func(t *testing.T, q queue.Queue, opts *queue.Options) queue.Queue {
			if err := q.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			return open(t, dirs[q], opts)
		},
	})
}

var sender = smtp.Path{Local: "sender", Domain: "origin.example"}

func envelope(rcpts ...string) *queue.Envelope {
	env := &queue.Envelope{From: sender}
	for _, r := range rcpts {
		local, domain, _ := strings.Cut(r, "@")
		env.Recipients = append(env.Recipients, queue.Recipient{To: smtp.Path{Local: local, Domain: domain}})
	}
	return env
}

const body = "From: sender@origin.example\r\nSubject: test\r\n\r\nHello.\r\n"

func enqueue(t testing.TB, q queue.Queue, env *queue.Envelope, content string) queue.ID {
	t.Helper()
	id, err := q.Enqueue(ctx, env, strings.NewReader(content))
	if err != nil {
		t.Fatalf("Enqueue: %v", err)
	}
	return id
}

func lease(t testing.TB, q queue.Queue) *queue.Lease {
	t.Helper()
	l, err := q.Lease(ctx, &queue.LeaseOptions{NoWait: true})
	if err != nil {
		t.Fatalf("Lease: %v", err)
	}
	return l
}

func complete(t testing.TB, q queue.Queue, l *queue.Lease, outcomes ...queue.Outcome) {
	t.Helper()
	if err := q.Complete(ctx, l, outcomes); err != nil {
		t.Fatalf("Complete: %v", err)
	}
}

func records(t testing.TB, q queue.Queue) map[queue.ID]*queue.Message {
	t.Helper()
	ms := make(map[queue.ID]*queue.Message)
	for m, err := range q.List(ctx, nil) {
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		ms[m.ID] = m
	}
	return ms
}

func content(t testing.TB, q queue.Queue, id queue.ID) string {
	t.Helper()
	rc, err := q.Open(ctx, id)
	if err != nil {
		t.Fatalf("Open(%s): %v", id, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("reading %s: %v", id, err)
	}
	return string(b)
}

func TestLocked(t *testing.T) {
	dir := t.TempDir()
	q := openQueue(t, dir, nil)
	if _, err := filequeue.Open(dir, nil); !errors.Is(err, filequeue.ErrLocked) {
		t.Errorf("second Open = %v, want ErrLocked", err)
	}
	q.Close()
	openQueue(t, dir, nil).Close()
}

// TestQuarantine damages a closed queue in every way the recovery scan
// looks for, and checks what Open keeps, moves and deletes.
func TestQuarantine(t *testing.T) {
	dir := t.TempDir()
	q := openQueue(t, dir, nil)
	ids := make([]queue.ID, 6)
	for i := range ids {
		ids[i] = enqueue(t, q, envelope("a@dest.example", "b@other.example"), body)
	}
	// Give 2 and 4 a state file.
	for _, i := range []int{2, 4} {
		if err := q.Hold(ctx, ids[i]); err != nil {
			t.Fatal(err)
		}
	}
	q.Close()
	msg := func(name string) string { return filepath.Join(dir, "msg", name) }
	flip := func(name string, off int64) { // negative: from the end
		f, err := os.OpenFile(msg(name), os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		if off < 0 {
			fi, _ := f.Stat()
			off += fi.Size()
		}
		b := make([]byte, 1)
		f.ReadAt(b, off)
		b[0] ^= 1
		f.WriteAt(b, off)
		f.Close()
	}
	flip(string(ids[0]), 30)                              // header checksum
	fi, _ := os.Stat(msg(string(ids[1])))                 // torn content
	os.Truncate(msg(string(ids[1])), fi.Size()-3)         //
	flip(string(ids[2])+".state", 8)                      // state checksum: the message goes too
	flip(string(ids[3]), -3)                              // content: found when read
	os.WriteFile(msg("NOTOURS.txt"), []byte("x"), 0o600)  // not a queue file
	os.WriteFile(msg("ORPHAN.state"), []byte("x"), 0o600) // a removal that did not finish
	os.WriteFile(filepath.Join(dir, "tmp", "PARTIAL"), []byte("x"), 0o600)

	q = openQueue(t, dir, nil)
	defer q.Close()
	got := records(t, q)
	if len(got) != 3 || got[ids[3]] == nil || got[ids[4]] == nil || got[ids[5]] == nil || !got[ids[4]].Held {
		t.Errorf("kept %v, want %v", slices.Collect(maps.Keys(got)), ids[3:])
	}
	quarantined, _ := os.ReadDir(filepath.Join(dir, "quarantine"))
	var names []string
	for _, d := range quarantined {
		names = append(names, d.Name())
	}
	slices.Sort(names)
	want := []string{"NOTOURS.txt", string(ids[0]), string(ids[1]), string(ids[2]), string(ids[2]) + ".state"}
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Errorf("quarantined %v, want %v", names, want)
	}
	for _, gone := range []string{msg("ORPHAN.state"), filepath.Join(dir, "tmp", "PARTIAL")} {
		if _, err := os.Stat(gone); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: %v, want it removed", gone, err)
		}
	}
	// Damaged content is never served as if it were whole.
	rc, err := q.Open(ctx, ids[3])
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(rc)
	rc.Close()
	if !errors.Is(err, filequeue.ErrCorrupt) {
		t.Errorf("reading damaged content: %v, want ErrCorrupt", err)
	}
	if got := content(t, q, ids[5]); got != body {
		t.Errorf("content = %q", got)
	}
}

// TestEnqueueStreams enqueues and reads back a message much larger than
// what Enqueue and Open may allocate.
func TestEnqueueStreams(t *testing.T) {
	const size = 64 << 20
	q := openQueue(t, t.TempDir(), &queue.Options{MaxSize: -1})
	defer q.Close()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	id, err := q.Enqueue(ctx, envelope("a@dest.example"), io.LimitReader(pattern{}, size))
	if err != nil {
		t.Fatal(err)
	}
	rc, err := q.Open(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.CopyBuffer(io.Discard, rc, make([]byte, 32<<10))
	rc.Close()
	runtime.ReadMemStats(&after)
	if err != nil || n != size {
		t.Fatalf("read %d, %v", n, err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 4<<20 {
		t.Errorf("a %d MiB message allocated %d KiB", size>>20, alloc>>10)
	}
}

// pattern is an endless reader of printable octets.
type pattern struct{}

func (pattern) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'a' + byte(i%26)
	}
	return len(p), nil
}
