package relay

import (
	"context"
	"log/slog"
	"strings"
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
	_, local, err := d.Local.isLocal(smtp.Path{Local: "x", Domain: canonicalLiteral(dest)})
	return err == nil && local
}

// canonicalLiteral returns domain with the tag of an IPv6 address literal
// spelt "IPv6:" (RFC 5321 §4.1.3), whatever its case was (RFC 5234 §2.3;
// queue.Destination lower-cases it), as Policy expects it.
func canonicalLiteral(domain string) string {
	if len(domain) > 6 && domain[0] == '[' && strings.EqualFold(domain[1:6], "IPv6:") {
		return "[IPv6:" + domain[6:]
	}
	return domain
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
		to := m.Envelope.Recipients[i].To
		to.Domain = canonicalLiteral(to.Domain)
		if err := d.Local.resolve(ctx, nil, to, dec, 0, false); err != nil {
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
	errs, err := d.localCopies(ctx, m, users, rcpts, owner, log) // sieve_local.go
	if err != nil {
		errs = make([]error, len(users))
		for j := range errs {
			errs[j] = err
		}
	}
	// A recipient is delivered when all its users' copies are.
	failed := make(map[int]error)
	for j, k := range owner {
		if errs[j] != nil && failed[k] == nil {
			failed[k] = errs[j]
		}
	}
	done := make(map[int]bool)
	for _, k := range owner {
		if done[k] {
			continue
		}
		done[k] = true
		if err := failed[k]; err != nil {
			out = append(out, outcomeFor(rcpts[k], replyError(localError(err), "local")))
		} else {
			out = append(out, queue.Delivered(rcpts[k], "local"))
		}
	}
	return out
}

// deliverCopies stores the queued message, with a Return-Path
// (RFC 5321 §4.4), for each user: one error per user, or an error for all.
func (d *Deliverer) deliverCopies(ctx context.Context, m *queue.Message, users []mailbox.Recipient) ([]error, error) {
	content, err := d.Queue.Open(ctx, m.ID)
	if err != nil {
		return nil, err
	}
	defer content.Close()
	return d.Mailboxes.Deliver(ctx, withReturnPath(m.Envelope.From, content), users)
}

// outcomeFor turns a delivery error into a permanent or temporary outcome.
func outcomeFor(i int, de *queue.DeliveryError) queue.Outcome {
	if de.Permanent {
		return queue.PermFail(i, de)
	}
	return queue.TempFail(i, de, time.Time{})
}
