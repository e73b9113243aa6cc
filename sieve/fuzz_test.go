package sieve_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/postyard/postyard/sieve"
)

// Seeds: every differential script and message, plus hostile shapes.
func fuzzSeeds(f *testing.F) (scripts, msgs [][]byte) {
	paths, _ := filepath.Glob(filepath.Join(diffDir, "scripts", "*.sieve"))
	inc, _ := filepath.Glob(filepath.Join(diffDir, "include", "*", "*.sieve"))
	for _, p := range append(paths, inc...) {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		scripts = append(scripts, b)
	}
	scripts = append(scripts,
		[]byte(strings.Repeat("if true {", 50)+strings.Repeat("}", 50)),
		[]byte("if "+strings.Repeat("anyof(", 40)+"true"+strings.Repeat(")", 40)+" {}"),
		[]byte(`if header :is "a" [`+strings.Repeat(`"x",`, 3000)+`"y"] {}`),
		[]byte(`require "regex"; if header :regex "subject" "(a*)*b" {}`),
		[]byte(`require "include"; include "a"; include :global "b";`),
		[]byte(`require ["variables","encoded-character"]; set "a" "${hex:24 7B}a}"; set "b" "${a}${a}${a}";`),
		[]byte("require \"reject\"; reject text:\r\n..x\r\n.\r\n;"),
	)
	ms, _ := filepath.Glob(filepath.Join(diffDir, "messages", "*.eml"))
	for _, p := range ms {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		msgs = append(msgs, b)
	}
	return scripts, msgs
}

// fuzzLoader serves a cycle and a chain, whatever the name.
var fuzzLoader = sieve.LoaderFunc(func(_ context.Context, loc sieve.Location, name string) ([]byte, error) {
	switch name {
	case "a":
		return []byte(`require "include"; include "b"; keep;`), nil
	case "b":
		return []byte(`require "include"; include "a";`), nil
	case "c":
		return []byte(`require ["include","fileinto"]; include :once "c2"; fileinto "c";`), nil
	case "c2":
		return []byte(`discard;`), nil
	}
	return nil, sieve.ErrNotFound
})

func FuzzCompile(f *testing.F) {
	scripts, _ := fuzzSeeds(f)
	for _, s := range scripts {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		s, err := sieve.Compile(src, &sieve.Options{Loader: fuzzLoader})
		if err == nil && s == nil {
			t.Fatal("nil script without error")
		}
		if err != nil {
			if l, ok := err.(sieve.ErrorList); !ok || len(l) == 0 {
				t.Fatalf("error %T %v is not a non-empty ErrorList", err, err)
			}
		}
	})
}

func FuzzEval(f *testing.F) {
	scripts, msgs := fuzzSeeds(f)
	for i, s := range scripts {
		f.Add(s, msgs[i%len(msgs)])
	}
	opts := diffEvalOptions()
	opts.Duplicates = tracker{}
	f.Fuzz(func(t *testing.T, src, raw []byte) {
		s, err := sieve.Compile(src, &sieve.Options{Loader: fuzzLoader})
		if err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		start := time.Now()
		res, err := s.Eval(ctx, sieve.NewMessage(raw), &sieve.Envelope{From: "a@b.example", To: "c+d@e.example"}, opts)
		if res == nil {
			t.Fatal("nil result")
		}
		if err != nil && (len(res.Actions) != 0 || !res.ImplicitKeep) {
			t.Fatalf("error %v without a plain implicit keep: %+v", err, res)
		}
		if err == nil && !res.ImplicitKeep && len(res.Actions) == 0 {
			t.Fatal("no action and no implicit keep")
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Fatalf("evaluation took %v", d)
		}
	})
}
