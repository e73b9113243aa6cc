package maildir

import (
	"errors"
	"os"
	"sync"

	"github.com/postyard/postyard/mailbox"
)

// committer is the group commit: changes that must be durable before
// their method returns (a message file written and renamed or linked
// into cur/, an index record written) ask it to fsync the files and
// directories involved, and wait. One goroutine does the fsyncs for
// everything that was asked while the previous round ran, all at once
// (the device serves fsyncs issued together with fewer cache flushes),
// so that many sessions committing at once share each directory and
// index fsync instead of queueing one behind another. A delivery needs
// one round: its message file, cur/ and the index are fsynced together
// (see doc.go, "Durability", for why the file may be renamed before its
// fsync).
//
// In per-message mode (group false, used by the benchmarks as the
// baseline) every request does its own fsyncs, one after another.
type committer struct {
	group bool

	mu      sync.Mutex
	pending *batch // collecting; nil if empty
	closed  bool
	kick    chan struct{}
	done    chan struct{}
}

// batch is one round of fsyncs and the requests that wait for it.
type batch struct {
	dirs  map[string]struct{}
	files map[*os.File]struct{}
	err   error
	ready chan struct{}
}

// syncReq names what one change needs fsynced, and the messages it
// added, which stay pending in their folders (see folder.pending) until
// it is durable.
type syncReq struct {
	dirs  []string
	files []*os.File
	added []pendRef
}

// pendRef is a message added to a folder, pending until its request is
// durable.
type pendRef struct {
	f   *folder
	uid mailbox.UID
}

func (r *syncReq) dir(d string) {
	for _, x := range r.dirs {
		if x == d {
			return
		}
	}
	r.dirs = append(r.dirs, d)
}

func (r *syncReq) file(f *os.File) {
	for _, x := range r.files {
		if x == f {
			return
		}
	}
	r.files = append(r.files, f)
}

func (r *syncReq) empty() bool { return len(r.dirs) == 0 && len(r.files) == 0 }

func newCommitter(group bool) *committer {
	c := &committer{group: group, kick: make(chan struct{}, 1), done: make(chan struct{})}
	if group {
		go c.run()
	} else {
		close(c.done)
	}
	return c
}

// sync makes what r names durable, and returns once it is; then the
// messages r added are no longer pending. On error they stay pending:
// recovery checks their content when their folder is loaded again.
func (c *committer) sync(r *syncReq) error {
	err := c.syncFiles(r)
	if err == nil {
		for _, p := range r.added {
			p.f.settle(p.uid)
		}
	}
	return err
}

func (c *committer) syncFiles(r *syncReq) error {
	if r.empty() {
		return nil
	}
	if !c.group {
		return syncAll(r.dirs, r.files)
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return errClosed
	}
	b := c.pending
	if b == nil {
		b = &batch{dirs: map[string]struct{}{}, files: map[*os.File]struct{}{}, ready: make(chan struct{})}
		c.pending = b
	}
	for _, d := range r.dirs {
		b.dirs[d] = struct{}{}
	}
	for _, f := range r.files {
		b.files[f] = struct{}{}
	}
	c.mu.Unlock()
	select {
	case c.kick <- struct{}{}:
	default:
	}
	<-b.ready
	return b.err
}

func (c *committer) run() {
	defer close(c.done)
	for range c.kick {
		c.mu.Lock()
		b := c.pending
		c.pending = nil
		closed := c.closed
		c.mu.Unlock()
		if b != nil {
			dirs := make([]string, 0, len(b.dirs))
			for d := range b.dirs {
				dirs = append(dirs, d)
			}
			files := make([]*os.File, 0, len(b.files))
			for f := range b.files {
				files = append(files, f)
			}
			b.err = syncParallel(dirs, files)
			close(b.ready)
		}
		if closed {
			return
		}
	}
}

// close finishes the pending round and stops the goroutine.
func (c *committer) close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		<-c.done
		return
	}
	c.closed = true
	c.mu.Unlock()
	if c.group {
		c.kick <- struct{}{}
	}
	<-c.done
}

// syncAll fsyncs files, then directories. A file closed meanwhile (an
// index replaced by compaction, whose successor was fsynced whole) counts
// as synced.
func syncAll(dirs []string, files []*os.File) error {
	var errs []error
	for _, f := range files {
		if err := f.Sync(); err != nil && !errors.Is(err, os.ErrClosed) {
			errs = append(errs, err)
		}
	}
	for _, d := range dirs {
		if err := syncDir(d); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// syncParallel is syncAll with the fsyncs issued at once, each on its
// own goroutine: the device then sees them together and can serve them
// with fewer cache flushes than one after another, which shortens the
// round (and so every commit waiting on it).
func syncParallel(dirs []string, files []*os.File) error {
	n := len(dirs) + len(files)
	if n <= 1 {
		return syncAll(dirs, files)
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, f := range files {
		wg.Go(func() {
			if err := f.Sync(); err != nil && !errors.Is(err, os.ErrClosed) {
				errs[i] = err
			}
		})
	}
	for i, d := range dirs {
		wg.Go(func() { errs[len(files)+i] = syncDir(d) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// syncDir fsyncs a directory, making the entries created, renamed or
// removed in it durable.
func syncDir(dir string) error {
	d, err := openFile(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
