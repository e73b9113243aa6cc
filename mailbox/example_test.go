package mailbox_test

import (
	"context"
	"fmt"
	"log"
	"strings"

	"github.com/postyard/postyard/mailbox"
	"github.com/postyard/postyard/mailbox/memstore"
)

// The model through the Store interface, as an IMAP session uses it: a
// user's mailboxes, messages appended with flags and keywords and
// addressed by UID, a flag change (STORE) that bumps MODSEQs, and the
// mailbox status. Any Store behaves the same; this one is memstore.
func Example() {
	ctx := context.Background()
	var store mailbox.Store = memstore.New(nil)
	defer store.Close()

	alice, err := store.User(ctx, "alice") // memstore creates users, with INBOX, on first use
	if err != nil {
		log.Fatal(err)
	}
	// CREATE "Work/Projects" creates the parent "Work" too.
	if err := alice.Create(ctx, "Work/Projects", nil); err != nil {
		log.Fatal(err)
	}
	if err := alice.Create(ctx, "Sent", &mailbox.CreateOptions{SpecialUse: mailbox.Sent}); err != nil {
		log.Fatal(err)
	}
	boxes, err := alice.List(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for _, b := range boxes {
		fmt.Printf("mailbox %q special-use %q\n", b.Name, b.SpecialUse)
	}

	work, err := alice.Open(ctx, "Work", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer work.Close()
	for i, opts := range []*mailbox.AppendOptions{
		nil,
		{Flags: mailbox.FlagSeen | mailbox.FlagFlagged},
		{Flags: mailbox.FlagSeen, Keywords: []string{"$Forwarded", "Project-X"}},
	} {
		msg := fmt.Sprintf("Subject: note %d\r\n\r\nText.\r\n", i+1)
		if _, err := work.Append(ctx, strings.NewReader(msg), opts); err != nil {
			log.Fatal(err)
		}
	}
	// STORE 1:2 -FLAGS (\Seen): message 1 has no \Seen, so only 2 changes.
	res, err := work.UpdateFlags(ctx, mailbox.UIDSetOf(1, 2), &mailbox.FlagUpdate{Op: mailbox.FlagsRemove, Flags: mailbox.FlagSeen})
	if err != nil {
		log.Fatal(err)
	}
	for _, m := range res.Messages {
		fmt.Printf("STORE: UID %d MODSEQ %d flags %q\n", m.UID, m.ModSeq, m.Flags.Names())
	}

	for m, err := range work.Messages(ctx, mailbox.AllUIDs(), nil) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("UID %d MODSEQ %d %d bytes flags %q keywords %q\n", m.UID, m.ModSeq, m.Size, m.Flags.Names(), m.Keywords)
	}
	st, err := work.Status(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s: %d messages, %d unseen, UIDNEXT %d, HIGHESTMODSEQ %d, keywords %q\n",
		st.Name, st.Messages, st.Unseen, st.UIDNext, st.HighestModSeq, st.Keywords)
	// Output:
	// mailbox "INBOX" special-use ""
	// mailbox "Sent" special-use "\\Sent"
	// mailbox "Work" special-use ""
	// mailbox "Work/Projects" special-use ""
	// STORE: UID 1 MODSEQ 2 flags []
	// STORE: UID 2 MODSEQ 5 flags ["\\Flagged"]
	// UID 1 MODSEQ 2 26 bytes flags [] keywords []
	// UID 2 MODSEQ 5 26 bytes flags ["\\Flagged"] keywords []
	// UID 3 MODSEQ 4 26 bytes flags ["\\Seen"] keywords ["$Forwarded" "Project-X"]
	// Work: 3 messages, 2 unseen, UIDNEXT 4, HIGHESTMODSEQ 5, keywords ["$Forwarded" "Project-X"]
}

// UID sets in IMAP syntax, as the UIDPLUS response codes carry them.
func ExampleUIDSet() {
	var s mailbox.UIDSet
	for _, uid := range []mailbox.UID{7, 1, 2, 3, 9, 8} {
		s.Add(uid)
	}
	fmt.Println(s, s.Contains(5), s.Contains(8))
	for uid := range mailbox.UIDSetOf(4, 2, 3).All() {
		fmt.Print(uid, " ")
	}
	fmt.Println()
	// Output:
	// 1:3,7:9 false true
	// 2 3 4
}
