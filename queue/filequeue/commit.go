package filequeue

import (
	"os"
	"sync"
	"sync/atomic"
)

// committer makes directory entries durable for many writers with one
// fsync of the directory per batch (group commit). A writer renames its
// file into the directory, then calls sync, which returns once an fsync
// of the directory that began after the call has ended: the rename is
// then on stable storage. Writers that call sync while an fsync runs
// wait for it and share the next one.
type committer struct {
	dir     *os.File
	reqs    chan chan error
	stop    chan struct{}
	wg      sync.WaitGroup
	syncs   atomic.Uint64 // fsyncs made
	writers atomic.Uint64 // sync calls they covered
}

// syncers is how many fsyncs of the directory may run at once: a batch
// that forms while one runs need not wait for its end, yet the writers
// still share fsyncs.
const syncers = 2

func newCommitter(dir *os.File) *committer {
	c := &committer{
		dir:  dir,
		reqs: make(chan chan error, 64),
		stop: make(chan struct{}),
	}
	for range syncers {
		c.wg.Go(c.run)
	}
	return c
}

func (c *committer) run() {
	var batch []chan error
	for {
		select {
		case r := <-c.reqs:
			batch = append(batch[:0], r)
		case <-c.stop:
			return
		}
		// Everyone who asked before the fsync starts is covered by it.
	drain:
		for {
			select {
			case r := <-c.reqs:
				batch = append(batch, r)
			default:
				break drain
			}
		}
		err := c.dir.Sync()
		c.syncs.Add(1)
		c.writers.Add(uint64(len(batch)))
		for _, r := range batch {
			r <- err
		}
		clear(batch)
	}
}

// sync waits until the directory's entries, as they were when it was
// called, are durable.
func (c *committer) sync() error {
	r := make(chan error, 1)
	c.reqs <- r
	return <-r
}

// close stops the committer; no sync may be running or start.
func (c *committer) close() {
	close(c.stop)
	c.wg.Wait()
}
