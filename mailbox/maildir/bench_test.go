package maildir_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/postyard/postyard/mailbox"
	"github.com/postyard/postyard/mailbox/maildir"
)

// benchMessage returns a message of about 4 KiB with the header fields
// and MIME structure of ordinary mail, varied by i.
func benchMessage(i int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Return-Path: <sender%d@example.org>\r\n", i%97)
	fmt.Fprintf(&b, "Received: from mx%d.example.org by mx.example.com; Mon, 2 Jan 2006 15:04:05 -0700\r\n", i%7)
	fmt.Fprintf(&b, "From: Sender %d <sender%d@example.org>\r\n", i%97, i%97)
	fmt.Fprintf(&b, "To: bench@example.com, Other %d <other%d@example.net>\r\n", i%13, i%13)
	fmt.Fprintf(&b, "Cc: list%d@lists.example.org\r\n", i%5)
	fmt.Fprintf(&b, "Subject: topic-%02d message number %d\r\n", i%100, i)
	fmt.Fprintf(&b, "Date: Mon, 2 Jan 2006 15:%02d:05 -0700\r\n", i%60)
	fmt.Fprintf(&b, "Message-ID: <%d.bench@example.org>\r\n", i)
	if i%3 == 0 {
		fmt.Fprintf(&b, "In-Reply-To: <%d.bench@example.org>\r\nReferences: <%d.bench@example.org>\r\n", i-1, i-1)
	}
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"b1\"\r\n\r\n")
	line := strings.Repeat("lorem ipsum dolor sit amet ", 2) + "\r\n"
	b.WriteString("--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
	for b.Len() < 2600 {
		b.WriteString(line)
	}
	b.WriteString("--b1\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n<p>")
	for b.Len() < 4000 {
		b.WriteString(line)
	}
	b.WriteString("</p>\r\n--b1--\r\n")
	return b.String()
}

// BenchmarkDeliver measures durable delivery of 4 KiB messages from 16
// goroutines to one mailbox, with the group commit and with the
// per-message fsync baseline (each delivery fsyncs its file, the
// directory and the index by itself).
//
// The stores are removed only after both modes ran: on ext4 without a
// journal, creating a file skips over every inode deleted in the last
// minute or more in its block group, so removing one mode's thousands of
// files just before the other mode runs would slow that one down.
func BenchmarkDeliver(b *testing.B) {
	msg := benchMessage(1)
	// $POSTYARD_BENCH_KEEP keeps the stores (in that directory), so that
	// consecutive runs do not slow each other down either.
	top := os.Getenv("POSTYARD_BENCH_KEEP")
	if top == "" {
		top = b.TempDir()
	}
	for _, mode := range []string{"group", "group-writeback", "per-message"} {
		b.Run(mode+"/16", func(b *testing.B) {
			dir, err := os.MkdirTemp(top, mode)
			if err != nil {
				b.Fatal(err)
			}
			var st *maildir.Store
			switch mode {
			case "group":
				st, err = maildir.Open(dir, nil)
			case "group-writeback":
				st, err = maildir.Open(dir, &maildir.Options{WriteBackFiles: true})
			default:
				st, err = maildir.OpenPerMessageSync(dir)
			}
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			ctx := context.Background()
			rcpts := []mailbox.Recipient{{User: "bench"}}
			if _, err := st.User(ctx, "bench"); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(msg)))
			b.SetParallelism((16 + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
			start, cpu0 := time.Now(), cpuTime()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					errs, err := st.Deliver(ctx, strings.NewReader(msg), rcpts)
					if err != nil || errs[0] != nil {
						b.Error(err, errs)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
			b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/msg")
		})
	}
}

// fixture10k returns a store directory holding user "bench" with 10,000
// messages in INBOX, built once per benchmark, or kept in the directory
// $POSTYARD_BENCH_FIXTURE (built there if it does not exist yet), so that
// runs under a profiler or valgrind need not deliver them again.
func fixture10k(b *testing.B) string {
	b.Helper()
	dir := os.Getenv("POSTYARD_BENCH_FIXTURE")
	if dir != "" {
		if _, err := os.Stat(dir); err == nil {
			return dir
		}
	} else {
		dir = b.TempDir()
	}
	st, err := maildir.Open(dir, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	if _, err := st.User(ctx, "bench"); err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	const n, workers = 10000, 32
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				if _, err := st.Deliver(ctx, strings.NewReader(benchMessage(i)), []mailbox.Recipient{{User: "bench"}}); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	return dir
}

// BenchmarkOpen10k measures opening a 10,000-message folder with a new
// Store (no state in memory: the index is read and cur/ listed), and the
// heap the open folder holds.
func BenchmarkOpen10k(b *testing.B) {
	dir := fixture10k(b)
	ctx := context.Background()
	var heap uint64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var before, after runtime.MemStats
		if i == 0 {
			b.StopTimer()
			runtime.GC()
			runtime.ReadMemStats(&before)
			b.StartTimer()
		}
		st, err := maildir.Open(dir, nil)
		if err != nil {
			b.Fatal(err)
		}
		u, err := st.User(ctx, "bench")
		if err != nil {
			b.Fatal(err)
		}
		mb, err := u.Open(ctx, mailbox.Inbox, nil)
		if err != nil {
			b.Fatal(err)
		}
		if s, err := mb.Status(ctx); err != nil || s.Messages != 10000 {
			b.Fatal(s, err)
		}
		if i == 0 {
			b.StopTimer()
			runtime.GC()
			runtime.ReadMemStats(&after)
			heap = after.HeapAlloc - before.HeapAlloc
			runtime.KeepAlive(mb)
			b.StartTimer()
		}
		mb.Close()
		st.Close()
	}
	b.ReportMetric(float64(heap)/(1<<20), "MiB-heap")
}

// BenchmarkList10k measures listing 10,000 messages of an open folder
// with their metadata: all of it (envelope, body structure, date, cached
// header fields), only the envelope (IMAP FETCH ENVELOPE), only the
// cached header fields (SEARCH FROM/SUBJECT/HEADER), only the body
// structure (BODYSTRUCTURE), and none (UID, flags, size, date).
func BenchmarkList10k(b *testing.B) {
	dir := fixture10k(b)
	ctx := context.Background()
	st, err := maildir.Open(dir, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	u, err := st.User(ctx, "bench")
	if err != nil {
		b.Fatal(err)
	}
	mb, err := u.Open(ctx, mailbox.Inbox, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer mb.Close()
	for _, c := range []struct {
		name  string
		parts mailbox.MetadataParts
		reuse bool
	}{
		{"metadata=all", mailbox.MetadataAll, false},
		{"metadata=envelope", mailbox.MetadataEnvelope, false},
		{"metadata=fields", mailbox.MetadataFields, false},
		{"metadata=body", mailbox.MetadataBody, false},
		{"metadata=none", 0, false},
		// As IMAP FETCH and SEARCH list: FetchOptions.Reuse.
		{"metadata=all,reuse", mailbox.MetadataAll, true},
		{"metadata=envelope,reuse", mailbox.MetadataEnvelope, true},
		{"metadata=fields,reuse", mailbox.MetadataFields, true},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.ResetTimer()
			start, cpu0 := time.Now(), cpuTime()
			for range b.N {
				n := 0
				for m, err := range mb.Messages(ctx, mailbox.AllUIDs(), &mailbox.FetchOptions{Metadata: c.parts, Reuse: c.reuse}) {
					if err != nil {
						b.Fatal(err)
					}
					if c.parts&mailbox.MetadataEnvelope != 0 && m.Metadata.Envelope == nil ||
						c.parts&mailbox.MetadataFields != 0 && len(m.Metadata.Fields) == 0 ||
						c.parts&mailbox.MetadataBody != 0 && m.Metadata.Body == nil {
						b.Fatalf("UID %d: metadata %+v", m.UID, m.Metadata)
					}
					n++
				}
				if n != 10000 {
					b.Fatalf("%d messages", n)
				}
			}
			b.ReportMetric(float64(b.N)*10000/time.Since(start).Seconds(), "msgs/s")
			// CPU time a message (all threads, the GC's included): on a
			// busy machine the wall-clock rate says little.
			b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N)/10000, "cpu-ns/msg")
		})
	}
}

// cpuTime returns the CPU time the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
