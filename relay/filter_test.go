package relay_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/postyard/postyard/relay"
	"github.com/postyard/postyard/smtp"
)

func withFilters(fs ...relay.Filter) func(*relay.Inbound) {
	return func(in *relay.Inbound) { in.Filters = fs }
}

func TestFilterStages(t *testing.T) {
	reject := relay.Verdict{Action: relay.ActionReject, Reply: &smtp.Error{Code: 554, EnhancedCode: "5.7.1", Message: "blocked"}}
	var sawRcpts []string
	var mu sync.Mutex
	f := newFixture(t, withFilters(&relay.FilterFuncs{
		Mail: func(ctx context.Context, tx *relay.Transaction) (relay.Verdict, error) {
			if tx.From.Domain == "spammer.example" {
				return reject, nil
			}
			return relay.Verdict{}, nil
		},
		Rcpt: func(ctx context.Context, tx *relay.Transaction, to smtp.Path) (relay.Verdict, error) {
			if to.Local == "bob" {
				return relay.Verdict{Action: relay.ActionTempfail}, nil
			}
			return relay.Verdict{}, nil
		},
		Data: func(ctx context.Context, tx *relay.Transaction, m *relay.Message) (relay.Verdict, error) {
			mu.Lock()
			sawRcpts = nil
			for _, r := range tx.Rcpts {
				sawRcpts = append(sawRcpts, r.String())
			}
			mu.Unlock()
			b, _ := io.ReadAll(m.Open())
			if int64(len(b)) != m.Size() || !strings.HasPrefix(string(b), string(m.Header())) {
				t.Errorf("message view: size %d, read %d", m.Size(), len(b))
			}
			if strings.Contains(string(b), "MALWARE") {
				return relay.Verdict{Action: relay.ActionReject}, nil
			}
			if strings.Contains(string(b), "later") {
				return relay.Verdict{Action: relay.ActionTempfail, Reply: &smtp.Error{Code: 550, Message: "wrong class"}}, nil
			}
			return relay.Verdict{Headers: []relay.Field{{Name: "X-Checked", Value: "yes;\n\tfolded"}, {Name: "Bad Name", Value: "x"}, {Name: "X-Inject", Value: "a\r\nBcc: evil"}}}, nil
		},
	}))

	if _, err := smtpSendErr(f, "x@spammer.example"); !strings.HasPrefix(err, "554 5.7.1 blocked") {
		t.Fatalf("MAIL from a blocked domain: %q", err)
	}
	rcpt, data := f.send(t, "127.0.0.1", "s@remote.example", []string{"alice@example.com", "bob@example.com"}, "Subject: ok\r\n\r\nhello")
	if !strings.HasPrefix(rcpt[1], "451 4.7.1") || !strings.HasPrefix(data, "250") {
		t.Fatalf("RCPT %q DATA %q", rcpt, data)
	}
	mu.Lock()
	if strings.Join(sawRcpts, ",") != "alice@example.com" {
		t.Errorf("Data saw recipients %v", sawRcpts)
	}
	mu.Unlock()
	msgs := f.inbox(t, "alice")
	if len(msgs) != 1 || !strings.HasPrefix(msgs[0], "Return-Path: <s@remote.example>\r\nX-Checked: yes;\r\n\tfolded\r\nReceived: ") {
		t.Fatalf("delivered: %q", msgs)
	}
	if strings.Contains(msgs[0], "Bcc: evil") || strings.Contains(msgs[0], "Bad Name") {
		t.Fatalf("invalid filter fields were added: %q", msgs[0])
	}
	if _, data := f.send(t, "127.0.0.1", "s@remote.example", []string{"alice@example.com"}, "Subject: x\r\n\r\nMALWARE"); !strings.HasPrefix(data, "550 5.7.1") {
		t.Fatalf("rejected at DATA: %q", data)
	}
	if _, data := f.send(t, "127.0.0.1", "s@remote.example", []string{"alice@example.com"}, "Subject: x\r\n\r\ntry later"); !strings.HasPrefix(data, "451 4.7.1") {
		t.Fatalf("tempfail with a 5xx reply: %q", data)
	}
	if n := len(f.inbox(t, "alice")); n != 1 {
		t.Fatalf("alice has %d messages after the refused ones", n)
	}
}

// smtpSendErr sends MAIL FROM from and returns the greeting and the reply
// to MAIL (or the greeting twice if it refused the connection).
func smtpSendErr(f *fixture, from string) (string, string) {
	c, err := net.Dial("tcp", f.addr)
	if err != nil {
		return "", err.Error()
	}
	defer c.Close()
	r := bufio.NewReader(c)
	reply := func() string {
		var last string
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return last + err.Error()
			}
			last = strings.TrimSpace(line)
			if len(line) < 4 || line[3] == ' ' {
				return last
			}
		}
	}
	greeting := reply()
	if !strings.HasPrefix(greeting, "220") {
		return greeting, greeting
	}
	io.WriteString(c, "EHLO client.example\r\n")
	reply()
	io.WriteString(c, "MAIL FROM:<"+from+">\r\n")
	return greeting, reply()
}

func TestFilterQuarantineDiscardAccept(t *testing.T) {
	var order []string
	var mu sync.Mutex
	note := func(s string) {
		mu.Lock()
		order = append(order, s)
		mu.Unlock()
	}
	verdictFor := func(body string) relay.Verdict {
		switch {
		case strings.Contains(body, "SPAM"):
			return relay.Verdict{Action: relay.ActionQuarantine, Headers: []relay.Field{{Name: "X-Spam", Value: "yes"}}}
		case strings.Contains(body, "DROP"):
			return relay.Verdict{Action: relay.ActionDiscard}
		case strings.Contains(body, "WHITELISTED"):
			return relay.Verdict{Action: relay.ActionAccept}
		}
		return relay.Verdict{}
	}
	first := &relay.FilterFuncs{Data: func(ctx context.Context, tx *relay.Transaction, m *relay.Message) (relay.Verdict, error) {
		note("first")
		b, _ := io.ReadAll(m.Open())
		return verdictFor(string(b)), nil
	}}
	second := &relay.FilterFuncs{Data: func(ctx context.Context, tx *relay.Transaction, m *relay.Message) (relay.Verdict, error) {
		note("second")
		return relay.Verdict{Headers: []relay.Field{{Name: "X-Second", Value: "1"}}}, nil
	}}
	f := newFixture(t, withFilters(first, second))
	ctx := context.Background()
	u, _ := f.store.User(ctx, "alice")
	if err := u.Create(ctx, "Junk", nil); err != nil {
		t.Fatal(err)
	}

	// alice has Junk; bob has not (his copy goes to INBOX); carol is
	// remote (relayed from a trusted address): her copy is held.
	_, data := f.send(t, "127.0.0.2", "s@remote.example", []string{"alice@example.com", "bob@example.com", "carol@elsewhere.example"}, "Subject: buy\r\n\r\nSPAM")
	if !strings.HasPrefix(data, "250") {
		t.Fatalf("DATA: %q", data)
	}
	if junk := f.folder(t, "alice", "Junk"); len(junk) != 1 || !strings.Contains(junk[0], "X-Spam: yes\r\nX-Second: 1\r\n") {
		t.Fatalf("alice's Junk: %q", junk)
	}
	if n := len(f.inbox(t, "alice")); n != 0 {
		t.Fatalf("alice's INBOX has %d", n)
	}
	if in := f.inbox(t, "bob"); len(in) != 1 || !strings.Contains(in[0], "X-Spam: yes") {
		t.Fatalf("bob's INBOX: %q", in)
	}
	q := f.queued(t)
	if len(q) != 1 || !q[0].Held {
		t.Fatalf("queued: %+v", q)
	}

	mu.Lock()
	order = nil
	mu.Unlock()
	if _, data := f.send(t, "127.0.0.1", "s@remote.example", []string{"alice@example.com"}, "Subject: x\r\n\r\nDROP"); !strings.HasPrefix(data, "250") {
		t.Fatalf("discarded DATA: %q", data)
	}
	if _, data := f.send(t, "127.0.0.1", "s@remote.example", []string{"alice@example.com"}, "Subject: x\r\n\r\nWHITELISTED"); !strings.HasPrefix(data, "250") {
		t.Fatalf("accepted DATA: %q", data)
	}
	mu.Lock()
	if got := strings.Join(order, ","); got != "first,first" {
		t.Errorf("filters ran %s; discard and accept end the chain", got)
	}
	mu.Unlock()
	if in := f.inbox(t, "alice"); len(in) != 1 || !strings.Contains(in[0], "WHITELISTED") || strings.Contains(in[0], "X-Second") {
		t.Fatalf("alice's INBOX: %q", in)
	}
}

type failingFilter struct{ closed *int }

func (f failingFilter) NewSession(ctx context.Context, c *smtp.ConnInfo) (relay.FilterSession, error) {
	return f, nil
}
func (failingFilter) Mail(ctx context.Context, tx *relay.Transaction) (relay.Verdict, error) {
	return relay.Verdict{}, errors.New("spamd: connection refused")
}
func (failingFilter) Rcpt(ctx context.Context, tx *relay.Transaction, to smtp.Path) (relay.Verdict, error) {
	return relay.Verdict{}, nil
}
func (failingFilter) Data(ctx context.Context, tx *relay.Transaction, m *relay.Message) (relay.Verdict, error) {
	return relay.Verdict{}, nil
}
func (failingFilter) Reset(ctx context.Context) {}
func (f failingFilter) Close() error            { *f.closed++; return nil }

func TestFilterErrorTempfails(t *testing.T) {
	closed := 0
	f := newFixture(t, withFilters(failingFilter{&closed}))
	if _, got := smtpSendErr(f, "s@remote.example"); !strings.HasPrefix(got, "451 4.7.1") {
		t.Fatalf("MAIL with a failing filter: %q", got)
	}
	// refuse connections: a filter whose NewSession returns an smtp.Error.
	g := newFixture(t, withFilters(&relay.FilterFuncs{}, refuseConn{}))
	if _, got := smtpSendErr(g, "s@remote.example"); !strings.Contains(got, "554") {
		t.Fatalf("refused connection: %q", got)
	}
}

type refuseConn struct{}

func (refuseConn) NewSession(ctx context.Context, c *smtp.ConnInfo) (relay.FilterSession, error) {
	return nil, &smtp.Error{Code: 554, EnhancedCode: "5.7.1", Message: "listed"}
}
