//go:build unix

package filequeue

import (
	"os"
	"syscall"
)

// rename renames a file with one system call: os.Rename first checks
// with lstat(2) that newpath is not a directory, which in the queue it
// never is.
func rename(oldpath, newpath string) error {
	for {
		err := syscall.Rename(oldpath, newpath)
		switch err {
		case nil:
			return nil
		case syscall.EINTR:
			continue
		}
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: err}
	}
}
