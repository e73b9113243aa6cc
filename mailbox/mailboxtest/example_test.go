package mailboxtest_test

import (
	"sync"
	"testing"

	"github.com/postyard/postyard/mailbox"
	"github.com/postyard/postyard/mailbox/mailboxtest"
	"github.com/postyard/postyard/mailbox/maildir"
	"github.com/postyard/postyard/mailbox/memstore"
)

// A Store implementation runs the suite from a test of its own package:
//
//	func TestConformance(t *testing.T) { ... }
//
// with a function that returns a new, empty store for each test. The
// example has no output: the suite needs the *testing.T of a running test.
func ExampleRun() {
	testConformance := func(t *testing.T) {
		mailboxtest.Run(t, func(t *testing.T) mailbox.Store {
			return memstore.New(nil) // the suite closes it
		})
	}
	_ = testConformance // func TestConformance(t *testing.T) in a store's tests
}

// A file-backed store also runs the persistence tests: Reopen closes a
// store and opens its directory again, as after a restart. MaxAppendAlloc
// proves that a large message is streamed to disk, not held in memory.
func ExampleRunWithOptions() {
	testConformance := func(t *testing.T) {
		var dirs sync.Map // mailbox.Store -> its directory
		open := func(t *testing.T, dir string) mailbox.Store {
			st, err := maildir.Open(dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			dirs.Store(st, dir)
			return st
		}
		mailboxtest.RunWithOptions(t, func(t *testing.T) mailbox.Store {
			return open(t, t.TempDir())
		}, &mailboxtest.Options{
			Reopen: func(t *testing.T, s mailbox.Store) mailbox.Store {
				dir, _ := dirs.Load(s)
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
				return open(t, dir.(string))
			},
			MaxAppendAlloc: 4 << 20, // of the 16 MiB message
		})
	}
	_ = testConformance // func TestConformance(t *testing.T) in a store's tests
}
