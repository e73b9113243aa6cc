package main

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"

	"github.com/postyard/postyard/auth"
	"github.com/postyard/postyard/mailtest"
	"github.com/postyard/postyard/smtp"
)

// upstream is a provider's relay: STARTTLS, AUTH required, one account.
func upstream(t *testing.T) *mailtest.Server {
	return mailtest.NewServer(t, mailtest.WithSTARTTLS(), mailtest.WithHostname("smtp.provider.test"),
		mailtest.WithUser("relay-account", "provider-secret"),
		mailtest.WithSMTP(func(s *smtp.Server) { s.RequireAuth = true }))
}

func startRelay(t *testing.T, c *config) *relayServer {
	t.Helper()
	rs, err := start(slog.New(slog.DiscardHandler), c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := rs.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return rs
}

func testConfig(t *testing.T, up *mailtest.Server) *config {
	return &config{
		submission: "127.0.0.1:0", submissions: "127.0.0.1:0", hostname: "relay.test", data: t.TempDir(),
		upstream: up.Addr(), upstreamUser: "relay-account", upstreamPassword: "provider-secret",
		upstreamTLSConfig: up.ClientTLSConfig(), demoPassword: "demo-pw",
	}
}

func path(addr string) smtp.Path {
	local, domain, _ := strings.Cut(addr, "@")
	return smtp.Path{Local: local, Domain: domain}
}

// send submits msg as user, over STARTTLS or implicit TLS.
func send(t *testing.T, addr string, implicit bool, user, password, from, to, msg string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tc := &tls.Config{InsecureSkipVerify: true}
	var c *smtp.Client
	var err error
	if implicit {
		conn, err := tls.Dial("tcp", addr, tc)
		if err != nil {
			return err
		}
		c, err = smtp.NewClient(ctx, conn, nil)
		if err != nil {
			return err
		}
	} else {
		if c, err = smtp.Dial(ctx, "tcp", addr, nil); err != nil {
			return err
		}
		if err := c.StartTLS(ctx, tc); err != nil {
			return err
		}
	}
	defer c.Close()
	if user != "" {
		if err := c.Auth(ctx, sasl.NewPlainClient("", user, password)); err != nil {
			return err
		}
	}
	res, err := c.SendMail(ctx, path(from), nil, []smtp.Rcpt{{To: path(to)}}, strings.NewReader(msg))
	if err != nil {
		return err
	}
	if err := res.Err(0); err != nil {
		return err
	}
	return c.Quit(ctx)
}

// TestRelayThroughUpstream: messages submitted on 587 (STARTTLS) and 465
// (implicit TLS) arrive at the upstream, which got them over TLS with the
// relay's AUTH; submission without AUTH is refused.
func TestRelayThroughUpstream(t *testing.T) {
	up := upstream(t)
	rs := startRelay(t, testConfig(t, up))

	msg := "From: <app@shop.test>\r\nTo: <bob@far.test>\r\nSubject: order 1234\r\n\r\nYour order has shipped.\r\n"
	if err := send(t, rs.addrs["submission"], false, rs.user, rs.password, "app@shop.test", "bob@far.test", msg); err != nil {
		t.Fatalf("587: %v", err)
	}
	m := up.WaitOne(t, mailtest.To("bob@far.test"), mailtest.Subject("order 1234"))
	if m.User != "relay-account" || !m.TLS || m.From != "app@shop.test" || !strings.Contains(m.Text(), "shipped") {
		t.Fatalf("upstream got user %q TLS %v from %q:\n%s", m.User, m.TLS, m.From, m.Raw)
	}
	if m.HeaderValue("Message-Id") == "" || m.HeaderValue("Date") == "" {
		t.Errorf("header not completed (RFC 6409 §8):\n%s", m.Raw)
	}

	msg2 := strings.Replace(msg, "order 1234", "order 5678", 1)
	if err := send(t, rs.addrs["submissions"], true, rs.user, rs.password, "app@shop.test", "carol@far.test", msg2); err != nil {
		t.Fatalf("465: %v", err)
	}
	up.WaitOne(t, mailtest.To("carol@far.test"), mailtest.Subject("order 5678"))

	err := send(t, rs.addrs["submission"], false, "", "", "app@shop.test", "bob@far.test", msg)
	var se *smtp.Error
	if !errors.As(err, &se) || se.Code != 530 {
		t.Fatalf("without AUTH: %v", err)
	}
}

// TestRelayUsersFile: users from a users file may send as themselves only,
// unless -any-sender.
func TestRelayUsersFile(t *testing.T) {
	up := upstream(t)
	c := testConfig(t, up)
	hash, err := auth.HashPassword("app-pw")
	if err != nil {
		t.Fatal(err)
	}
	c.users = filepath.Join(t.TempDir(), "users")
	os.WriteFile(c.users, []byte("# relay users\napp@shop.test:"+hash+"\n"), 0o600)
	rs := startRelay(t, c)
	if rs.user != "" {
		t.Fatal("demo user with a users file")
	}
	msg := "From: <app@shop.test>\r\nTo: <bob@far.test>\r\nSubject: from the file\r\n\r\nHi.\r\n"
	if err := send(t, rs.addrs["submission"], false, "app@shop.test", "app-pw", "app@shop.test", "bob@far.test", msg); err != nil {
		t.Fatal(err)
	}
	up.WaitOne(t, mailtest.Subject("from the file"))
	forged := strings.Replace(msg, "app@shop.test", "ceo@shop.test", 1)
	if err := send(t, rs.addrs["submission"], false, "app@shop.test", "app-pw", "ceo@shop.test", "bob@far.test", forged); err == nil {
		t.Fatal("user sent as another address")
	}
	if err := send(t, rs.addrs["submission"], false, "app@shop.test", "wrong", "app@shop.test", "bob@far.test", msg); err == nil {
		t.Fatal("wrong password accepted")
	}
}

// TestRelayUpstreamDown: mail waits in the queue while the upstream
// refuses connections, and survives a restart.
func TestRelayUpstreamDown(t *testing.T) {
	up := upstream(t)
	c := testConfig(t, up)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c.upstream = l.Addr().String()
	l.Close() // nothing listens there now
	rs, err := start(slog.New(slog.DiscardHandler), c)
	if err != nil {
		t.Fatal(err)
	}
	msg := "From: <app@shop.test>\r\nTo: <bob@far.test>\r\nSubject: later\r\n\r\nHi.\r\n"
	if err := send(t, rs.addrs["submission"], false, rs.user, rs.password, "app@shop.test", "bob@far.test", msg); err != nil {
		t.Fatal(err)
	}
	if err := rs.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The upstream is back (the real one). The message waits for its
	// next attempt (a minute after the failed one); retry it now.
	c.upstream = up.Addr()
	rs = startRelay(t, c)
	n := 0
	for m, err := range rs.q.List(context.Background(), nil) {
		if err != nil {
			t.Fatal(err)
		}
		if err := rs.q.RetryNow(context.Background(), m.ID); err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 1 {
		t.Fatalf("%d messages queued after the restart, want 1", n)
	}
	up.WaitOne(t, mailtest.Subject("later"))
}

func TestFlags(t *testing.T) {
	var out strings.Builder
	if code := cli([]string{"-submission", "127.0.0.1:0"}, &out); code != 1 || !strings.Contains(out.String(), "-upstream") {
		t.Errorf("no upstream: %d %s", code, out.String())
	}
	out.Reset()
	if code := cli([]string{"-upstream", "x:587", "-upstream-tls", "ssl"}, &out); code != 1 || !strings.Contains(out.String(), "upstream-tls") {
		t.Errorf("bad -upstream-tls: %d %s", code, out.String())
	}
}
