package maildir

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/postyard/postyard/mailbox"
)

// Files in a user's Maildir root besides INBOX's.
const (
	userFile          = "postyard-user" // quota and the last UIDVALIDITY
	subscriptionsFile = "subscriptions" // Maildir++/Courier/Dovecot: one name a line
)

// user is one user's Maildir++ tree. mu guards the namespace (folders,
// subscriptions, the user file); qmu guards usage and quota and is taken
// last.
type user struct {
	st   *Store
	name string
	dir  string

	mu           sync.Mutex
	folders      map[string]*folder
	subscribed   map[string]bool
	lastValidity uint32

	qmu          sync.Mutex
	quota        mailbox.Quota
	bytes, count int64
}

var _ mailbox.User = (*user)(nil)

func (u *user) Name() string { return u.name }

// loadUser opens (creating) a user's Maildir and loads every folder.
func (s *Store) loadUser(name string) (*user, error) {
	u := &user{st: s, name: name, dir: filepath.Join(s.dir, userDir(name)), folders: map[string]*folder{}, subscribed: map[string]bool{}, quota: s.opts.Quota}
	if err := makeMaildir(u.dir); err != nil {
		return nil, err
	}
	u.readState()
	inbox, err := u.loadFolder(mailbox.Inbox, u.dir)
	if err != nil {
		return nil, err
	}
	u.folders[mailbox.Inbox] = inbox
	ents, err := os.ReadDir(u.dir)
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		n, ok := folderName(e.Name())
		if !ok || !e.IsDir() {
			continue
		}
		if _, err := os.Stat(filepath.Join(u.dir, e.Name(), "cur")); err != nil {
			continue
		}
		f, err := u.loadFolder(n, filepath.Join(u.dir, e.Name()))
		if err != nil {
			return nil, err
		}
		u.folders[n] = f
	}
	if b, err := os.ReadFile(filepath.Join(u.dir, subscriptionsFile)); err == nil {
		for l := range strings.Lines(string(b)) {
			if n, err := mailbox.CleanName(strings.TrimRight(l, "\r\n")); err == nil {
				u.subscribed[n] = true
			}
		}
	}
	u.bytes, u.count = 0, 0
	for _, f := range u.folders {
		for i := range f.idx.msgs {
			u.bytes += f.idx.msgs[i].size
		}
		u.count += int64(len(f.idx.msgs))
	}
	return u, nil
}

// readState reads the user file: "quota <bytes> <messages>" and
// "validity <last UIDVALIDITY given out>" lines.
func (u *user) readState() {
	b, err := os.ReadFile(filepath.Join(u.dir, userFile))
	if err != nil {
		return
	}
	for l := range strings.Lines(string(b)) {
		f := strings.Fields(l)
		switch {
		case len(f) == 3 && f[0] == "quota":
			u.quota.MaxBytes, _ = strconv.ParseInt(f[1], 10, 64)
			u.quota.MaxMessages, _ = strconv.ParseInt(f[2], 10, 64)
		case len(f) == 2 && f[0] == "validity":
			v, _ := strconv.ParseUint(f[1], 10, 32)
			u.lastValidity = uint32(v)
		}
	}
}

// writeState writes the user file crash-safely; u.mu is held.
func (u *user) writeState() error {
	u.qmu.Lock()
	q := u.quota
	u.qmu.Unlock()
	data := fmt.Appendf(nil, "quota %d %d\nvalidity %d\n", q.MaxBytes, q.MaxMessages, u.lastValidity)
	return writeFileAtomic(filepath.Join(u.dir, userFile), data)
}

// nextValidity returns a UIDVALIDITY no mailbox of the user had before
// (the clock, or one more than the last given out) and records it; u.mu
// is held or u is not shared.
func (u *user) nextValidity() uint32 {
	v := max(uint32(time.Now().Unix()), u.lastValidity+1)
	if v == 0 {
		v = 1
	}
	u.lastValidity = v
	u.writeState()
	return v
}

// reserve adds n messages of bytes to the usage if the quota allows it.
func (u *user) reserve(n, bytes int64) bool {
	u.qmu.Lock()
	defer u.qmu.Unlock()
	if !(mailbox.QuotaUsage{Quota: u.quota, Bytes: u.bytes, Messages: u.count}).Allows(n, bytes) {
		return false
	}
	u.bytes += bytes
	u.count += n
	return true
}

// addUsage changes the usage (negative to release).
func (u *user) addUsage(n, bytes int64) {
	u.qmu.Lock()
	u.bytes += bytes
	u.count += n
	u.qmu.Unlock()
}

// lock checks ctx and the store, then locks u.mu.
func (u *user) lock(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if u.st.closed.Load() {
		return errClosed
	}
	u.mu.Lock()
	return nil
}

func clean(op, name string) (string, error) {
	n, err := mailbox.CleanName(name)
	if err != nil {
		return "", fmt.Errorf("maildir: %s %q: %w", op, name, err)
	}
	return n, nil
}

func noSuchMailbox(op, name string) error {
	return fmt.Errorf("maildir: %s %q: %w", op, name, mailbox.ErrNoSuchMailbox)
}

// folder returns the loaded folder name (canonical).
func (u *user) folder(ctx context.Context, op, name string) (*folder, error) {
	if err := u.lock(ctx); err != nil {
		return nil, err
	}
	defer u.mu.Unlock()
	f := u.folders[name]
	if f == nil {
		return nil, noSuchMailbox(op, name)
	}
	return f, nil
}

func (u *user) List(ctx context.Context) ([]mailbox.MailboxInfo, error) {
	if err := u.lock(ctx); err != nil {
		return nil, err
	}
	defer u.mu.Unlock()
	list := make([]mailbox.MailboxInfo, 0, len(u.folders))
	for name, f := range u.folders {
		list = append(list, mailbox.MailboxInfo{Name: name, SpecialUse: f.idx.special, Subscribed: u.subscribed[name]})
	}
	slices.SortFunc(list, func(a, b mailbox.MailboxInfo) int { return strings.Compare(a.Name, b.Name) })
	return list, nil
}

// checkRoom reports whether n more mailboxes fit; u.mu is held.
func (u *user) checkRoom(n int) error {
	if max := u.st.opts.MaxMailboxes; max > 0 && len(u.folders)+n > max {
		return fmt.Errorf("maildir: too many mailboxes: %w", mailbox.ErrLimit)
	}
	return nil
}

// createFolder creates the Maildir of a new mailbox crash-safely: it is
// built in tmp/ (cur/, new/, tmp/, the Maildir++ marker, the folder file
// and the index), fsynced, and renamed into place. u.mu is held.
func (u *user) createFolder(name string, special mailbox.SpecialUse) (*folder, error) {
	d, ok := folderDir(name)
	if !ok {
		return nil, fmt.Errorf("maildir: create %q: name too long: %w", name, mailbox.ErrInvalidName)
	}
	if err := u.checkRoom(1); err != nil {
		return nil, err
	}
	v := u.nextValidity()
	tmp := filepath.Join(u.dir, "tmp", "postyard-create-"+randomSuffix())
	final := filepath.Join(u.dir, d)
	err := makeMaildir(tmp)
	if err == nil {
		err = writeFileAtomic(filepath.Join(tmp, markerFile), nil)
	}
	if err == nil {
		err = writeFileAtomic(filepath.Join(tmp, folderFile), folderFileData(v, special))
	}
	if err == nil {
		x := index{validity: v, special: special, uidNext: 1, modseq: 1}
		err = writeFileAtomic(filepath.Join(tmp, indexFile), x.snapshot())
	}
	if err == nil {
		err = os.Rename(tmp, final)
	}
	if err == nil {
		err = syncDir(u.dir)
	}
	if err != nil {
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("maildir: create %q: %w", name, err)
	}
	f, err := u.loadFolder(name, final)
	if err != nil {
		return nil, err
	}
	u.folders[name] = f
	return f, nil
}

// createParents creates the missing parents of name; u.mu is held.
func (u *user) createParents(name string) error {
	for i := len(name) - 1; i > 0; i-- {
		if name[i] != mailbox.Delimiter {
			continue
		}
		if p := name[:i]; u.folders[p] == nil {
			if err := u.createParents(p); err != nil {
				return err
			}
			if _, err := u.createFolder(p, ""); err != nil {
				return err
			}
		}
		return nil
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
			return fmt.Errorf("maildir: create %q with %q: %w", name, opts.SpecialUse, mailbox.ErrNotAllowed)
		}
	}
	if _, ok := folderDir(name); !ok {
		return fmt.Errorf("maildir: create %q: name too long: %w", name, mailbox.ErrInvalidName)
	}
	if err := u.lock(ctx); err != nil {
		return err
	}
	defer u.mu.Unlock()
	if u.folders[name] != nil {
		return fmt.Errorf("maildir: create %q: %w", name, mailbox.ErrMailboxExists)
	}
	if err := u.checkRoom(1); err != nil {
		return err
	}
	if err := u.createParents(name); err != nil {
		return err
	}
	_, err = u.createFolder(name, special)
	return err
}

func (u *user) Delete(ctx context.Context, name string) error {
	name, err := clean("delete", name)
	if err != nil {
		return err
	}
	if name == mailbox.Inbox {
		return fmt.Errorf("maildir: delete INBOX: %w", mailbox.ErrNotAllowed)
	}
	if err := u.lock(ctx); err != nil {
		return err
	}
	defer u.mu.Unlock()
	f := u.folders[name]
	if f == nil {
		return noSuchMailbox("delete", name)
	}
	// Renamed out of the tree first, so that a crash leaves the mailbox
	// whole or gone; tmp/ leftovers are removed on the next load.
	trash := filepath.Join(u.dir, "tmp", "postyard-deleted-"+randomSuffix())
	f.mu.Lock()
	if err := os.Rename(f.dir, trash); err != nil {
		f.mu.Unlock()
		return fmt.Errorf("maildir: delete %q: %w", name, err)
	}
	syncDir(u.dir)
	f.deleted = true
	var bytes int64
	for i := range f.idx.msgs {
		bytes += f.idx.msgs[i].size
	}
	u.addUsage(-int64(len(f.idx.msgs)), -bytes)
	f.idx.msgs, f.idx.tombs = nil, nil
	f.hub.Close()
	f.closeFiles()
	f.mu.Unlock()
	delete(u.folders, name)
	os.RemoveAll(trash)
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
	old := u.folders[oldName]
	switch {
	case old == nil:
		return noSuchMailbox("rename", oldName)
	case u.folders[newName] != nil:
		return fmt.Errorf("maildir: rename to %q: %w", newName, mailbox.ErrMailboxExists)
	case mailbox.IsInferior(newName, oldName):
		return fmt.Errorf("maildir: rename %q into itself: %w", oldName, mailbox.ErrNotAllowed)
	case oldName == mailbox.Inbox:
		return u.renameInbox(old, newName)
	}
	moves := map[string]string{oldName: newName}
	for name := range u.folders {
		if mailbox.IsInferior(name, oldName) {
			moves[name] = newName + name[len(oldName):]
		}
	}
	for _, to := range moves {
		if _, err := mailbox.CleanName(to); err != nil {
			return fmt.Errorf("maildir: rename to %q: %w", to, mailbox.ErrInvalidName)
		}
		if _, ok := folderDir(to); !ok {
			return fmt.Errorf("maildir: rename to %q: %w", to, mailbox.ErrInvalidName)
		}
		if u.folders[to] != nil {
			return fmt.Errorf("maildir: rename to %q: %w", to, mailbox.ErrMailboxExists)
		}
	}
	moved := map[string]*folder{}
	var firstErr error
	for from, to := range moves {
		f := u.folders[from]
		d, _ := folderDir(to)
		f.mu.Lock()
		if err := os.Rename(f.dir, filepath.Join(u.dir, d)); err != nil {
			f.mu.Unlock()
			firstErr = err
			continue
		}
		f.setDir(filepath.Join(u.dir, d))
		f.name = to
		f.mu.Unlock()
		delete(u.folders, from)
		moved[to] = f
	}
	for to, f := range moved {
		u.folders[to] = f
	}
	syncDir(u.dir)
	if firstErr != nil {
		return fmt.Errorf("maildir: rename %q: %w", oldName, firstErr)
	}
	return u.createParents(newName)
}

// renameInbox moves INBOX's messages to a new mailbox (RFC 9051 §6.3.6);
// u.mu is held.
func (u *user) renameInbox(inbox *folder, newName string) error {
	if _, ok := folderDir(newName); !ok {
		return fmt.Errorf("maildir: rename to %q: %w", newName, mailbox.ErrInvalidName)
	}
	if err := u.checkRoom(1); err != nil {
		return err
	}
	if err := u.createParents(newName); err != nil {
		return err
	}
	nf, err := u.createFolder(newName, "")
	if err != nil {
		return err
	}
	_, req, err := copyMessages(inbox, nf, mailbox.AllUIDs(), true, nil)
	if err != nil {
		return err
	}
	return u.st.commit.sync(req)
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
	if u.subscribed[name] == on {
		return nil
	}
	if on {
		if max := u.st.opts.MaxMailboxes; max > 0 && len(u.subscribed) >= max {
			return fmt.Errorf("maildir: too many subscriptions: %w", mailbox.ErrLimit)
		}
		u.subscribed[name] = true
	} else {
		delete(u.subscribed, name)
	}
	var b []byte
	for _, n := range u.subscriptionList() {
		b = append(append(b, n...), '\n')
	}
	if err := writeFileAtomic(filepath.Join(u.dir, subscriptionsFile), b); err != nil {
		return fmt.Errorf("maildir: subscribe: %w", err)
	}
	return nil
}

func (u *user) subscriptionList() []string {
	names := make([]string, 0, len(u.subscribed))
	for n := range u.subscribed {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func (u *user) Subscriptions(ctx context.Context) ([]string, error) {
	if err := u.lock(ctx); err != nil {
		return nil, err
	}
	defer u.mu.Unlock()
	return u.subscriptionList(), nil
}

func (u *user) Status(ctx context.Context, name string) (*mailbox.Status, error) {
	name, err := clean("status", name)
	if err != nil {
		return nil, err
	}
	f, err := u.folder(ctx, "status", name)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	if f.deleted {
		f.mu.Unlock()
		return nil, noSuchMailbox("status", name)
	}
	req := f.scanNew(false)
	st := f.status()
	f.mu.Unlock()
	if req != nil {
		u.st.commit.sync(req)
	}
	return st, nil
}

func (u *user) Open(ctx context.Context, name string, opts *mailbox.OpenOptions) (mailbox.Mailbox, error) {
	name, err := clean("open", name)
	if err != nil {
		return nil, err
	}
	if opts == nil {
		opts = &mailbox.OpenOptions{}
	}
	f, err := u.folder(ctx, "open", name)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.deleted {
		return nil, noSuchMailbox("open", name)
	}
	h := &mbox{u: u, f: f, validity: f.idx.validity, readOnly: opts.ReadOnly}
	if opts.Exclusive {
		l, err := lockFolder(filepath.Join(f.dir, lockFile))
		if err != nil {
			return nil, fmt.Errorf("maildir: open %q: %w", name, err)
		}
		h.lock = l
	}
	return h, nil
}

func (u *user) Quota(ctx context.Context) (mailbox.QuotaUsage, error) {
	if err := ctx.Err(); err != nil {
		return mailbox.QuotaUsage{}, err
	}
	if u.st.closed.Load() {
		return mailbox.QuotaUsage{}, errClosed
	}
	u.qmu.Lock()
	defer u.qmu.Unlock()
	return mailbox.QuotaUsage{Quota: u.quota, Bytes: u.bytes, Messages: u.count}, nil
}

func (u *user) SetQuota(ctx context.Context, q mailbox.Quota) error {
	if err := u.lock(ctx); err != nil {
		return err
	}
	defer u.mu.Unlock()
	u.qmu.Lock()
	u.quota = q
	u.qmu.Unlock()
	if err := u.writeState(); err != nil {
		return fmt.Errorf("maildir: set quota: %w", err)
	}
	return nil
}
