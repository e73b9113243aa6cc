package maildir_test

import (
	"testing"

	"github.com/postyard/postyard/mailbox"
	"github.com/postyard/postyard/mailbox/mailboxtest"
	"github.com/postyard/postyard/mailbox/maildir"
)

// dirOf remembers each store's directory for the reopen hook.
var dirOf = map[mailbox.Store]string{}

func TestConformance(t *testing.T) {
	dirs := make(chan struct{}, 1)
	dirs <- struct{}{}
	open := func(t *testing.T, dir string) mailbox.Store {
		st, err := maildir.Open(dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		<-dirs
		dirOf[st] = dir
		dirs <- struct{}{}
		return st
	}
	mailboxtest.RunWithOptions(t, func(t *testing.T) mailbox.Store {
		return open(t, t.TempDir())
	}, &mailboxtest.Options{
		Reopen: func(t *testing.T, s mailbox.Store) mailbox.Store {
			<-dirs
			dir := dirOf[s]
			dirs <- struct{}{}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			return open(t, dir)
		},
		MaxAppendAlloc: 4 << 20,
	})
}
