package filequeue

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/postyard/postyard/queue"
)

// The layout of a queue directory; see doc.go.
const (
	msgDir        = "msg"
	tmpDir        = "tmp"
	quarantineDir = "quarantine"
	lockName      = "lock"
	stateSuffix   = ".state"
)

// msgPath and statePath are called per message at recovery: one
// concatenation, not a filepath.Join.
func (q *Queue) msgPath(id queue.ID) string { return q.msgPrefix + string(id) }

func (q *Queue) statePath(id queue.ID) string { return q.msgPrefix + string(id) + stateSuffix }

// copyBufSize is the size of the buffer content is streamed through; a
// message that fits is written with one write call, header included.
const copyBufSize = 64 << 10

var copyBufs = sync.Pool{New: func() any { b := make([]byte, copyBufSize); return &b }}

// commit makes the entries of the msg directory durable: with the
// group committer, or (Queue.syncEach) with an fsync of its own.
func (q *Queue) commit() error {
	if q.syncEach {
		return q.msgDir.Sync()
	}
	return q.com.sync()
}

// writeFile durably creates or replaces msg/name: fill writes the file
// in tmp/ from its start and returns its length; the file is fsynced,
// renamed into msg/ and committed. With recycle, a spare file is written
// over if there is one (see spare.go). If the commit fails, whether the
// rename reached the disk is unknown.
func (q *Queue) writeFile(name string, recycle bool, fill func(f *os.File) (int64, error)) (err error) {
	var f *os.File
	tmp, reuse := "", false
	if recycle {
		if tmp, reuse = q.spares.get(); reuse {
			if f, err = os.OpenFile(tmp, os.O_WRONLY, 0); err != nil {
				os.Remove(tmp)
				reuse = false
			}
		}
	}
	if !reuse {
		tmp = filepath.Join(q.dir, tmpDir, name)
		if f, err = os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600); err != nil {
			return err
		}
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	n, err := fill(f)
	if err != nil {
		return err
	}
	if reuse {
		// Cut what is left of the file's earlier content.
		if err := f.Truncate(n); err != nil {
			return err
		}
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := rename(tmp, q.msgPrefix+name); err != nil {
		return err
	}
	return q.commit()
}

// writeMessage stores a new message file: the header of h and the
// content read from body, streamed, never held whole. On success h.size
// and h.crc describe the content.
func (q *Queue) writeMessage(ctx context.Context, h *header, body io.Reader) error {
	err := q.writeFile(string(h.id), true, func(f *os.File) (int64, error) { return q.writeContent(ctx, f, h, body) })
	if err != nil {
		// If the commit failed, take the file back, so that the caller's
		// retry does not make a duplicate.
		os.Remove(q.msgPath(h.id))
	}
	return err
}

// writeContent writes the header and the content to f. The header goes
// first with a placeholder for the content's size and CRC, and is
// rewritten at the end; a small message is written with one call. It
// returns the length of the file.
func (q *Queue) writeContent(ctx context.Context, f *os.File, h *header, body io.Reader) (int64, error) {
	hdr := encodeHeader(h)
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	buf := *bp
	fill := 0
	if len(hdr) <= len(buf)/2 {
		fill = copy(buf, hdr) // the header stays in buf until the first flush
	} else if _, err := f.Write(hdr); err != nil {
		return 0, err
	}
	headerInBuf := fill > 0
	var size int64
	var crc uint32
	for {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		n, err := body.Read(buf[fill:])
		if n > 0 {
			crc = crc32.Update(crc, castagnoli, buf[fill:fill+n])
			size += int64(n)
			fill += n
			if q.opts.MaxSize >= 0 && size > q.opts.MaxSize {
				return 0, queue.ErrTooLarge
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, err
		}
		if fill == len(buf) {
			if _, err := f.Write(buf); err != nil {
				return 0, err
			}
			fill, headerInBuf = 0, false
		}
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	h.size, h.crc = size, crc
	sealHeader(hdr, size, crc)
	length := int64(len(hdr)) + size
	if headerInBuf {
		copy(buf, hdr)
		_, err := f.Write(buf[:fill])
		return length, err
	}
	if _, err := f.Write(buf[:fill]); err != nil {
		return 0, err
	}
	_, err := f.WriteAt(hdr, 0)
	return length, err
}

// writeState replaces the state file of m durably. e.wmu is held.
func (q *Queue) writeState(e *entry, m *queue.Message) error {
	q.mu.Lock()
	e.hasState = true // before the file exists: readers then look for it
	q.mu.Unlock()
	return q.writeFile(string(m.ID)+stateSuffix, false, func(f *os.File) (int64, error) {
		n, err := f.Write(encodeState(m))
		return int64(n), err
	})
}

// removeFiles removes a message durably: its message file goes first
// and the removal is committed (a state file without its message file
// is garbage that Open deletes), then its state file, if hasState. The
// message file of a message of size octets, if nobody reads it (e is
// nil or has no reader from Open), becomes a spare (see spare.go).
// e.wmu is held, if e is not nil.
func (q *Queue) removeFiles(id queue.ID, e *entry, size int64, hasState bool) error {
	sp, recycle := "", false
	if e != nil {
		q.mu.Lock()
		if e.readers == 0 {
			sp, recycle = q.spares.reserve(size)
			e.noRead = recycle // Open must not open the file meanwhile
		}
		q.mu.Unlock()
	}
	if recycle {
		if err := rename(q.msgPath(id), sp); err != nil {
			recycle = false
			q.mu.Lock()
			e.noRead = false
			q.mu.Unlock()
		}
	}
	if !recycle {
		if err := os.Remove(q.msgPath(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	if err := q.commit(); err != nil {
		if recycle {
			os.Remove(sp)
		}
		return err
	}
	if recycle {
		q.spares.put(sp)
	}
	if !hasState {
		return nil
	}
	if err := os.Remove(q.statePath(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		q.opts.Logger.Warn("filequeue: cannot remove state file", "queue_id", id, "err", err)
	}
	return nil
}

// belong checks that a message file and a state file (nil if none) are
// those of id.
func belong(id queue.ID, h *header, st *state) error {
	if h.id != id {
		return corrupt("message file %s holds message %s", id, h.id)
	}
	if st != nil && (st.id != id || len(st.rcpts) != len(h.env.Recipients)) {
		return corrupt("state file of %s does not match its message (%s, %d recipients)", id, st.id, len(st.rcpts))
	}
	return nil
}

// record builds a message's record from its two parts (st nil: as
// enqueued).
func record(h *header, st *state) queue.Message {
	m := queue.Message{ID: h.id, Envelope: h.env, Size: h.size, Enqueued: h.enqueued}
	if st == nil {
		m.Recipients = make([]queue.RecipientStatus, len(h.env.Recipients))
		m.Held = h.env.Hold
	} else {
		m.Recipients, m.Held = st.rcpts, st.held
	}
	return m
}

// quarantine moves files of the msg directory (by name) to the
// quarantine directory, never over a file already there, and makes the
// moves durable.
func (q *Queue) quarantine(names ...string) error {
	var errs []error
	for _, name := range names {
		dst := filepath.Join(q.dir, quarantineDir, name)
		for i := 1; ; i++ {
			if _, err := os.Lstat(dst); errors.Is(err, fs.ErrNotExist) {
				break
			}
			dst = filepath.Join(q.dir, quarantineDir, name+"."+strconv.Itoa(i))
		}
		if err := os.Rename(filepath.Join(q.dir, msgDir, name), dst); errors.Is(err, fs.ErrNotExist) {
			continue
		} else if err != nil {
			errs = append(errs, err)
			continue
		}
		q.opts.Logger.Error("filequeue: file quarantined", "file", name, "to", dst)
	}
	if err := syncDir(filepath.Join(q.dir, quarantineDir)); err != nil {
		errs = append(errs, err)
	}
	if err := q.msgDir.Sync(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func syncDir(name string) error {
	d, err := os.Open(name)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// contentReader serves a message's content from its file and checks,
// at the end, that it was what was enqueued: the right length and
// CRC-32C, or an error wrapping ErrCorrupt instead of io.EOF.
type contentReader struct {
	f    *os.File
	done func() // called once by Close, if set
	r    *io.SectionReader
	size int64
	want uint32
	crc  uint32
	n    int64
	err  error
}

func (r *contentReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	n, err := r.r.Read(p)
	r.crc = crc32.Update(r.crc, castagnoli, p[:n])
	r.n += int64(n)
	if err == io.EOF && (r.n != r.size || r.crc != r.want) {
		err = corrupt("content of %s: %d octets with CRC %08x, want %d with %08x", r.f.Name(), r.n, r.crc, r.size, r.want)
	}
	if err != nil {
		r.err = err
	}
	return n, err
}

func (r *contentReader) Close() error {
	if r.done != nil {
		r.done()
		r.done = nil
	}
	return r.f.Close()
}

// openContent opens the content of the message file name for reading.
func openContent(name string) (*contentReader, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	bp := readBufs.Get().(*[]byte)
	start, size, crc, err := contentPlace(func(buf []byte) (int, int64, error) { return readFileAt0(f, buf) }, *bp)
	readBufs.Put(bp)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("filequeue: %s: %w", name, err)
	}
	return &contentReader{f: f, r: io.NewSectionReader(f, start, size), size: size, want: crc}, nil
}

// readFileAt0 reads the start of f into buf and returns how much it read
// and the size of f.
func readFileAt0(f *os.File, buf []byte) (int, int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, 0, err
	}
	n, err := f.ReadAt(buf[:min(int64(len(buf)), fi.Size())], 0)
	return n, fi.Size(), err
}
