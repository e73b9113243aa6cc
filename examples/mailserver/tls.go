package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"

	"github.com/postyard/postyard/certs"
	"github.com/postyard/postyard/internal/atomicfile"
	"github.com/postyard/postyard/internal/selfsigned"
)

// setupTLS returns the servers' TLS config and the Reloader behind it:
// the configured certificate files, or a self-signed pair kept in
// dataDir/tls, made on the first start for the host name and the listen
// addresses (delete the files to get a new one).
func setupTLS(c *config, dataDir string, log *slog.Logger) (*tls.Config, *certs.Reloader, error) {
	certFile, keyFile := c.TLS.CertFile, c.TLS.KeyFile
	if certFile == "" {
		dir := filepath.Join(dataDir, "tls")
		certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
		_, errC := os.Stat(certFile)
		_, errK := os.Stat(keyFile)
		if errors.Is(errC, os.ErrNotExist) || errors.Is(errK, os.ErrNotExist) {
			hosts := []string{c.Hostname}
			seen := map[string]bool{c.Hostname: true}
			for _, s := range c.Listen.services() {
				h, _, _ := net.SplitHostPort(*s.addr)
				if ip := net.ParseIP(h); h == "" || seen[h] || ip != nil && ip.IsUnspecified() {
					continue
				}
				seen[h] = true
				hosts = append(hosts, h)
			}
			if err := writeSelfSigned(certFile, keyFile, hosts); err != nil {
				return nil, nil, fmt.Errorf("self-signed certificate: %w", err)
			}
			log.Info("made a self-signed certificate", "cert", certFile, "hosts", hosts)
		}
	}
	r, err := certs.NewReloader(certFile, keyFile, &certs.ReloaderOptions{Logger: log})
	if err != nil {
		return nil, nil, err
	}
	return certs.ServerConfig(r.GetCertificate), r, nil
}

// writeSelfSigned writes a new self-signed certificate for hosts and its
// key as PEM files.
func writeSelfSigned(certFile, keyFile string, hosts []string) error {
	conf, _, err := selfsigned.Config(hosts...)
	if err != nil {
		return err
	}
	c := conf.Certificates[0]
	der, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return err
	}
	return atomicfile.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]}), 0o644)
}
