package maildir_test

import (
	"sync"
	"testing"

	"github.com/postyard/postyard/mailbox"
	"github.com/postyard/postyard/mailbox/mailboxtest"
	"github.com/postyard/postyard/mailbox/maildir"
)

func TestConformance(t *testing.T) {
	var mu sync.Mutex
	dirOf := map[mailbox.Store]string{} // for the reopen hook
	open := func(t *testing.T, dir string) mailbox.Store {
		st, err := maildir.Open(dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		dirOf[st] = dir
		mu.Unlock()
		return st
	}
	mailboxtest.RunWithOptions(t, func(t *testing.T) mailbox.Store {
		return open(t, t.TempDir())
	}, &mailboxtest.Options{
		Reopen: func(t *testing.T, s mailbox.Store) mailbox.Store {
			mu.Lock()
			dir := dirOf[s]
			mu.Unlock()
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			return open(t, dir)
		},
		// Appending 16 MiB may allocate 4 MiB at most: the message is
		// streamed to disk.
		MaxAppendAlloc: 4 << 20,
	})
}
