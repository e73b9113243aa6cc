package sieve_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/postyard/postyard/sieve"
)

// rules100 is a 100-rule script of the kinds users write: list filing,
// sender rules, subject keywords, flags, a few regex and body tests, and a
// spam rule; only the last rules match the benchmark message.
func rules100() string {
	var b strings.Builder
	b.WriteString(`require ["fileinto", "imap4flags", "variables", "envelope", "relational",
	"comparator-i;ascii-numeric", "spamtest", "regex", "body", "mailbox", "copy", "subaddress"];
`)
	for i := 0; i < 30; i++ {
		fmt.Fprintf(&b, "if header :contains \"list-id\" \"list%d.example.org\" { fileinto :create \"Lists/list%d\"; stop; }\n", i, i)
	}
	for i := 0; i < 30; i++ {
		fmt.Fprintf(&b, "if address :is \"from\" \"person%d@example.com\" { addflag \"\\\\Flagged\"; fileinto \"People/%d\"; }\n", i, i)
	}
	for i := 0; i < 20; i++ {
		fmt.Fprintf(&b, "if header :matches \"subject\" \"*[ticket-%d]*\" { fileinto \"Tickets\"; }\n", i)
	}
	for i := 0; i < 10; i++ {
		fmt.Fprintf(&b, "if header :regex \"subject\" \"^(re|fwd): order #%d[0-9]+$\" { fileinto \"Orders\"; }\n", i)
	}
	for i := 0; i < 5; i++ {
		fmt.Fprintf(&b, "if envelope :detail \"to\" \"tag%d\" { fileinto \"Tags/%d\"; }\n", i, i)
	}
	b.WriteString(`if spamtest :value "ge" :comparator "i;ascii-numeric" "6" { fileinto "Junk"; stop; }
if body :contains "unsubscribe" { addflag "newsletter"; }
if header :matches "subject" "* *" { set "first" "${1}"; }
if address :domain "from" "example.com" { fileinto :copy "Archive/${first}"; }
if size :over 1M { addflag "big"; }
`)
	return b.String()
}

func BenchmarkEval100Rules(b *testing.B) {
	src := rules100()
	if n := strings.Count(src, "\nif "); n != 100 {
		b.Fatalf("script has %d rules", n)
	}
	s, err := sieve.Compile([]byte(src), nil)
	if err != nil {
		b.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(diffDir, "messages", "m01-plain.eml"))
	if err != nil {
		b.Fatal(err)
	}
	env := &sieve.Envelope{From: "alice@example.com", To: "bob+tag3@example.net"}
	opts := diffEvalOptions()
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		// A new Message per delivery, as in real use: headers are parsed
		// on each evaluation.
		res, err := s.Eval(ctx, sieve.NewMessage(raw), env, opts)
		if err != nil || len(res.Actions) != 2 {
			b.Fatalf("%v %v", res.All(), err)
		}
	}
}

func BenchmarkCompile100Rules(b *testing.B) {
	src := []byte(rules100())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := sieve.Compile(src, nil); err != nil {
			b.Fatal(err)
		}
	}
}
