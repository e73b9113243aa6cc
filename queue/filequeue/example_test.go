package filequeue_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"strings"

	"github.com/postyard/postyard/queue"
	"github.com/postyard/postyard/queue/filequeue"
	"github.com/postyard/postyard/smtp"
)

// A message survives a restart: enqueue, close, open again, deliver.
func ExampleOpen() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "queue")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	opts := &queue.Options{Hostname: "mx.example.org"}

	q, err := filequeue.Open(dir, opts)
	if err != nil {
		log.Fatal(err)
	}
	env := &queue.Envelope{
		From:       smtp.Path{Local: "alice", Domain: "example.org"},
		Recipients: []queue.Recipient{{To: smtp.Path{Local: "bob", Domain: "example.net"}}},
	}
	id, err := q.Enqueue(ctx, env, strings.NewReader("Subject: hi\r\n\r\nHello.\r\n"))
	if err != nil {
		log.Fatal(err) // answer 451: the message is not queued
	}
	q.Close() // or a crash: the message is on disk once Enqueue returns

	q, err = filequeue.Open(dir, opts)
	if err != nil {
		log.Fatal(err)
	}
	defer q.Close()
	l, err := q.Lease(ctx, &queue.LeaseOptions{NoWait: true})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(l.ID() == id, l.Message.Envelope.Recipients[0].To)
	if err := q.Complete(ctx, l, []queue.Outcome{queue.Delivered(0, "mx.example.net")}); err != nil {
		log.Fatal(err)
	}
	fmt.Println(q.Len())
	// Output:
	// true bob@example.net
	// 0
}
