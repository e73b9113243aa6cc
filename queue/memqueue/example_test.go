package memqueue_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"strings"
	"time"

	"github.com/postyard/postyard/queue"
	"github.com/postyard/postyard/queue/memqueue"
	"github.com/postyard/postyard/smtp"
)

// A delivery worker's loop, by hand: enqueue a message for two
// recipients, lease it, deliver one and defer the other (a 4yz reply),
// then retry at once and complete it.
func Example() {
	ctx := context.Background()
	q := memqueue.New(&queue.Options{Hostname: "mail.example.org"})
	defer q.Close()

	env := &queue.Envelope{
		From: smtp.Path{Local: "alice", Domain: "example.org"},
		Recipients: []queue.Recipient{
			{To: smtp.Path{Local: "bob", Domain: "example.com"}},
			{To: smtp.Path{Local: "carol", Domain: "example.net"}},
		},
	}
	id, err := q.Enqueue(ctx, env, strings.NewReader("Subject: hi\r\n\r\nHello.\r\n"))
	if err != nil {
		log.Fatal(err)
	}

	l, err := q.Lease(ctx, nil) // a new message is due at once
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("leased", l.ID() == id, "recipients", l.Recipients)
	err = q.Complete(ctx, l, []queue.Outcome{
		queue.Delivered(0, "mx.example.com"),
		queue.TempFail(1, &queue.DeliveryError{Code: 451, EnhancedCode: "4.3.0",
			Message: "Try again later", RemoteMTA: "mx.example.net"}, time.Time{}), // zero: per the Schedule
	})
	if err != nil {
		log.Fatal(err)
	}
	m, err := q.Inspect(ctx, id)
	if err != nil {
		log.Fatal(err)
	}
	for i, rs := range m.Recipients {
		fmt.Printf("<%s>: %s after %d attempt(s)\n", m.Envelope.Recipients[i].To, rs.State, rs.Attempts)
	}
	fmt.Println("state:", m.State(time.Now()))

	// Carol is due in about a minute (queue.Schedule); nothing is due now.
	_, err = q.Lease(ctx, &queue.LeaseOptions{NoWait: true})
	fmt.Println(errors.Is(err, queue.ErrNothingDue), err)

	// An administrator's "retry now".
	if err := q.RetryNow(ctx, id); err != nil {
		log.Fatal(err)
	}
	l, err = q.Lease(ctx, &queue.LeaseOptions{NoWait: true})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("leased again, recipients", l.Recipients)
	if err := q.Complete(ctx, l, []queue.Outcome{queue.Delivered(1, "mx.example.net")}); err != nil {
		log.Fatal(err)
	}
	_, err = q.Inspect(ctx, id)
	fmt.Println("done:", errors.Is(err, queue.ErrNotFound), "queued:", q.Len())
	// Output:
	// leased true recipients [0 1]
	// <bob@example.com>: delivered after 1 attempt(s)
	// <carol@example.net>: pending after 1 attempt(s)
	// state: deferred
	// true queue: nothing due
	// leased again, recipients [1]
	// done: true queued: 0
}
