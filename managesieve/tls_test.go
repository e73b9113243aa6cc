package managesieve_test

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/postyard/postyard/auth"
	"github.com/postyard/postyard/internal/selfsigned"
	"github.com/postyard/postyard/managesieve"
)

func newTLS(t *testing.T) (*tls.Config, *x509.CertPool) {
	t.Helper()
	conf, pool, err := selfsigned.Config("sieve.example")
	if err != nil {
		t.Fatal(err)
	}
	return conf, pool
}

// lineClient is a synchronous client over net.Pipe: it writes, then
// reads whole responses. It can switch to TLS, which the transcript
// harness cannot.
type lineClient struct {
	t    *testing.T
	c    net.Conn
	r    *bufio.Reader
	done chan error
}

func dialLines(t *testing.T, srv *managesieve.Server) *lineClient {
	cc, sc := net.Pipe()
	cc.SetDeadline(time.Now().Add(30 * time.Second))
	l := &lineClient{t: t, c: cc, r: bufio.NewReader(cc), done: make(chan error, 1)}
	go func() { l.done <- srv.ServeConn(context.Background(), sc) }()
	t.Cleanup(func() { l.c.Close(); <-l.done })
	return l
}

func (l *lineClient) send(s string) {
	l.t.Helper()
	// net.Pipe is synchronous: write in the background so that a server
	// that does not read everything cannot block the test.
	go l.c.Write([]byte(s))
}

// response reads lines up to and including the next OK, NO or BYE line,
// and returns them joined with "\n".
func (l *lineClient) response() string {
	l.t.Helper()
	var lines []string
	for {
		line, err := l.r.ReadString('\n')
		if err != nil {
			l.t.Fatalf("reading response: %v (after %q)", err, lines)
		}
		line = strings.TrimSuffix(line, "\r\n")
		lines = append(lines, line)
		if strings.HasPrefix(line, "OK") || strings.HasPrefix(line, "NO") || strings.HasPrefix(line, "BYE") {
			return strings.Join(lines, "\n")
		}
	}
}

func (l *lineClient) cmd(line, want string) string {
	l.t.Helper()
	l.send(line + "\r\n")
	got := l.response()
	if !strings.Contains(got, want) {
		l.t.Fatalf("%s: got\n%s\nwant it to contain %q", line, got, want)
	}
	return got
}

func (l *lineClient) startTLS(pool *x509.CertPool) {
	l.t.Helper()
	tc := tls.Client(l.c, &tls.Config{RootCAs: pool, ServerName: "sieve.example"})
	if err := tc.Handshake(); err != nil {
		l.t.Fatalf("handshake: %v", err)
	}
	l.c, l.r = tc, bufio.NewReader(tc)
}

func TestStartTLS(t *testing.T) {
	conf, pool := newTLS(t)
	srv := newServer(nil, func(s *managesieve.Server) {
		s.TLSConfig = conf
		s.AllowInsecureAuth = false
	})
	l := dialLines(t, srv)
	g := l.response()
	if !strings.Contains(g, "\"SASL\" \"\"\n") || !strings.Contains(g, "\"STARTTLS\"\n") {
		t.Fatalf("greeting:\n%s", g)
	}
	l.cmd(`AUTHENTICATE "PLAIN" "`+plain("alice", "secret")+`"`, `NO (ENCRYPT-NEEDED)`)
	l.cmd("STARTTLS", `OK "Begin TLS negotiation now"`)
	l.startTLS(pool)
	caps := l.response()
	want := `"IMPLEMENTATION" "postyard"
"SASL" "PLAIN LOGIN"
"SIEVE" "fileinto vacation include"
"MAXREDIRECTS" "4"
"UNAUTHENTICATE"
"VERSION" "1.0"
OK "TLS negotiation successful"`
	if caps != want {
		t.Fatalf("capabilities after STARTTLS:\n%s\nwant\n%s", caps, want)
	}
	l.cmd("STARTTLS", `NO "TLS already active"`)
	l.cmd(`AUTHENTICATE "PLAIN" "`+plain("alice", "secret")+`"`, `OK "Authenticated"`)
	l.cmd(`PUTSCRIPT "a" "keep;"`, `OK`)
	l.cmd("UNAUTHENTICATE", "OK")
	caps = l.cmd("CAPABILITY", "OK")
	if strings.Contains(caps, "STARTTLS") || strings.Contains(caps, "OWNER") {
		t.Fatalf("capabilities after UNAUTHENTICATE:\n%s", caps)
	}
}

// TestStartTLSInjection: commands sent in the clear after STARTTLS, in
// the same packet, are discarded, not run inside the TLS session.
func TestStartTLSInjection(t *testing.T) {
	for _, injected := range []string{
		`AUTHENTICATE "PLAIN" "` + plain("alice", "secret") + "\"\r\n",
		"LOGOUT\r\n",
		`PUTSCRIPT "a" {5+}` + "\r\nkeep;\r\n",
	} {
		conf, pool := newTLS(t)
		st := &managesieve.MemStore{}
		srv := newServer(st, func(s *managesieve.Server) { s.TLSConfig = conf })
		l := dialLines(t, srv)
		l.response()
		l.send("STARTTLS\r\n" + injected)
		if got := l.response(); got != `OK "Begin TLS negotiation now"` {
			t.Fatalf("STARTTLS: %q", got)
		}
		l.startTLS(pool)
		l.response() // capabilities
		caps := l.cmd("CAPABILITY", "OK")
		if strings.Contains(caps, "OWNER") {
			t.Fatalf("%q: authenticated by the injected command:\n%s", injected, caps)
		}
		l.cmd("LISTSCRIPTS", `NO "Authenticate first"`)
	}
}

func TestImplicitTLS(t *testing.T) {
	conf, pool := newTLS(t)
	srv := newServer(nil, func(s *managesieve.Server) {
		s.TLSConfig = conf
		s.AllowInsecureAuth = false
	})
	ln := listen(t)
	go srv.ServeListener(ln, managesieve.ListenerOptions{ImplicitTLS: true})
	defer srv.Close()
	c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "sieve.example"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	var greeting []string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		greeting = append(greeting, line)
		if strings.HasPrefix(line, "OK") {
			break
		}
	}
	g := strings.Join(greeting, "")
	if !strings.Contains(g, `"SASL" "PLAIN LOGIN"`) || strings.Contains(g, "STARTTLS") {
		t.Fatalf("greeting over TLS:\n%s", g)
	}
}

// scramUsers is a SCRAMAuthenticator for alice, with password "secret".
type scramUsers struct {
	creds auth.SCRAMCredentials
}

func (u *scramUsers) Authenticate(ctx context.Context, identity, username, password string) (string, error) {
	return passwords.Authenticate(ctx, identity, username, password)
}

func (u *scramUsers) SCRAMCredentials(ctx context.Context, username string) (auth.SCRAMCredentials, error) {
	if username != "alice" {
		return auth.SCRAMCredentials{}, auth.ErrInvalidCredentials
	}
	return u.creds, nil
}

// TestSCRAM: a SCRAM-SHA-256 exchange, whose server-final message comes in
// OK (SASL ...), and is the one the client expects.
func TestSCRAM(t *testing.T) {
	salt := []byte("0123456789abcdef")
	creds, err := auth.NewSCRAMCredentials("secret", salt, 4096)
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer(nil, func(s *managesieve.Server) { s.Authenticator = &scramUsers{creds} })
	l := dialLines(t, srv)
	if g := l.response(); !strings.Contains(g, `"SASL" "PLAIN LOGIN SCRAM-SHA-256"`) {
		t.Fatalf("greeting:\n%s", g)
	}
	b64 := base64.StdEncoding
	bare := "n=alice,r=clientnonce"
	l.send(`AUTHENTICATE "SCRAM-SHA-256" "` + b64.EncodeToString([]byte("n,,"+bare)) + "\"\r\n")
	line, err := l.r.ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	sf, err := b64.DecodeString(strings.Trim(strings.TrimSpace(line), `"`))
	if err != nil {
		t.Fatalf("server-first %q: %v", line, err)
	}
	serverFirst := string(sf)
	nonce, _, _ := strings.Cut(strings.TrimPrefix(serverFirst, "r="), ",")
	if !strings.HasPrefix(nonce, "clientnonce") || !strings.Contains(serverFirst, ",s="+b64.EncodeToString(salt)+",i=4096") {
		t.Fatalf("server-first %q", serverFirst)
	}
	salted, err := pbkdf2.Key(sha256.New, "secret", salt, 4096, 32)
	if err != nil {
		t.Fatal(err)
	}
	mac := func(key []byte, msg string) []byte {
		h := hmac.New(sha256.New, key)
		h.Write([]byte(msg))
		return h.Sum(nil)
	}
	clientKey := mac(salted, "Client Key")
	storedKey := sha256.Sum256(clientKey)
	withoutProof := "c=biws,r=" + nonce
	authMessage := bare + "," + serverFirst + "," + withoutProof
	proof := mac(storedKey[:], authMessage)
	for i := range proof {
		proof[i] ^= clientKey[i]
	}
	serverSig := mac(mac(salted, "Server Key"), authMessage)
	final := withoutProof + ",p=" + b64.EncodeToString(proof)
	want := `OK (SASL "` + b64.EncodeToString([]byte("v="+b64.EncodeToString(serverSig))) + `") "Authenticated"`
	if got := l.cmd(`"`+b64.EncodeToString([]byte(final))+`"`, "OK"); got != want {
		t.Fatalf("final response %q, want %q", got, want)
	}
	l.cmd("CAPABILITY", `"OWNER" "alice"`)
}
