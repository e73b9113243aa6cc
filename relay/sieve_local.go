package relay

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"sync"

	"github.com/postyard/postyard/mailbox"
	"github.com/postyard/postyard/queue"
	"github.com/postyard/postyard/smtp"
)

// This file connects Sieve to the two places where mail reaches local
// users: Inbound (and Submission) at DATA, and Deliverer for queued mail.

// quarantineMailbox is the mailbox of messages with a spam verdict: name,
// or "Junk".
func quarantineMailbox(name string) string {
	if name != "" {
		return name
	}
	return "Junk"
}

// sieveBufs holds the buffers deliverSieve reads messages into, up to
// sieveBufMax bytes each.
var sieveBufs sync.Pool

const sieveBufMax = 1 << 20

// deliverSieve is deliverLocal when Inbound.Sieve is set: users are those
// of deliver, with the archive copy, if local, last.
func (s *inSession) deliverSieve(ctx context.Context, r io.Reader, users []mailbox.Recipient) ([]error, error) {
	log := s.in.logger()
	// The message is read into a pooled buffer: nothing keeps it once
	// deliver returns (the stores and the queue read it while called).
	buf, _ := sieveBufs.Get().(*bytes.Buffer)
	if buf == nil {
		buf = new(bytes.Buffer)
	}
	defer func() {
		if buf.Cap() <= sieveBufMax {
			buf.Reset()
			sieveBufs.Put(buf)
		}
	}()
	if _, err := buf.ReadFrom(r); err != nil {
		log.Error("local delivery failed", "err", err)
		return nil, smtp.ErrTemporary
	}
	raw := buf.Bytes()
	archive := -1
	if a := s.in.Archive; a != nil && a.local() {
		archive = len(users) - 1
	}
	rcpts := make([]sieveRcpt, len(users))
	for j, u := range users {
		if j == archive {
			rcpts[j] = sieveRcpt{user: u.User, plain: true, mailbox: u.Mailbox}
			continue
		}
		rcpts[j] = sieveRcpt{user: u.User, to: s.rcptOf(u.User)}
	}
	job := &sieveJob{
		mailboxes: s.in.Deliverer, queue: s.in.Queue, policy: s.in.Policy,
		junk: quarantineMailbox(s.in.QuarantineMailbox), from: s.from, opts: s.opts, raw: raw,
		quarantine: s.quarantine, rcpts: rcpts, log: log,
	}
	if s.in.QueueOptions != nil {
		job.hostname = s.in.QueueOptions.Hostname
	}
	errs, err := s.in.Sieve.deliver(ctx, job)
	if err != nil {
		log.Error("local delivery failed", "err", err)
		return nil, smtp.ErrTemporary
	}
	for i, e := range errs {
		if e != nil {
			errs[i] = localError(e)
		}
	}
	return errs, nil
}

// rcptOf returns the first RCPT whose decision delivers to user: the
// envelope recipient its scripts see.
func (s *inSession) rcptOf(user string) smtp.Path {
	for _, rc := range s.rcpts {
		for _, u := range rc.decision.Users {
			if u == user {
				return rc.to
			}
		}
	}
	return smtp.Path{}
}

// localCopies stores the copies of queued message m for users (owner[j]
// is the index in rcpts of users[j]'s recipient): through d.Sieve when
// set, else as they are.
func (d *Deliverer) localCopies(ctx context.Context, m *queue.Message, users []mailbox.Recipient, rcpts, owner []int, log *slog.Logger) ([]error, error) {
	if d.Sieve == nil {
		return d.deliverCopies(ctx, m, users)
	}
	content, err := d.Queue.Open(ctx, m.ID)
	if err != nil {
		return nil, err
	}
	raw, err := io.ReadAll(content)
	content.Close()
	if err != nil {
		return nil, err
	}
	job := &sieveJob{
		mailboxes: d.Mailboxes, queue: d.Queue, policy: d.Local, hostname: d.Hostname,
		junk: quarantineMailbox(d.QuarantineMailbox), from: m.Envelope.From, opts: m.Envelope.Options, raw: raw, log: log,
	}
	for j, u := range users {
		to := m.Envelope.Recipients[rcpts[owner[j]]].To
		job.rcpts = append(job.rcpts, sieveRcpt{user: u.User, to: to})
	}
	return d.Sieve.deliver(ctx, job)
}
