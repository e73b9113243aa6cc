package queue_test

import (
	"bufio"
	"context"
	"fmt"
	"strings"

	"github.com/postyard/postyard/queue"
	"github.com/postyard/postyard/queue/memqueue"
	"github.com/postyard/postyard/smtp"
)

// A message goes through the queue: an SMTP backend enqueues what MAIL
// and RCPT gave it, a delivery worker leases it and reports the outcome
// per recipient, and the queue sends the sender the reports asked for.
func Example() {
	ctx := context.Background()
	q := memqueue.New(&queue.Options{Hostname: "mx.example.net"})
	defer q.Close()

	env := &queue.Envelope{
		From: smtp.Path{Local: "alice", Domain: "example.org"},
		Recipients: []queue.Recipient{
			{To: smtp.Path{Local: "bob", Domain: "example.com"}},
			{To: smtp.Path{Local: "carol", Domain: "example.com"},
				Options: smtp.RcptOptions{Notify: smtp.NotifySuccess | smtp.NotifyFailure}},
		},
	}
	id, err := q.Enqueue(ctx, env, strings.NewReader("Subject: hello\r\n\r\nHi!\r\n"))
	if err != nil {
		panic(err)
	}

	// A delivery worker.
	l, err := q.Lease(ctx, nil)
	if err != nil {
		panic(err)
	}
	fmt.Println("leased", l.ID() == id, "recipients", l.Recipients)
	err = q.Complete(ctx, l, []queue.Outcome{
		queue.PermFail(0, &queue.DeliveryError{Permanent: true, Code: 550, EnhancedCode: "5.1.1",
			Message: "No such user", RemoteMTA: "mx.example.com"}),
		queue.Delivered(1, "mx.example.com"),
	})
	if err != nil {
		panic(err)
	}
	if _, err := q.Inspect(ctx, id); err == queue.ErrNotFound {
		fmt.Println("message done")
	}

	// The reports wait in the queue, from <> to alice; each returns the
	// message or its header (the last Subject).
	for m, err := range q.List(ctx, &queue.Filter{Sender: "<>"}) {
		if err != nil {
			panic(err)
		}
		fmt.Printf("report to <%s>:\n", m.Envelope.Recipients[0].To)
		rc, _ := q.Open(ctx, m.ID)
		sc := bufio.NewScanner(rc)
		for sc.Scan() {
			line := sc.Text()
			for _, field := range []string{"Subject:", "Final-Recipient:", "Action:", "Status:", "Diagnostic-Code:"} {
				if strings.HasPrefix(line, field) {
					fmt.Println("  " + line)
				}
			}
		}
		rc.Close()
	}
	// Output:
	// leased true recipients [0 1]
	// message done
	// report to <alice@example.org>:
	//   Subject: Undelivered Mail Returned to Sender
	//   Final-Recipient: rfc822; bob@example.com
	//   Action: failed
	//   Status: 5.1.1
	//   Diagnostic-Code: smtp; 550 5.1.1 No such user
	//   Subject: hello
	// report to <alice@example.org>:
	//   Subject: Successful Mail Delivery Report
	//   Final-Recipient: rfc822; carol@example.com
	//   Action: delivered
	//   Status: 2.0.0
	//   Subject: hello
}

// The default schedule without jitter: the delay after each consecutive
// failure.
func ExampleSchedule_Delay() {
	s := &queue.Schedule{Jitter: -1}
	var delays []string
	for failures := 1; failures <= 8; failures++ {
		delays = append(delays, s.Delay(failures).String())
	}
	fmt.Println(strings.Join(delays, " "))
	fmt.Println("destination back-off:", s.DestinationDelay(8))
	// Output:
	// 1m0s 2m0s 4m0s 8m0s 16m0s 32m0s 1h0m0s 1h0m0s
	// destination back-off: 5m0s
}
