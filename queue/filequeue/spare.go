package filequeue

import (
	"os"
	"path/filepath"
	"strconv"
	"sync"
)

// Spare files: the message file of a removed message is not unlinked
// but renamed to tmp/ and kept, and the next Enqueue writes over it
// instead of creating a file. Creating and deleting a file per message
// costs more than writing one: the file system allocates and frees an
// inode each time (ext4 without a journal scans past every inode freed
// in the last half minute to find a free one, which dominated the CPU
// time of a relay under load), and the first fsync of a new file may
// also have to write its directory. A spare is overwritten in place,
// cut to its new length, fsynced and renamed into msg/ like a new file,
// so the durability rules of doc.go are unchanged.
//
// A spare is only taken into the pool once the removal of its message
// is durable, so that a crash can never leave a message's name on a
// file that a later message has started to overwrite; and only when no
// reader from Queue.Open has the file open (a reader stays valid after
// the removal). Spares live in tmp/, which Open empties, and Close
// deletes them.

// Bounds of the spare pool: at most maxSpares files, each the file of a
// message of at most maxSpareSize octets (larger ones are unlinked), so
// the pool holds about 16 MiB of disk at most.
const (
	maxSpares    = 64
	maxSpareSize = 256 << 10
)

// sparePool is the queue's spare files.
type sparePool struct {
	dir  string // the queue's tmp directory
	mu   sync.Mutex
	free []string // paths of the spares
	n    uint64   // names the spares
}

// get takes a spare from the pool, if there is one, and returns its
// path.
func (p *sparePool) get() (string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.free)
	if n == 0 {
		return "", false
	}
	s := p.free[n-1]
	p.free = p.free[:n-1]
	return s, true
}

// reserve returns a new name in tmp/ for a spare if the pool has room
// for a file of size octets; ok is false if the file should be unlinked
// instead.
func (p *sparePool) reserve(size int64) (path string, ok bool) {
	if size > maxSpareSize {
		return "", false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.free) >= maxSpares {
		return "", false
	}
	p.n++
	return filepath.Join(p.dir, "spare."+strconv.FormatUint(p.n, 10)), true
}

// put adds the file path (from reserve) to the pool, or deletes it if
// the pool is full.
func (p *sparePool) put(path string) {
	p.mu.Lock()
	if len(p.free) < maxSpares {
		p.free = append(p.free, path)
		path = ""
	}
	p.mu.Unlock()
	if path != "" {
		os.Remove(path)
	}
}

// close deletes the spares.
func (p *sparePool) close() {
	p.mu.Lock()
	free := p.free
	p.free = nil
	p.mu.Unlock()
	for _, path := range free {
		os.Remove(path)
	}
}
