package maildir

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"github.com/postyard/postyard/mailbox"
)

// lockFolder takes the maildrop lock of a folder (RFC 1939 §8): an
// exclusive flock on its lock file. flock locks belong to the open file,
// so a second lock in this process conflicts like one in another
// process, and the kernel drops the lock when its holder dies: a stale
// lock never blocks. The lock is released by closing the file.
func lockFolder(path string) (*os.File, error) {
	// syscall.Open rather than os.OpenFile: see openFile.
	fd, err := syscall.Open(path, syscall.O_RDWR|syscall.O_CREAT|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	f := os.NewFile(uintptr(fd), path)
	for {
		err = syscall.Flock(fd, syscall.LOCK_EX|syscall.LOCK_NB)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, mailbox.ErrLocked
		}
		return nil, fmt.Errorf("lock: %w", err)
	}
	return f, nil
}
