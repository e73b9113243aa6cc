// Package mailboxtest is the conformance suite for mailbox.Store
// implementations. A store's tests call Run (or RunWithOptions) with a
// function that returns a new, empty store:
//
//	func TestConformance(t *testing.T) {
//		mailboxtest.Run(t, func(t *testing.T) mailbox.Store {
//			return memstore.New(nil)
//		})
//	}
//
// The suite checks the rules of package mailbox: UID monotonicity and
// UIDVALIDITY, MODSEQ monotonicity, CONDSTORE conditions, flag and keyword
// semantics, the namespace operations, copy and move UID maps, expunge and
// QRESYNC data, change events, quota, the maildrop lock, delivery,
// concurrent appenders (run it with -race), reopening a file-backed store,
// and large messages streamed through. Tests that involve time run in a
// testing/synctest bubble, so newStore must work inside one (no goroutines
// that outlive Close, no real network).
package mailboxtest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/postyard/postyard/mailbox"
)

// Options adapt the suite to a store. The zero value suits an in-memory
// store.
type Options struct {
	// Reopen closes s and returns a store opened on the same data, as
	// after a restart. nil skips the tests of persistence.
	Reopen func(t *testing.T, s mailbox.Store) mailbox.Store
	// LargeMessageSize is the size of the message of the streaming test,
	// in bytes; zero means 16 MiB, negative skips the test.
	LargeMessageSize int64
	// MaxAppendAlloc, if positive, is how many bytes appending the large
	// message may allocate in total (runtime.MemStats.TotalAlloc): a store
	// that streams to disk sets it well below LargeMessageSize to prove
	// that it does not hold the message in memory. Zero skips the check.
	MaxAppendAlloc int64
}

// Run runs the suite with default Options.
func Run(t *testing.T, newStore func(t *testing.T) mailbox.Store) {
	RunWithOptions(t, newStore, nil)
}

// RunWithOptions runs the suite. newStore is called once per test and
// must return a new, empty store; the suite closes it. opts may be nil.
func RunWithOptions(t *testing.T, newStore func(t *testing.T) mailbox.Store, opts *Options) {
	if opts == nil {
		opts = &Options{}
	}
	s := &suite{newStore: newStore, opts: *opts}
	if s.opts.LargeMessageSize == 0 {
		s.opts.LargeMessageSize = 16 << 20
	}
	// Not parallel: it measures allocations, so it runs before the
	// parallel tests start.
	t.Run("LargeMessage", s.testLargeMessage)
	for _, tc := range []struct {
		name string
		fn   func(*testing.T)
	}{
		{"UserAndInbox", s.testUserAndInbox},
		{"Names", s.testNames},
		{"CreateDelete", s.testCreateDelete},
		{"Rename", s.testRename},
		{"RenameInbox", s.testRenameInbox},
		{"Subscriptions", s.testSubscriptions},
		{"UIDValidity", s.testUIDValidity},
		{"AppendAndOpen", s.testAppendAndOpen},
		{"AppendFails", s.testAppendFails},
		{"UIDMonotonic", s.testUIDMonotonic},
		{"ModSeq", s.testModSeq},
		{"UnchangedSince", s.testUnchangedSince},
		{"Flags", s.testFlags},
		{"Keywords", s.testKeywords},
		{"Expunge", s.testExpunge},
		{"Copy", s.testCopy},
		{"Move", s.testMove},
		{"Messages", s.testMessages},
		{"Metadata", s.testMetadata},
		{"MetadataReuse", s.testMetadataReuse},
		{"ReadOnly", s.testReadOnly},
		{"Exclusive", s.testExclusive},
		{"Events", s.testEvents},
		{"EventsWait", s.testEventsWait},
		{"EventsGone", s.testEventsGone},
		{"EventsOverflow", s.testEventsOverflow},
		{"Quota", s.testQuota},
		{"QuotaCopyMove", s.testQuotaCopyMove},
		{"Deliver", s.testDeliver},
		{"ConcurrentAppend", s.testConcurrentAppend},
		{"ConcurrentFlags", s.testConcurrentFlags},
		{"Closed", s.testClosed},
		{"Canceled", s.testCanceled},
		{"Reopen", s.testReopen},
		{"ReopenAfterExpunge", s.testReopenAfterExpunge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t)
		})
	}
}

type suite struct {
	newStore func(t *testing.T) mailbox.Store
	opts     Options
}

// store returns a new store closed at the end of the test.
func (s *suite) store(t *testing.T) mailbox.Store {
	t.Helper()
	st := s.newStore(t)
	t.Cleanup(func() { st.Close() })
	return st
}

// reopen reopens st, or skips the test if the store cannot.
func (s *suite) reopen(t *testing.T, st mailbox.Store) mailbox.Store {
	t.Helper()
	if s.opts.Reopen == nil {
		t.Skip("store is not persistent (no Options.Reopen)")
	}
	st = s.opts.Reopen(t, st)
	t.Cleanup(func() { st.Close() })
	return st
}

func user(t *testing.T, st mailbox.Store, name string) mailbox.User {
	t.Helper()
	u, err := st.User(t.Context(), name)
	if err != nil {
		t.Fatalf("User(%q): %v", name, err)
	}
	return u
}

func open(t *testing.T, u mailbox.User, name string, opts *mailbox.OpenOptions) mailbox.Mailbox {
	t.Helper()
	mb, err := u.Open(t.Context(), name, opts)
	if err != nil {
		t.Fatalf("Open(%q): %v", name, err)
	}
	t.Cleanup(func() { mb.Close() })
	return mb
}

func create(t *testing.T, u mailbox.User, name string) {
	t.Helper()
	if err := u.Create(t.Context(), name, nil); err != nil {
		t.Fatalf("Create(%q): %v", name, err)
	}
}

// inbox returns user "alice"'s INBOX in a new store.
func (s *suite) inbox(t *testing.T) (mailbox.Store, mailbox.User, mailbox.Mailbox) {
	t.Helper()
	st := s.store(t)
	u := user(t, st, "alice")
	return st, u, open(t, u, mailbox.Inbox, nil)
}

// message returns a small CRLF message.
func message(subject string) string {
	return "From: Alice <alice@example.org>\r\n" +
		"To: bob@example.com\r\n" +
		"Subject: " + subject + "\r\n" +
		"Date: Mon, 02 Jan 2006 15:04:05 -0700\r\n" +
		"Message-ID: <" + strings.ReplaceAll(subject, " ", ".") + "@example.org>\r\n" +
		"\r\n" +
		"Body of " + subject + ".\r\n"
}

func appendMsg(t *testing.T, mb mailbox.Mailbox, raw string, opts *mailbox.AppendOptions) *mailbox.Message {
	t.Helper()
	m, err := mb.Append(t.Context(), strings.NewReader(raw), opts)
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	return m
}

// appendN appends n messages and returns their UIDs.
func appendN(t *testing.T, mb mailbox.Mailbox, n int) []mailbox.UID {
	t.Helper()
	uids := make([]mailbox.UID, n)
	for i := range uids {
		uids[i] = appendMsg(t, mb, message(fmt.Sprintf("message %d", i+1)), nil).UID
	}
	return uids
}

func messages(t *testing.T, mb mailbox.Mailbox, set mailbox.UIDSet, opts *mailbox.FetchOptions) []*mailbox.Message {
	t.Helper()
	var ms []*mailbox.Message
	for m, err := range mb.Messages(t.Context(), set, opts) {
		if err != nil {
			t.Fatalf("Messages: %v", err)
		}
		ms = append(ms, m)
	}
	return ms
}

func uidsOf(ms []*mailbox.Message) []mailbox.UID {
	uids := make([]mailbox.UID, len(ms))
	for i, m := range ms {
		uids[i] = m.UID
	}
	return uids
}

func read(t *testing.T, mb mailbox.Mailbox, uid mailbox.UID) string {
	t.Helper()
	c, err := mb.Open(t.Context(), uid)
	if err != nil {
		t.Fatalf("Open(UID %d): %v", uid, err)
	}
	defer c.Close()
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read UID %d: %v", uid, err)
	}
	return string(b)
}

func status(t *testing.T, mb mailbox.Mailbox) *mailbox.Status {
	t.Helper()
	st, err := mb.Status(t.Context())
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	return st
}

func update(t *testing.T, mb mailbox.Mailbox, set mailbox.UIDSet, u mailbox.FlagUpdate) *mailbox.UpdateResult {
	t.Helper()
	res, err := mb.UpdateFlags(t.Context(), set, &u)
	if err != nil {
		t.Fatalf("UpdateFlags(%v): %v", set, err)
	}
	return res
}

func expunge(t *testing.T, mb mailbox.Mailbox, set mailbox.UIDSet) mailbox.UIDSet {
	t.Helper()
	gone, err := mb.Expunge(t.Context(), set)
	if err != nil {
		t.Fatalf("Expunge(%v): %v", set, err)
	}
	return gone
}

// wantErr fails unless errors.Is(err, target).
func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: error %v, want %v", what, err, target)
	}
}

// sameTime compares internal dates at the one-second resolution IMAP has.
func sameTime(a, b time.Time) bool {
	return a.Truncate(time.Second).Equal(b.Truncate(time.Second))
}

// failingReader returns some bytes, then an error.
type failingReader struct{ n int }

var errRead = errors.New("mailboxtest: read failed")

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, errRead
	}
	n := min(len(p), r.n)
	copy(p, bytes.Repeat([]byte("x"), n))
	r.n -= n
	return n, nil
}

// ranges returns the set of the ranges start1:stop1, start2:stop2, ...,
// in the order given, not normalized.
func ranges(bounds ...mailbox.UID) mailbox.UIDSet {
	var s mailbox.UIDSet
	for i := 0; i+1 < len(bounds); i += 2 {
		s = append(s, mailbox.UIDRange{Start: bounds[i], Stop: bounds[i+1]})
	}
	return s
}

func equalUIDs(a, b []mailbox.UID) bool { return slices.Equal(a, b) }
