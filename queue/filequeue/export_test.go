package filequeue

// SetSyncEach switches q between group commit (false, the default) and
// an fsync of the directory per change (true), the baseline that the
// benchmarks compare against. Call it before using q.
func SetSyncEach(q *Queue, on bool) { q.syncEach = on }
