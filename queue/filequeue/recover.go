package filequeue

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/postyard/postyard/queue"
)

// found is a message file found by the recovery scan.
type found struct {
	id       queue.ID
	hasState bool
	e        *entry
	enqueued time.Time
	err      error
}

// recover loads the queue from its directory (see Open). It reads every
// message file's header and every state file, in parallel, keeping only
// the index entries in memory.
func (q *Queue) recover() error {
	start := time.Now()
	// Writes that never got renamed into place were never acknowledged.
	tmps, err := os.ReadDir(filepath.Join(q.dir, tmpDir))
	if err != nil {
		return err
	}
	for _, t := range tmps {
		if err := os.Remove(filepath.Join(q.dir, tmpDir, t.Name())); err != nil {
			return err
		}
	}

	d, err := os.Open(filepath.Join(q.dir, msgDir))
	if err != nil {
		return err
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return err
	}
	// Sorted, a message's state file comes after its message file with
	// nothing between them but names that are not ours.
	slices.Sort(names)
	msgs := make([]found, 0, len(names)/2+1)
	var bad, orphans []string
	for _, name := range names {
		if id, ok := strings.CutSuffix(name, stateSuffix); ok && queue.ID(id).Valid() {
			if n := len(msgs); n > 0 && msgs[n-1].id == queue.ID(id) {
				msgs[n-1].hasState = true
			} else {
				orphans = append(orphans, name) // a removal that did not finish
			}
		} else if queue.ID(name).Valid() {
			msgs = append(msgs, found{id: queue.ID(name)})
		} else {
			bad = append(bad, name) // not ours: keep it, out of the way
		}
	}
	names = nil

	var wg sync.WaitGroup
	// More workers than CPUs, so that reads that go to the disk overlap.
	workers := min(max(runtime.GOMAXPROCS(0), 4), 16)
	for w := range workers {
		wg.Go(func() { q.loadEntries(msgs, w, workers) })
	}
	wg.Wait()

	var finished []found
	live := msgs[:0]
	for _, f := range msgs {
		switch {
		case errors.Is(f.err, ErrCorrupt):
			q.opts.Logger.Error("filequeue: corrupt message", "queue_id", f.id, "err", f.err)
			bad = append(bad, string(f.id))
			if f.hasState {
				bad = append(bad, string(f.id)+stateSuffix)
			}
		case f.err != nil:
			return fmt.Errorf("filequeue: recovering %s: %w", f.id, f.err)
		case len(f.e.pending) == 0:
			finished = append(finished, f) // a removal that did not finish
		default:
			live = append(live, f)
		}
	}
	if len(bad) > 0 {
		if err := q.quarantine(bad...); err != nil {
			return err
		}
	}
	for _, f := range finished {
		if err := q.removeFiles(f.id, nil, 0, f.hasState); err != nil {
			return err
		}
	}
	for _, name := range orphans {
		if err := os.Remove(filepath.Join(q.dir, msgDir, name)); err != nil {
			return err
		}
	}

	slices.SortFunc(live, func(a, b found) int {
		if c := a.enqueued.Compare(b.enqueued); c != 0 {
			return c
		}
		return cmp.Compare(a.id, b.id)
	})
	for _, f := range live {
		q.x.add(f.e)
	}
	lvl := q.opts.Logger.Debug
	if len(bad)+len(finished)+len(orphans)+len(tmps) > 0 {
		lvl = q.opts.Logger.Info
	}
	lvl("filequeue: recovered", "dir", q.dir, "messages", len(live), "quarantined", len(bad),
		"finished_removals", len(finished)+len(orphans), "unfinished_writes", len(tmps), "took", time.Since(start))
	return nil
}

// loadEntries loads msgs[w], msgs[w+step], ... and makes their entries.
// The entries' pending recipients are allocated together, and their
// destinations interned, to keep the index small.
func (q *Queue) loadEntries(msgs []found, w, step int) {
	buf := make([]byte, readBufSize)
	dests := make(map[string]string)
	var slab []pend
	for i := w; i < len(msgs); i += step {
		f := &msgs[i]
		h, st, err := q.loadParts(f.id, f.hasState, buf)
		if err != nil {
			f.err = err
			continue
		}
		m := record(h, st)
		k := 0
		for _, rs := range m.Recipients {
			if rs.State == queue.RecipientPending {
				k++
			}
		}
		if cap(slab)-len(slab) < k {
			slab = make([]pend, 0, max(1024, k))
		}
		f.e = &entry{id: f.id, index: -1, pending: slab[len(slab) : len(slab) : len(slab)+k]}
		slab = slab[:len(slab)+k]
		f.e.update(&m, dests)
		f.e.hasState = f.hasState
		f.enqueued = h.enqueued
	}
}
