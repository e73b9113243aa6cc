package sieve_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/postyard/postyard/sieve"
)

func Example() {
	script := `require ["fileinto", "imap4flags", "envelope", "subaddress", "variables", "vacation"];
# Newsletters go to a folder named after the list.
if header :matches "list-id" "*<*.lists.example.org>" {
  fileinto "Lists/${2}";
  stop;
}
# Mail from the boss is flagged and kept.
if address :is "from" "boss@example.com" {
  addflag "\\Flagged";
}
# user+tag@ files by tag.
if envelope :detail :matches "to" "?*" {
  fileinto "Tags/${0}";
}
vacation :days 7 :subject "Away" :handle "away" "I am away until Monday.";
`
	s, err := sieve.Compile([]byte(script), nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	msg := sieve.NewMessage([]byte("From: The Boss <boss@example.com>\r\n" +
		"To: bob+work@example.net\r\n" +
		"Subject: budget\r\n\r\nNumbers by noon, please.\r\n"))
	env := &sieve.Envelope{From: "boss@example.com", To: "bob+work@example.net"}
	res, err := s.Eval(context.Background(), msg, env, nil)
	if err != nil {
		fmt.Println("error:", err) // res still keeps the message
	}
	for _, a := range res.All() {
		fmt.Println(a)
	}
	// Output:
	// fileinto "Tags/work" flags=\Flagged
	// vacation period=168h0m0s handle="away" subject="Away" from=""
}

func ExampleCompile_error() {
	_, err := sieve.Compile([]byte("require \"fileinto\";\nif header :contains \"subject\" \"x\" {\n  fileinto \"A\"\n}\n"), &sieve.Options{Name: "user.sieve"})
	var e *sieve.Error
	if errors.As(err, &e) {
		fmt.Printf("%s line %d column %d: %s\n", e.Script, e.Line, e.Col, e.Msg)
	}
	// Output:
	// user.sieve line 4 column 1: expected ';' or '{' after fileinto command arguments but found '}'
}

func ExampleScript_Eval_runtimeError() {
	// Rejecting after filing is an action conflict (RFC 5429 §2.2): the
	// evaluation fails, and the Result falls back to keeping the message.
	s, _ := sieve.Compile([]byte(`require ["fileinto", "reject"]; fileinto "A"; reject "no";`), nil)
	res, err := s.Eval(context.Background(), sieve.NewMessage([]byte("Subject: x\r\n\r\n")), nil, nil)
	fmt.Println(err != nil, res.All())
	// Output:
	// true [implicit keep]
}

func ExampleLoaderFunc() {
	scripts := map[string]string{
		"spam": `require ["fileinto", "spamtest", "relational", "comparator-i;ascii-numeric"];
		         if spamtest :value "ge" :comparator "i;ascii-numeric" "6" { fileinto "Junk"; stop; }`,
	}
	loader := sieve.LoaderFunc(func(_ context.Context, loc sieve.Location, name string) ([]byte, error) {
		if src, ok := scripts[name]; ok && loc == sieve.Global {
			return []byte(src), nil
		}
		return nil, sieve.ErrNotFound
	})
	s, err := sieve.Compile([]byte(`require "include"; include :global "spam"; keep;`), &sieve.Options{Loader: loader})
	if err != nil {
		fmt.Println(err)
		return
	}
	opts := &sieve.EvalOptions{Spam: &sieve.HeaderScorer{Header: "X-Spam-Score", Max: 10}}
	res, _ := s.Eval(context.Background(), sieve.NewMessage([]byte("X-Spam-Score: 8.2\r\n\r\nbuy\r\n")), nil, opts)
	fmt.Println(res.All())
	// Output:
	// [fileinto "Junk"]
}

func ExampleCache() {
	var cache sieve.Cache // zero value: default options, 1024 scripts
	src := []byte(`require "fileinto"; if header :contains "subject" "[ticket]" { fileinto "Tickets"; }`)
	a, _ := cache.Compile(context.Background(), src)
	b, _ := cache.Compile(context.Background(), src)
	fmt.Println(a == b, cache.Len())
	// Output:
	// true 1
}
