package relay_test

import (
	"context"
	"crypto/tls"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postyard/postyard/auth"
	"github.com/postyard/postyard/mailbox"
	"github.com/postyard/postyard/mailbox/memstore"
	"github.com/postyard/postyard/queue"
	"github.com/postyard/postyard/relay"
	"github.com/postyard/postyard/smtp"
)

// requireIPv6 skips the test if the IPv6 loopback address cannot be
// listened on.
func requireIPv6(t *testing.T) {
	t.Helper()
	l, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("IPv6 loopback [::1] not available on this machine: %v", err)
	}
	l.Close()
}

// seen is what a test server learnt about the sessions that reached MAIL.
type seen struct {
	mu     sync.Mutex
	conns  int
	hello  []string
	remote []netip.Addr
}

// How a test server treats its clients.
const (
	takeMail   = iota
	busyGreet  // greets with 421
	busyAtMail // answers MAIL with 421 and closes the connection
	notThere   // nothing listens
)

// backend returns a captureBackend that records into s and behaves as
// mode says.
func (s *seen) backend(mode int) *captureBackend {
	busy := &smtp.Error{Code: 421, EnhancedCode: "4.3.2", Message: "too busy"}
	return &captureBackend{
		connect: func(*smtp.ConnInfo) error {
			s.mu.Lock()
			s.conns++
			s.mu.Unlock()
			if mode == busyGreet {
				return busy
			}
			return nil
		},
		mail: func(c *smtp.ConnInfo, _ smtp.Path, _ *smtp.MailOptions) error {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.hello = append(s.hello, c.Hello)
			if a, ok := c.RemoteAddr.(*net.TCPAddr); ok {
				ip, _ := netip.AddrFromSlice(a.IP)
				s.remote = append(s.remote, ip)
			}
			if mode == busyAtMail {
				return busy
			}
			return nil
		},
	}
}

func (s *seen) connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns
}

// hellos returns the EHLO argument of each session that reached MAIL.
func (s *seen) hellos() []string {
	h, _ := s.sessions()
	return h
}

// sessions returns the EHLO argument and the client's address of each
// session that reached MAIL.
func (s *seen) sessions() ([]string, []netip.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.hello), slices.Clone(s.remote)
}

// serveOn starts a test server for host on ip:port, behaving as mode
// says, and returns what it sees and the messages it takes.
func serveOn(t *testing.T, host, ip string, port int, mode int) (*seen, *captureBackend) {
	t.Helper()
	s := &seen{}
	c := s.backend(mode)
	serveSMTP(t, &smtp.Server{Hostname: host, Backend: c}, ip, port, false)
	return s, c
}

// TestDelivererIPv6MX: an MX host with only an AAAA record is reached
// over IPv6, and the server sees the connection come from ::1.
func TestDelivererIPv6MX(t *testing.T) {
	requireIPv6(t)
	port := freePort(t, "::1")
	s, c := serveOn(t, "mx.v6.test", "::1", port, takeMail)
	r := newRig(t, dlZone(`
v6.test.    MX 10 mx.v6.test.
mx.v6.test. AAAA ::1
`), port)
	r.start(t)
	r.enqueue(t, "sender@sender.test", []string{"rcpt@v6.test"}, testMessage("over IPv6", 800), nil)
	evs := r.ev.wait(t, "delivered", func(l []queue.Event) bool { return countEvents(l, queue.EventRemoved) == 1 })
	if countEvents(evs, queue.EventDelivered) != 1 || countEvents(evs, queue.EventDeferred) != 0 {
		t.Fatalf("want one delivery at the first attempt; events:\n%s", dumpEvents(evs))
	}
	got := c.got()
	if len(got) != 1 || len(got[0].rcpts) != 1 || got[0].rcpts[0].String() != "rcpt@v6.test" {
		t.Fatalf("server got %+v", got)
	}
	if hello, remote := s.sessions(); len(remote) != 1 || remote[0] != netip.IPv6Loopback() || hello[0] != "relay.test" {
		t.Errorf("session from %v with EHLO %q; want ::1 and relay.test", remote, hello)
	}
}

// TestDelivererDualStack: an MX host with AAAA and A records. Its
// addresses are tried in turn, IPv6 first (RFC 5321 §5.1 leaves the
// order to the client; RFC 6724 prefers IPv6), and a failure on one
// family, a refused connection or a 421 greeting, falls back to the
// other within the same attempt, as does a connection that fails
// before the transaction; when both fail the message is deferred, not
// bounced.
func TestDelivererDualStack(t *testing.T) {
	requireIPv6(t)
	zone := dlZone(`
dual.test.    MX 10 mx.dual.test.
mx.dual.test. AAAA ::1
mx.dual.test. A    127.0.0.1
`)
	for _, tc := range []struct {
		name     string
		v6, v4   int
		want     string // the family that gets the message; "" for a deferral
		deferral bool
	}{
		{"both listen: IPv6 first", takeMail, takeMail, "v6", false},
		{"IPv6 refuses connections", notThere, takeMail, "v4", false},
		{"IPv4 refuses connections", takeMail, notThere, "v6", false},
		{"IPv6 greets with 421", busyGreet, takeMail, "v4", false},
		{"IPv6 closes at MAIL with 421", busyAtMail, takeMail, "v4", false},
		{"both greet with 421", busyGreet, busyGreet, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			port := freePort(t, "::1")
			servers := map[string]*seen{}
			caps := map[string]*captureBackend{}
			for fam, mode := range map[string]int{"v6": tc.v6, "v4": tc.v4} {
				if mode == notThere {
					continue
				}
				ip := map[string]string{"v6": "::1", "v4": "127.0.0.1"}[fam]
				servers[fam], caps[fam] = serveOn(t, "mx.dual.test", ip, port, mode)
			}
			r := newRig(t, zone, port)
			r.start(t)
			r.enqueue(t, "sender@sender.test", []string{"rcpt@dual.test"}, testMessage(tc.name, 600), nil)
			if tc.deferral {
				evs := r.ev.wait(t, "deferred", func(l []queue.Event) bool { return countEvents(l, queue.EventDeferred) >= 1 })
				d := findEvent(evs, queue.EventDeferred)
				if d.Err.Permanent || d.Err.Code != 421 || d.Err.RemoteMTA != "mx.dual.test" {
					t.Errorf("deferral: %+v", d.Err)
				}
				if countEvents(evs, queue.EventFailed) != 0 {
					t.Errorf("failed for good:\n%s", dumpEvents(evs))
				}
				for fam, s := range servers {
					if s.connections() == 0 {
						t.Errorf("the %s address was not tried", fam)
					}
				}
				return
			}
			evs := r.ev.wait(t, "delivered", func(l []queue.Event) bool { return countEvents(l, queue.EventRemoved) == 1 })
			if countEvents(evs, queue.EventDelivered) != 1 || countEvents(evs, queue.EventDeferred) != 0 {
				t.Fatalf("want one delivery at the first attempt; events:\n%s", dumpEvents(evs))
			}
			for fam, c := range caps {
				want := 0
				if fam == tc.want {
					want = 1
				}
				if n := len(c.got()); n != want {
					t.Errorf("the %s server got %d messages, want %d", fam, n, want)
				}
			}
		})
	}
}

// TestDelivererIPv6Silent: an IPv6 address that accepts connections but
// never greets (as a black hole behind a broken IPv6 route would, after
// ConnectTimeout) gives way to the host's IPv4 address in the same
// attempt.
func TestDelivererIPv6Silent(t *testing.T) {
	requireIPv6(t)
	port := freePort(t, "::1")
	l, err := net.Listen("tcp", net.JoinHostPort("::1", strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	var held []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range held {
			c.Close()
		}
		mu.Unlock()
	})
	_, c := serveOn(t, "mx.dual.test", "127.0.0.1", port, takeMail)
	r := newRig(t, dlZone(`
dual.test.    MX 10 mx.dual.test.
mx.dual.test. AAAA ::1
mx.dual.test. A    127.0.0.1
`), port)
	r.d.ConnectTimeout = 300 * time.Millisecond
	r.start(t)
	r.enqueue(t, "sender@sender.test", []string{"rcpt@dual.test"}, testMessage("silent", 600), nil)
	evs := r.ev.wait(t, "delivered", func(l []queue.Event) bool { return countEvents(l, queue.EventRemoved) == 1 })
	if countEvents(evs, queue.EventDelivered) != 1 || countEvents(evs, queue.EventDeferred) != 0 || len(c.got()) != 1 {
		t.Fatalf("want one delivery over IPv4 at the first attempt; IPv4 server got %d; events:\n%s", len(c.got()), dumpEvents(evs))
	}
	mu.Lock()
	defer mu.Unlock()
	if len(held) == 0 {
		t.Error("the IPv6 address was not tried first")
	}
}

// TestDelivererMXFamilies: the preferred MX has only an IPv6 address,
// which refuses connections; the next one, IPv4 only, takes the message
// in the same attempt.
func TestDelivererMXFamilies(t *testing.T) {
	requireIPv6(t)
	port := freePort(t, "::1")
	_, c := serveOn(t, "mx2.mixed.test", "127.0.0.1", port, takeMail)
	r := newRig(t, dlZone(`
mixed.test.     MX 10 mx1.mixed.test.
mixed.test.     MX 20 mx2.mixed.test.
mx1.mixed.test. AAAA ::1
mx2.mixed.test. A    127.0.0.1
`), port)
	r.start(t)
	r.enqueue(t, "sender@sender.test", []string{"rcpt@mixed.test"}, testMessage("families", 600), nil)
	evs := r.ev.wait(t, "delivered", func(l []queue.Event) bool { return countEvents(l, queue.EventRemoved) == 1 })
	if countEvents(evs, queue.EventDelivered) != 1 || countEvents(evs, queue.EventDeferred) != 0 || len(c.got()) != 1 {
		t.Fatalf("want one delivery by mx2 at the first attempt; mx2 got %d; events:\n%s", len(c.got()), dumpEvents(evs))
	}
}

// TestDelivererIPv6Literal: recipients at IPv6 address literals (RFC 5321
// §4.1.3), the tag in either case and the address in any of its forms,
// go to that address without DNS, and the RCPT command carries the
// domain as it was given; an IPv4-mapped address is reached over IPv4.
// Literals that are not valid domains fail for good.
func TestDelivererIPv6Literal(t *testing.T) {
	requireIPv6(t)
	port := freePort(t, "::1")
	_, c6 := serveOn(t, "v6.literal", "::1", port, takeMail)
	s4, c4 := serveOn(t, "v4.literal", "127.0.0.1", port, takeMail)
	r := newRig(t, dlZone(), port)
	r.start(t)
	lits := []string{"a@[IPv6:::1]", "b@[ipv6:0:0:0:0:0:0:0:1]", "c@[IPV6:0000::0001]"}
	for _, to := range lits {
		r.enqueue(t, "sender@sender.test", []string{to}, testMessage(to, 600), nil)
	}
	r.enqueue(t, "sender@sender.test", []string{"d@[IPv6:::ffff:127.0.0.1]"}, testMessage("mapped", 600), nil)
	// Not valid as domains; only a program could queue them.
	for _, dom := range []string{"[::1]", "[IPv6:127.0.0.1]", "[IPv6:fe80::1%lo]", "[IPv6:::1"} {
		env := &queue.Envelope{Recipients: []queue.Recipient{{To: smtp.Path{Local: "x", Domain: dom}}}}
		if _, err := r.q.Enqueue(context.Background(), env, strings.NewReader("Subject: bad\r\n\r\nbad\r\n")); err != nil {
			t.Fatal(err)
		}
	}
	evs := r.ev.wait(t, "all done", func(l []queue.Event) bool { return countEvents(l, queue.EventRemoved) == 8 })
	if n := countEvents(evs, queue.EventDelivered); n != 4 {
		t.Errorf("%d delivered, want 4; events:\n%s", n, dumpEvents(evs))
	}
	for _, ev := range evs {
		if ev.Kind == queue.EventFailed && (!ev.Err.Permanent || ev.Err.Status() != "5.1.2") {
			t.Errorf("failure for %s: %+v, want a permanent 5.1.2", ev.Destination, ev.Err)
		}
	}
	if n := countEvents(evs, queue.EventFailed); n != 4 {
		t.Errorf("%d failed, want 4; events:\n%s", n, dumpEvents(evs))
	}
	var rcpts []string
	for _, m := range c6.got() {
		for _, p := range m.rcpts {
			rcpts = append(rcpts, p.String())
		}
	}
	slices.Sort(rcpts)
	if got, want := strings.Join(rcpts, " "), strings.Join(slices.Sorted(slices.Values(lits)), " "); got != want {
		t.Errorf("the IPv6 server got RCPT %s, want %s", got, want)
	}
	if got, hello := c4.got(), s4.hellos(); len(got) != 1 || got[0].rcpts[0].String() != "d@[IPv6:::ffff:127.0.0.1]" || hello[0] != "relay.test" {
		t.Errorf("the IPv4 server got %+v", got)
	}
}

// TestDelivererHelloName: the EHLO argument is Hostname, an IP address
// given as Hostname is sent as an address literal, and without Hostname
// the address literal of the connection's own address is sent
// (RFC 5321 §4.1.4), in IPv6 form over IPv6.
func TestDelivererHelloName(t *testing.T) {
	requireIPv6(t)
	for _, tc := range []struct {
		hostname, server, want string
	}{
		{"relay.test", "::1", "relay.test"},
		{"", "::1", "[IPv6:::1]"},
		{"", "127.0.0.1", "[127.0.0.1]"},
		{"2001:db8::25", "::1", "[IPv6:2001:db8::25]"},
		{"192.0.2.25", "127.0.0.1", "[192.0.2.25]"},
		{"::ffff:192.0.2.25", "127.0.0.1", "[192.0.2.25]"},
	} {
		t.Run(tc.hostname+"→"+tc.server, func(t *testing.T) {
			port := freePort(t, "::1")
			s, c := serveOn(t, "mx.hello.test", tc.server, port, takeMail)
			family := "A"
			if strings.Contains(tc.server, ":") {
				family = "AAAA"
			}
			r := newRig(t, dlZone("hello.test. MX 10 mx.hello.test.\nmx.hello.test. "+family+" "+tc.server), port)
			r.d.Hostname = tc.hostname
			r.start(t)
			r.enqueue(t, "sender@sender.test", []string{"rcpt@hello.test"}, testMessage("hello", 500), nil)
			r.ev.wait(t, "delivered", func(l []queue.Event) bool { return countEvents(l, queue.EventRemoved) == 1 })
			if hello := s.hellos(); len(c.got()) != 1 || len(hello) != 1 || hello[0] != tc.want {
				t.Fatalf("EHLO %q, want %q", hello, tc.want)
			}
			// Our server's trace header names the client by its EHLO.
			if data := string(c.got()[0].data); !strings.HasPrefix(data, "Received: from "+tc.want+" (") {
				t.Errorf("Received header: %.120q", data)
			}
		})
	}
}

// TestDelivererSmarthostIPv6: a smarthost given as an IPv6 address, with
// STARTTLS and with implicit TLS; its certificate is verified against
// the address (an IP address SAN), and one that names only another host
// defers the message rather than sending the password in clear.
func TestDelivererSmarthostIPv6(t *testing.T) {
	requireIPv6(t)
	users := &auth.Users{}
	users.Add("alice", "secret")
	start := func(t *testing.T, certFor string) (p587, p465 int, c *captureBackend, roots *tls.Config) {
		conf, pool := tlsCert(t, certFor)
		c = &captureBackend{}
		srv := &smtp.Server{Hostname: "smarthost.test", Backend: c, Authenticator: users, RequireAuth: true, TLSConfig: conf}
		p587, p465 = freePort(t, "::1"), freePort(t, "::1")
		serveSMTP(t, srv, "::1", p587, false)
		l, err := net.Listen("tcp", net.JoinHostPort("::1", strconv.Itoa(p465)))
		if err != nil {
			t.Fatal(err)
		}
		go srv.ServeListener(l, smtp.ListenerOptions{ImplicitTLS: true})
		return p587, p465, c, &tls.Config{RootCAs: pool}
	}
	t.Run("verified", func(t *testing.T) {
		p587, p465, c, roots := start(t, "::1")
		for _, mode := range []struct {
			port     int
			implicit bool
		}{{p587, false}, {p465, true}} {
			r := newRig(t, dlZone(), 1)
			r.d.Smarthost = &relay.Smarthost{Addr: net.JoinHostPort("::1", strconv.Itoa(mode.port)), ImplicitTLS: mode.implicit, TLSConfig: roots, Username: "alice", Password: "secret"}
			r.start(t)
			r.enqueue(t, "alice@origin.test", []string{"bob@far.test"}, []byte(aliceMessage), nil)
			evs := r.ev.wait(t, "delivered", func(l []queue.Event) bool { return countEvents(l, queue.EventRemoved) == 1 })
			if countEvents(evs, queue.EventDelivered) != 1 {
				t.Fatalf("implicit TLS %v: events:\n%s", mode.implicit, dumpEvents(evs))
			}
		}
		got := c.got()
		if len(got) != 2 || !got[0].tls || !got[1].tls || got[0].user != "alice" {
			t.Fatalf("smarthost got %+v", got)
		}
	})
	t.Run("certificate for another name", func(t *testing.T) {
		p587, _, c, roots := start(t, "smarthost.test")
		r := newRig(t, dlZone(), 1)
		r.d.Smarthost = &relay.Smarthost{Addr: net.JoinHostPort("::1", strconv.Itoa(p587)), TLSConfig: roots, Username: "alice", Password: "secret"}
		r.start(t)
		r.enqueue(t, "alice@origin.test", []string{"bob@far.test"}, []byte(aliceMessage), nil)
		evs := r.ev.wait(t, "deferred", func(l []queue.Event) bool { return countEvents(l, queue.EventDeferred) >= 1 })
		if d := findEvent(evs, queue.EventDeferred); d.Err.Permanent || d.Err.Status() != "4.7.5" || d.Err.RemoteMTA != "::1" {
			t.Fatalf("deferral: %+v", d.Err)
		}
		if n := len(c.got()); n != 0 {
			t.Fatalf("smarthost got %d messages", n)
		}
	})
}

// TestDelivererLocalIPv6Literal: recipients at an IPv6 address literal
// of this server (Policy.LocalAddresses), with the tag in any case, are
// delivered to their mailboxes, not over the network.
func TestDelivererLocalIPv6Literal(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	store := memstore.New(nil)
	defer store.Close()
	r := newRig(t, dlZone(), freePort(t))
	r.d.Local, r.d.Mailboxes = testPolicy(), store // LocalAddresses holds 2001:db8::1
	r.d.ConnectTimeout = time.Second
	r.start(t)
	r.enqueue(t, "", []string{"alice@[IPv6:2001:db8::1]", "bob@[ipv6:2001:DB8:0::1]"}, []byte("Subject: literal\r\n\r\nHello.\r\n"), nil)
	evs := r.ev.wait(t, "done", func(l []queue.Event) bool {
		return countEvents(l, queue.EventRemoved) == 1 || countEvents(l, queue.EventDeferred) > 0
	})
	if countEvents(evs, queue.EventDelivered) != 2 || countEvents(evs, queue.EventRemoved) != 1 {
		t.Fatalf("want both delivered locally; events:\n%s", dumpEvents(evs))
	}
	for _, user := range []string{"alice", "bob"} {
		if n := inboxSize(ctx, t, store, user); n != 1 {
			t.Errorf("%s's INBOX holds %d messages, want 1", user, n)
		}
	}
}

// inboxSize returns the number of messages in a user's INBOX.
func inboxSize(ctx context.Context, t *testing.T, store *memstore.Store, user string) int {
	t.Helper()
	u, err := store.User(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	mb, err := u.Open(ctx, mailbox.Inbox, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer mb.Close()
	n := 0
	for _, err := range mb.Messages(ctx, mailbox.AllUIDs(), nil) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	return n
}
