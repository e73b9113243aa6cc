package filequeue

import "testing"

// SetSyncEach switches q between group commit (false, the default) and
// an fsync of the directory per change (true), the baseline that the
// benchmarks compare against. Call it before using q.
func SetSyncEach(q *Queue, on bool) { q.syncEach = on }

// Fixture100k returns a queue directory holding 100,000 deferred
// messages, made on first use and kept in the temp directory.
func Fixture100k(b *testing.B) string { return fixture100k(b) }

// SetSyncers sets how many directory fsyncs may run at once in queues
// opened afterwards.
func SetSyncers(n int) { syncers = n }
