//go:build linux

package maildir

import (
	"os"
	"syscall"
	"unsafe"
)

// The files of cur/ are opened, renamed and removed relative to an open
// descriptor of the directory (openat(2), renameat(2), unlinkat(2)): the
// kernel then looks up one name instead of walking the folder's whole
// path for each message of a FETCH, RETR or STORE. The descriptor
// follows the directory when the mailbox is renamed. Calls go through
// syscall.RawConn.Control, which keeps the descriptor from being closed
// (and its number reused) while they run.

// openCurDir opens the folder's cur/ for the calls below; on failure they
// use paths.
func (f *folder) openCurDir() {
	d, err := openFile(f.curDir)
	if err != nil {
		return
	}
	rc, err := d.SyscallConn()
	if err != nil {
		d.Close()
		return
	}
	f.curD, f.curRC = d, rc
}

// atCur runs fn with the descriptor of cur/; ok is false if there is
// none (then fn did not run).
func (f *folder) atCur(fn func(fd int) error) (err error, ok bool) {
	if f.curRC == nil {
		return nil, false
	}
	if cerr := f.curRC.Control(func(fd uintptr) { err = fn(int(fd)) }); cerr != nil {
		return nil, false
	}
	return err, true
}

// openCur opens the file name of cur/ for reading; path is its path
// (f.curPath(name), which f.mu guards), for errors and where there is no
// descriptor.
func (f *folder) openCur(name, path string) (*os.File, error) {
	var fd int
	err, ok := f.atCur(func(dirfd int) error {
		var err error
		for {
			fd, err = syscall.Openat(dirfd, name, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
			if err != syscall.EINTR {
				return err
			}
		}
	})
	if !ok {
		return openFile(path)
	}
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}

// renameCur renames the file from of cur/ to the file to of cur/.
func (f *folder) renameCur(from, to string) error {
	err, ok := f.atCur(func(dirfd int) error { return syscall.Renameat(dirfd, from, dirfd, to) })
	if !ok {
		return rename(f.curPath(from), f.curPath(to))
	}
	if err != nil {
		return &os.LinkError{Op: "rename", Old: f.curPath(from), New: f.curPath(to), Err: err}
	}
	return nil
}

// renamesCurZ calls fn with a function that renames files of cur/ like
// renameCur, the names NUL-terminated in byte slices (a STORE renames
// thousands of files: this spares converting them), using the descriptor
// of cur/ once for all of them.
func (f *folder) renamesCurZ(fn func(rename func(from, to []byte) error)) {
	_, ok := f.atCur(func(dirfd int) error {
		fn(func(from, to []byte) error {
			if err := renameatZ(dirfd, from, to); err != nil {
				return &os.LinkError{Op: "rename", Old: f.curPath(unZ(from)), New: f.curPath(unZ(to)), Err: err}
			}
			return nil
		})
		return nil
	})
	if !ok {
		fn(f.renameCurZ)
	}
}

// renameatZ renames from to to, both NUL-terminated, in the directory
// dirfd.
func renameatZ(dirfd int, from, to []byte) error {
	_, _, e := syscall.Syscall6(syscall.SYS_RENAMEAT, uintptr(dirfd), uintptr(unsafe.Pointer(&from[0])),
		uintptr(dirfd), uintptr(unsafe.Pointer(&to[0])), 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

// renameIntoCur renames the file at path to the file name of cur/.
func (f *folder) renameIntoCur(path, name string) error {
	err, ok := f.atCur(func(dirfd int) error { return syscall.Renameat(_AT_FDCWD, path, dirfd, name) })
	if !ok {
		return rename(path, f.curPath(name))
	}
	if err != nil {
		return &os.LinkError{Op: "rename", Old: path, New: f.curPath(name), Err: err}
	}
	return nil
}

// removeCur removes the file name of cur/.
func (f *folder) removeCur(name string) error {
	err, ok := f.atCur(func(dirfd int) error { return syscall.Unlinkat(dirfd, name) })
	if !ok {
		return os.Remove(f.curPath(name))
	}
	if err != nil {
		return &os.PathError{Op: "remove", Path: f.curPath(name), Err: err}
	}
	return nil
}

const _AT_FDCWD = -100
