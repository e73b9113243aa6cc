//go:build !unix

package filequeue

import "os"

// lockFile does nothing where flock is not available: the caller must
// make sure that one process at a time opens a queue directory.
func lockFile(f *os.File) error { return nil }
