package maildir

// OpenPerMessageSync opens a store whose changes each do their own
// fsyncs, without the group commit: the benchmarks' baseline.
func OpenPerMessageSync(dir string) (*Store, error) {
	return Open(dir, &Options{perMessageSync: true})
}
