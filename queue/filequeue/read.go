package filequeue

import (
	"encoding/binary"
	"errors"
	"io/fs"
	"sync"

	"github.com/postyard/postyard/queue"
)

// Reading records: Lease, Complete, Inspect and List read a message's
// record from its two files, and recovery reads all of them, so this
// path is kept to four system calls a file (open, fstat, pread, close;
// see readAt0) and reuses its buffers.

// readBufSize holds the state record of a message with dozens of
// recipients; headerRead is what is read first of a message file, enough
// for the header of a message with a few recipients.
const (
	readBufSize = 4 << 10
	headerRead  = 512
)

var readBufs = sync.Pool{New: func() any { b := make([]byte, readBufSize); return &b }}

// readHeader reads the header of a message file with read, which reads
// the start of the file into its argument and returns how much it read
// and the file's size; buf (nil allowed) is a buffer to use. It checks
// the header and that the file holds exactly the content the header
// announces.
func readHeader(read func([]byte) (int, int64, error), buf []byte) (*header, error) {
	b, err := headerBytes(read, buf)
	if err != nil {
		return nil, err
	}
	return decodeHeader(b)
}

// headerBytes reads the header of a message file as readHeader does and
// returns its octets, checking the fixed prefix and that the file is as
// long as the header and the content it announces; the header's CRC is
// not checked yet.
func headerBytes(read func([]byte) (int, int64, error), buf []byte) ([]byte, error) {
	if len(buf) < headerRead {
		buf = make([]byte, headerRead)
	}
	n, size, err := read(buf[:headerRead])
	if err != nil {
		return nil, err
	}
	hl, err := headerLen(buf[:n])
	if err != nil {
		return nil, err
	}
	if hl > n {
		if int64(hl) > size {
			return nil, corrupt("message file shorter than its header")
		}
		buf = make([]byte, hl)
		if n, size, err = read(buf); err != nil {
			return nil, err
		}
		if n < hl {
			return nil, corrupt("message file shorter than its header")
		}
	}
	content := binary.LittleEndian.Uint64(buf[offSize:])
	if want := uint64(hl) + content; size < 0 || uint64(size) != want || want < content {
		return nil, corrupt("message file of %d octets, header says %d", size, want)
	}
	return buf[:hl], nil
}

// contentPlace reads the header of a message file as readHeader does,
// with the same checks, and returns where the content starts, its length
// and its CRC-32C, without decoding the rest of the header.
func contentPlace(read func([]byte) (int, int64, error), buf []byte) (start, size int64, crc uint32, err error) {
	b, err := headerBytes(read, buf)
	if err != nil {
		return 0, 0, 0, err
	}
	if _, err := checkCRC(b, "message header"); err != nil {
		return 0, 0, 0, err
	}
	return int64(len(b)), int64(binary.LittleEndian.Uint64(b[offSize:])), binary.LittleEndian.Uint32(b[offCRC:]), nil
}

// readStateFile reads and decodes the state file name, using buf;
// nil without error if there is none.
func readStateFile(name string, buf []byte) (*state, error) {
	n, size, err := readAt0(name, buf)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if size > int64(n) {
		if size > maxState {
			return nil, corrupt("state record of %d octets", size)
		}
		buf = make([]byte, size)
		if n, size, err = readAt0(name, buf); err != nil {
			return nil, err
		}
	}
	if size != int64(n) {
		return nil, corrupt("state file changed while read")
	}
	return decodeState(buf[:n])
}

// loadParts reads the two files of id, using buf; hasState false skips
// looking for its state file (recovery knows which exist). An error that
// wraps fs.ErrNotExist means the message file is gone; one that wraps
// ErrCorrupt, that a file fails its checks.
func (q *Queue) loadParts(id queue.ID, hasState bool, buf []byte) (*header, *state, error) {
	name := q.msgPath(id)
	h, err := readHeader(func(b []byte) (int, int64, error) { return readAt0(name, b) }, buf)
	if err != nil {
		return nil, nil, err
	}
	var st *state
	if hasState {
		if st, err = readStateFile(q.statePath(id), buf); err != nil {
			return nil, nil, err
		}
	}
	return h, st, belong(id, h, st)
}

// readRecord reads the record of id from its files, for the queue's
// methods (hasState false: id has no state file; see loadParts); errors
// as loadParts.
func (q *Queue) readRecord(id queue.ID, hasState bool) (*queue.Message, error) {
	bp := readBufs.Get().(*[]byte)
	defer readBufs.Put(bp)
	h, st, err := q.loadParts(id, hasState, *bp)
	if err != nil {
		return nil, err
	}
	m := record(h, st)
	return &m, nil
}
