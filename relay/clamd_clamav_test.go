package relay_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/postyard/postyard/internal/interop"
	"github.com/postyard/postyard/relay"
)

const testEICAR = `X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*`

// startClamd starts ClamAV's clamd on loopback (TCP) and on a Unix socket,
// with StreamMaxLength 1 MiB and the signature databases in dbDir, and
// returns both addresses.
func startClamd(t *testing.T, dbDir string) (tcp, unix string) {
	t.Helper()
	bin := interop.Require(t, "clamd", "apt-get install clamav-daemon")
	dir := t.TempDir()
	port := toolPort(t)
	unix = filepath.Join(dir, "clamd.sock")
	conf := fmt.Sprintf("Foreground yes\nLogFile %s\nLogVerbose yes\nPidFile %s\nDatabaseDirectory %s\nLocalSocket %s\nTCPSocket %s\nTCPAddr 127.0.0.1\nStreamMaxLength 1M\n",
		filepath.Join(dir, "clamd.log"), filepath.Join(dir, "clamd.pid"), dbDir, unix, port)
	if err := os.WriteFile(filepath.Join(dir, "clamd.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := startDaemon(t, filepath.Join(dir, "clamd.log"), bin, "-c", filepath.Join(dir, "clamd.conf"))
	tcp = "127.0.0.1:" + port
	waitTCP(t, cmd, tcp, 3*time.Minute) // the official databases take a while to load
	return tcp, unix
}

// TestClamdClamAV scans mail with a real clamd from an SMTP client to the
// mailbox. Its database is made here: one signature for the EICAR test
// string (no network is needed, as freshclam would); a test with the
// official databases runs where they are installed.
func TestClamdClamAV(t *testing.T) {
	start := time.Now()
	db := t.TempDir()
	sig := "Postyard.Test.EICAR:0:*:" + hex.EncodeToString([]byte(testEICAR)) + "\n"
	if err := os.WriteFile(filepath.Join(db, "postyard.ndb"), []byte(sig), 0o644); err != nil {
		t.Fatal(err)
	}
	tcp, unix := startClamd(t, db)
	t.Logf("clamd started in %v", time.Since(start).Round(time.Millisecond))

	f := newFixture(t, withFilters(&relay.Clamd{Network: "unix", Address: unix, Scanned: "ClamAV at mx.example.com", MaxSize: -1, Logger: slog.New(slog.DiscardHandler)}))
	head := "From: s@remote.example\r\nTo: alice@example.com\r\nSubject: file\r\n\r\n"
	if _, data := f.send(t, "127.0.0.1", "s@remote.example", []string{"alice@example.com"}, head+"Here it is:\r\n"+testEICAR); data != "554 5.7.1 Virus found: Postyard.Test.EICAR.UNOFFICIAL" {
		t.Fatalf("EICAR: %q", data)
	}
	if _, data := f.send(t, "127.0.0.1", "s@remote.example", []string{"alice@example.com"}, head+"Nothing in here."); !strings.HasPrefix(data, "250") {
		t.Fatalf("clean message: %q", data)
	}
	// Larger than StreamMaxLength: clamd refuses it; it is let through
	// unscanned (TooBig's default).
	big := head + strings.Repeat("A line of text to make the message large.\r\n", 50000)
	if _, data := f.send(t, "127.0.0.1", "s@remote.example", []string{"alice@example.com"}, big); !strings.HasPrefix(data, "250") {
		t.Fatalf("2 MiB message: %q", data)
	}
	in := f.inbox(t, "alice")
	if len(in) != 2 || !strings.HasPrefix(in[0], "Return-Path: <s@remote.example>\r\nX-Virus-Scanned: ClamAV at mx.example.com\r\nReceived: ") ||
		strings.Contains(in[1], "X-Virus-Scanned") || len(in[1]) < 2<<20 {
		t.Fatalf("INBOX: %d messages; first %.200q", len(in), in)
	}

	// Over TCP, quarantining.
	g := newFixture(t, withFilters(&relay.Clamd{Network: "tcp", Address: tcp, VirusAction: relay.ActionQuarantine}))
	u, _ := g.store.User(context.Background(), "alice")
	if err := u.Create(context.Background(), "Junk", nil); err != nil {
		t.Fatal(err)
	}
	if _, data := g.send(t, "127.0.0.1", "s@remote.example", []string{"alice@example.com"}, head+testEICAR); !strings.HasPrefix(data, "250") {
		t.Fatalf("EICAR, quarantined: %q", data)
	}
	if junk := g.folder(t, "alice", "Junk"); len(junk) != 1 || !strings.Contains(junk[0], testEICAR) {
		t.Fatalf("Junk: %q", junk)
	}
	t.Logf("total %v", time.Since(start).Round(time.Millisecond))

	t.Run("official database", func(t *testing.T) {
		var found []string
		for _, p := range []string{"main.cvd", "main.cld", "daily.cvd", "daily.cld"} {
			if _, err := os.Stat(filepath.Join("/var/lib/clamav", p)); err == nil {
				found = append(found, p)
			}
		}
		if len(found) < 2 {
			t.Skip("no ClamAV signature database in /var/lib/clamav: freshclam needs the network; the test database above covers the protocol")
		}
		tcp, _ := startClamd(t, "/var/lib/clamav")
		h := newFixture(t, withFilters(&relay.Clamd{Network: "tcp", Address: tcp}))
		_, data := h.send(t, "127.0.0.1", "s@remote.example", []string{"alice@example.com"}, head+testEICAR)
		if !strings.HasPrefix(data, "554 5.7.1 Virus found: ") || !strings.Contains(strings.ToLower(data), "testEICAR") {
			t.Fatalf("EICAR with the official database: %q", data)
		}
	})
}
