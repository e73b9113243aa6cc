package relay_test

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/postyard/postyard/dnsmx"
	"github.com/postyard/postyard/dnsmx/dnstest"
	"github.com/postyard/postyard/internal/interop"
	"github.com/postyard/postyard/mailbox/memstore"
	"github.com/postyard/postyard/queue"
	"github.com/postyard/postyard/queue/filequeue"
	"github.com/postyard/postyard/relay"
	"github.com/postyard/postyard/smtp"
)

// BenchmarkRelayEndToEnd measures relay throughput end to end:
// smtp-source (16 sessions, 4 KiB messages) → our server (Inbound,
// trusted network) → filequeue (durable) → Deliverer → smtp-sink. b.N messages are
// sent; the clock stops when the last one has left the queue. The peak
// queue length is reported too (delivery keeping up with intake keeps it
// small). RELAY_BENCH_SESSIONS and RELAY_BENCH_SIZE change the workload.
func BenchmarkRelayEndToEnd(b *testing.B) {
	source := interop.Require(b, "smtp-source", "apt-get install postfix")
	sessions, size := envInt("RELAY_BENCH_SESSIONS", 16), envInt("RELAY_BENCH_SIZE", 4096)
	sink := runSink(b, false)
	dns := dnstest.NewServer(b, "example.test. MX 10 mx.example.test.\nmx.example.test. A 127.0.0.1\n")

	removed := make(chan struct{}, 1<<20)
	q, err := filequeue.Open(b.TempDir(), &queue.Options{Hostname: "relay.test", Logger: testLogger(), OnEvent: func(ev queue.Event) {
		if ev.Kind == queue.EventRemoved {
			removed <- struct{}{}
		}
	}})
	if err != nil {
		b.Fatal(err)
	}
	store := memstore.New(nil)
	defer store.Close()
	defer q.Close()
	d := &relay.Deliverer{
		Queue:    q,
		Resolver: &dnsmx.Resolver{Nameservers: []string{dns.Addr}},
		Hostname: "relay.test",
		Port:     sink.port,
		Workers:  32,
		Logger:   testLogger(),
	}
	if err := d.Start(); err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	pol := &relay.Policy{Domains: []string{"relay.test"}, TrustedNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	srv := &smtp.Server{Hostname: "relay.test", Backend: &relay.Inbound{Policy: pol, Deliverer: store, Queue: q, Logger: testLogger()}, Logger: testLogger(), MaxConnsPerIP: -1}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(l)
	defer srv.Close()

	b.SetBytes(int64(size))
	b.ResetTimer()
	start := time.Now()
	out, err := interop.Output(nil, nil, source, "-s", strconv.Itoa(sessions), "-m", strconv.Itoa(b.N), "-l", strconv.Itoa(size),
		"-f", "sender@relay.test", "-t", "rcpt@example.test", l.Addr().String())
	if err != nil {
		b.Fatalf("smtp-source: %v\n%s", err, out)
	}
	intake := time.Since(start)
	peak := q.Len()
	for range b.N {
		select {
		case <-removed:
		case <-time.After(waitLimit):
			b.Fatalf("messages still queued: %d", q.Len())
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msg/s")
	b.ReportMetric(float64(b.N)/intake.Seconds(), "intake-msg/s")
	b.ReportMetric(float64(peak), "queued-at-end-of-intake")
	if testing.Verbose() {
		fmt.Fprintf(os.Stderr, "relay: %d messages in %v (intake %v)\n", b.N, elapsed, intake)
	}
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
