package memstore_test

import (
	"testing"

	"github.com/postyard/postyard/mailbox"
	"github.com/postyard/postyard/mailbox/mailboxtest"
	"github.com/postyard/postyard/mailbox/memstore"
)

func TestConformance(t *testing.T) {
	mailboxtest.Run(t, func(t *testing.T) mailbox.Store {
		return memstore.New(nil)
	})
}
