package filequeue_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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
			if !mode.each {
				syncs, _ := filequeue.DirSyncs(q)
				b.ReportMetric(float64(syncs)/float64(b.N), "dir-fsyncs/msg")
			}
		})
	}
}

// BenchmarkCycle is the queue's part of a relay: 16 goroutines enqueue
// 4 KiB messages while 32 workers lease each, read its content and
// complete it as delivered, so that every message is written, read and
// removed. Besides msgs/s it reports the process's CPU time per message
// (cpu-µs/msg), which other load on the machine disturbs less than the
// rate.
func BenchmarkCycle(b *testing.B) {
	content := strings.Repeat("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd\r\n", 64) // 4 KiB
	q := openQueue(b, b.TempDir(), &queue.Options{Hostname: "bench.example", Logger: slog.New(slog.DiscardHandler)})
	defer q.Close()
	env := envelope("rcpt@dest.example")
	lctx, stop := context.WithCancel(ctx)
	defer stop()
	var delivered atomic.Int64
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for {
				l, err := q.Lease(lctx, nil)
				if err != nil {
					return
				}
				rc, err := q.Open(ctx, l.ID())
				if err == nil {
					_, err = io.Copy(io.Discard, rc)
					rc.Close()
				}
				if err != nil {
					b.Error(err)
				}
				if err := q.Complete(ctx, l, []queue.Outcome{queue.Delivered(0, "mx.dest.example")}); err != nil {
					b.Error(err)
				}
				if delivered.Add(1) == int64(b.N) {
					stop()
				}
			}
		})
	}
	cpu0 := cpuTicks()
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
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	b.ReportMetric(float64(cpuTicks()-cpu0)*1e4/float64(b.N), "cpu-µs/msg")
	syncs, _ := filequeue.DirSyncs(q)
	b.ReportMetric(float64(syncs)/float64(b.N), "dir-fsyncs/msg")
}

// BenchmarkFileCeiling is not the queue: it creates, writes and renames
// one 4 KiB file per message from 16 goroutines with no fsync at all,
// the most that any one-file-per-message scheme gets from the disk.
// Compare it with BenchmarkEnqueue in the same run.
func BenchmarkFileCeiling(b *testing.B) {
	dir := b.TempDir()
	for _, d := range []string{"tmp", "new"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o700); err != nil {
			b.Fatal(err)
		}
	}
	content := make([]byte, 4096)
	var n atomic.Int64
	b.SetBytes(int64(len(content)))
	b.SetParallelism((16 + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			name := strconv.FormatInt(n.Add(1), 10)
			tmp := filepath.Join(dir, "tmp", name)
			if err := os.WriteFile(tmp, content, 0o600); err != nil {
				b.Error(err)
				return
			}
			if err := os.Rename(tmp, filepath.Join(dir, "new", name)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// recoverChildEnv, when set to a queue directory, makes the test binary
// open that queue, print what recoverChild measured, and exit.
const recoverChildEnv = "FILEQUEUE_RECOVER_DIR"

// recoverChild measures, in a fresh process, how long Open takes and the
// memory the process holds afterwards and at its peak.
func recoverChild(dir string) int {
	cpu0 := cpuTicks()
	start := time.Now()
	q, err := filequeue.Open(dir, &queue.Options{Hostname: "bench.example"})
	took := time.Since(start)
	cpu := cpuTicks() - cpu0
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer q.Close()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Printf("messages %d open-ms %.1f open-cpu-ms %d heap-MiB %.1f rss-MiB %.1f peak-rss-MiB %.1f\n", q.Len(),
		float64(took)/1e6, cpu*10, float64(ms.HeapInuse)/(1<<20), float64(procStatus("VmRSS"))/1024, float64(procStatus("VmHWM"))/1024)
	return 0
}

// cpuTicks returns the process's user and system CPU time in clock
// ticks (1/100 s) from /proc/self/stat, 0 if missing.
func cpuTicks() int {
	b, _ := os.ReadFile("/proc/self/stat")
	_, after, _ := strings.Cut(string(b), ") ") // the command may hold spaces
	f := strings.Fields(after)
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.Atoi(f[11])
	stime, _ := strconv.Atoi(f[12])
	return utime + stime
}

// procStatus returns a field of /proc/self/status in KiB, 0 if missing.
func procStatus(field string) int {
	b, _ := os.ReadFile("/proc/self/status")
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	return 0
}

// BenchmarkRecover100k measures the start-up of a process whose queue
// holds 100,000 deferred messages: the time Open takes (open-ms, median)
// and the CPU time it uses (open-cpu-ms, median; the wall time on an idle
// machine with two cores or more is about half of it), and the process's
// memory after it (rss-MiB, heap-MiB) and at its peak (peak-rss-MiB), the
// worst of the runs. ns/op includes starting the process.
func BenchmarkRecover100k(b *testing.B) {
	dir := filequeue.Fixture100k(b)
	exe, err := os.Executable()
	if err != nil {
		b.Skip(err)
	}
	worst := make(map[string]float64)
	var openMs, cpuMs []float64
	for b.Loop() {
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), recoverChildEnv+"="+dir)
		out, err := cmd.Output()
		if err != nil {
			b.Fatalf("%v: %s", err, out)
		}
		f := strings.Fields(string(out))
		for i := 0; i+1 < len(f); i += 2 {
			v, _ := strconv.ParseFloat(f[i+1], 64)
			if f[i] == "messages" && v != 100_000 {
				b.Fatalf("recovered %v messages", v)
			}
			worst[f[i]] = max(worst[f[i]], v)
			switch f[i] {
			case "open-ms":
				openMs = append(openMs, v)
			case "open-cpu-ms":
				cpuMs = append(cpuMs, v)
			}
		}
	}
	slices.Sort(openMs)
	slices.Sort(cpuMs)
	b.ReportMetric(openMs[len(openMs)/2], "open-ms")
	b.ReportMetric(cpuMs[len(cpuMs)/2], "open-cpu-ms")
	for _, k := range []string{"heap-MiB", "rss-MiB", "peak-rss-MiB"} {
		b.ReportMetric(worst[k], k)
	}
}
