//go:build unix

package filequeue

import (
	"io/fs"
	"syscall"
)

// readAt0 reads the start of the file name into buf and returns how much
// it read (all of buf, or the whole file if shorter) and the file's size.
// It uses the system calls directly: an os.File would cost an epoll
// registration attempt and an allocation per file, which recovery of a
// large queue feels.
func readAt0(name string, buf []byte) (int, int64, error) {
	var fd int
	var err error
	for {
		fd, err = syscall.Open(name, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		return 0, 0, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	defer syscall.Close(fd)
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return 0, 0, &fs.PathError{Op: "fstat", Path: name, Err: err}
	}
	want := int(min(int64(len(buf)), st.Size))
	n := 0
	for n < want {
		m, err := syscall.Pread(fd, buf[n:want], int64(n))
		switch {
		case err == syscall.EINTR:
			continue
		case err != nil:
			return n, st.Size, &fs.PathError{Op: "read", Path: name, Err: err}
		case m == 0:
			return n, st.Size, nil // shrank meanwhile; the caller's checks fail
		}
		n += m
	}
	return n, st.Size, nil
}
