package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/postyard/postyard/mailbox"
	"github.com/postyard/postyard/mailbox/maildir"
	"github.com/postyard/postyard/smtp"
)

// inbox returns the raw messages in user's INBOX under dataDir (the server
// must be stopped).
func inbox(t *testing.T, dataDir, user string) [][]byte {
	t.Helper()
	store, err := maildir.Open(filepath.Join(dataDir, "mail"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	ctx := context.Background()
	u, err := store.User(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	mb, err := u.Open(ctx, "INBOX", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer mb.Close()
	var msgs [][]byte
	for m, err := range mb.Messages(ctx, mailbox.AllUIDs(), nil) {
		if err != nil {
			t.Fatal(err)
		}
		c, err := mb.Open(ctx, m.UID)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(c)
		c.Close()
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, b)
	}
	return msgs
}

func shutdown(t *testing.T, ms *mailServer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ms.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestDKIM: a configured key that does not exist is generated in the data
// directory and kept across restarts; submitted mail is signed with it.
func TestDKIM(t *testing.T) {
	c := testConfig(t)
	c.DKIM = []dkimConfig{{Domain: "localhost", Selector: "s1", Algorithm: "ed25519"}}
	ms := startTest(t, c)
	msg := "From: <demo@localhost>\r\nTo: <demo@localhost>\r\nSubject: signed\r\n\r\nSigned body.\r\n"
	if _, err := submit(t, ms.addrs["submission"], ms.user, ms.password, ms.user, []string{ms.user}, msg); err != nil {
		t.Fatal(err)
	}
	shutdown(t, ms)
	keyFile := filepath.Join(c.DataDir, "dkim", "s1.localhost.key")
	key, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	msgs := inbox(t, c.DataDir, ms.user)
	if len(msgs) != 1 || !bytes.Contains(msgs[0], []byte("DKIM-Signature:")) || !bytes.Contains(msgs[0], []byte("s=s1")) ||
		!bytes.Contains(msgs[0], []byte("a=ed25519-sha256")) {
		t.Fatalf("stored:\n%s", bytes.Join(msgs, []byte("\n---\n")))
	}

	startTest(t, c)
	if again, _ := os.ReadFile(keyFile); !bytes.Equal(again, key) {
		t.Error("DKIM key replaced on restart")
	}
}

// TestTrustedNetworks: a client in a trusted network relays without AUTH
// on port 25; others may not.
func TestTrustedNetworks(t *testing.T) {
	for _, trusted := range []bool{false, true} {
		c := testConfig(t)
		c.Smarthost = smarthostConfig{Host: "127.0.0.1", Port: 1, TLS: "none"} // mail stays queued
		if trusted {
			c.TrustedNetworks = []string{"127.0.0.0/8"}
		}
		ms := startTest(t, c)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		cl, err := smtp.Dial(ctx, "tcp", ms.addrs["smtp"], nil)
		if err != nil {
			t.Fatal(err)
		}
		res, err := cl.SendMail(ctx, path("app@example.org"), nil, []smtp.Rcpt{{To: path("far@example.net")}},
			strings.NewReader("Subject: relay\r\n\r\nx\r\n"))
		cl.Close()
		cancel()
		if err == nil {
			err = res.Err(0) // the RCPT's reply
		}
		var se *smtp.Error
		if trusted && err != nil || !trusted && (!errors.As(err, &se) || se.Code != 554) {
			t.Errorf("trusted %v: %v", trusted, err)
		}
	}
}

// TestTLSFiles: configured certificate files are served, and served anew
// after they are replaced and the server reloads (SIGHUP).
func TestTLSFiles(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := writeSelfSigned(certFile, keyFile, []string{"first.example"}); err != nil {
		t.Fatal(err)
	}
	c := testConfig(t)
	c.TLS = tlsConfig{CertFile: certFile, KeyFile: keyFile}
	ms := startTest(t, c)
	served := func() string {
		conn, err := tls.Dial("tcp", ms.addrs["imaps"], &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].DNSNames[0]
	}
	if got := served(); got != "first.example" {
		t.Fatalf("served %q", got)
	}
	if err := writeSelfSigned(certFile, keyFile, []string{"second.example"}); err != nil {
		t.Fatal(err)
	}
	ms.reload()
	if got := served(); got != "second.example" {
		t.Fatalf("after reload: %q", got)
	}
	if _, err := os.Stat(filepath.Join(c.DataDir, "tls")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("self-signed certificate made although files are configured: %v", err)
	}
}
