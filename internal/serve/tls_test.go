package serve_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"testing"
	"testing/synctest"
	"time"

	"github.com/postyard/postyard/internal/serve"
)

func testCertificate(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "mx.example"},
		DNSNames:     []string{"mx.example"},
		NotBefore:    time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:     time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// After STARTTLS replaces the net.Conn, Shutdown still interrupts the idle
// session, now reading through TLS.
func TestShutdownAfterStartTLS(t *testing.T) {
	cert := testCertificate(t)
	synctest.Test(t, func(t *testing.T) {
		s := &serve.Server{Logger: discard}
		s.Handle = func(ctx context.Context, c *serve.Conn) {
			io.WriteString(c, "220 ready\r\n")
			r := bufio.NewReader(c)
			if line, err := r.ReadString('\n'); err != nil || line != "STARTTLS\r\n" {
				t.Errorf("got %q, %v; want STARTTLS", line, err)
				return
			}
			io.WriteString(c, "220 go ahead\r\n")
			tc := tls.Server(c.NetConn(), &tls.Config{Certificates: []tls.Certificate{cert}})
			if err := tc.HandshakeContext(ctx); err != nil {
				t.Errorf("handshake: %v", err)
				return
			}
			c.SetNetConn(tc)
			r = bufio.NewReader(c)
			for {
				c.SetReadDeadline(time.Now().Add(5 * time.Minute))
				if !c.Idle() {
					io.WriteString(c, "421 shutting down\r\n")
					return
				}
				line, err := r.ReadString('\n')
				if err != nil {
					if c.ShuttingDown() {
						io.WriteString(c, "421 shutting down\r\n")
					}
					return
				}
				c.Busy()
				io.WriteString(c, "250 "+line)
			}
		}
		l := newFakeListener()
		served := startServe(s, l)
		c := l.dial(t, "192.0.2.1:1")
		c.expect("220 ready")
		c.send("STARTTLS")
		c.expect("220 go ahead")
		tc := newClient(t, tls.Client(c.Conn, &tls.Config{InsecureSkipVerify: true, ServerName: "mx.example"}))
		tc.send("NOOP")
		tc.expect("250 NOOP")
		synctest.Wait()

		start := time.Now()
		done := startShutdown(context.Background(), s)
		tc.expect("421 shutting down")
		tc.expectEOF()
		synctest.Wait()
		expectErr(t, done, nil)
		expectErr(t, served, serve.ErrServerClosed)
		if d := time.Since(start); d != 0 {
			t.Errorf("Shutdown took %v", d)
		}
	})
}
