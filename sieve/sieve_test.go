package sieve_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postyard/postyard/sieve"
)

const testMsg = "From: Alice <alice@example.com>\r\n" +
	"To: bob+lists@example.net\r\n" +
	"Subject: Hello world\r\n" +
	"Date: Tue, 05 Mar 2024 10:00:00 +0000\r\n" +
	"Message-ID: <1@example.com>\r\n" +
	"\r\n" +
	"Hi Bob.\r\n"

func eval(t *testing.T, script string, opts *sieve.Options, eo *sieve.EvalOptions) (*sieve.Result, error) {
	t.Helper()
	s, err := sieve.Compile([]byte(script), opts)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return s.Eval(context.Background(), sieve.NewMessage([]byte(testMsg)),
		&sieve.Envelope{From: "alice@example.com", To: "bob+lists@example.net"}, eo)
}

func actions(r *sieve.Result) string {
	var l []string
	for _, a := range r.All() {
		l = append(l, a.String())
	}
	return strings.Join(l, "; ")
}

func TestErrorPosition(t *testing.T) {
	for _, tc := range []struct {
		src       string
		line, col int
		msg       string
	}{
		{"keep;\n  frobnicate;\n", 2, 3, "unknown command"},
		{"if header :is \"subject\" \"x\" {\n\tkeep\n}\n", 3, 1, "expected ';'"},
		{"require \"fileinto\";\nfileinto :copy \"x\";\n", 2, 10, "unknown tagged argument"},
		{"keep;\n\"unterminated", 2, 1, "unterminated string"},
		{"keep;\nrequire \"fileinto\";", 2, 1, "require commands"},
		{"require \"x-none\";", 1, 9, "unknown Sieve capability"},
		{"if size :over 99999999999999999999999 {}", 1, 15, "too large"},
		{"/* open", 1, 1, "unterminated bracket comment"},
		{"redirect \"no address\";", 1, 10, "invalid"},
		{"if header :comparator \"i;ascii-numeric\" \"a\" \"b\" {}", 1, 23, "unknown comparator"},
	} {
		_, err := sieve.Compile([]byte(tc.src), nil)
		var e *sieve.Error
		if !errors.As(err, &e) {
			t.Errorf("%q: error %v is not a *sieve.Error", tc.src, err)
			continue
		}
		if e.Line != tc.line || e.Col != tc.col || !strings.Contains(e.Msg, tc.msg) {
			t.Errorf("%q: got %d:%d %q, want %d:%d containing %q", tc.src, e.Line, e.Col, e.Msg, tc.line, tc.col, tc.msg)
		}
		if !strings.Contains(err.Error(), fmt.Sprintf("line %d:%d", tc.line, tc.col)) {
			t.Errorf("%q: Error() = %q does not name the position", tc.src, err.Error())
		}
	}
}

func TestErrorList(t *testing.T) {
	_, err := sieve.Compile([]byte("foo;\nbar;\nbaz;\n"), &sieve.Options{Name: "user.sieve"})
	var l sieve.ErrorList
	if !errors.As(err, &l) || len(l) != 3 {
		t.Fatalf("got %v, want 3 errors", err)
	}
	if l[2].Line != 3 || l[0].Script != "user.sieve" {
		t.Errorf("got %+v", l[2])
	}
}

func TestBasicActions(t *testing.T) {
	for _, tc := range []struct{ script, want string }{
		{``, `implicit keep`},
		{`discard;`, `discard`},
		{`require "fileinto"; fileinto "Lists";`, `fileinto "Lists"`},
		{`require ["fileinto","copy"]; fileinto :copy "Lists";`, `fileinto "Lists" copy; implicit keep`},
		{`require ["fileinto","imap4flags"]; addflag "\\Seen"; fileinto "A";`, `fileinto "A" flags=\Seen`},
		{`require "imap4flags"; addflag ["a", "b"]; removeflag "A";`, `implicit keep flags=b`},
		{`require ["envelope","subaddress","fileinto","variables"];
		  if envelope :detail :matches "to" "*" { fileinto "Lists/${1}"; }`, `fileinto "Lists/lists"`},
		{`require "reject"; reject "no";`, `reject "no"`},
		{`require "ereject"; ereject "no";`, `ereject "no"`},
		{`redirect "x@example.org"; redirect "x@example.org";`, `redirect x@example.org`},
		{`require "vacation"; vacation :days 2 :handle "h" "away";`, `vacation period=48h0m0s handle="h" subject="" from=""; implicit keep`},
		{`require ["variables","fileinto"]; set :upperfirst "a" "hello"; if string :is "${a}" "Hello" { fileinto "${a}"; }`, `fileinto "Hello"`},
		{`if header :matches "subject" "H?llo *" { discard; }`, `discard`},
		{`require "regex"; if header :regex "subject" "^h.+d$" { discard; }`, `discard`},
	} {
		res, err := eval(t, tc.script, nil, nil)
		if err != nil {
			t.Errorf("%s: %v", tc.script, err)
			continue
		}
		if got := actions(res); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.script, got, tc.want)
		}
	}
}

// A run-time error returns the error and an implicit keep of the message
// as received.
func TestRuntimeErrorKeeps(t *testing.T) {
	for _, script := range []string{
		`require ["fileinto","reject"]; fileinto "A"; reject "no";`,
		`require "vacation"; vacation "a"; vacation "b";`,
		`require "variables"; set "x" ""; redirect "${x}";`,
		`require ["editheader","fileinto"]; addheader "X-A" "b"; redirect "a@x.org"; redirect "b@x.org"; redirect "c@x.org"; redirect "d@x.org"; redirect "e@x.org";`,
	} {
		res, err := eval(t, script, nil, nil)
		if err == nil {
			t.Errorf("%s: no error", script)
			continue
		}
		if len(res.Actions) != 0 || !res.ImplicitKeep || res.Header != nil || len(res.Flags) != 0 {
			t.Errorf("%s: result %+v, want a plain implicit keep", script, res)
		}
	}
}

func TestLimits(t *testing.T) {
	deep := strings.Repeat("if true {", 40) + strings.Repeat("}", 40)
	_, err := sieve.Compile([]byte(deep), nil)
	if !errors.Is(err, sieve.ErrLimit) {
		t.Errorf("deep nesting: %v", err)
	}
	deepTests := "if " + strings.Repeat("not ", 100) + "true {}"
	if _, err := sieve.Compile([]byte(deepTests), nil); !errors.Is(err, sieve.ErrLimit) {
		t.Errorf("deep tests: %v", err)
	}
	list := `if header :is "subject" [` + strings.Repeat(`"a",`, 2000) + `"a"] {}`
	if _, err := sieve.Compile([]byte(list), nil); !errors.Is(err, sieve.ErrLimit) {
		t.Errorf("long string list: %v", err)
	}
	if _, err := sieve.Compile([]byte("keep;"+strings.Repeat(" ", 100)), &sieve.Options{Limits: sieve.Limits{MaxScriptSize: 50}}); !errors.Is(err, sieve.ErrLimit) {
		t.Errorf("script size: %v", err)
	}
	if _, err := sieve.Compile([]byte(deep), &sieve.Options{Limits: sieve.Limits{MaxNesting: -1}}); err != nil {
		t.Errorf("unlimited nesting: %v", err)
	}

	steps := `require "fileinto";` + strings.Repeat(`if header :contains "subject" "nothere" { keep; }`, 200)
	_, err = eval(t, steps, &sieve.Options{Limits: sieve.Limits{MaxSteps: 100}}, nil)
	if !errors.Is(err, sieve.ErrLimit) {
		t.Errorf("steps: %v", err)
	}
	many := `require "fileinto";` + strings.Repeat(`fileinto "a";`, 5) + `fileinto "b"; fileinto "c";`
	if _, err := eval(t, many, &sieve.Options{Limits: sieve.Limits{MaxActions: 2}}, nil); !errors.Is(err, sieve.ErrLimit) {
		t.Errorf("actions: %v", err)
	}
	big := `require ["variables","fileinto"]; set "a" "` + strings.Repeat("x", 100) + `"; set "b" "${a}${a}${a}"; set :length "n" "${b}"; fileinto "${n}";`
	res, err := eval(t, big, &sieve.Options{Limits: sieve.Limits{MaxVariableSize: 150}}, nil)
	if err != nil || actions(res) != `fileinto "150"` {
		t.Errorf("variable size: %v %v", actions(res), err)
	}
	re := `require "regex"; if header :regex "subject" "` + strings.Repeat("a", 2000) + `" {}`
	if _, err := sieve.Compile([]byte(re), nil); !errors.Is(err, sieve.ErrLimit) {
		t.Errorf("regex length: %v", err)
	}
}

// Hostile scripts finish quickly and keep the message.
func TestPathological(t *testing.T) {
	long := strings.Repeat("a", 100_000)
	msg := "Subject: " + long + "\r\n\r\n" + long + "\r\n"
	for _, script := range []string{
		`if header :matches "subject" "*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b" { discard; }`,
		`require "regex"; if header :regex "subject" "(a+)+$b" { discard; }`,
		`require "body"; if body :matches "*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b" { discard; }`,
	} {
		s, err := sieve.Compile([]byte(script), nil)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		res, _ := s.Eval(context.Background(), sieve.NewMessage([]byte(msg)), nil, nil)
		if !res.ImplicitKeep {
			t.Errorf("%s: %s", script, actions(res))
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s took %v", script, d)
		}
	}
}

type mapLoader map[string]string

func (m mapLoader) LoadScript(_ context.Context, loc sieve.Location, name string) ([]byte, error) {
	s, ok := m[loc.String()+"/"+name]
	if !ok {
		return nil, sieve.ErrNotFound
	}
	return []byte(s), nil
}

func TestInclude(t *testing.T) {
	l := mapLoader{
		"personal/a":     `require ["include","variables","fileinto"]; global "box"; fileinto "a-${box}"; set "box" "changed"; return; discard;`,
		"global/spam":    `require "fileinto"; if header :contains "subject" "hello" { fileinto "Junk"; stop; }`,
		"personal/loop1": `require "include"; include "loop2";`,
		"personal/loop2": `require "include"; include "loop1";`,
		"personal/self":  `require "include"; include "self";`,
	}
	res, err := eval(t, `require ["include","variables","fileinto"];
		global "box"; set "box" "main";
		include :once "a"; include :once "a"; include :optional "missing";
		fileinto "main-${box}";`, &sieve.Options{Loader: l}, nil)
	if err != nil || actions(res) != `fileinto "a-main"; fileinto "main-changed"` {
		t.Errorf("include: %s %v", actions(res), err)
	}
	res, err = eval(t, `require ["include","fileinto"]; include :global "spam"; fileinto "after";`, &sieve.Options{Loader: l}, nil)
	if err != nil || actions(res) != `fileinto "Junk"` {
		t.Errorf("include stop: %s %v", actions(res), err)
	}
	for _, src := range []string{`require "include"; include "loop1";`, `require "include"; include "self";`, `require "include"; include "missing";`} {
		if _, err := sieve.Compile([]byte(src), &sieve.Options{Loader: l}); err == nil {
			t.Errorf("%s: compiled", src)
		}
	}
	// Depth: a chain longer than MaxIncludeDepth.
	chain := mapLoader{}
	for i := 0; i < 20; i++ {
		chain[fmt.Sprintf("personal/s%d", i)] = fmt.Sprintf(`require "include"; include "s%d";`, i+1)
	}
	chain["personal/s20"] = `keep;`
	if _, err := sieve.Compile([]byte(`require "include"; include "s0";`), &sieve.Options{Loader: chain}); !errors.Is(err, sieve.ErrLimit) {
		t.Errorf("include depth: %v", err)
	}
}

func TestEditheader(t *testing.T) {
	res, err := eval(t, `require ["editheader","fileinto"];
		fileinto "before";
		addheader "X-Filter" "yes";
		deleteheader "subject";
		fileinto "after";`, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	before := res.Actions[0].(*sieve.FileInto)
	after := res.Actions[1].(*sieve.FileInto)
	if before.Header != nil {
		t.Errorf("before: header %v, want unchanged", before.Header)
	}
	var b bytes.Buffer
	msg := sieve.NewMessage([]byte(testMsg))
	if _, err := msg.WriteTo(&b, after.Header); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if !strings.HasPrefix(out, "X-Filter: yes\r\nFrom:") || strings.Contains(out, "Subject:") || !strings.HasSuffix(out, "\r\n\r\nHi Bob.\r\n") {
		t.Errorf("edited message:\n%s", out)
	}
}

type tracker map[string]bool

func (tr tracker) Seen(_ context.Context, id string) (bool, error) { return tr[id], nil }

func TestDuplicate(t *testing.T) {
	s, err := sieve.Compile([]byte(`require ["duplicate","fileinto"]; if duplicate { fileinto "Dups"; }`), nil)
	if err != nil {
		t.Fatal(err)
	}
	tr := tracker{}
	msg := sieve.NewMessage([]byte(testMsg))
	res, err := s.Eval(context.Background(), msg, nil, &sieve.EvalOptions{Duplicates: tr})
	if err != nil || !res.ImplicitKeep || len(res.Duplicates) != 1 {
		t.Fatalf("first: %s %+v %v", actions(res), res.Duplicates, err)
	}
	tr[res.Duplicates[0].ID] = true // delivered: record it
	res, err = s.Eval(context.Background(), msg, nil, &sieve.EvalOptions{Duplicates: tr})
	if err != nil || actions(res) != `fileinto "Dups"` || len(res.Duplicates) != 0 {
		t.Fatalf("second: %s %+v %v", actions(res), res.Duplicates, err)
	}
}

func TestSpamtest(t *testing.T) {
	raw := "X-Spam-Score: 7.5\r\nX-Spam-Level: *******\r\n\r\nx\r\n"
	s, err := sieve.Compile([]byte(`require ["spamtestplus","variables","fileinto"];
		if spamtest :matches "*" { set "a" "${1}"; }
		if spamtest :percent :matches "*" { set "b" "${1}"; }
		fileinto "${a}-${b}";`), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		sc   sieve.Scorer
		want string
	}{
		{nil, `fileinto "0-0"`},
		{&sieve.HeaderScorer{Header: "X-Spam-Score", Max: 10}, `fileinto "7-75"`},
		{&sieve.HeaderScorer{Header: "X-Spam-Level", Type: sieve.StatusStrlen, Max: 5}, `fileinto "10-100"`},
	} {
		res, err := s.Eval(context.Background(), sieve.NewMessage([]byte(raw)), nil, &sieve.EvalOptions{Spam: tc.sc})
		if err != nil || actions(res) != tc.want {
			t.Errorf("%+v: %s %v, want %s", tc.sc, actions(res), err, tc.want)
		}
	}
}

func TestCancelledContext(t *testing.T) {
	script := strings.Repeat(`if header :contains "subject" "nothere" { keep; }`, 5000)
	s, err := sieve.Compile([]byte(script), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, err := s.Eval(ctx, sieve.NewMessage([]byte(testMsg)), nil, nil)
	if !errors.Is(err, context.Canceled) || !res.ImplicitKeep {
		t.Errorf("got %v, %+v", err, res)
	}
}

// A compiled script serves concurrent evaluations (run with -race).
func TestConcurrentEval(t *testing.T) {
	s, err := sieve.Compile([]byte(`require ["variables","fileinto","editheader","imap4flags","body"];
		if header :matches "subject" "* *" { set "w" "${2}"; }
		addflag "x"; addheader "X-N" "${w}";
		if body :contains "bob" { fileinto "${w}"; }`), nil)
	if err != nil {
		t.Fatal(err)
	}
	msg := sieve.NewMessage([]byte(testMsg))
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 50; j++ {
				res, err := s.Eval(context.Background(), msg, nil, nil)
				if err != nil || actions(res) != `fileinto "world" flags=x` {
					t.Errorf("%s %v", actions(res), err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestCache(t *testing.T) {
	var c sieve.Cache
	ctx := context.Background()
	a, err := c.Compile(ctx, []byte("keep;"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := c.Compile(ctx, []byte("keep;"))
	if a != b || c.Len() != 1 {
		t.Errorf("not cached")
	}
	if _, err := c.Compile(ctx, []byte("bad")); err == nil {
		t.Errorf("bad script compiled")
	}
	c.Max = 1
	c.Compile(ctx, []byte("discard;"))
	if c.Len() != 1 {
		t.Errorf("Len = %d after eviction", c.Len())
	}
	c.Purge()
	if c.Len() != 0 {
		t.Errorf("Len = %d after Purge", c.Len())
	}
}

func TestExtensionsOption(t *testing.T) {
	if _, err := sieve.Compile([]byte(`require "fileinto";`), &sieve.Options{Extensions: []string{"envelope"}}); err == nil {
		t.Error("fileinto allowed though not enabled")
	}
	if _, err := sieve.Compile([]byte(`require "envelope";`), &sieve.Options{Extensions: []string{"envelope"}}); err != nil {
		t.Error(err)
	}
}

func TestVacationCheck(t *testing.T) {
	v := &sieve.Vacation{Addresses: []string{"robert@example.net"}}
	for _, tc := range []struct {
		msg, from, to string
		ok            bool
	}{
		{"To: bob@example.net\r\n\r\n", "a@example.com", "bob@example.net", true},
		{"To: Robert <robert@example.net>\r\n\r\n", "a@example.com", "bob@example.net", true},
		{"To: bob@example.net\r\n\r\n", "", "bob@example.net", false},
		{"To: bob@example.net\r\n\r\n", "owner-list@example.com", "bob@example.net", false},
		{"To: bob@example.net\r\nAuto-Submitted: auto-replied\r\n\r\n", "a@example.com", "bob@example.net", false},
		{"To: bob@example.net\r\nAuto-Submitted: no\r\n\r\n", "a@example.com", "bob@example.net", true},
		{"To: bob@example.net\r\nList-Id: <l.example>\r\n\r\n", "a@example.com", "bob@example.net", false},
		{"To: bob@example.net\r\nPrecedence: bulk\r\n\r\n", "a@example.com", "bob@example.net", false},
		{"To: someone@example.net\r\n\r\n", "a@example.com", "bob@example.net", false},
	} {
		err := v.Check(sieve.NewMessage([]byte(tc.msg)), &sieve.Envelope{From: tc.from, To: tc.to})
		if (err == nil) != tc.ok || err != nil && !errors.Is(err, sieve.ErrNoReply) {
			t.Errorf("%q from %q: %v", tc.msg, tc.from, err)
		}
	}
}

func TestGlobBudget(t *testing.T) {
	body := strings.Repeat("a", 200_000)
	s, err := sieve.Compile([]byte(`require "body"; if body :matches "*`+strings.Repeat("a", 30)+`b" { discard; }`),
		&sieve.Options{Limits: sieve.Limits{MaxSteps: 2000}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Eval(context.Background(), sieve.NewMessage([]byte("Subject: x\r\n\r\n"+body)), nil, nil)
	if !errors.Is(err, sieve.ErrLimit) || !res.ImplicitKeep {
		t.Errorf("got %v %+v", err, res)
	}
}
