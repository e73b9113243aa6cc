package filequeue

import (
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postyard/postyard/queue"
	"github.com/postyard/postyard/smtp"
)

// fixture100k is a queue directory with 100,000 deferred messages, made
// once (it takes a while: 200,000 files) and kept in the temp directory
// for later runs. Recovery reads headers and state records only, so the
// content is 1 KiB.
func fixture100k(b *testing.B) string {
	const n = 100_000
	dir := filepath.Join(os.TempDir(), "postyard-filequeue-bench-100k-v1")
	if _, err := os.Stat(filepath.Join(dir, "complete")); err == nil {
		return dir
	}
	b.Logf("writing %d deferred messages to %s", n, dir)
	os.RemoveAll(dir)
	for _, d := range []string{msgDir, tmpDir, quarantineDir} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			b.Fatal(err)
		}
	}
	content := strings.Repeat("x", 1022) + "\r\n"
	now := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < n; i += 8 {
				m := &queue.Message{
					ID:       queue.NewID(now.Add(time.Duration(i) * time.Millisecond)),
					Enqueued: now.Add(-time.Hour),
					Envelope: queue.Envelope{
						From:       smtp.Path{Local: "sender", Domain: "origin.example"},
						Recipients: []queue.Recipient{{To: smtp.Path{Local: "user" + strconv.Itoa(i), Domain: fmt.Sprintf("d%d.example", i%5000)}}},
					},
					Size: int64(len(content)),
					Recipients: []queue.RecipientStatus{{
						Attempts: 3, LastAttempt: now.Add(-time.Minute), NextAttempt: now.Add(time.Duration(i%3600+3600) * time.Second),
						Err: &queue.DeliveryError{Code: 451, EnhancedCode: "4.7.1", Message: "greylisted, try again later", RemoteMTA: "mx.example"},
					}},
				}
				h := encodeHeader(&header{id: m.ID, enqueued: m.Enqueued, env: m.Envelope, size: m.Size})
				sealHeader(h, m.Size, crc32c([]byte(content)))
				if err := os.WriteFile(filepath.Join(dir, msgDir, string(m.ID)), append(h, content...), 0o600); err != nil {
					errs <- err
					return
				}
				if err := os.WriteFile(filepath.Join(dir, msgDir, string(m.ID)+stateSuffix), encodeState(m), 0o600); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "complete"), nil, 0o600); err != nil {
		b.Fatal(err)
	}
	return dir
}

// BenchmarkNextDue measures choosing the next due message among n
// deferred ones, leasing it, and deferring it again to a random time up
// to a day later (the heap's "hold" model: every step sifts through the
// heap), in the in-memory index. The cost grows with log n.
func BenchmarkNextDue(b *testing.B) {
	for _, n := range []int{1_000, 100_000, 1_000_000} {
		b.Run("deferred="+strconv.Itoa(n), func(b *testing.B) {
			r := rand.New(rand.NewPCG(1, 2))
			now := time.Now()
			x := &index{msgs: make(map[queue.ID]*entry), parked: make(map[string]map[*entry]struct{})}
			spread := func() time.Duration { return time.Duration(r.Int64N(int64(24 * time.Hour))) }
			for i := range n {
				x.add(&entry{id: queue.ID("D" + strconv.Itoa(i)), index: -1,
					pending: []pend{{dest: "d" + strconv.Itoa(i%5000), next: nanos(now.Add(spread()))}}})
			}
			reached := make(map[string]bool, 1)
			for b.Loop() {
				now = time.Unix(0, x.due[0].key)
				e, _, _ := x.next(now, time.Minute)
				if e == nil {
					b.Fatal("nothing due")
				}
				clear(reached)
				reached[e.pending[0].dest] = true
				x.settled(e, reached, now)
				e.pending[0].next = nanos(now.Add(spread()))
				x.place(e)
			}
		})
	}
}

func crc32c(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }
