package relay_test

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	"github.com/postyard/postyard/dnsmx"
	"github.com/postyard/postyard/dnsmx/dnstest"
	"github.com/postyard/postyard/queue"
	"github.com/postyard/postyard/queue/memqueue"
	"github.com/postyard/postyard/relay"
	"github.com/postyard/postyard/smtp"
)

// slowBackend is a captureBackend whose DATA takes a while: a slow
// next hop.
type slowBackend struct {
	*captureBackend
	delay time.Duration
}

func (b *slowBackend) NewSession(ctx context.Context, info *smtp.ConnInfo) (smtp.Session, error) {
	s, err := b.captureBackend.NewSession(ctx, info)
	if err != nil {
		return nil, err
	}
	return &slowSession{Session: s, delay: b.delay}, nil
}

type slowSession struct {
	smtp.Session
	delay time.Duration
}

func (s *slowSession) Data(ctx context.Context, r io.Reader) (string, error) {
	<-time.After(s.delay) // the peer's slowness, not a wait for the test
	return s.Session.Data(ctx, r)
}

// TestDelivererRenewsLease: a delivery that outlasts the queue's lease
// keeps its lease renewed, so the message is neither leased again
// meanwhile nor delivered twice.
func TestDelivererRenewsLease(t *testing.T) {
	const lease = 150 * time.Millisecond
	port := freePort(t)
	c := &captureBackend{}
	serveSMTP(t, &smtp.Server{Hostname: "mx.example.test", Backend: &slowBackend{captureBackend: c, delay: 5 * lease}}, "127.0.0.1", port, false)
	ev := newEventLog()
	q := memqueue.New(&queue.Options{Hostname: "relay.test", LeaseDuration: lease, OnEvent: ev.add, Logger: testLogger()})
	defer q.Close()
	dns := dnstest.NewServer(t, dlZone())
	res := &dnsmx.Resolver{Nameservers: []string{dns.Addr}, CacheSize: -1}
	d := &relay.Deliverer{Queue: q, Resolver: res, DisableMTASTS: true, Hostname: "relay.test", Port: port, Workers: 4, Logger: testLogger()}
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	env := &queue.Envelope{From: mustPath(t, "sender@sender.test"), Recipients: []queue.Recipient{{To: mustPath(t, "rcpt@example.test")}}}
	if _, err := q.Enqueue(context.Background(), env, bytes.NewReader(testMessage("slow", 500))); err != nil {
		t.Fatal(err)
	}
	evs := ev.wait(t, "delivered", func(l []queue.Event) bool { return countEvents(l, queue.EventRemoved) == 1 })
	if n := countEvents(evs, queue.EventLeaseExpired); n != 0 {
		t.Errorf("%d leases expired; events:\n%s", n, dumpEvents(evs))
	}
	if n := countEvents(evs, queue.EventLeased); n != 1 {
		t.Errorf("leased %d times, want once; events:\n%s", n, dumpEvents(evs))
	}
	if n := len(c.got()); n != 1 {
		t.Errorf("next hop got %d messages, want 1", n)
	}
}
