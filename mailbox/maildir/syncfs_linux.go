//go:build linux && (amd64 || arm64)

package maildir

import (
	"os"
	"syscall"
)

// syncFS makes everything written to the file system holding f durable
// (syncfs(2): the file data, directory entries and index records of a
// whole batch in one journal commit and one cache flush).
func syncFS(f *os.File) error {
	for {
		_, _, e := syscall.Syscall(sysSyncfs, f.Fd(), 0, 0)
		if e == 0 {
			return nil
		}
		if e != syscall.EINTR {
			return e
		}
	}
}
