package certs_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/postyard/postyard/certs"
)

// pair is a certificate and its key in PEM.
type pair struct {
	cert, key []byte
	der       []byte
}

// newPair makes a self-signed ECDSA certificate for name.
func newPair(t testing.TB, name string) pair {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: name},
		DNSNames:              []string{name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pair{
		cert: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		key:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}),
		der:  der,
	}
}

// files is a certificate and key file pair in a test directory.
type files struct {
	cert, key string
	n         int // versions written, for distinct modification times
}

func newFiles(t testing.TB) *files {
	dir := t.TempDir()
	return &files{cert: filepath.Join(dir, "cert.pem"), key: filepath.Join(dir, "key.pem")}
}

// write writes cert and key and gives both a modification time of their
// own, so that the change shows even on a file system with coarse times.
func (f *files) write(t testing.TB, cert, key []byte) {
	t.Helper()
	f.n++
	mod := time.Date(2020, 1, 1, 0, 0, f.n, 0, time.UTC)
	for _, w := range []struct {
		name string
		data []byte
	}{{f.cert, cert}, {f.key, key}} {
		if err := os.WriteFile(w.name, w.data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(w.name, mod, mod); err != nil {
			t.Fatal(err)
		}
	}
}

func name(c *tls.Certificate) string { return c.Leaf.Subject.CommonName }

func get(t testing.TB, r *certs.Reloader) string {
	t.Helper()
	c, err := r.GetCertificate(&tls.ClientHelloInfo{ServerName: "mail.example"})
	if err != nil || c == nil {
		t.Fatalf("GetCertificate: %v, %v", c, err)
	}
	return name(c)
}

// logBuffer collects log output safely across goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestReloaderPicksUpNewFiles: a rewritten pair is served after the check
// interval, not before; a bad pair (garbage, a key of another certificate,
// a missing file) keeps the previous certificate and is logged; the next
// good pair is taken.
func TestReloaderPicksUpNewFiles(t *testing.T) {
	a, b, c := newPair(t, "a.example"), newPair(t, "b.example"), newPair(t, "c.example")
	synctest.Test(t, func(t *testing.T) {
		f := newFiles(t)
		f.write(t, a.cert, a.key)
		var logs logBuffer
		r, err := certs.NewReloader(f.cert, f.key, &certs.ReloaderOptions{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		if err != nil {
			t.Fatal(err)
		}
		if got := get(t, r); got != "a.example" {
			t.Fatalf("first certificate %q", got)
		}

		f.write(t, b.cert, b.key)
		time.Sleep(500 * time.Millisecond)
		if got := get(t, r); got != "a.example" {
			t.Fatalf("files looked at before the interval: %q", got)
		}
		time.Sleep(500 * time.Millisecond)
		if got := get(t, r); got != "b.example" {
			t.Fatalf("after rewrite: %q, want b.example", got)
		}

		// Garbage.
		f.write(t, []byte("-----BEGIN CERTIFICATE-----\nnot base64\n"), b.key)
		time.Sleep(time.Second)
		if got := get(t, r); got != "b.example" {
			t.Fatalf("bad file replaced the certificate: %q", got)
		}
		if !strings.Contains(logs.String(), "keeping the previous certificate") {
			t.Fatalf("bad file not logged:\n%s", logs.String())
		}
		// The same bad files are not tried (nor logged) every second.
		n := strings.Count(logs.String(), "level=ERROR")
		time.Sleep(3 * time.Second)
		get(t, r)
		if m := strings.Count(logs.String(), "level=ERROR"); m != n {
			t.Errorf("unchanged bad files logged %d more times", m-n)
		}

		// A certificate with the key of another (half of a renewal).
		f.write(t, c.cert, b.key)
		time.Sleep(time.Second)
		if got := get(t, r); got != "b.example" {
			t.Fatalf("mismatched pair served: %q", got)
		}
		// The other half arrives.
		f.write(t, c.cert, c.key)
		time.Sleep(time.Second)
		if got := get(t, r); got != "c.example" {
			t.Fatalf("after the renewal completed: %q", got)
		}

		// A missing file (between unlink and rename) changes nothing.
		os.Remove(f.key)
		time.Sleep(time.Second)
		if got := get(t, r); got != "c.example" {
			t.Fatalf("missing key: %q", got)
		}
		if err := r.Reload(); err == nil {
			t.Fatal("Reload with a missing key file succeeded")
		}
		if got := name(r.Certificate()); got != "c.example" {
			t.Fatalf("after failed Reload: %q", got)
		}
	})
}

// TestReloaderExplicitReload: with handshake checks off, only Reload reads
// the files, changed or not.
func TestReloaderExplicitReload(t *testing.T) {
	a, b := newPair(t, "a.example"), newPair(t, "b.example")
	synctest.Test(t, func(t *testing.T) {
		f := newFiles(t)
		f.write(t, a.cert, a.key)
		r, err := certs.NewReloader(f.cert, f.key, &certs.ReloaderOptions{CheckInterval: -1, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		f.write(t, b.cert, b.key)
		time.Sleep(time.Hour)
		if got := get(t, r); got != "a.example" {
			t.Fatalf("files read without Reload: %q", got)
		}
		if err := r.Reload(); err != nil {
			t.Fatal(err)
		}
		if got := get(t, r); got != "b.example" {
			t.Fatalf("after Reload: %q", got)
		}
		// Reload reads even when the modification times are those of the
		// files it last read.
		f.n--
		f.write(t, a.cert, a.key)
		if err := r.Reload(); err != nil {
			t.Fatal(err)
		}
		if got := get(t, r); got != "a.example" {
			t.Fatalf("after second Reload: %q", got)
		}
	})
}

func TestNewReloaderErrors(t *testing.T) {
	a, b := newPair(t, "a.example"), newPair(t, "b.example")
	f := newFiles(t)
	if _, err := certs.NewReloader(f.cert, f.key, nil); err == nil {
		t.Error("missing files accepted")
	}
	f.write(t, a.cert, b.key)
	if _, err := certs.NewReloader(f.cert, f.key, nil); err == nil {
		t.Error("mismatched key accepted")
	}
}

// TestReloaderConcurrent: handshakes racing with rewrites always get a
// whole certificate (run with -race).
func TestReloaderConcurrent(t *testing.T) {
	ps := []pair{newPair(t, "a.example"), newPair(t, "b.example")}
	synctest.Test(t, func(t *testing.T) {
		f := newFiles(t)
		f.write(t, ps[0].cert, ps[0].key)
		r, err := certs.NewReloader(f.cert, f.key, &certs.ReloaderOptions{CheckInterval: time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for range 200 {
					if n := get(t, r); n != "a.example" && n != "b.example" {
						t.Errorf("got %q", n)
					}
					time.Sleep(100 * time.Microsecond)
				}
			})
		}
		for i := range 10 {
			p := ps[(i+1)%2]
			f.write(t, p.cert, p.key)
			time.Sleep(2 * time.Millisecond)
		}
		wg.Wait()
	})
}

// TestServerConfig: a handshake through ServerConfig gets the Reloader's
// certificate; TLS 1.1 is refused.
func TestServerConfig(t *testing.T) {
	p := newPair(t, "mail.example")
	f := newFiles(t)
	f.write(t, p.cert, p.key)
	r, err := certs.NewReloader(f.cert, f.key, &certs.ReloaderOptions{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	conf := certs.ServerConfig(r.GetCertificate)
	if conf.MinVersion != tls.VersionTLS12 {
		t.Errorf("MinVersion %x", conf.MinVersion)
	}
	leaf, _ := x509.ParseCertificate(p.der)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)

	handshake := func(max uint16) (tls.ConnectionState, error) {
		cc, sc := net.Pipe()
		defer cc.Close()
		defer sc.Close()
		go tls.Server(sc, conf).Handshake()
		c := tls.Client(cc, &tls.Config{RootCAs: pool, ServerName: "mail.example", MaxVersion: max})
		err := c.Handshake()
		return c.ConnectionState(), err
	}
	st, err := handshake(0)
	if err != nil {
		t.Fatal(err)
	}
	if st.PeerCertificates[0].Subject.CommonName != "mail.example" {
		t.Errorf("served %v", st.PeerCertificates[0].Subject)
	}
	if _, err := handshake(tls.VersionTLS11); err == nil {
		t.Error("TLS 1.1 accepted")
	}
}
