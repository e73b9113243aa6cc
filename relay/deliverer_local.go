package relay

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/postyard/postyard/mailbox"
	"github.com/postyard/postyard/queue"
	"github.com/postyard/postyard/smtp"
)

// isLocal reports whether dest (a queue.Destination) is one of Local's
// domains and local delivery is configured.
func (d *Deliverer) isLocal(dest string) bool {
	if d.Local == nil || d.Mailboxes == nil {
		return false
	}
	_, local, err := d.Local.isLocal(smtp.Path{Local: "x", Domain: dest})
	return err == nil && local
}

// deliverLocal delivers recipients in a local domain to their mailboxes,
// with a Return-Path (RFC 5321 §4.4).
func (d *Deliverer) deliverLocal(ctx context.Context, m *queue.Message, rcpts []int, log *slog.Logger) []queue.Outcome {
	out := make([]queue.Outcome, 0, len(rcpts))
	var (
		users []mailbox.Recipient
		owner []int // index in rcpts of each entry of users
	)
	for k, i := range rcpts {
		dec := &Decision{}
		if err := d.Local.resolve(ctx, nil, m.Envelope.Recipients[i].To, dec, 0, false); err != nil {
			out = append(out, outcomeFor(i, replyError(err, "local")))
			continue
		}
		if len(dec.Forward) > 0 {
			log.Warn("alias with remote targets reached the queue; remote targets dropped", "rcpt", m.Envelope.Recipients[i].To.String())
		}
		for _, u := range dec.Users {
			users = append(users, mailbox.Recipient{User: u})
			owner = append(owner, k)
		}
		if len(dec.Users) == 0 {
			out = append(out, queue.Delivered(i, "local"))
		}
	}
	if len(users) == 0 {
		return out
	}
	fail := func(err error) []queue.Outcome {
		done := map[int]bool{}
		for _, k := range owner {
			if !done[k] {
				done[k] = true
				out = append(out, outcomeFor(rcpts[k], replyError(localError(err), "local")))
			}
		}
		return out
	}
	content, err := d.Queue.Open(ctx, m.ID)
	if err != nil {
		return fail(err)
	}
	defer content.Close()
	rp := []byte("Return-Path: <" + m.Envelope.From.String() + ">\r\n")
	errs, err := d.Mailboxes.Deliver(ctx, io.MultiReader(bytes.NewReader(rp), content), users)
	if err != nil {
		return fail(err)
	}
	// A recipient is delivered when all its users' copies are.
	firstErr := make(map[int]error)
	for j, k := range owner {
		if errs[j] != nil && firstErr[k] == nil {
			firstErr[k] = errs[j]
		}
		if _, ok := firstErr[k]; !ok {
			firstErr[k] = nil
		}
	}
	for k, err := range firstErr {
		if err != nil {
			out = append(out, outcomeFor(rcpts[k], replyError(localError(err), "local")))
		} else {
			out = append(out, queue.Delivered(rcpts[k], "local"))
		}
	}
	return out
}

// outcomeFor turns a delivery error into a permanent or temporary outcome.
func outcomeFor(i int, de *queue.DeliveryError) queue.Outcome {
	if de.Permanent {
		return queue.PermFail(i, de)
	}
	return queue.TempFail(i, de, time.Time{})
}
