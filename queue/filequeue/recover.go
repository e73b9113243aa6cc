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
	var msgs, bad []string
	states := make(map[queue.ID]bool)
	for _, name := range names {
		if id, ok := strings.CutSuffix(name, stateSuffix); ok && queue.ID(id).Valid() {
			states[queue.ID(id)] = true
		} else if queue.ID(name).Valid() {
			msgs = append(msgs, name)
		} else {
			bad = append(bad, name) // not ours: keep it, out of the way
		}
	}

	type result struct {
		e   *entry
		err error
	}
	results := make([]result, len(msgs))
	var wg sync.WaitGroup
	workers := min(max(runtime.GOMAXPROCS(0), 1), 8)
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(msgs); i += workers {
				id := queue.ID(msgs[i])
				m, err := q.load(id, states[id])
				if err == nil {
					results[i].e = newEntry(m)
				}
				results[i].err = err
			}
		})
	}
	wg.Wait()

	var entries []*entry
	var finished []queue.ID
	for i, r := range results {
		id := queue.ID(msgs[i])
		switch {
		case errors.Is(r.err, ErrCorrupt):
			q.opts.Logger.Error("filequeue: corrupt message", "queue_id", id, "err", r.err)
			bad = append(bad, string(id))
			if states[id] {
				bad = append(bad, string(id)+stateSuffix)
			}
		case r.err != nil:
			return fmt.Errorf("filequeue: recovering %s: %w", id, r.err)
		case len(r.e.pending) == 0:
			finished = append(finished, id) // a removal that did not finish
		default:
			entries = append(entries, r.e)
		}
		delete(states, id)
	}
	if len(bad) > 0 {
		if err := q.quarantine(bad...); err != nil {
			return err
		}
	}
	for _, id := range finished {
		if err := q.removeFiles(id); err != nil {
			return err
		}
	}
	for id := range states { // state files whose message was removed
		if err := os.Remove(q.statePath(id)); err != nil {
			return err
		}
	}

	slices.SortFunc(entries, func(a, b *entry) int {
		if c := a.enqueued.Compare(b.enqueued); c != 0 {
			return c
		}
		return cmp.Compare(a.id, b.id)
	})
	for _, e := range entries {
		q.x.add(e)
	}
	lvl := q.opts.Logger.Debug
	if len(bad)+len(finished)+len(states)+len(tmps) > 0 {
		lvl = q.opts.Logger.Info
	}
	lvl("filequeue: recovered", "dir", q.dir, "messages", len(entries), "quarantined", len(bad),
		"finished_removals", len(finished)+len(states), "unfinished_writes", len(tmps), "took", time.Since(start))
	return nil
}

// load reads the record of id; hasState false skips looking for its
// state file (recovery knows which exist).
func (q *Queue) load(id queue.ID, hasState bool) (*queue.Message, error) {
	f, err := os.Open(q.msgPath(id))
	if err != nil {
		return nil, err
	}
	h, err := readHeader(f)
	f.Close()
	if err != nil {
		return nil, err
	}
	var st *state
	if hasState {
		if st, err = q.readState(id); err != nil {
			return nil, err
		}
	}
	return record(id, h, st)
}
