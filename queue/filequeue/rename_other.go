//go:build !unix

package filequeue

import "os"

// rename renames a file.
func rename(oldpath, newpath string) error { return os.Rename(oldpath, newpath) }
