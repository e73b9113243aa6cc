package relay_test

import (
	"context"
	"crypto/tls"
	"net"
	"strconv"
	"testing"

	"github.com/postyard/postyard/auth"
	"github.com/postyard/postyard/mailbox/memstore"
	"github.com/postyard/postyard/queue"
	"github.com/postyard/postyard/queue/memqueue"
	"github.com/postyard/postyard/relay"
	"github.com/postyard/postyard/smtp"
)

// startUpstream starts a submission server (our own, relay.Submission
// with auth.Users) standing in for a provider's smarthost: STARTTLS on one
// port, implicit TLS on the other, AUTH required. It returns the queue
// where it puts what it accepts, the two ports, and a client TLS config
// that trusts it.
func startUpstream(t *testing.T) (*memqueue.Queue, int, int, *tls.Config) {
	t.Helper()
	conf, pool := tlsCert(t, "smarthost.test")
	q := memqueue.New(&queue.Options{Hostname: "smarthost.test", Logger: testLogger()})
	store := memstore.New(nil)
	t.Cleanup(func() { q.Close(); store.Close() })
	users := &auth.Users{}
	users.Add("alice", "secret")
	sub := &relay.Submission{
		Inbound:  relay.Inbound{Policy: &relay.Policy{Domains: []string{"origin.test"}}, Deliverer: store, Queue: q, Logger: testLogger()},
		Hostname: "smarthost.test",
	}
	srv := &smtp.Server{Hostname: "smarthost.test", Backend: sub, Authenticator: users, RequireAuth: true, TLSConfig: conf}
	p587, p465 := freePort(t), freePort(t)
	serveSMTP(t, srv, "127.0.0.1", p587, false)
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p465))
	if err != nil {
		t.Fatal(err)
	}
	go srv.ServeListener(l, smtp.ListenerOptions{ImplicitTLS: true})
	return q, p587, p465, &tls.Config{RootCAs: pool, ServerName: "smarthost.test"}
}

const aliceMessage = "From: Alice <alice@origin.test>\r\nTo: <bob@far.test>\r\nSubject: via smarthost\r\n\r\nHello Bob.\r\n"

// TestDelivererSmarthost sends all remote mail through a smarthost that
// requires AUTH, with STARTTLS (587) and with implicit TLS (465).
func TestDelivererSmarthost(t *testing.T) {
	upq, p587, p465, tc := startUpstream(t)
	for _, mode := range []struct {
		name     string
		port     int
		implicit bool
	}{{"587 STARTTLS", p587, false}, {"465 implicit TLS", p465, true}} {
		t.Run(mode.name, func(t *testing.T) {
			r := newRig(t, dlZone(), 1) // no MX is ever used
			r.d.Smarthost = &relay.Smarthost{
				Addr:        "127.0.0.1:" + strconv.Itoa(mode.port),
				ImplicitTLS: mode.implicit,
				TLSConfig:   tc,
				Username:    "alice",
				Password:    "secret",
			}
			r.start(t)
			r.enqueue(t, "alice@origin.test", []string{"bob@far.test", "carol@example.test"}, []byte(aliceMessage), nil)
			evs := r.ev.wait(t, "delivered", func(l []queue.Event) bool { return countEvents(l, queue.EventRemoved) == 1 })
			if countEvents(evs, queue.EventDelivered) != 2 {
				t.Fatalf("events:\n%s", dumpEvents(evs))
			}
		})
	}
	n := 0
	for m, err := range upq.List(context.Background(), nil) {
		if err != nil {
			t.Fatal(err)
		}
		if m.Envelope.From.String() != "alice@origin.test" || len(m.Envelope.Recipients) != 2 {
			t.Errorf("smarthost queued %+v", m.Envelope)
		}
		n++
	}
	if n != 2 {
		t.Fatalf("smarthost queued %d messages, want 2", n)
	}
}

// TestDelivererSmarthostBadPassword: refused credentials defer the mail
// (a configuration problem) rather than bouncing it.
func TestDelivererSmarthostBadPassword(t *testing.T) {
	_, p587, _, tc := startUpstream(t)
	r := newRig(t, dlZone(), 1)
	r.d.Smarthost = &relay.Smarthost{Addr: "127.0.0.1:" + strconv.Itoa(p587), TLSConfig: tc, Username: "alice", Password: "wrong"}
	r.start(t)
	r.enqueue(t, "alice@origin.test", []string{"bob@far.test"}, []byte(aliceMessage), nil)
	evs := r.ev.wait(t, "deferred", func(l []queue.Event) bool { return countEvents(l, queue.EventDeferred) >= 1 })
	if d := findEvent(evs, queue.EventDeferred); d.Err.Permanent || d.Err.Code != 535 {
		t.Fatalf("deferral: %+v", d.Err)
	}
}

// TestDelivererLMTP hands a domain's mail to an LMTP server (smtp-sink
// -L), one reply per recipient.
func TestDelivererLMTP(t *testing.T) {
	s := startSink(t, "-L")
	r := newRig(t, dlZone(), 1)
	r.d.LMTP = map[string]string{"mailbox.test": "127.0.0.1:" + strconv.Itoa(s.port)}
	r.start(t)
	r.enqueue(t, "sender@sender.test", []string{"a@mailbox.test", "b@mailbox.test"}, testMessage("lmtp", 2000), nil)
	evs := r.ev.wait(t, "delivered", func(l []queue.Event) bool { return countEvents(l, queue.EventRemoved) == 1 })
	if countEvents(evs, queue.EventDelivered) != 2 {
		t.Fatalf("events:\n%s", dumpEvents(evs))
	}
	got := s.messages(t)
	if len(got) != 1 || len(got[0].rcpts) != 2 {
		t.Fatalf("LMTP server got %+v", got)
	}
}
