package maildir_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/postyard/postyard/mailbox"
	"github.com/postyard/postyard/mailbox/maildir"
)

// A message is delivered durably, flagged, and found on disk in the
// Maildir++ layout mail readers expect.
func Example() {
	dir, err := os.MkdirTemp("", "maildir-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	st, err := maildir.Open(dir, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()

	raw := "From: Bob <bob@example.org>\r\nSubject: Lunch?\r\n\r\nAt noon.\r\n"
	errs, err := st.Deliver(ctx, strings.NewReader(raw), []mailbox.Recipient{{User: "alice"}})
	if err != nil || errs[0] != nil {
		log.Fatal(err, errs)
	}
	alice, err := st.User(ctx, "alice")
	if err != nil {
		log.Fatal(err)
	}
	inbox, err := alice.Open(ctx, mailbox.Inbox, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer inbox.Close()
	if _, err := inbox.UpdateFlags(ctx, mailbox.UIDSetOf(1), &mailbox.FlagUpdate{Op: mailbox.FlagsAdd, Flags: mailbox.FlagSeen | mailbox.FlagFlagged}); err != nil {
		log.Fatal(err)
	}
	if err := alice.Create(ctx, "Lists/Go", nil); err != nil {
		log.Fatal(err)
	}

	files, _ := filepath.Glob(filepath.Join(dir, "alice", "cur", "*"))
	for _, f := range files {
		name := filepath.Base(f)
		fmt.Println("cur/…" + name[strings.Index(name, ",U="):])
	}
	folders, _ := filepath.Glob(filepath.Join(dir, "alice", ".*"))
	for _, f := range folders {
		fmt.Println(filepath.Base(f))
	}
	// Output:
	// cur/…,U=1:2,FS
	// .Lists
	// .Lists.Go
}
