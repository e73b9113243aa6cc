package relay

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/postyard/postyard/mailbox"
	"github.com/postyard/postyard/smtp"
)

// Archive keeps a copy of every message Inbound or Submission accepts, for
// compliance or backup: either in a mailbox of the local store, delivered
// together with the other local copies, or forwarded to an archive address
// through the queue. Messages refused or discarded by the checks are not
// archived; quarantined ones are (in the archive mailbox as usual; a
// forwarded copy is held with the rest of the queued message).
type Archive struct {
	// Mailbox is where the copies go: a user of the local store and one of
	// its mailboxes ("" means INBOX). It must exist. Used when User is set.
	User    string
	Mailbox string
	// Address is where copies are forwarded when User is "": a recipient
	// added to the queued envelope, with NOTIFY=NEVER so that the sender
	// never hears about it.
	Address smtp.Path
	// Retention is how long archived copies are kept in Mailbox; older
	// ones are expunged by Sweep. Zero keeps them forever.
	Retention time.Duration
}

// local reports whether copies are delivered to the local store.
func (a *Archive) local() bool { return a.User != "" }

// Sweep expunges, from the archive mailbox in store, the copies whose
// internal date is older than Retention before now. It returns how many
// it removed. It does nothing when Retention is zero or the copies are
// forwarded.
func (a *Archive) Sweep(ctx context.Context, store mailbox.Store, now time.Time) (int, error) {
	if a.Retention <= 0 || !a.local() {
		return 0, nil
	}
	u, err := store.User(ctx, a.User)
	if err != nil {
		return 0, err
	}
	name := a.Mailbox
	if name == "" {
		name = mailbox.Inbox
	}
	mb, err := u.Open(ctx, name, nil)
	if err != nil {
		return 0, err
	}
	defer mb.Close()
	cutoff := now.Add(-a.Retention)
	var old mailbox.UIDSet
	for m, err := range mb.Messages(ctx, mailbox.AllUIDs(), nil) {
		if err != nil {
			return 0, err
		}
		if m.InternalDate.Before(cutoff) {
			old.Add(m.UID)
		}
	}
	if old.IsEmpty() {
		return 0, nil
	}
	if _, err := mb.UpdateFlags(ctx, old, &mailbox.FlagUpdate{Op: mailbox.FlagsAdd, Flags: mailbox.FlagDeleted}); err != nil {
		return 0, err
	}
	gone, err := mb.Expunge(ctx, old)
	if err != nil {
		return 0, err
	}
	n := 0
	for range gone.All() {
		n++
	}
	return n, nil
}

// Run sweeps every interval until ctx ends, logging what it removed. It
// returns ctx's error.
func (a *Archive) Run(ctx context.Context, store mailbox.Store, interval time.Duration, log *slog.Logger) error {
	if log == nil {
		log = slog.Default()
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case now := <-t.C:
			n, err := a.Sweep(ctx, store, now)
			switch {
			case err != nil && !errors.Is(err, context.Canceled):
				log.Error("archive sweep failed", "err", err)
			case n > 0:
				log.Info("archive swept", "removed", n)
			}
		}
	}
}
