package certs_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"log"
	"log/slog"
	"os"
	"path/filepath"

	"golang.org/x/crypto/acme/autocert"

	"github.com/postyard/postyard/certs"
	"github.com/postyard/postyard/internal/selfsigned"
	"github.com/postyard/postyard/smtp"
)

// Certificates from files that a tool such as certbot renews: the servers
// pick up the new pair on their next handshake.
func ExampleNewReloader() {
	dir, err := os.MkdirTemp("", "certs")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	certFile, keyFile := filepath.Join(dir, "fullchain.pem"), filepath.Join(dir, "privkey.pem")
	if err := writeSelfSigned(certFile, keyFile, "mail.example.org"); err != nil {
		log.Fatal(err)
	}

	r, err := certs.NewReloader(certFile, keyFile, &certs.ReloaderOptions{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		log.Fatal(err) // no usable certificate: do not start
	}
	tlsConf := certs.ServerConfig(r.GetCertificate)
	srv := &smtp.Server{Hostname: "mail.example.org", TLSConfig: tlsConf /* Backend: ... */}
	_ = srv // srv.ListenAndServe(":25"); on SIGHUP: r.Reload()

	fmt.Println(r.Certificate().Leaf.DNSNames)
	// Output: [mail.example.org]
}

// ACME: certificates from Let's Encrypt (RFC 8555), obtained on the first
// handshake for a name and renewed before they expire. Nothing is fetched
// until a client connects.
func Example_autocert() {
	m := &autocert.Manager{
		Prompt:     autocert.AcceptTOS,
		HostPolicy: autocert.HostWhitelist("mail.example.org"),
		Cache:      autocert.DirCache("/var/lib/mailserver/acme"),
		Email:      "postmaster@example.org",
	}
	// The http-01 challenge needs port 80 (a mail server has no HTTPS
	// port): go http.ListenAndServe(":80", m.HTTPHandler(nil))
	tlsConf := certs.ServerConfig(m.GetCertificate)
	srv := &smtp.Server{Hostname: "mail.example.org", TLSConfig: tlsConf /* Backend: ... */}
	_ = srv

	fmt.Println(tlsConf.MinVersion == tls.VersionTLS12)
	// Output: true
}

// writeSelfSigned writes a throwaway certificate and key for host.
func writeSelfSigned(certFile, keyFile, host string) error {
	conf, _, err := selfsigned.Config(host)
	if err != nil {
		return err
	}
	c := conf.Certificates[0]
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]}), 0o644); err != nil {
		return err
	}
	der, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		return err
	}
	return os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
}
