package relay_test

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
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

// BenchmarkRelayEndToEnd measures relay throughput end to end (see
// relayPipeline) with 16 sessions and 4 KiB messages; the clock stops when
// the last message has left the queue. The queue length when intake ends
// is reported too (delivery keeping up with intake keeps it small), and
// the CPU time the process (server, queue and Deliverer; not smtp-source
// nor smtp-sink) used per message, which load from other programs on the
// machine disturbs less than the rate (Linux only).
// RELAY_BENCH_SESSIONS and RELAY_BENCH_SIZE change the workload.
func BenchmarkRelayEndToEnd(b *testing.B) {
	sessions, size := envInt("RELAY_BENCH_SESSIONS", 16), envInt("RELAY_BENCH_SIZE", 4096)
	sink := runSink(b, false)
	b.SetBytes(int64(size))
	b.ResetTimer()
	cpu0 := cpuTicks()
	elapsed, intake, peak := relayPipeline(b, sink, b.N, sessions, size)
	cpu := cpuTicks() - cpu0
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msg/s")
	if cpu > 0 {
		b.ReportMetric(float64(cpu)*1e4/float64(b.N), "cpu-µs/msg")
	}
	b.ReportMetric(float64(b.N)/intake.Seconds(), "intake-msg/s")
	b.ReportMetric(float64(peak), "queued-at-end-of-intake")
	if testing.Verbose() {
		fmt.Fprintf(os.Stderr, "relay: %d messages in %v (intake %v)\n", b.N, elapsed, intake)
	}
}

// TestRelayPipeline runs the same pipeline as BenchmarkRelayEndToEnd with
// 200 messages and checks that smtp-sink got each exactly once.
func TestRelayPipeline(t *testing.T) {
	sink := runSink(t, true)
	relayPipeline(t, sink, 200, 8, 2048)
	msgs := sink.messages(t)
	if len(msgs) != 200 {
		t.Fatalf("smtp-sink got %d messages, want 200", len(msgs))
	}
	for _, m := range msgs {
		if len(m.rcpts) != 1 || m.rcpts[0] != "<rcpt@example.test>" || len(m.body) < 2048 {
			t.Fatalf("message at the sink: %q %q, %d bytes", m.mail, m.rcpts, len(m.body))
		}
	}
}

// relayPipeline sends n messages with smtp-source (sessions sessions, size
// octets) into our server (Inbound, trusted network) → filequeue (durable)
// → Deliverer → sink, and returns when the last one has left the queue:
// the total time, the time smtp-source took, and the queue length when it
// finished.
func relayPipeline(tb testing.TB, sink *smtpSink, n, sessions, size int) (elapsed, intake time.Duration, peak int) {
	tb.Helper()
	source := interop.Require(tb, "smtp-source", "apt-get install postfix")
	dns := dnstest.NewServer(tb, "example.test. MX 10 mx.example.test.\nmx.example.test. A 127.0.0.1\n")
	removed := make(chan struct{}, n+16)
	q, err := filequeue.Open(tb.TempDir(), &queue.Options{Hostname: "relay.test", Logger: testLogger(), OnEvent: func(ev queue.Event) {
		if ev.Kind == queue.EventRemoved {
			removed <- struct{}{}
		}
	}})
	if err != nil {
		tb.Fatal(err)
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
		tb.Fatal(err)
	}
	defer d.Close()
	pol := &relay.Policy{Domains: []string{"relay.test"}, TrustedNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	srv := &smtp.Server{Hostname: "relay.test", Backend: &relay.Inbound{Policy: pol, Deliverer: store, Queue: q, Logger: testLogger()}, Logger: testLogger(), MaxConnsPerIP: -1}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	go srv.Serve(l)
	defer srv.Close()

	start := time.Now()
	out, err := interop.Output(nil, nil, source, "-s", strconv.Itoa(sessions), "-m", strconv.Itoa(n), "-l", strconv.Itoa(size),
		"-f", "sender@relay.test", "-t", "rcpt@example.test", l.Addr().String())
	if err != nil {
		tb.Fatalf("smtp-source: %v\n%s", err, out)
	}
	intake = time.Since(start)
	peak = q.Len()
	for range n {
		select {
		case <-removed:
		case <-time.After(waitLimit):
			tb.Fatalf("messages still queued: %d", q.Len())
		}
	}
	return time.Since(start), intake, peak
}

// cpuTicks returns the CPU time (user and system, in 1/100 s) the process
// has used, not counting its children, from /proc/self/stat; 0 where
// that is missing.
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

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
