//go:build linux && (amd64 || arm64)

package maildir

import (
	"os"
	"syscall"
)

// writeBack writes the data of f to the device and waits for it,
// without a journal commit or a cache flush: sync_file_range(2) with
// SYNC_FILE_RANGE_WAIT_BEFORE|WRITE|WAIT_AFTER. The group commit's next
// fsync (a journal commit, which flushes the device cache) then makes
// the data durable with the file's size, name and index record, in one
// commit for the whole batch. ok is false where the call is not
// available; the caller fsyncs instead.
func writeBack(f *os.File) (ok bool, err error) {
	const waitBefore, write, waitAfter = 1, 2, 4
	for {
		_, _, e := syscall.Syscall6(sysSyncFileRange, f.Fd(), 0, 0, waitBefore|write|waitAfter, 0, 0)
		switch e {
		case 0:
			return true, nil
		case syscall.EINTR:
			continue
		case syscall.ENOSYS, syscall.EINVAL, syscall.ESPIPE:
			return false, nil
		}
		return true, e
	}
}

// startWriteBack starts writing the data of f to the device without
// waiting for it (sync_file_range(2) with SYNC_FILE_RANGE_WRITE), so
// that the fsync that follows has less to wait for. Errors are left to
// that fsync.
func startWriteBack(f *os.File) {
	const write = 2
	syscall.Syscall6(sysSyncFileRange, f.Fd(), 0, 0, write, 0, 0)
}
