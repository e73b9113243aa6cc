package memqueue_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/postyard/postyard/queue"
	"github.com/postyard/postyard/queue/memqueue"
	"github.com/postyard/postyard/smtp"
)

// BenchmarkLease measures enqueue, lease and complete of one message in a
// queue that already holds n deferred ones: with the heap the cost grows
// with log n, not n.
func BenchmarkLease(b *testing.B) {
	ctx := context.Background()
	const content = "Subject: x\r\n\r\nx\r\n"
	env := func(domain string) *queue.Envelope {
		return &queue.Envelope{Recipients: []queue.Recipient{{To: smtp.Path{Local: "r", Domain: domain}}}}
	}
	for _, n := range []int{1_000, 100_000} {
		b.Run(fmt.Sprint("deferred=", n), func(b *testing.B) {
			q := memqueue.New(&queue.Options{Hostname: "h.example"})
			defer q.Close()
			later := time.Now().Add(24 * time.Hour)
			for i := range n {
				if _, err := q.Enqueue(ctx, env(fmt.Sprint("d", i, ".example")), strings.NewReader(content)); err != nil {
					b.Fatal(err)
				}
				l, err := q.Lease(ctx, &queue.LeaseOptions{NoWait: true})
				if err != nil {
					b.Fatal(err)
				}
				if err := q.Complete(ctx, l, []queue.Outcome{queue.TempFail(0, nil, later)}); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for b.Loop() {
				if _, err := q.Enqueue(ctx, env("ok.example"), strings.NewReader(content)); err != nil {
					b.Fatal(err)
				}
				l, err := q.Lease(ctx, &queue.LeaseOptions{NoWait: true})
				if err != nil {
					b.Fatal(err)
				}
				if err := q.Complete(ctx, l, []queue.Outcome{queue.Delivered(0, "")}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
