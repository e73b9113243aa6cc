package memstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/postyard/postyard/mailbox"
)

// Defaults of Options.
const (
	DefaultMaxMessageSize = 64 << 20
	DefaultMaxMailboxes   = 10000
	DefaultMaxTombstones  = 100000
	DefaultMaxKeywords    = 1000
)

// Options configure a Store. The zero value is ready to use: zero fields
// mean the defaults, negative ones no limit.
type Options struct {
	// MaxMessageSize is the largest message Append and Deliver store, in
	// bytes (default 64 MiB); larger ones fail with mailbox.ErrTooBig.
	MaxMessageSize int64
	// MaxMailboxes is the number of mailboxes a user may have (default
	// 10000); more fail with mailbox.ErrLimit.
	MaxMailboxes int
	// MaxKeywords is the number of distinct keywords a mailbox may know
	// (default 1000); more fail with mailbox.ErrLimit.
	MaxKeywords int
	// MaxTombstones is the number of expunged UIDs each mailbox remembers
	// for Mailbox.Expunged (default 100000).
	MaxTombstones int
	// MaxPending bounds each event subscription's queue (see
	// mailbox.Hub.MaxPending).
	MaxPending int
	// Quota is the quota new users get; the zero value is no limit.
	Quota mailbox.Quota
	// Parse bounds the metadata parser; nil means its defaults.
	Parse *mailbox.ParseOptions
}

// Store is an in-memory mailbox.Store. Its methods are safe for concurrent
// use.
type Store struct {
	opts     Options
	closed   atomic.Bool
	validity atomic.Uint32 // last UIDVALIDITY given out

	mu    sync.Mutex
	users map[string]*user
}

var _ mailbox.Store = (*Store)(nil)

// New returns an empty Store. opts may be nil.
func New(opts *Options) *Store {
	s := &Store{users: make(map[string]*user)}
	if opts != nil {
		s.opts = *opts
	}
	o := &s.opts
	if o.MaxMessageSize == 0 {
		o.MaxMessageSize = DefaultMaxMessageSize
	}
	o.MaxMailboxes = orDefault(o.MaxMailboxes, DefaultMaxMailboxes)
	o.MaxKeywords = orDefault(o.MaxKeywords, DefaultMaxKeywords)
	o.MaxTombstones = orDefault(o.MaxTombstones, DefaultMaxTombstones)
	// UIDVALIDITY starts at the clock so that values stay distinct across
	// restarts of a process that hands them to clients.
	s.validity.Store(uint32(time.Now().Unix()))
	return s
}

func orDefault(v, d int) int {
	if v == 0 {
		return d
	}
	return v
}

// nextValidity returns a UIDVALIDITY no mailbox of the store had before.
func (s *Store) nextValidity() uint32 {
	for {
		v := s.validity.Add(1)
		if v != 0 {
			return v
		}
	}
}

// User returns the user, creating it and its INBOX on first use.
func (s *Store) User(ctx context.Context, name string) (mailbox.User, error) {
	return s.user(ctx, name)
}

func (s *Store) user(ctx context.Context, name string) (*user, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s.closed.Load() {
		return nil, mailbox.ErrClosed
	}
	if !mailbox.ValidUserName(name) {
		return nil, fmt.Errorf("memstore: user %q: %w", name, mailbox.ErrInvalidName)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[name]
	if u == nil {
		u = &user{st: s, name: name, boxes: make(map[string]*box), subscribed: make(map[string]bool), quota: s.opts.Quota}
		u.newBox(mailbox.Inbox, "")
		s.users[name] = u
	}
	return u, nil
}

// Close ends every subscription with mailbox.EventGone and makes the
// store's methods return mailbox.ErrClosed. Contents already open stay
// readable.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.mu.Lock()
	users := make([]*user, 0, len(s.users))
	for _, u := range s.users {
		users = append(users, u)
	}
	s.mu.Unlock()
	for _, u := range users {
		u.mu.Lock()
		for _, b := range u.boxes {
			b.hub.Close()
		}
		u.mu.Unlock()
	}
	return nil
}

// readMessage reads a whole message, bounded by MaxMessageSize.
func (s *Store) readMessage(r io.Reader) ([]byte, *mailbox.Metadata, error) {
	var buf bytes.Buffer
	max := s.opts.MaxMessageSize
	if max > 0 {
		r = io.LimitReader(r, max+1)
	}
	if _, err := buf.ReadFrom(r); err != nil {
		return nil, nil, err
	}
	if max > 0 && int64(buf.Len()) > max {
		return nil, nil, errTooBig
	}
	data := buf.Bytes()
	meta, err := mailbox.Parse(bytes.NewReader(data), s.opts.Parse)
	if err != nil {
		return nil, nil, err // cannot happen on a bytes.Reader
	}
	return data, meta, nil
}

var errTooBig = fmt.Errorf("memstore: %w", mailbox.ErrTooBig)

// Deliver stores the message in each recipient's mailbox. The message is
// read once and its bytes are shared by all copies.
func (s *Store) Deliver(ctx context.Context, r io.Reader, rcpts []mailbox.Recipient) ([]error, error) {
	if s.closed.Load() {
		return nil, mailbox.ErrClosed
	}
	data, meta, err := s.readMessage(r)
	errs := make([]error, len(rcpts))
	if errors.Is(err, mailbox.ErrTooBig) {
		for i := range errs {
			errs[i] = err
		}
		return errs, nil
	}
	if err != nil {
		return nil, err
	}
	for i, rc := range rcpts {
		errs[i] = s.deliverOne(ctx, data, meta, rc)
	}
	return errs, nil
}

func (s *Store) deliverOne(ctx context.Context, data []byte, meta *mailbox.Metadata, rc mailbox.Recipient) error {
	u, err := s.user(ctx, rc.User)
	if err != nil {
		return err
	}
	name := rc.Mailbox
	if name == "" {
		name = mailbox.Inbox
	}
	name, err = mailbox.CleanName(name)
	if err != nil {
		return fmt.Errorf("memstore: deliver to %q: %w", rc.Mailbox, err)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	b := u.boxes[name]
	if b == nil {
		return fmt.Errorf("memstore: deliver to %q: %w", name, mailbox.ErrNoSuchMailbox)
	}
	_, err = u.appendLocked(b, data, meta, rc.Options)
	return err
}
