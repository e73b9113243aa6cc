package filequeue_test

import (
	"log/slog"
	"runtime"
	"strings"
	"testing"

	"github.com/postyard/postyard/queue"
	"github.com/postyard/postyard/queue/filequeue"
)

// BenchmarkEnqueue measures durable enqueues of 4 KiB messages from 16
// goroutines, with group commit and, as the baseline, with an fsync of
// the directory per message (what bench/peers' gosmtp-durable does: write,
// fsync, rename, fsync the directory). Run the two in one go and compare
// msgs/s.
func BenchmarkEnqueue(b *testing.B) {
	content := strings.Repeat("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd\r\n", 64) // 4 KiB
	for _, mode := range []struct {
		name string
		each bool
	}{{"group-commit", false}, {"fsync-each", true}} {
		b.Run(mode.name, func(b *testing.B) {
			q := openQueue(b, b.TempDir(), &queue.Options{Hostname: "bench.example", Logger: slog.New(slog.DiscardHandler)})
			defer q.Close()
			filequeue.SetSyncEach(q, mode.each)
			env := envelope("rcpt@dest.example")
			b.SetBytes(int64(len(content)))
			b.SetParallelism((16 + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := q.Enqueue(ctx, env, strings.NewReader(content)); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}
