package memstore_test

import (
	"context"
	"fmt"
	"log"
	"strings"

	"github.com/postyard/postyard/mailbox"
	"github.com/postyard/postyard/mailbox/memstore"
)

// A message is delivered, an IMAP-like session sees it arrive, reads its
// envelope from the cached metadata, marks it seen and files it.
func Example() {
	ctx := context.Background()
	st := memstore.New(&memstore.Options{Quota: mailbox.Quota{MaxMessages: 1000}})
	defer st.Close()

	alice, err := st.User(ctx, "alice") // created with INBOX on first use
	if err != nil {
		log.Fatal(err)
	}
	inbox, err := alice.Open(ctx, mailbox.Inbox, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer inbox.Close()
	sub, err := inbox.Watch(ctx)
	if err != nil {
		log.Fatal(err)
	}

	raw := "From: Bob <bob@example.org>\r\nSubject: Lunch?\r\n\r\nAt noon.\r\n"
	errs, err := st.Deliver(ctx, strings.NewReader(raw), []mailbox.Recipient{{User: "alice"}})
	if err != nil || errs[0] != nil {
		log.Fatal(err, errs)
	}
	evs, _ := sub.Wait(ctx)
	fmt.Println("event:", evs[0].Kind, "UID", evs[0].UID)

	for m, err := range inbox.Messages(ctx, mailbox.AllUIDs(), &mailbox.FetchOptions{Metadata: mailbox.MetadataAll}) {
		if err != nil {
			log.Fatal(err)
		}
		env := m.Metadata.Envelope
		fmt.Printf("UID %d, %d bytes, from %s@%s: %s\n", m.UID, m.Size, env.From[0].Mailbox, env.From[0].Host, env.Subject)
	}

	res, err := inbox.UpdateFlags(ctx, mailbox.UIDSetOf(1), &mailbox.FlagUpdate{Op: mailbox.FlagsAdd, Flags: mailbox.FlagSeen})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("flags:", res.Messages[0].Flags)

	if err := alice.Create(ctx, "Archive", &mailbox.CreateOptions{SpecialUse: mailbox.Archive}); err != nil {
		log.Fatal(err)
	}
	moved, err := inbox.Move(ctx, mailbox.UIDSetOf(1), "Archive")
	if err != nil {
		log.Fatal(err)
	}
	// UIDPLUS: COPYUID <validity> <source set> <destination set>.
	fmt.Printf("moved %s to Archive as %s\n", mailbox.UIDSetOf(moved.Source...), mailbox.UIDSetOf(moved.Dest...))
	q, _ := alice.Quota(ctx)
	fmt.Printf("quota: %d of %d messages\n", q.Messages, q.MaxMessages)
	// Output:
	// event: new UID 1
	// UID 1, 58 bytes, from bob@example.org: Lunch?
	// flags: \Seen
	// moved 1 to Archive as 1
	// quota: 1 of 1000 messages
}
