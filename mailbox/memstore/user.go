package memstore

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/postyard/postyard/mailbox"
)

// user is one user's mailboxes. mu guards the user and all its boxes and
// messages (except message bytes and metadata, which never change).
type user struct {
	st   *Store
	name string

	mu         sync.Mutex
	boxes      map[string]*box
	subscribed map[string]bool
	quota      mailbox.Quota
	bytes      int64 // total size of all messages
	count      int64 // number of messages
}

var _ mailbox.User = (*user)(nil)

func (u *user) Name() string { return u.name }

// lock checks ctx and the store, then locks u. On error u is not locked.
func (u *user) lock(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if u.st.closed.Load() {
		return mailbox.ErrClosed
	}
	u.mu.Lock()
	return nil
}

// clean canonicalises a mailbox name, wrapping the error with op.
func clean(op, name string) (string, error) {
	n, err := mailbox.CleanName(name)
	if err != nil {
		return "", fmt.Errorf("memstore: %s %q: %w", op, name, err)
	}
	return n, nil
}

func noSuchMailbox(op, name string) error {
	return fmt.Errorf("memstore: %s %q: %w", op, name, mailbox.ErrNoSuchMailbox)
}

func (u *user) List(ctx context.Context) ([]mailbox.MailboxInfo, error) {
	if err := u.lock(ctx); err != nil {
		return nil, err
	}
	defer u.mu.Unlock()
	list := make([]mailbox.MailboxInfo, 0, len(u.boxes))
	for name, b := range u.boxes {
		list = append(list, mailbox.MailboxInfo{Name: name, SpecialUse: b.special, Subscribed: u.subscribed[name]})
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
	return list, nil
}

// newBox creates a mailbox; u.mu is held or u is not shared yet.
func (u *user) newBox(name string, special mailbox.SpecialUse) *box {
	b := &box{
		name:     name,
		special:  special,
		validity: u.st.nextValidity(),
		uidNext:  1,
		modseq:   1,
	}
	b.hub.MaxPending = u.st.opts.MaxPending
	u.boxes[name] = b
	return b
}

// createParents creates the missing parents of name; u.mu is held.
func (u *user) createParents(name string) error {
	for i := len(name) - 1; i > 0; i-- {
		if name[i] != mailbox.Delimiter {
			continue
		}
		if p := name[:i]; u.boxes[p] == nil {
			if err := u.createParents(p); err != nil {
				return err
			}
			if err := u.checkRoom(1); err != nil {
				return err
			}
			u.newBox(p, "")
		}
		return nil
	}
	return nil
}

// checkRoom reports whether n more mailboxes fit; u.mu is held.
func (u *user) checkRoom(n int) error {
	if max := u.st.opts.MaxMailboxes; max > 0 && len(u.boxes)+n > max {
		return fmt.Errorf("memstore: too many mailboxes: %w", mailbox.ErrLimit)
	}
	return nil
}

func (u *user) Create(ctx context.Context, name string, opts *mailbox.CreateOptions) error {
	name, err := clean("create", name)
	if err != nil {
		return err
	}
	var special mailbox.SpecialUse
	if opts != nil && opts.SpecialUse != "" {
		var ok bool
		if special, ok = mailbox.ParseSpecialUse(string(opts.SpecialUse)); !ok {
			return fmt.Errorf("memstore: create %q with %q: %w", name, opts.SpecialUse, mailbox.ErrNotAllowed)
		}
	}
	if err := u.lock(ctx); err != nil {
		return err
	}
	defer u.mu.Unlock()
	if u.boxes[name] != nil {
		return fmt.Errorf("memstore: create %q: %w", name, mailbox.ErrMailboxExists)
	}
	if err := u.checkRoom(1); err != nil {
		return err
	}
	if err := u.createParents(name); err != nil {
		return err
	}
	u.newBox(name, special)
	return nil
}

func (u *user) Delete(ctx context.Context, name string) error {
	name, err := clean("delete", name)
	if err != nil {
		return err
	}
	if name == mailbox.Inbox {
		return fmt.Errorf("memstore: delete INBOX: %w", mailbox.ErrNotAllowed)
	}
	if err := u.lock(ctx); err != nil {
		return err
	}
	defer u.mu.Unlock()
	b := u.boxes[name]
	if b == nil {
		return noSuchMailbox("delete", name)
	}
	delete(u.boxes, name)
	b.deleted = true
	for _, m := range b.msgs {
		u.bytes -= int64(len(m.data))
	}
	u.count -= int64(len(b.msgs))
	b.msgs, b.tombs = nil, nil
	b.hub.Close()
	return nil
}

func (u *user) Rename(ctx context.Context, oldName, newName string) error {
	oldName, err := clean("rename", oldName)
	if err != nil {
		return err
	}
	if newName, err = clean("rename to", newName); err != nil {
		return err
	}
	if err := u.lock(ctx); err != nil {
		return err
	}
	defer u.mu.Unlock()
	old := u.boxes[oldName]
	switch {
	case old == nil:
		return noSuchMailbox("rename", oldName)
	case u.boxes[newName] != nil:
		return fmt.Errorf("memstore: rename to %q: %w", newName, mailbox.ErrMailboxExists)
	case mailbox.IsInferior(newName, oldName):
		return fmt.Errorf("memstore: rename %q into itself: %w", oldName, mailbox.ErrNotAllowed)
	case oldName == mailbox.Inbox:
		return u.renameInbox(old, newName)
	}
	// The mailbox and its inferiors, with their new names.
	moves := map[string]string{oldName: newName}
	for name := range u.boxes {
		if mailbox.IsInferior(name, oldName) {
			to := newName + name[len(oldName):]
			if len(to) > mailbox.MaxNameLen {
				return fmt.Errorf("memstore: rename to %q: %w", to, mailbox.ErrInvalidName)
			}
			if u.boxes[to] != nil {
				return fmt.Errorf("memstore: rename to %q: %w", to, mailbox.ErrMailboxExists)
			}
			moves[name] = to
		}
	}
	boxes := make(map[string]*box, len(moves))
	for from := range moves {
		boxes[from] = u.boxes[from]
		delete(u.boxes, from)
	}
	for from, to := range moves {
		b := boxes[from]
		b.name = to
		u.boxes[to] = b
	}
	return u.createParents(newName)
}

// renameInbox moves INBOX's messages to a new mailbox (RFC 9051 §6.3.6);
// u.mu is held.
func (u *user) renameInbox(inbox *box, newName string) error {
	if err := u.checkRoom(1); err != nil {
		return err
	}
	if err := u.createParents(newName); err != nil {
		return err
	}
	nb := u.newBox(newName, "")
	msgs := slices.Clone(inbox.msgs)
	inbox.expunge(u.st.opts.MaxTombstones, msgs)
	nb.modseq++
	for _, m := range msgs {
		c := *m
		nb.add(&c)
	}
	nb.noteKeywords(msgs)
	return nil
}

func (u *user) Subscribe(ctx context.Context, name string) error {
	return u.setSubscribed(ctx, name, true)
}

func (u *user) Unsubscribe(ctx context.Context, name string) error {
	return u.setSubscribed(ctx, name, false)
}

func (u *user) setSubscribed(ctx context.Context, name string, on bool) error {
	name, err := clean("subscribe", name)
	if err != nil {
		return err
	}
	if err := u.lock(ctx); err != nil {
		return err
	}
	defer u.mu.Unlock()
	if !on {
		delete(u.subscribed, name)
		return nil
	}
	if max := u.st.opts.MaxMailboxes; max > 0 && len(u.subscribed) >= max {
		return fmt.Errorf("memstore: too many subscriptions: %w", mailbox.ErrLimit)
	}
	u.subscribed[name] = true
	return nil
}

func (u *user) Subscriptions(ctx context.Context) ([]string, error) {
	if err := u.lock(ctx); err != nil {
		return nil, err
	}
	defer u.mu.Unlock()
	var names []string
	for name := range u.subscribed {
		names = append(names, name)
	}
	slices.Sort(names)
	return names, nil
}

func (u *user) Status(ctx context.Context, name string) (*mailbox.Status, error) {
	name, err := clean("status", name)
	if err != nil {
		return nil, err
	}
	if err := u.lock(ctx); err != nil {
		return nil, err
	}
	defer u.mu.Unlock()
	b := u.boxes[name]
	if b == nil {
		return nil, noSuchMailbox("status", name)
	}
	return b.status(), nil
}

func (u *user) Open(ctx context.Context, name string, opts *mailbox.OpenOptions) (mailbox.Mailbox, error) {
	name, err := clean("open", name)
	if err != nil {
		return nil, err
	}
	if opts == nil {
		opts = &mailbox.OpenOptions{}
	}
	if err := u.lock(ctx); err != nil {
		return nil, err
	}
	defer u.mu.Unlock()
	b := u.boxes[name]
	if b == nil {
		return nil, noSuchMailbox("open", name)
	}
	if opts.Exclusive {
		if b.locked {
			return nil, fmt.Errorf("memstore: open %q: %w", name, mailbox.ErrLocked)
		}
		b.locked = true
	}
	return &mbox{u: u, b: b, validity: b.validity, readOnly: opts.ReadOnly, exclusive: opts.Exclusive}, nil
}

func (u *user) Quota(ctx context.Context) (mailbox.QuotaUsage, error) {
	if err := u.lock(ctx); err != nil {
		return mailbox.QuotaUsage{}, err
	}
	defer u.mu.Unlock()
	return u.usage(), nil
}

// usage returns the quota usage; u.mu is held.
func (u *user) usage() mailbox.QuotaUsage {
	return mailbox.QuotaUsage{Quota: u.quota, Bytes: u.bytes, Messages: u.count}
}

func (u *user) SetQuota(ctx context.Context, q mailbox.Quota) error {
	if err := u.lock(ctx); err != nil {
		return err
	}
	defer u.mu.Unlock()
	u.quota = q
	return nil
}

// appendLocked stores a new message in b; u.mu is held.
func (u *user) appendLocked(b *box, data []byte, meta *mailbox.Metadata, opts *mailbox.AppendOptions) (*msg, error) {
	if opts == nil {
		opts = &mailbox.AppendOptions{}
	}
	kws, err := mailbox.NormalizeKeywords(opts.Keywords)
	if err != nil {
		return nil, fmt.Errorf("memstore: append: %w", err)
	}
	if err := b.checkKeywords(kws, u.st.opts.MaxKeywords); err != nil {
		return nil, err
	}
	if !u.usage().Allows(1, int64(len(data))) {
		return nil, fmt.Errorf("memstore: append to %q: %w", b.name, mailbox.ErrOverQuota)
	}
	date := opts.InternalDate
	if date.IsZero() {
		date = time.Now()
	}
	m := &msg{flags: opts.Flags & mailbox.AllFlags, keywords: kws, date: date, data: data, meta: meta}
	b.modseq++
	b.add(m)
	b.noteKeywords([]*msg{m})
	u.bytes += int64(len(data))
	u.count++
	return m, nil
}
