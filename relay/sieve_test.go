package relay_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postyard/postyard/mailbox"
	"github.com/postyard/postyard/mailbox/memstore"
	"github.com/postyard/postyard/queue"
	"github.com/postyard/postyard/relay"
	"github.com/postyard/postyard/sieve"
	"github.com/postyard/postyard/smtp"
)

// scriptMap is a relay.SieveScripts in memory: user → active script.
type scriptMap struct {
	mu sync.Mutex
	m  map[string]string
	// get holds scripts for includes: user/name → source.
	get   map[string]string
	fail  error
	reads int
}

func newScripts(kv ...string) *scriptMap {
	s := &scriptMap{m: map[string]string{}, get: map[string]string{}}
	for i := 0; i+1 < len(kv); i += 2 {
		s.m[kv[i]] = kv[i+1]
	}
	return s
}

func (s *scriptMap) Active(ctx context.Context, user string) (string, []byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads++
	if s.fail != nil {
		return "", nil, s.fail
	}
	src, ok := s.m[user]
	if !ok {
		return "", nil, nil
	}
	return "main", []byte(src), nil
}

func (s *scriptMap) Get(ctx context.Context, user, name string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	src, ok := s.get[user+"/"+name]
	if !ok {
		return nil, errors.New("no such script")
	}
	return []byte(src), nil
}

func (s *scriptMap) set(user, src string) {
	s.mu.Lock()
	s.m[user] = src
	s.mu.Unlock()
}

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// sieveFixture is an SMTP server with Inbound and Sieve, over memstore
// and memqueue.
func sieveFixture(t *testing.T, sv *relay.Sieve, opts ...func(*relay.Inbound)) *fixture {
	t.Helper()
	if sv.Logger == nil {
		sv.Logger = testLogger()
	}
	return newFixture(t, append([]func(*relay.Inbound){func(in *relay.Inbound) { in.Sieve = sv }}, opts...)...)
}

// stored is a message in a mailbox.
type stored struct {
	flags    mailbox.Flags
	keywords []string
	content  string
}

// mailboxMessages returns the messages of user's mailbox name, nil if the
// mailbox does not exist.
func mailboxMessages(t *testing.T, st mailbox.Store, user, name string) []stored {
	t.Helper()
	ctx := context.Background()
	u, err := st.User(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	mb, err := u.Open(ctx, name, nil)
	if errors.Is(err, mailbox.ErrNoSuchMailbox) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer mb.Close()
	var out []stored
	for m, err := range mb.Messages(ctx, mailbox.AllUIDs(), nil) {
		if err != nil {
			t.Fatal(err)
		}
		c, err := mb.Open(ctx, m.UID)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(c)
		c.Close()
		out = append(out, stored{flags: m.Flags, keywords: m.Keywords, content: string(b)})
	}
	return out
}

// counts returns how many messages each of user's mailboxes holds.
func counts(t *testing.T, st mailbox.Store, user string) map[string]int {
	t.Helper()
	ctx := context.Background()
	u, err := st.User(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	list, err := u.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, mb := range list {
		if n := len(mailboxMessages(t, st, user, mb.Name)); n > 0 {
			out[mb.Name] = n
		}
	}
	return out
}

func sameCounts(got map[string]int, want ...any) bool {
	w := map[string]int{}
	for i := 0; i+1 < len(want); i += 2 {
		w[want[i].(string)] = want[i+1].(int)
	}
	if len(got) != len(w) {
		return false
	}
	for k, v := range w {
		if got[k] != v {
			return false
		}
	}
	return true
}

// letter is a test message (without the final CRLF, as fixture.send wants).
func letter(subject, msgID string, extra ...string) string {
	var b strings.Builder
	b.WriteString("From: Sender <sender@remote.example>\r\nTo: Alice <alice@example.com>\r\n")
	b.WriteString("Subject: " + subject + "\r\nMessage-ID: <" + msgID + "@remote.example>\r\n")
	for _, e := range extra {
		b.WriteString(e + "\r\n")
	}
	b.WriteString("\r\nHello Alice.")
	return b.String()
}

func queuedContent(t *testing.T, q queue.Queue, id queue.ID) string {
	t.Helper()
	rc, err := q.Open(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, _ := io.ReadAll(rc)
	return string(b)
}

const filingScript = `require ["fileinto", "imap4flags", "mailbox", "envelope", "subaddress"];
if header :contains "subject" "newsletter" {
	fileinto :create :flags ["\\Seen", "$News"] "Newsletters";
	stop;
}
if address :is "from" "boss@remote.example" {
	addflag "\\Flagged";
	keep;
	stop;
}
if envelope :detail "to" "lists" {
	fileinto :create "Lists";
	stop;
}
if header :contains "subject" "nowhere" {
	fileinto "Does/Not/Exist";
	stop;
}
if header :contains "subject" "junkit" {
	discard;
}
`

// TestSieveFiling: a message sent over SMTP lands in the folder the active
// script chose, with the flags it set; sub-addresses reach scripts.
func TestSieveFiling(t *testing.T) {
	scripts := newScripts("alice", filingScript)
	f := sieveFixture(t, &relay.Sieve{Scripts: scripts})
	send := func(to, from, msg string) {
		t.Helper()
		_, data := f.send(t, "127.0.0.1", "sender@remote.example", []string{to}, msg)
		if !strings.HasPrefix(data, "250 ") {
			t.Fatalf("DATA %q", data)
		}
	}
	send("alice@example.com", "", letter("Weekly newsletter", "n1"))
	got := mailboxMessages(t, f.store, "alice", "Newsletters")
	if len(got) != 1 || got[0].flags != mailbox.FlagSeen || len(got[0].keywords) != 1 || got[0].keywords[0] != "$News" {
		t.Fatalf("Newsletters: %+v", got)
	}
	if !strings.HasPrefix(got[0].content, "Return-Path: <sender@remote.example>\r\nReceived: ") || !strings.HasSuffix(got[0].content, "\r\n\r\nHello Alice.\r\n") {
		t.Fatalf("stored message: %q", got[0].content)
	}

	send("alice@example.com", "", strings.Replace(letter("Meeting", "b1"), "sender@remote.example", "boss@remote.example", 1))
	inbox := mailboxMessages(t, f.store, "alice", "INBOX")
	if len(inbox) != 1 || inbox[0].flags != mailbox.FlagFlagged {
		t.Fatalf("INBOX: %+v", inbox)
	}

	// envelope :detail sees the tag of the RCPT; the user is alice.
	send("alice+lists@example.com", "", letter("List post", "l1"))
	if got := mailboxMessages(t, f.store, "alice", "Lists"); len(got) != 1 {
		t.Fatalf("Lists: %+v", got)
	}

	// fileinto a mailbox that does not exist, without :create: INBOX.
	send("alice@example.com", "", letter("going nowhere", "x1"))
	if got := mailboxMessages(t, f.store, "alice", "INBOX"); len(got) != 2 {
		t.Fatalf("INBOX after fileinto to a missing mailbox: %d messages", len(got))
	}

	// discard: accepted, stored nowhere.
	send("alice@example.com", "", letter("junkit", "d1"))
	if c := counts(t, f.store, "alice"); !sameCounts(c, "INBOX", 2, "Newsletters", 1, "Lists", 1) {
		t.Fatalf("mailboxes: %v", c)
	}
	// bob has no script: INBOX.
	send("bob@example.com", "", letter("Weekly newsletter", "n2"))
	if c := counts(t, f.store, "bob"); !sameCounts(c, "INBOX", 1) {
		t.Fatalf("bob: %v", c)
	}
	if n := len(f.queued(t)); n != 0 {
		t.Fatalf("%d queued", n)
	}
}

// TestSieveErrorKeeps: a script that fails at run time, one that does not
// compile, and a store that cannot read the script all still deliver to
// INBOX.
func TestSieveErrorKeeps(t *testing.T) {
	scripts := newScripts(
		// A redirect to an address built at run time that is not one.
		"alice", `require ["variables", "fileinto"]; fileinto "Never"; set "a" "not an address"; redirect "${a}";`,
		"bob", `if header :contains "subject" { discard; `,
	)
	f := sieveFixture(t, &relay.Sieve{Scripts: scripts})
	for _, to := range []string{"alice@example.com", "bob@example.com"} {
		_, data := f.send(t, "127.0.0.1", "sender@remote.example", []string{to}, letter("hello", "e-"+to))
		if !strings.HasPrefix(data, "250 ") {
			t.Fatalf("%s: DATA %q", to, data)
		}
	}
	for _, u := range []string{"alice", "bob"} {
		if c := counts(t, f.store, u); !sameCounts(c, "INBOX", 1) {
			t.Fatalf("%s: %v", u, c)
		}
	}
	scripts.mu.Lock()
	scripts.fail = errors.New("script store down")
	scripts.mu.Unlock()
	f.send(t, "127.0.0.1", "sender@remote.example", []string{"alice@example.com"}, letter("hello again", "e2"))
	if c := counts(t, f.store, "alice"); !sameCounts(c, "INBOX", 2) {
		t.Fatalf("alice: %v", c)
	}
}

// TestSieveSpamVerdict: without a script, mail the checks quarantined and
// mail the spam scorer rates above the threshold go to the quarantine
// mailbox; a script can still file it, and spamtest sees the verdict.
func TestSieveSpamVerdict(t *testing.T) {
	scripts := newScripts("bob", `require ["spamtest", "relational", "comparator-i;ascii-numeric", "fileinto", "mailbox"];
if spamtest :value "ge" :comparator "i;ascii-numeric" "10" { fileinto :create "Spam-By-Script"; }`)
	quarantine := &relay.FilterFuncs{Data: func(ctx context.Context, tx *relay.Transaction, msg *relay.Message) (relay.Verdict, error) {
		if strings.Contains(string(msg.Header()), "Subject: buy") {
			return relay.Verdict{Action: relay.ActionQuarantine}, nil
		}
		return relay.Verdict{}, nil
	}}
	sv := &relay.Sieve{
		Scripts:       scripts,
		Eval:          &sieve.EvalOptions{Spam: &sieve.HeaderScorer{Header: "X-Spam-Score", Type: sieve.StatusScore, Max: 10}},
		SpamThreshold: 0.5,
	}
	f := sieveFixture(t, sv, func(in *relay.Inbound) {
		in.Filters = []relay.Filter{quarantine}
		in.QuarantineMailbox = "Spam"
	})
	ctx := context.Background()
	u, _ := f.store.User(ctx, "alice")
	if err := u.Create(ctx, "Spam", nil); err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{letter("buy now", "s1"), letter("cheap", "s2", "X-Spam-Score: 7.5"), letter("fine", "s3", "X-Spam-Score: 1")} {
		for _, to := range []string{"alice@example.com", "bob@example.com"} {
			if _, data := f.send(t, "127.0.0.1", "sender@remote.example", []string{to}, m); !strings.HasPrefix(data, "250 ") {
				t.Fatalf("DATA %q", data)
			}
		}
	}
	if c := counts(t, f.store, "alice"); !sameCounts(c, "Spam", 2, "INBOX", 1) {
		t.Fatalf("alice: %v", c)
	}
	// bob's script files what spamtest rates 10 (the quarantined message:
	// not scored, so the verdict counts) itself; the scored one gives
	// spamtest 8 (7.5/10, rounded), and its implicit keep goes to Spam,
	// which bob lacks: INBOX.
	if c := counts(t, f.store, "bob"); !sameCounts(c, "Spam-By-Script", 1, "INBOX", 2) {
		t.Fatalf("bob: %v", c)
	}
}

// TestSieveSpamtestVerdict: without a scorer, spamtest sees a quarantined
// message as spam.
func TestSieveSpamtestVerdict(t *testing.T) {
	scripts := newScripts("alice", `require ["spamtest", "relational", "comparator-i;ascii-numeric", "fileinto", "mailbox"];
if spamtest :value "eq" :comparator "i;ascii-numeric" "10" { fileinto :create "Caught"; }`)
	quarantine := &relay.FilterFuncs{Data: func(ctx context.Context, tx *relay.Transaction, msg *relay.Message) (relay.Verdict, error) {
		return relay.Verdict{Action: relay.ActionQuarantine}, nil
	}}
	f := sieveFixture(t, &relay.Sieve{Scripts: scripts}, func(in *relay.Inbound) { in.Filters = []relay.Filter{quarantine} })
	f.send(t, "127.0.0.1", "sender@remote.example", []string{"alice@example.com"}, letter("x", "q1"))
	if c := counts(t, f.store, "alice"); !sameCounts(c, "Caught", 1) {
		t.Fatalf("alice: %v", c)
	}
}

// TestSieveEreject: ereject refuses at SMTP time when every recipient
// refuses; otherwise the sender gets a DSN; LMTP answers per recipient.
func TestSieveEreject(t *testing.T) {
	scripts := newScripts("alice", `require "ereject"; ereject "I do not want
this";`)
	f := sieveFixture(t, &relay.Sieve{Scripts: scripts})
	_, data := f.send(t, "127.0.0.1", "sender@remote.example", []string{"alice@example.com"}, letter("x", "r1"))
	if data != "550 5.7.1 I do not want this" {
		t.Fatalf("DATA %q", data)
	}
	if n := len(f.queued(t)); n != 0 {
		t.Fatalf("%d queued", n)
	}
	_, data = f.send(t, "127.0.0.1", "sender@remote.example", []string{"alice@example.com", "bob@example.com"}, letter("x", "r2"))
	if !strings.HasPrefix(data, "250 ") {
		t.Fatalf("DATA %q", data)
	}
	q := f.queued(t)
	if len(q) != 1 || !q[0].Envelope.From.IsNull() || q[0].Envelope.Recipients[0].To.String() != "sender@remote.example" {
		t.Fatalf("queued %+v", q)
	}
	if c := queuedContent(t, f.q, q[0].ID); !strings.Contains(c, "Final-Recipient: rfc822; alice@example.com") || !strings.Contains(c, "5.7.1") {
		t.Fatalf("DSN:\n%s", c)
	}
	if c := counts(t, f.store, "bob"); !sameCounts(c, "INBOX", 1) {
		t.Fatalf("bob: %v", c)
	}
}

// TestSieveReject: reject sends an MDN with the reason through the queue,
// with the null reverse-path, and nothing to the null sender.
func TestSieveReject(t *testing.T) {
	scripts := newScripts("alice", `require "reject"; reject "Go away.";`)
	f := sieveFixture(t, &relay.Sieve{Scripts: scripts, Hostname: "mx.example.com"})
	_, data := f.send(t, "127.0.0.1", "sender@remote.example", []string{"alice@example.com"}, letter("pitch", "rj1"))
	if !strings.HasPrefix(data, "250 ") {
		t.Fatalf("DATA %q", data)
	}
	q := f.queued(t)
	if len(q) != 1 || !q[0].Envelope.From.IsNull() || q[0].Envelope.Recipients[0].To.String() != "sender@remote.example" {
		t.Fatalf("queued %+v", q)
	}
	c := queuedContent(t, f.q, q[0].ID)
	for _, want := range []string{
		"To: <sender@remote.example>\r\n", "Auto-Submitted: auto-replied (rejected)\r\n",
		"report-type=disposition-notification", "Go away.", "In-Reply-To: <rj1@remote.example>\r\n",
		"Disposition: automatic-action/MDN-sent-automatically; deleted\r\n", "Final-Recipient: rfc822; alice@example.com\r\n",
		"Content-Type: text/rfc822-headers\r\n", "Subject: pitch\r\n",
	} {
		if !strings.Contains(c, want) {
			t.Errorf("MDN lacks %q:\n%s", want, c)
		}
	}
	if c := counts(t, f.store, "alice"); len(c) != 0 {
		t.Fatalf("alice: %v", c)
	}
	// From the null sender: dropped, nothing sent.
	_, data = f.send(t, "127.0.0.1", "", []string{"alice@example.com"}, letter("bounce", "rj2"))
	if !strings.HasPrefix(data, "250 ") || len(f.queued(t)) != 1 {
		t.Fatalf("DATA %q, %d queued", data, len(f.queued(t)))
	}
}

const vacationScript = `require ["vacation", "fileinto"];
vacation :days 3 :subject "Away" :addresses ["alice.smith@example.com"] "I am away until Monday.
Über.";
`

// TestSieveVacation: a reply is queued once per sender, not again within
// :days, also after a restart (a new Sieve over the same state directory);
// none to lists, bulk mail, auto-replies or the null sender.
func TestSieveVacation(t *testing.T) {
	dir := t.TempDir()
	clk := newClock()
	scripts := newScripts("alice", vacationScript)
	fx := func() *fixture {
		return sieveFixture(t, &relay.Sieve{Scripts: scripts, State: &relay.SieveState{Dir: dir}, Now: clk.now, Hostname: "mx.example.com"})
	}
	f1 := fx()
	send := func(f *fixture, from string, msg string) {
		t.Helper()
		if _, data := f.send(t, "127.0.0.1", from, []string{"alice@example.com"}, msg); !strings.HasPrefix(data, "250 ") {
			t.Fatalf("DATA %q", data)
		}
	}
	send(f1, "sender@remote.example", letter("Question", "v1", "References: <v0@remote.example>"))
	q := f1.queued(t)
	if len(q) != 1 {
		t.Fatalf("%d queued, want the reply", len(q))
	}
	if !q[0].Envelope.From.IsNull() || q[0].Envelope.Recipients[0].To.String() != "sender@remote.example" {
		t.Fatalf("reply envelope %+v", q[0].Envelope)
	}
	reply := queuedContent(t, f1.q, q[0].ID)
	for _, want := range []string{
		"From: <alice@example.com>\r\n", "To: <sender@remote.example>\r\n", "Subject: Away\r\n",
		"Auto-Submitted: auto-replied (vacation)\r\n", "In-Reply-To: <v1@remote.example>\r\n",
		"References: <v0@remote.example>\r\n <v1@remote.example>\r\n", "Content-Transfer-Encoding: quoted-printable\r\n",
		"I am away until Monday.\r\n=C3=9Cber.",
	} {
		if !strings.Contains(reply, want) {
			t.Errorf("reply lacks %q:\n%s", want, reply)
		}
	}
	if c := counts(t, f1.store, "alice"); !sameCounts(c, "INBOX", 1) {
		t.Fatalf("alice: %v", c)
	}
	// Again from the same sender: no second reply.
	send(f1, "sender@remote.example", letter("Another", "v2"))
	if n := len(f1.queued(t)); n != 1 {
		t.Fatalf("%d queued after a second message", n)
	}
	// No reply to lists, bulk, auto-replies, the null sender, or mail not
	// addressed to alice.
	send(f1, "list@remote.example", letter("Digest", "v3", "List-Id: <l.remote.example>"))
	send(f1, "bulk@remote.example", letter("Offer", "v4", "Precedence: bulk"))
	send(f1, "robot@remote.example", letter("Auto", "v5", "Auto-Submitted: auto-replied"))
	send(f1, "", letter("Bounce", "v6"))
	send(f1, "other@remote.example", strings.Replace(letter("Bcc", "v7"), "To: Alice <alice@example.com>", "To: someone@remote.example", 1))
	if n := len(f1.queued(t)); n != 1 {
		t.Fatalf("%d queued after list/bulk/auto/null/bcc mail", n)
	}
	// :addresses counts as alice's.
	send(f1, "friend@remote.example", strings.Replace(letter("Hi", "v8"), "To: Alice <alice@example.com>", "To: alice.smith@example.com", 1))
	if n := len(f1.queued(t)); n != 2 {
		t.Fatalf("%d queued after mail to one of :addresses", n)
	}

	// Restart: a new Sieve and state over the same directory, a new
	// queue. Within 3 days: still no reply to the first sender.
	clk.add(2 * 24 * time.Hour)
	f2 := fx()
	send(f2, "sender@remote.example", letter("Still there?", "v9"))
	if n := len(f2.queued(t)); n != 0 {
		t.Fatalf("%d queued after restart within :days", n)
	}
	// After the period: a reply again.
	clk.add(2 * 24 * time.Hour)
	send(f2, "sender@remote.example", letter("Back?", "v10"))
	if n := len(f2.queued(t)); n != 1 {
		t.Fatalf("%d queued after :days", n)
	}
}

// TestSieveDuplicate: the duplicate test remembers Message-IDs of
// delivered messages, also across a restart.
func TestSieveDuplicate(t *testing.T) {
	dir := t.TempDir()
	scripts := newScripts("alice", `require ["duplicate", "fileinto", "mailbox"]; if duplicate { fileinto :create "Dups"; }`)
	f1 := sieveFixture(t, &relay.Sieve{Scripts: scripts, State: &relay.SieveState{Dir: dir}})
	f1.send(t, "127.0.0.1", "sender@remote.example", []string{"alice@example.com"}, letter("one", "dup1"))
	f1.send(t, "127.0.0.1", "sender@remote.example", []string{"alice@example.com"}, letter("one again", "dup1"))
	if c := counts(t, f1.store, "alice"); !sameCounts(c, "INBOX", 1, "Dups", 1) {
		t.Fatalf("alice: %v", c)
	}
	f2 := sieveFixture(t, &relay.Sieve{Scripts: scripts, State: &relay.SieveState{Dir: dir}})
	f2.send(t, "127.0.0.1", "sender@remote.example", []string{"alice@example.com"}, letter("one, after restart", "dup1"))
	f2.send(t, "127.0.0.1", "sender@remote.example", []string{"alice@example.com"}, letter("two", "dup2"))
	if c := counts(t, f2.store, "alice"); !sameCounts(c, "INBOX", 1, "Dups", 1) {
		t.Fatalf("alice after restart: %v", c)
	}
}

// TestSieveBeforeAfter: administrator scripts run around the user's; the
// after script only while the keep is in effect.
func TestSieveBeforeAfter(t *testing.T) {
	scripts := newScripts(
		"alice", `require "fileinto"; if header :contains "subject" "report" { fileinto "Reports"; }`,
	)
	before := relay.SieveScript{Name: "before", Source: []byte(`require ["imap4flags", "fileinto", "mailbox"];
if header :contains "subject" "virus" { fileinto :create "Quarantine"; stop; }
addflag "$Checked";`)}
	after := relay.SieveScript{Name: "after", Source: []byte(`require ["imap4flags"]; addflag "$After";`)}
	f := sieveFixture(t, &relay.Sieve{Scripts: scripts, Before: []relay.SieveScript{before}, After: []relay.SieveScript{after}})
	ctx := context.Background()
	u, _ := f.store.User(ctx, "alice")
	u.Create(ctx, "Reports", nil)
	for _, s := range []string{"virus inside", "weekly report", "hello"} {
		f.send(t, "127.0.0.1", "sender@remote.example", []string{"alice@example.com"}, letter(s, strings.ReplaceAll(s, " ", ".")))
	}
	if c := counts(t, f.store, "alice"); !sameCounts(c, "Quarantine", 1, "Reports", 1, "INBOX", 1) {
		t.Fatalf("alice: %v", c)
	}
	in := mailboxMessages(t, f.store, "alice", "INBOX")
	if kw := strings.Join(in[0].keywords, " "); kw != "$After $Checked" {
		t.Fatalf("INBOX keywords %q", kw)
	}
	// Each script has its own imap4flags variable: the user's fileinto has
	// none of the before script's flags; the after script did not run.
	rep := mailboxMessages(t, f.store, "alice", "Reports")
	if kw := strings.Join(rep[0].keywords, " "); kw != "" {
		t.Fatalf("Reports keywords %q", kw)
	}
}

// TestSieveEditheader: a header field added by the script is in the stored
// copy.
func TestSieveEditheader(t *testing.T) {
	scripts := newScripts("alice", `require ["editheader", "fileinto", "mailbox"];
addheader "X-Filed" "yes";
fileinto :create :copy "Copy";`)
	scripts.m["alice"] = strings.Replace(scripts.m["alice"], `"mailbox"]`, `"mailbox", "copy"]`, 1)
	f := sieveFixture(t, &relay.Sieve{Scripts: scripts})
	f.send(t, "127.0.0.1", "sender@remote.example", []string{"alice@example.com"}, letter("edit", "ed1"))
	for _, name := range []string{"INBOX", "Copy"} {
		got := mailboxMessages(t, f.store, "alice", name)
		if len(got) != 1 || !strings.HasPrefix(got[0].content, "Return-Path: <sender@remote.example>\r\nX-Filed: yes\r\nReceived: ") || !strings.HasSuffix(got[0].content, "\r\n\r\nHello Alice.\r\n") {
			t.Fatalf("%s: %+v", name, got)
		}
	}
}

// TestSieveRedirectLocalLoop: a redirect goes through the queue; queued
// mail for a local user runs that user's script (Deliverer.Sieve); two
// users redirecting to each other do not loop.
func TestSieveRedirectLocalLoop(t *testing.T) {
	scripts := newScripts(
		"alice", `redirect "bob@example.com";`,
		"bob", `redirect "alice@example.com";`,
	)
	sv := &relay.Sieve{Scripts: scripts}
	f := sieveFixture(t, sv)
	d := &relay.Deliverer{Queue: f.q, Local: testPolicy(), Mailboxes: f.store, Sieve: sv, DisableMTASTS: true, Logger: testLogger()}
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, data := f.send(t, "127.0.0.1", "sender@remote.example", []string{"alice@example.com"}, letter("ping", "p1")); !strings.HasPrefix(data, "250 ") {
		t.Fatalf("DATA %q", data)
	}
	// alice → bob (queue) → alice (queue) → kept by alice: she redirected
	// it before.
	waitFor(t, "the message back in alice's INBOX", func() bool { return len(mailboxMessages(t, f.store, "alice", "INBOX")) == 1 })
	waitFor(t, "an empty queue", func() bool { return len(f.queued(t)) == 0 })
	got := mailboxMessages(t, f.store, "alice", "INBOX")[0].content
	if strings.Count(got, relay.SieveRedirectField+": ") != 2 || !strings.Contains(got, relay.SieveRedirectField+": <alice@example.com>\r\n") || !strings.Contains(got, relay.SieveRedirectField+": <bob@example.com>\r\n") {
		t.Fatalf("alice got:\n%s", got)
	}
	if c := counts(t, f.store, "bob"); len(c) != 0 {
		t.Fatalf("bob: %v", c)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSieveLMTP: over LMTP each recipient gets its own reply: ereject is
// that recipient's 550.
func TestSieveLMTP(t *testing.T) {
	store := memstore.New(nil)
	defer store.Close()
	scripts := newScripts("alice", `require "ereject"; ereject "no thanks";`, "bob", `require "fileinto"; fileinto "INBOX";`)
	in := &relay.Inbound{Policy: testPolicy(), Deliverer: store, Sieve: &relay.Sieve{Scripts: scripts, Logger: testLogger()}, Logger: testLogger()}
	srv := &smtp.Server{Hostname: "mx.example.com", LMTP: true, Backend: in, Logger: testLogger()}
	port := freePort(t)
	serveSMTP(t, srv, "127.0.0.1", port, false)
	ctx := context.Background()
	c, err := smtp.Dial(ctx, "tcp", "127.0.0.1:"+strconv.Itoa(port), &smtp.ClientOptions{LMTP: true, Hostname: "client.example"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	res, err := c.SendMail(ctx, mustPath(t, "sender@remote.example"), nil,
		[]smtp.Rcpt{{To: mustPath(t, "alice@example.com")}, {To: mustPath(t, "bob@example.com")}},
		strings.NewReader(letter("lmtp", "lm1")+"\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	var se *smtp.Error
	if len(res.Data) != 2 || !errors.As(res.Data[0], &se) || se.Code != 550 || se.EnhancedCode != "5.7.1" || res.Data[1] != nil {
		t.Fatalf("LMTP replies %v", res.Data)
	}
	if c := counts(t, store, "bob"); !sameCounts(c, "INBOX", 1) {
		t.Fatalf("bob: %v", c)
	}
}

// TestSieveInclude: a user's script can include a personal and a global
// one; a user's compiled script is not shared with another user's.
func TestSieveInclude(t *testing.T) {
	src := `require ["include"]; include :personal "rules"; include :global "common";`
	scripts := newScripts("alice", src, "bob", src)
	scripts.get["alice/rules"] = `require "fileinto"; if header :contains "subject" "a" { fileinto "A"; }`
	scripts.get["bob/rules"] = `require "fileinto"; if header :contains "subject" "a" { fileinto "B"; }`
	global := sieve.LoaderFunc(func(ctx context.Context, loc sieve.Location, name string) ([]byte, error) {
		if loc == sieve.Global && name == "common" {
			return []byte(`require "imap4flags"; addflag "$Common";`), nil
		}
		return nil, sieve.ErrNotFound
	})
	f := sieveFixture(t, &relay.Sieve{Scripts: scripts, Global: global})
	ctx := context.Background()
	for _, u := range []string{"alice", "bob"} {
		us, _ := f.store.User(ctx, u)
		us.Create(ctx, "A", nil)
		us.Create(ctx, "B", nil)
	}
	f.send(t, "127.0.0.1", "sender@remote.example", []string{"alice@example.com"}, letter("a", "i1"))
	f.send(t, "127.0.0.1", "sender@remote.example", []string{"bob@example.com"}, letter("a", "i2"))
	f.send(t, "127.0.0.1", "sender@remote.example", []string{"bob@example.com"}, letter("other", "i3"))
	if c := counts(t, f.store, "alice"); !sameCounts(c, "A", 1) {
		t.Fatalf("alice: %v", c)
	}
	if c := counts(t, f.store, "bob"); !sameCounts(c, "B", 1, "INBOX", 1) {
		t.Fatalf("bob: %v", c)
	}
	if in := mailboxMessages(t, f.store, "bob", "INBOX"); len(in[0].keywords) != 1 || in[0].keywords[0] != "$Common" {
		t.Fatalf("bob INBOX: %+v", in)
	}
}

// TestSieveStateTornWrite: a torn or corrupt record is ignored; the rest
// is read back; the file is compacted when mostly stale.
func TestSieveStateTornWrite(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	now := time.Unix(1_700_000_000, 0)
	st := &relay.SieveState{Dir: dir}
	for _, k := range []string{"a", "b", "c"} {
		if err := st.Record(ctx, "user@example.com", k, now.Add(time.Hour), now, false); err != nil {
			t.Fatal(err)
		}
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.state"))
	if len(files) != 1 {
		t.Fatalf("files %v", files)
	}
	b, _ := os.ReadFile(files[0])
	lines := strings.SplitAfter(string(b), "\n")
	// Corrupt "b"'s record and append a torn one.
	lines[2] = strings.Replace(lines[2], " b ", " x ", 1)
	os.WriteFile(files[0], []byte(strings.Join(lines, "")+"1700003600 d 1"), 0o600)
	st2 := &relay.SieveState{Dir: dir}
	for k, want := range map[string]bool{"a": true, "b": false, "c": true, "d": false, "x": false} {
		if got, err := st2.Seen(ctx, "user@example.com", k, now); err != nil || got != want {
			t.Errorf("Seen(%s) = %v, %v; want %v", k, got, err, want)
		}
	}
	if got, _ := st2.Seen(ctx, "user@example.com", "a", now.Add(2*time.Hour)); got {
		t.Error("expired key seen")
	}
	// Many refreshes: the file stays small.
	for i := range 500 {
		if err := st2.Record(ctx, "user@example.com", "a", now.Add(time.Duration(i+2)*time.Hour), now, true); err != nil {
			t.Fatal(err)
		}
	}
	b, _ = os.ReadFile(files[0])
	if n := strings.Count(string(b), "\n"); n > 100 {
		t.Fatalf("%d lines after compaction", n)
	}
	st3 := &relay.SieveState{Dir: dir}
	if got, _ := st3.Seen(ctx, "user@example.com", "a", now.Add(400*time.Hour)); !got {
		t.Fatal("refreshed key lost")
	}
}
