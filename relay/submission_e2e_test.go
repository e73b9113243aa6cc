package relay_test

import (
	"net"
	"strings"
	"testing"

	"github.com/postyard/postyard/auth"
	"github.com/postyard/postyard/internal/interop"
	"github.com/postyard/postyard/internal/selfsigned"
	"github.com/postyard/postyard/mailbox/memstore"
	"github.com/postyard/postyard/queue"
	"github.com/postyard/postyard/relay"
	"github.com/postyard/postyard/smtp"
)

// TestSubmissionToSink: swaks submits on our submission server with
// STARTTLS and AUTH to a remote domain; the Deliverer takes it from the
// queue through MX to Postfix's smtp-sink.
func TestSubmissionToSink(t *testing.T) {
	swaks := interop.Require(t, "swaks", "apt-get install swaks")
	sink := runSink(t, true)
	r := newRig(t, dlZone(), sink.port)
	r.start(t)
	store := memstore.New(nil)
	defer store.Close()
	users := &auth.Users{}
	if err := users.Add("alice", "secret"); err != nil {
		t.Fatal(err)
	}
	tlsConf, _, err := selfsigned.Config("submit.example.com")
	if err != nil {
		t.Fatal(err)
	}
	srv := &smtp.Server{
		Hostname: "submit.example.com", TLSConfig: tlsConf, Authenticator: users, RequireAuth: true, Logger: testLogger(),
		Backend: &relay.Submission{Inbound: relay.Inbound{Policy: testPolicy(), Deliverer: store, Queue: r.q, Logger: testLogger()}},
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	defer srv.Close()

	interop.Run(t, nil, nil, swaks, "--server", l.Addr().String(), "-tls", "--auth", "PLAIN",
		"--auth-user", "alice", "--auth-password", "secret", "--from", "alice@example.com", "--to", "friend@example.test",
		"--header", "Subject: via submission", "--body", "to the sink")
	r.ev.wait(t, "delivered", func(l []queue.Event) bool { return countEvents(l, queue.EventRemoved) == 1 })
	msgs := sink.messages(t)
	if len(msgs) != 1 || msgs[0].mail != "<alice@example.com>" || len(msgs[0].rcpts) != 1 || msgs[0].rcpts[0] != "<friend@example.test>" {
		t.Fatalf("sink got %+v", msgs)
	}
	body := string(msgs[0].body)
	for _, want := range []string{"Subject: via submission", "to the sink", "Message-Id:", "with ESMTPSA"} {
		if !strings.Contains(body, want) {
			t.Errorf("message at the sink lacks %q:\n%s", want, body)
		}
	}
}
