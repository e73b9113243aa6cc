package relay_test

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"strconv"
	"testing"

	"github.com/postyard/postyard/dnsmx"
	"github.com/postyard/postyard/internal/selfsigned"
	"github.com/postyard/postyard/queue"
	"github.com/postyard/postyard/relay"
	"github.com/postyard/postyard/smtp"
)

// tlsCert returns a server config with a self-signed certificate for
// hosts, and a pool that trusts it.
func tlsCert(t *testing.T, hosts ...string) (*tls.Config, *x509.CertPool) {
	t.Helper()
	conf, pool, err := selfsigned.Config(hosts...)
	if err != nil {
		t.Fatal(err)
	}
	return conf, pool
}

// requireSTARTTLS refuses MAIL on a plaintext connection.
func requireSTARTTLS(c *smtp.ConnInfo, _ smtp.Path, _ *smtp.MailOptions) error {
	if c.TLS == nil {
		return &smtp.Error{Code: 530, EnhancedCode: "5.7.0", Message: "Must issue a STARTTLS command first"}
	}
	return nil
}

// TestDelivererSTARTTLSRequired: our own server refuses mail without
// STARTTLS; the Deliverer uses STARTTLS when offered.
func TestDelivererSTARTTLSRequired(t *testing.T) {
	port := freePort(t)
	conf, pool := tlsCert(t, "mx.example.test")
	c := &captureBackend{mail: requireSTARTTLS}
	serveSMTP(t, &smtp.Server{Hostname: "mx.example.test", Backend: c, TLSConfig: conf}, "127.0.0.1", port, false)
	r := newRig(t, dlZone(), port)
	r.d.TLSConfig = &tls.Config{RootCAs: pool}
	r.d.TLSPolicies = map[string]relay.TLSMode{"example.test": relay.TLSVerified}
	r.start(t)
	r.enqueue(t, "sender@sender.test", []string{"rcpt@example.test"}, testMessage("tls", 500), nil)
	evs := r.ev.wait(t, "delivered", func(l []queue.Event) bool { return countEvents(l, queue.EventRemoved) == 1 })
	if got := c.got(); len(got) != 1 || !got[0].tls || countEvents(evs, queue.EventDelivered) != 1 {
		t.Fatalf("want one delivery over TLS; got %+v; events:\n%s", got, dumpEvents(evs))
	}
}

// TestDelivererTLSVerifiedMismatch: a TLSVerified destination whose
// certificate names another host is deferred, not sent in clear.
func TestDelivererTLSVerifiedMismatch(t *testing.T) {
	port := freePort(t)
	conf, pool := tlsCert(t, "other.test")
	c := &captureBackend{}
	serveSMTP(t, &smtp.Server{Hostname: "mx.example.test", Backend: c, TLSConfig: conf}, "127.0.0.1", port, false)
	r := newRig(t, dlZone(), port)
	r.d.TLSConfig = &tls.Config{RootCAs: pool}
	r.d.TLSPolicies = map[string]relay.TLSMode{"example.test": relay.TLSVerified}
	r.start(t)
	r.enqueue(t, "sender@sender.test", []string{"rcpt@example.test"}, testMessage("tls", 500), nil)
	evs := r.ev.wait(t, "deferred", func(l []queue.Event) bool { return countEvents(l, queue.EventDeferred) >= 2 })
	if d := findEvent(evs, queue.EventDeferred); d.Err.Permanent || d.Err.Status() != "4.7.5" {
		t.Errorf("deferral: %v", d.Err)
	}
	if n := len(c.got()); n != 0 {
		t.Fatalf("server got %d messages in clear", n)
	}
}

// stsPolicy serves one MTA-STS policy body for every domain.
func stsPolicy(body string) dnsmx.PolicyFetcher {
	return dnsmx.PolicyFetcherFunc(func(context.Context, string) ([]byte, error) { return []byte(body), nil })
}

const stsZone = `
sts.test.          MX 10 mx.sts.test.
mx.sts.test.       A  127.0.0.1
_mta-sts.sts.test. TXT "v=STSv1; id=20260101"
`

// TestDelivererMTASTS: under an enforce policy, a certificate that does
// not match the MX host defers the message, never sent in clear (the
// server would accept plaintext), and so does an MX host the policy does
// not list; under a testing policy the mismatch is only logged.
func TestDelivererMTASTS(t *testing.T) {
	for _, tc := range []struct {
		name, certHost, mode, mx string
		deliver                  bool
	}{
		{"enforce, wrong certificate", "wrong.test", "enforce", "mx.sts.test", false},
		{"enforce, MX not listed", "mx.sts.test", "enforce", "mx.elsewhere.test", false},
		{"testing, wrong certificate", "wrong.test", "testing", "mx.sts.test", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			port := freePort(t)
			conf, pool := tlsCert(t, tc.certHost)
			c := &captureBackend{}
			serveSMTP(t, &smtp.Server{Hostname: "mx.sts.test", Backend: c, TLSConfig: conf}, "127.0.0.1", port, false)
			r := newRig(t, dlZone(stsZone), port)
			r.d.TLSConfig = &tls.Config{RootCAs: pool}
			r.d.STS = &dnsmx.STS{Resolver: r.d.Resolver, Fetcher: stsPolicy("version: STSv1\nmode: " + tc.mode + "\nmx: " + tc.mx + "\nmax_age: 86400\n")}
			r.start(t)
			r.enqueue(t, "sender@sender.test", []string{"rcpt@sts.test"}, testMessage("sts", 500), nil)
			if tc.deliver {
				r.ev.wait(t, "delivered", func(l []queue.Event) bool { return countEvents(l, queue.EventDelivered) == 1 })
				if got := c.got(); len(got) != 1 || !got[0].tls {
					t.Fatalf("want one delivery over TLS, got %+v", got)
				}
				return
			}
			evs := r.ev.wait(t, "deferred twice", func(l []queue.Event) bool { return countEvents(l, queue.EventDeferred) >= 2 })
			if d := findEvent(evs, queue.EventDeferred); d.Err.Permanent || d.Err.Status() != "4.7.5" {
				t.Errorf("deferral: %+v", d.Err)
			}
			if n := len(c.got()); n != 0 {
				t.Fatalf("server got %d messages", n)
			}
		})
	}
}

// daneZone returns a DNSSEC-signed domain dane.test whose MX has a
// DANE-EE TLSA record with the SPKI digest given.
func daneZone(port int, digest string) string {
	return `
dane.test.         MX 10 mx.dane.test.
mx.dane.test.      A  127.0.0.1
_` + strconv.Itoa(port) + `._tcp.mx.dane.test. TLSA 3 1 1 ` + digest + `
`
}

func spkiDigest(conf *tls.Config) string {
	h := sha256.Sum256(conf.Certificates[0].Leaf.RawSubjectPublicKeyInfo)
	return hex.EncodeToString(h[:])
}

// TestDelivererDANE: an authenticated DANE-EE record authenticates a
// certificate no CA vouches for; REQUIRETLS messages may go there. A
// record that does not match defers the message.
func TestDelivererDANE(t *testing.T) {
	port := freePort(t)
	conf, _ := tlsCert(t, "mx.dane.test")
	c := &captureBackend{}
	serveSMTP(t, &smtp.Server{Hostname: "mx.dane.test", Backend: c, TLSConfig: conf}, "127.0.0.1", port, false)
	r := newRig(t, dlZone(daneZone(port, spkiDigest(conf))), port)
	r.dns.SetSecure("dane.test", true)
	r.d.IdleTimeout = -1 // each message checks the records anew
	r.start(t)
	r.enqueue(t, "sender@sender.test", []string{"rcpt@dane.test"}, testMessage("dane", 500), &smtp.MailOptions{RequireTLS: true})
	evs := r.ev.wait(t, "delivered", func(l []queue.Event) bool { return countEvents(l, queue.EventRemoved) == 1 })
	got := c.got()
	if len(got) != 1 || !got[0].tls || !got[0].opts.RequireTLS {
		t.Fatalf("want one REQUIRETLS delivery over TLS, got %+v; events:\n%s", got, dumpEvents(evs))
	}

	// The same server, but the record names another key.
	r.dns.Remove("_"+strconv.Itoa(port)+"._tcp.mx.dane.test", "TLSA")
	if err := r.dns.Add("_" + strconv.Itoa(port) + "._tcp.mx.dane.test. TLSA 3 1 1 " + spkiDigest(tlsOther(t))); err != nil {
		t.Fatal(err)
	}
	r.enqueue(t, "sender@sender.test", []string{"rcpt@dane.test"}, testMessage("dane2", 500), nil)
	evs = r.ev.wait(t, "deferred", func(l []queue.Event) bool { return countEvents(l, queue.EventDeferred) >= 1 })
	if d := findEvent(evs, queue.EventDeferred); d.Err.Status() != "4.7.5" {
		t.Errorf("deferral: %+v", d.Err)
	}
	if n := len(c.got()); n != 1 {
		t.Fatalf("server got %d messages, want still 1", n)
	}
}

func tlsOther(t *testing.T) *tls.Config {
	conf, _ := tlsCert(t, "mx.dane.test")
	return conf
}

// TestDelivererREQUIRETLSInsecureDNS: a REQUIRETLS message to a domain
// whose MX is neither DNSSEC-signed nor under MTA-STS fails for good
// (RFC 8689 §4.2.1) rather than going out unprotected.
func TestDelivererREQUIRETLSInsecureDNS(t *testing.T) {
	port := freePort(t)
	conf, pool := tlsCert(t, "mx.example.test")
	c := &captureBackend{}
	serveSMTP(t, &smtp.Server{Hostname: "mx.example.test", Backend: c, TLSConfig: conf}, "127.0.0.1", port, false)
	r := newRig(t, dlZone(), port)
	r.d.TLSConfig = &tls.Config{RootCAs: pool}
	r.start(t)
	r.enqueue(t, "", []string{"rcpt@example.test"}, testMessage("requiretls", 500), &smtp.MailOptions{RequireTLS: true})
	evs := r.ev.wait(t, "failed", func(l []queue.Event) bool { return countEvents(l, queue.EventRemoved) == 1 })
	if f := findEvent(evs, queue.EventFailed); f == nil || f.Err.Status() != "5.7.30" {
		t.Fatalf("want a 5.7.30 failure; events:\n%s", dumpEvents(evs))
	}
	if n := len(c.got()); n != 0 {
		t.Fatalf("server got %d messages", n)
	}
}
