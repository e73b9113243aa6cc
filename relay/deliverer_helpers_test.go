package relay_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postyard/postyard/dnsmx"
	"github.com/postyard/postyard/dnsmx/dnstest"
	"github.com/postyard/postyard/internal/interop"
	"github.com/postyard/postyard/queue"
	"github.com/postyard/postyard/queue/memqueue"
	"github.com/postyard/postyard/relay"
	"github.com/postyard/postyard/smtp"
)

// waitLimit bounds every wait of these tests.
const waitLimit = 60 * time.Second

// eventLog collects a queue's eventLog so that a test can wait for a
// condition on them.
type eventLog struct {
	mu      sync.Mutex
	list    []queue.Event
	changed chan struct{}
}

func newEventLog() *eventLog { return &eventLog{changed: make(chan struct{})} }

func (e *eventLog) add(ev queue.Event) {
	e.mu.Lock()
	e.list = append(e.list, ev)
	close(e.changed)
	e.changed = make(chan struct{})
	e.mu.Unlock()
}

// wait waits until cond holds for the eventLog so far, and returns them.
func (e *eventLog) wait(t *testing.T, what string, cond func([]queue.Event) bool) []queue.Event {
	t.Helper()
	timeout := time.After(waitLimit)
	for {
		e.mu.Lock()
		list := append([]queue.Event(nil), e.list...)
		ch := e.changed
		e.mu.Unlock()
		if cond(list) {
			return list
		}
		select {
		case <-ch:
		case <-timeout:
			t.Fatalf("timed out waiting for %s; eventLog:\n%s", what, dumpEvents(list))
		}
	}
}

func dumpEvents(list []queue.Event) string {
	var b strings.Builder
	for _, ev := range list {
		fmt.Fprintf(&b, "  %s %s rcpt=%d dest=%s", ev.Kind, ev.ID, ev.Recipient, ev.Destination)
		if ev.Err != nil {
			fmt.Fprintf(&b, " err=%v", ev.Err)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

func countEvents(list []queue.Event, kind queue.EventKind) int {
	n := 0
	for _, ev := range list {
		if ev.Kind == kind {
			n++
		}
	}
	return n
}

func findEvent(list []queue.Event, kind queue.EventKind) *queue.Event {
	for i := range list {
		if list[i].Kind == kind {
			return &list[i]
		}
	}
	return nil
}

// dlRig is a queue, a loopback DNS server and a Deliverer draining the
// queue to port Port of the hosts in the zone.
type dlRig struct {
	q   *memqueue.Queue
	ev  *eventLog
	dns *dnstest.Server
	d   *relay.Deliverer
}

// quiet is the logger of the tests; POSTYARD_TEST_LOG=1 shows the logs.
func testLogger() *slog.Logger {
	if os.Getenv("POSTYARD_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// newRig makes a dlRig; the Deliverer is not started, so that the test can
// configure it first (see start).
func newRig(t *testing.T, zone string, port int) *dlRig {
	t.Helper()
	r := &dlRig{ev: newEventLog(), dns: dnstest.NewServer(t, zone)}
	r.q = memqueue.New(&queue.Options{
		Hostname: "relay.test",
		// Tiny delays: a deferred recipient is retried almost at once.
		Schedule: &queue.Schedule{Initial: 20 * time.Millisecond, Max: 100 * time.Millisecond, Jitter: -1, DestinationMax: 50 * time.Millisecond},
		OnEvent:  r.ev.add,
		Logger:   testLogger(),
	})
	res := &dnsmx.Resolver{Nameservers: []string{r.dns.Addr}, CacheSize: -1}
	r.d = &relay.Deliverer{
		Queue:    r.q,
		Resolver: res,
		STS:      &dnsmx.STS{Resolver: res, Fetcher: dnsmx.PolicyFetcherFunc(noPolicy), Logger: testLogger()},
		Hostname: "relay.test",
		Port:     port,
		Workers:  4,
		Logger:   testLogger(),
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := r.d.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		r.q.Close()
	})
	return r
}

func noPolicy(ctx context.Context, domain string) ([]byte, error) {
	return nil, fmt.Errorf("no MTA-STS policy for %s in this test", domain)
}

func (r *dlRig) start(t *testing.T) {
	t.Helper()
	if err := r.d.Start(); err != nil {
		t.Fatal(err)
	}
}

// enqueue queues a message from `from` to `to`.
func (r *dlRig) enqueue(t *testing.T, from string, to []string, body []byte, opts *smtp.MailOptions) queue.ID {
	t.Helper()
	env := &queue.Envelope{From: mustPath(t, from)}
	if opts != nil {
		env.Options = *opts
	}
	for _, a := range to {
		env.Recipients = append(env.Recipients, queue.Recipient{To: mustPath(t, a)})
	}
	id, err := r.q.Enqueue(context.Background(), env, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func mustPath(t *testing.T, s string) smtp.Path {
	t.Helper()
	if s == "" {
		return smtp.Path{}
	}
	p, _, err := smtp.ParsePath("<"+s+">", smtp.PathOptions{UTF8: true})
	if err != nil {
		t.Fatalf("ParsePath(%q): %v", s, err)
	}
	return p
}

// message returns a message of about size octets with CRLF line endings,
// including lines that need dot-stuffing.
func testMessage(subject string, size int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: <sender@origin.test>\r\nTo: <rcpt@example.test>\r\nSubject: %s\r\nMessage-ID: <%s@origin.test>\r\n\r\n", subject, strings.ReplaceAll(subject, " ", "."))
	for i := 0; b.Len() < size; i++ {
		if i%50 == 0 {
			b.WriteString(".a line that starts with a dot\r\n")
		}
		fmt.Fprintf(&b, "line %06d of %s: the quick brown fox jumps over the lazy dog\r\n", i, subject)
	}
	return b.Bytes()
}

// freePort returns a TCP port that is free on the loopback addresses
// given (it may be taken by the time it is used).
func freePort(t testing.TB, ips ...string) int {
	t.Helper()
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		ok := true
		for _, ip := range ips {
			l, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
			if err != nil {
				ok = false
				break
			}
			l.Close()
		}
		if ok {
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

// smtpSink is Postfix's smtp-sink on loopback, dumping each transaction to a
// file.
type smtpSink struct {
	dir  string
	port int
}

// startSink starts smtp-sink on 127.0.0.1 at a free port, with args
// before the address, and stops it when the test ends.
func startSink(t testing.TB, args ...string) *smtpSink { return runSink(t, true, args...) }

// runSink is startSink, dumping transactions only if dump is set.
func runSink(t testing.TB, dump bool, args ...string) *smtpSink {
	t.Helper()
	bin := interop.Require(t, "smtp-sink", "apt-get install postfix")
	dir, err := os.MkdirTemp("", "postyard-sink")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o777) // smtp-sink drops root privileges
	s := &smtpSink{dir: dir, port: freePort(t)}
	all := []string{"-m", "256"}
	if dump {
		all = append(all, "-d", filepath.Join(dir, "msg."))
	}
	if os.Geteuid() == 0 {
		all = append(all, "-u", "nobody")
	}
	all = append(all, args...)
	all = append(all, "127.0.0.1:"+strconv.Itoa(s.port), "256")
	cmd := exec.Command(bin, all...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() && out.Len() > 0 {
			t.Logf("smtp-sink output:\n%s", out.String())
		}
	})
	return s
}

// dumped is one transaction smtp-sink wrote.
type dumped struct {
	mail  string
	rcpts []string
	body  []byte // the content as received, LF line endings, without smtp-sink's headers
}

// messages reads the transactions dumped so far.
func (s *smtpSink) messages(t *testing.T) []dumped {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(s.dir, "msg.*"))
	if err != nil {
		t.Fatal(err)
	}
	var out []dumped
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d dumped
		// X-... headers, then a three-line Received header, then the
		// message, then an empty line.
		for len(b) > 0 {
			line, rest, _ := bytes.Cut(b, []byte("\n"))
			s := string(line)
			if v, ok := strings.CutPrefix(s, "X-Mail-Args: "); ok {
				d.mail = v
			} else if v, ok := strings.CutPrefix(s, "X-Rcpt-Args: "); ok {
				d.rcpts = append(d.rcpts, v)
			} else if strings.HasPrefix(s, "Received: ") {
				// Skip the continuation lines.
				b = rest
				for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
					_, b, _ = bytes.Cut(b, []byte("\n"))
				}
				break
			}
			b = rest
		}
		d.body = bytes.TrimSuffix(b, []byte("\n"))
		out = append(out, d)
	}
	return out
}

// lf turns CRLF into LF, as smtp-sink writes it.
func crlfToLF(b []byte) []byte { return bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n")) }

// captureBackend is an smtp.Backend of our own that keeps what it receives.
type captureBackend struct {
	// mail, rcpt and connect, if set, may refuse MAIL, RCPT or the
	// connection.
	connect func(c *smtp.ConnInfo) error
	mail    func(c *smtp.ConnInfo, from smtp.Path, opts *smtp.MailOptions) error
	rcpt    func(c *smtp.ConnInfo, to smtp.Path) error

	mu   sync.Mutex
	msgs []captured
}

type captured struct {
	from  smtp.Path
	opts  smtp.MailOptions
	rcpts []smtp.Path
	data  []byte
	tls   bool
	user  string
}

func (c *captureBackend) got() []captured {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]captured(nil), c.msgs...)
}

func (c *captureBackend) NewSession(ctx context.Context, info *smtp.ConnInfo) (smtp.Session, error) {
	if c.connect != nil {
		if err := c.connect(info); err != nil {
			return nil, err
		}
	}
	return &captureSession{c: c, info: info}, nil
}

type captureSession struct {
	c    *captureBackend
	info *smtp.ConnInfo
	cur  captured
}

func (s *captureSession) Mail(ctx context.Context, from smtp.Path, opts *smtp.MailOptions) error {
	if s.c.mail != nil {
		if err := s.c.mail(s.info, from, opts); err != nil {
			return err
		}
	}
	s.cur = captured{from: from, opts: *opts, tls: s.info.TLS != nil, user: s.info.User}
	return nil
}

func (s *captureSession) Rcpt(ctx context.Context, to smtp.Path, opts *smtp.RcptOptions) error {
	if s.c.rcpt != nil {
		if err := s.c.rcpt(s.info, to); err != nil {
			return err
		}
	}
	s.cur.rcpts = append(s.cur.rcpts, to)
	return nil
}

func (s *captureSession) Data(ctx context.Context, r io.Reader) (string, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return "", err
	}
	s.cur.data = b
	s.c.mu.Lock()
	s.c.msgs = append(s.c.msgs, s.cur)
	s.c.mu.Unlock()
	return "", nil
}

func (s *captureSession) Reset(ctx context.Context) {}
func (s *captureSession) Close() error              { return nil }

// serve runs srv on ip:port until the test ends.
func serveSMTP(t *testing.T, srv *smtp.Server, ip string, port int, implicitTLS bool) {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	if srv.Logger == nil {
		srv.Logger = testLogger()
	}
	go srv.ServeListener(l, smtp.ListenerOptions{ImplicitTLS: implicitTLS})
	t.Cleanup(func() { srv.Close() })
}

// countConns is a counter safe for concurrent use.
type countConns struct {
	mu sync.Mutex
	n  int
}

func (c *countConns) inc() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	return c.n
}

func (c *countConns) get() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}
