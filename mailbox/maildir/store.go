package maildir

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
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
	// for Mailbox.Expunged (default 100000); older questions get a
	// superset, as RFC 7162 §3.2.10 allows.
	MaxTombstones int
	// MaxPending bounds each event subscription's queue (see
	// mailbox.Hub.MaxPending).
	MaxPending int
	// Quota is the quota of users that have none set yet; the zero value
	// is no limit.
	Quota mailbox.Quota
	// Parse bounds the metadata parser; nil means its defaults.
	Parse *mailbox.ParseOptions
	// WriteBackFiles lets the group commit skip the fsync of each new
	// message file (on Linux): its data is written back
	// (sync_file_range, waiting for it) before it is renamed into place,
	// and becomes durable with the journal commit of the round's
	// directory and index fsyncs, which ext4 with a journal in
	// data=ordered mode and XFS order after the data. Off by default:
	// every message file is fsynced in the round that makes its name and
	// index record durable (a delivery waits for one round either way).
	// Write-back is faster (10–20% in BenchmarkDeliver: the round has
	// fewer fsyncs to wait for) but only durable on such file systems: on
	// ext4 without a journal, btrfs or a network file system, power loss
	// could lose an acknowledged message's content, and recovery, which
	// checks only the files of deliveries that may not have been
	// acknowledged (see doc.go, "Durability"), would not notice.
	WriteBackFiles bool

	// perMessageSync turns the group commit off: every change does its
	// own fsyncs (the benchmarks' baseline).
	perMessageSync bool
}

// Store is a mailbox.Store on disk: one Maildir++ tree per user below
// its directory. Its methods are safe for concurrent use. Only one Store
// (in one process) may use a directory at a time; other programs may
// deliver into new/ and mail readers may read and flag the Maildirs.
type Store struct {
	dir      string
	opts     Options
	commit   *committer
	closed   atomic.Bool
	folderID atomic.Uint64
	seq      atomic.Uint64
	host     string
	pid      string
	zones    zoneCache
	// spoolBufs holds the *bufio.Writer buffers spool writes through,
	// parseBufs the *bufio.Reader buffers the parser reads through (Parse
	// uses a *bufio.Reader of its size as it is).
	spoolBufs, parseBufs sync.Pool

	mu    sync.Mutex
	users map[string]*user
}

var _ mailbox.Store = (*Store)(nil)

// spoolDir is where Append and Deliver write a message before renaming
// (linking) it into Maildirs: spoolShards subdirectories, so that
// concurrent writers seldom contend for one directory's lock. User
// directories never start with '.'.
const (
	spoolDir    = ".tmp"
	spoolShards = 16
)

// Open opens the store in dir, creating dir if needed. opts may be nil.
// The caller must Close the store; Close stops the group commit
// goroutine Open starts.
func Open(dir string, opts *Options) (*Store, error) {
	s := &Store{dir: dir, users: make(map[string]*user)}
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
	for i := range spoolShards {
		sd := filepath.Join(dir, spoolDir, strconv.Itoa(i))
		if err := os.MkdirAll(sd, 0o700); err != nil {
			return nil, fmt.Errorf("maildir: %w", err)
		}
		cleanTmp(sd, true)
	}
	host, _ := os.Hostname()
	if host == "" {
		host = "localhost"
	}
	// Maildir: "/" and ":" in the host name are written as \057 and \072.
	s.host = strings.NewReplacer("/", `\057`, ":", `\072`, ",", `\054`).Replace(host)
	s.pid = strconv.Itoa(os.Getpid())
	s.commit = newCommitter(!o.perMessageSync)
	return s, nil
}

func orDefault(v, d int) int {
	if v == 0 {
		return d
	}
	return v
}

var errClosed = fmt.Errorf("maildir: %w", mailbox.ErrClosed)

// uniqueName returns a new Maildir unique name:
// <seconds>.M<microseconds>P<pid>Q<counter>.<host>.
func (s *Store) uniqueName() string {
	return string(s.appendUniqueName(make([]byte, 0, 48+len(s.host))))
}

// appendUniqueName appends a new unique name (see uniqueName) to b.
func (s *Store) appendUniqueName(b []byte) []byte {
	now := time.Now()
	b = strconv.AppendInt(b, now.Unix(), 10)
	b = append(b, ".M"...)
	b = strconv.AppendInt(b, int64(now.Nanosecond()/1000), 10)
	b = append(b, 'P')
	b = append(b, s.pid...)
	b = append(b, 'Q')
	b = strconv.AppendUint(b, s.seq.Add(1), 10)
	b = append(b, '.')
	b = append(b, s.host...)
	return b
}

// userDir returns the directory name of a user: the name with '%' and a
// leading '.' escaped, so that it never starts with '.'.
func userDir(name string) string {
	name = strings.ReplaceAll(name, "%", "%25")
	if strings.HasPrefix(name, ".") {
		name = "%2E" + name[1:]
	}
	return name
}

// User returns the user, creating its Maildir and INBOX on first use.
func (s *Store) User(ctx context.Context, name string) (mailbox.User, error) {
	return s.user(ctx, name)
}

func (s *Store) user(ctx context.Context, name string) (*user, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s.closed.Load() {
		return nil, errClosed
	}
	if !mailbox.ValidUserName(name) {
		return nil, fmt.Errorf("maildir: user %q: %w", name, mailbox.ErrInvalidName)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.users[name]; u != nil {
		return u, nil
	}
	u, err := s.loadUser(name)
	if err != nil {
		return nil, fmt.Errorf("maildir: user %q: %w", name, err)
	}
	s.users[name] = u
	return u, nil
}

// Close makes the store's methods return mailbox.ErrClosed, ends every
// subscription with mailbox.EventGone, finishes the group commit in
// progress and closes the index files. Contents already open stay
// readable.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.commit.close()
	s.mu.Lock()
	users := make([]*user, 0, len(s.users))
	for _, u := range s.users {
		users = append(users, u)
	}
	s.mu.Unlock()
	for _, u := range users {
		u.mu.Lock()
		for _, f := range u.folders {
			f.mu.Lock()
			f.hub.Close()
			if !f.deleted {
				f.markDurable()
			}
			f.closeFiles()
			f.mu.Unlock()
		}
		u.mu.Unlock()
	}
	return nil
}

// closeFiles closes the folder's index and cache files; f.mu is held.
func (f *folder) closeFiles() {
	for _, l := range f.oldLogs {
		l.Close()
	}
	f.oldLogs = nil
	if f.log != nil {
		f.log.Close()
	}
	f.metaMu.Lock()
	f.meta.Close()
	f.metaMu.Unlock()
	if f.curD != nil {
		f.curD.Close()
	}
}

// spooled is a message written to a temporary file, with its metadata:
// what Append and Deliver place into Maildirs.
type spooled struct {
	placed bool     // renamed into a Maildir: no longer in the spool
	fl     *os.File // open until the commit round that fsyncs it; nil once synced
	path   string
	size   int64
	sum    uint32 // CRC-32C of the content
	meta   *mailbox.Metadata
}

// spool streams r into a new file in the spool (never holding the
// message in memory), parsing it and computing its CRC-32C on the way.
// In per-message mode it fsyncs the file; with WriteBackFiles (on Linux)
// it writes its data back; otherwise it starts the write-back and leaves
// the file open for the commit round that makes its placement durable to
// fsync (see doc.go, "Durability"). The file's time is set to date (the
// internal date, as Dovecot keeps it) if not zero.
func (s *Store) spool(r io.Reader, date time.Time) (*spooled, error) {
	name := s.uniqueName()
	path := filepath.Join(s.dir, spoolDir, strconv.Itoa(int(s.seq.Load()%spoolShards)), "postyard-"+name)
	fl, err := createFile(path)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*spooled, error) {
		fl.Close()
		os.Remove(path)
		return nil, err
	}
	max := s.opts.MaxMessageSize
	if max > 0 {
		r = io.LimitReader(r, max+1)
	}
	cw := &countWriter{w: fl}
	bw, _ := s.spoolBufs.Get().(*bufio.Writer)
	if bw == nil {
		bw = bufio.NewWriterSize(cw, 32<<10)
	} else {
		bw.Reset(cw)
	}
	br, _ := s.parseBufs.Get().(*bufio.Reader)
	if br == nil {
		br = bufio.NewReaderSize(io.TeeReader(r, bw), parseBufSize)
	} else {
		br.Reset(io.TeeReader(r, bw))
	}
	meta, err := mailbox.Parse(br, s.opts.Parse)
	if err == nil {
		err = bw.Flush()
	}
	br.Reset(nil)
	s.parseBufs.Put(br)
	bw.Reset(nil)
	s.spoolBufs.Put(bw)
	if err != nil {
		return fail(err)
	}
	if max > 0 && cw.n > max {
		return fail(fmt.Errorf("maildir: %w", mailbox.ErrTooBig))
	}
	if !date.IsZero() {
		os.Chtimes(path, date, date) // before the fsync: durable with the data
	}
	deferred, err := s.syncFile(fl)
	if err != nil {
		return fail(err)
	}
	sp := &spooled{path: path, size: cw.n, sum: cw.sum, meta: meta}
	if deferred {
		sp.fl = fl
		return sp, nil
	}
	if err := fl.Close(); err != nil {
		os.Remove(path)
		return nil, err
	}
	return sp, nil
}

// syncFile makes a spooled file's data durable before it is renamed
// into a Maildir, or says that the commit round will (deferred): in
// per-message mode the file is fsynced here; with WriteBackFiles (on
// Linux) its data is written back (sync_file_range) and the round's
// journal commit makes it durable together with the rename and the index
// record; otherwise its write-back is started and the round fsyncs it.
func (s *Store) syncFile(fl *os.File) (deferred bool, err error) {
	if !s.commit.group {
		return false, fl.Sync()
	}
	if s.opts.WriteBackFiles {
		if ok, err := writeBack(fl); ok {
			return false, err
		}
	}
	startWriteBack(fl)
	return true, nil
}

// commitSpooled makes the placement of a spooled message durable: req
// names what the placements changed (cur/ and index of each mailbox) and
// the messages added; the spooled file, if still open, joins it, so that
// its data, cur/ and the index are fsynced in one round. Then the file
// is closed.
func (s *Store) commitSpooled(sp *spooled, req *syncReq) error {
	if sp.fl != nil && len(req.added) > 0 {
		req.file(sp.fl)
	}
	err := s.commit.sync(req)
	if sp.fl != nil {
		if cerr := sp.fl.Close(); err == nil {
			err = cerr
		}
		sp.fl = nil
	}
	return err
}

// parseBufSize is the read buffer of mailbox.Parse, which uses a
// *bufio.Reader at least this large as it is.
const parseBufSize = 16 << 10

// countWriter counts what it writes, and computes its CRC-32C.
type countWriter struct {
	w   io.Writer
	n   int64
	sum uint32
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	c.sum = crc32.Update(c.sum, crcTable, p[:n])
	return n, err
}

// Deliver writes the message once, links it into each recipient's
// mailbox and records it in that mailbox's index; it returns when the
// file, every link and every record are durable (one group commit round
// for all recipients, shared with concurrent deliveries). A crash leaves
// each recipient with the whole message or without it: a link whose
// file's content did not reach the disk fails the CRC in its name and is
// removed when the folder is loaded again, and a link without its index
// record is picked up, with a UID, then.
func (s *Store) Deliver(ctx context.Context, r io.Reader, rcpts []mailbox.Recipient) ([]error, error) {
	if s.closed.Load() {
		return nil, errClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sp, err := s.spool(r, time.Time{})
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
	req := &syncReq{}
	for i, rc := range rcpts {
		// Linked into every mailbox but the last, which takes the file
		// itself: one directory operation fewer.
		errs[i] = s.deliverOne(ctx, sp, rc, i == len(rcpts)-1, req)
	}
	if !sp.placed {
		os.Remove(sp.path)
	}
	if err := s.commitSpooled(sp, req); err != nil {
		for i := range errs {
			if errs[i] == nil {
				errs[i] = err
			}
		}
	}
	return errs, nil
}

func (s *Store) deliverOne(ctx context.Context, sp *spooled, rc mailbox.Recipient, move bool, req *syncReq) error {
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
		return fmt.Errorf("maildir: deliver to %q: %w", rc.Mailbox, err)
	}
	f, err := u.folder(ctx, "deliver to", name)
	if err != nil {
		return err
	}
	_, err = f.add(sp, rc.Options, move, req)
	return err
}
