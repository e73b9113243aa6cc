package filequeue

import "testing"

// SetSyncEach switches q between group commit (false, the default) and
// an fsync of the directory per change (true), the baseline that the
// benchmarks compare against. Call it before using q.
func SetSyncEach(q *Queue, on bool) { q.syncEach = on }

// Fixture100k returns a queue directory holding 100,000 deferred
// messages, made on first use and kept in the temp directory.
func Fixture100k(b *testing.B) string { return fixture100k(b) }

// DirSyncs returns how many fsyncs of the msg directory the group
// committer of q made, and how many waiting writers they covered.
func DirSyncs(q *Queue) (syncs, writers uint64) {
	return q.com.syncs.Load(), q.com.writers.Load()
}
