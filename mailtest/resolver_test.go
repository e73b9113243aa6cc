package mailtest_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/postyard/postyard/dnsmx"
	"github.com/postyard/postyard/mailtest"
	"github.com/postyard/postyard/smtp"
)

// relayApp is an application's outbound path: look up the MX hosts of the
// recipient's domain and try them in order, as RFC 5321 §5.1 says.
type relayApp struct {
	dns  dnsmx.Lookuper
	dial func(ctx context.Context, network, addr string) (net.Conn, error)
	port uint16
}

func (a *relayApp) send(ctx context.Context, from, to smtp.Path, msg string) error {
	mx, err := a.dns.LookupMX(ctx, to.Domain)
	if err != nil {
		return err
	}
	var errs []error
	for _, h := range mx.Hosts {
		for _, ip := range h.Addrs {
			err := a.sendTo(ctx, ip, from, to, msg)
			if err == nil {
				return nil
			}
			errs = append(errs, fmt.Errorf("%s: %w", h.Host, err))
		}
	}
	return errors.Join(errs...)
}

func (a *relayApp) sendTo(ctx context.Context, ip netip.Addr, from, to smtp.Path, msg string) error {
	conn, err := a.dial(ctx, "tcp", netip.AddrPortFrom(ip, a.port).String())
	if err != nil {
		return err
	}
	c, err := smtp.NewClient(ctx, conn, &smtp.ClientOptions{Hostname: "relay.example"})
	if err != nil {
		return err
	}
	defer c.Close()
	res, err := c.SendMail(ctx, from, nil, []smtp.Rcpt{{To: to}}, strings.NewReader(msg))
	if err != nil {
		return err
	}
	if err := res.Err(0); err != nil {
		return err
	}
	return c.Quit(ctx)
}

func TestResolverRelayEndToEnd(t *testing.T) {
	primary := mailtest.NewServer(t)
	backup := mailtest.NewServer(t, mailtest.WithInMemory())
	r := mailtest.NewResolver(t).MX("dest.example", primary, backup)
	app := &relayApp{dns: r, dial: r.DialContext, port: 25}

	from := smtp.Path{Local: "app", Domain: "src.example"}
	to := smtp.Path{Local: "bob", Domain: "dest.example"}
	body := string(msg("app@src.example", "bob@dest.example", "relayed", "x"))
	if err := app.send(t.Context(), from, to, body); err != nil {
		t.Fatal(err)
	}
	if m := primary.WaitOne(t, mailtest.To("bob@dest.example")); m.Hello != "relay.example" {
		t.Errorf("Hello = %q", m.Hello)
	}

	// The primary refuses for a while: mail goes to the backup.
	primary.Fault(mailtest.OnConnect().Reply(421, "4.3.2", "maintenance"))
	if err := app.send(t.Context(), from, to, strings.Replace(body, "relayed", "via backup", 1)); err != nil {
		t.Fatal(err)
	}
	backup.WaitOne(t, mailtest.Subject("via backup"))
	primary.AssertNone(t, 0, mailtest.Subject("via backup"))

	if n := r.DNS.Count("dest.example", "MX"); n != 2 {
		t.Errorf("%d MX queries, want 2 (no caching)", n)
	}
}

func TestResolverNullMXAndUnknown(t *testing.T) {
	r := mailtest.NewResolver(t).NullMX("nomail.example")
	if _, err := r.LookupMX(t.Context(), "nomail.example"); !errors.Is(err, dnsmx.ErrNullMX) {
		t.Errorf("null MX: %v", err)
	}
	if _, err := r.DialContext(t.Context(), "tcp", "192.0.2.1:25"); err == nil {
		t.Error("dial to an unknown address succeeded")
	}
}

// TestResolverPlainDial: an application with its own dialer reaches the
// servers at their MX addresses, on the Resolver's port.
func TestResolverPlainDial(t *testing.T) {
	srv := mailtest.NewServer(t)
	r := mailtest.NewResolver(t).MX("dest.example", srv)
	if r.Port() == 0 {
		t.Skip("this system does not let a server listen on 127.0.1.x")
	}
	var d net.Dialer
	app := &relayApp{dns: r, dial: d.DialContext, port: uint16(r.Port())}
	body := string(msg("app@src.example", "bob@dest.example", "plain dial", "x"))
	if err := app.send(t.Context(), smtp.Path{Local: "app", Domain: "src.example"},
		smtp.Path{Local: "bob", Domain: "dest.example"}, body); err != nil {
		t.Fatal(err)
	}
	srv.WaitOne(t, mailtest.Subject("plain dial"))
}
