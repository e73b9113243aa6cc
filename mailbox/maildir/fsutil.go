package maildir

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// writeFileAtomic replaces path with data crash-safely: write a temporary
// file beside it, fsync it, rename it over path, fsync the directory.
// After a crash path holds the old or the new data, whole.
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp" + randomSuffix()
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(filepath.Dir(path))
}

func randomSuffix() string {
	var b [6]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// makeMaildir creates dir with cur/, new/ and tmp/ (dir itself may
// exist).
func makeMaildir(dir string) error {
	for _, sub := range []string{"", "cur", "new", "tmp"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o700); err != nil && !os.IsExist(err) {
			return err
		}
	}
	return nil
}

// cleanTmp removes what a crash left in a tmp/ directory: files older
// than 36 hours, as the Maildir specification advises (other programs
// may be writing the newer ones), and this store's leftovers (names
// starting with "postyard-") of any age when mine is set.
func cleanTmp(dir string, mine bool) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	old := time.Now().Add(-36 * time.Hour)
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		if mine && strings.HasPrefix(e.Name(), "postyard-") {
			os.RemoveAll(p)
			continue
		}
		if fi, err := e.Info(); err == nil && fi.ModTime().Before(old) {
			os.RemoveAll(p)
		}
	}
}

// openFile opens a file for reading. Unlike os.Open it does not try to
// register the file with the network poller, which for a regular file on
// Linux costs five system calls that fail or are undone (fcntl to set
// O_NONBLOCK, epoll_ctl, fcntl to clear it): reading a message is one
// open, a few reads and a close.
func openFile(path string) (*os.File, error) {
	for {
		fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		switch err {
		case nil:
			return os.NewFile(uintptr(fd), path), nil
		case syscall.EINTR:
			continue
		}
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
}

// rename renames a file, as os.Rename does without its Lstat of the
// destination (which only matters for directories): one system call.
func rename(from, to string) error {
	if err := syscall.Rename(from, to); err != nil {
		return &os.LinkError{Op: "rename", Old: from, New: to, Err: err}
	}
	return nil
}

// createFile creates a new file for writing (failing if it exists),
// without the poller registration os.OpenFile attempts: see openFile.
func createFile(path string) (*os.File, error) {
	for {
		fd, err := syscall.Open(path, syscall.O_WRONLY|syscall.O_CREAT|syscall.O_EXCL|syscall.O_CLOEXEC, 0o600)
		switch err {
		case nil:
			return os.NewFile(uintptr(fd), path), nil
		case syscall.EINTR:
			continue
		}
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
}
