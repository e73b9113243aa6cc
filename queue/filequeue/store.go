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

func (q *Queue) msgPath(id queue.ID) string {
	return filepath.Join(q.dir, msgDir, string(id))
}

func (q *Queue) statePath(id queue.ID) string {
	return filepath.Join(q.dir, msgDir, string(id)+stateSuffix)
}

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

// writeMessage stores a new message file: the header of h and the
// content read from body go to a temporary file, which is fsynced,
// renamed into the msg directory and committed. On success h.size and
// h.crc describe the content. The content is streamed, never held whole.
func (q *Queue) writeMessage(ctx context.Context, h *header, body io.Reader) (err error) {
	tmp := filepath.Join(q.dir, tmpDir, string(h.id))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := q.writeContent(ctx, f, h, body); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	final := q.msgPath(h.id)
	if err := os.Rename(tmp, final); err != nil {
		return err
	}
	if err := q.commit(); err != nil {
		// Whether the entry reached the disk is unknown: take it back, so
		// that the caller's retry does not make a duplicate.
		os.Remove(final)
		return err
	}
	return nil
}

// writeContent writes the header and the content to f. The header goes
// first with a placeholder for the content's size and CRC, and is
// rewritten at the end; a small message is written with one call.
func (q *Queue) writeContent(ctx context.Context, f *os.File, h *header, body io.Reader) error {
	hdr := encodeHeader(h)
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	buf := *bp
	fill := 0
	if len(hdr) <= len(buf)/2 {
		fill = copy(buf, hdr) // the header stays in buf until the first flush
	} else if _, err := f.Write(hdr); err != nil {
		return err
	}
	headerInBuf := fill > 0
	var size int64
	var crc uint32
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := body.Read(buf[fill:])
		if n > 0 {
			crc = crc32.Update(crc, castagnoli, buf[fill:fill+n])
			size += int64(n)
			fill += n
			if q.opts.MaxSize >= 0 && size > q.opts.MaxSize {
				return queue.ErrTooLarge
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if fill == len(buf) {
			if _, err := f.Write(buf); err != nil {
				return err
			}
			fill, headerInBuf = 0, false
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	h.size, h.crc = size, crc
	sealHeader(hdr, size, crc)
	if headerInBuf {
		copy(buf, hdr)
		_, err := f.Write(buf[:fill])
		return err
	}
	if _, err := f.Write(buf[:fill]); err != nil {
		return err
	}
	_, err := f.WriteAt(hdr, 0)
	return err
}

// writeState replaces the state file of m durably: temporary file,
// fsync, rename over the old one, commit.
func (q *Queue) writeState(m *queue.Message) (err error) {
	name := string(m.ID) + stateSuffix
	tmp := filepath.Join(q.dir, tmpDir, name)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err := f.Write(encodeState(m)); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, q.statePath(m.ID)); err != nil {
		return err
	}
	return q.commit()
}

// removeFiles removes a message durably: its message file goes first
// and the removal is committed (a state file without its message file
// is garbage that Open deletes), then its state file.
func (q *Queue) removeFiles(id queue.ID) error {
	if err := os.Remove(q.msgPath(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := q.commit(); err != nil {
		return err
	}
	if err := os.Remove(q.statePath(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		q.opts.Logger.Warn("filequeue: cannot remove state file", "queue_id", id, "err", err)
	}
	return nil
}

// readHeader reads and checks the header of the message file f: its
// checksum, and that the file holds exactly the content it announces.
func readHeader(f *os.File) (*header, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	buf := make([]byte, 1024)
	n, err := f.ReadAt(buf, 0)
	if err != nil && err != io.EOF {
		return nil, err
	}
	hl, err := headerLen(buf[:n])
	if err != nil {
		return nil, err
	}
	if hl > n {
		buf = append(buf[:n], make([]byte, hl-n)...)
		if _, err := f.ReadAt(buf[n:], int64(n)); err != nil {
			if err == io.EOF {
				return nil, corrupt("message file shorter than its header")
			}
			return nil, err
		}
	}
	h, err := decodeHeader(buf[:hl])
	if err != nil {
		return nil, err
	}
	if want := int64(hl) + h.size; fi.Size() != want {
		return nil, corrupt("message file of %d octets, header says %d", fi.Size(), want)
	}
	return h, nil
}

// readState reads the state file of id; nil without error if there is
// none.
func (q *Queue) readState(id queue.ID) (*state, error) {
	b, err := os.ReadFile(q.statePath(id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return decodeState(b)
}

// readRecord reads the record of a message from its files. An error
// that wraps fs.ErrNotExist means the message file is gone; one that
// wraps ErrCorrupt, that a file fails its checks.
func (q *Queue) readRecord(id queue.ID) (*queue.Message, error) {
	return q.load(id, true)
}

// record builds a message record from its two parts, checking that they
// belong together.
func record(id queue.ID, h *header, st *state) (*queue.Message, error) {
	if h.id != id {
		return nil, corrupt("message file %s holds message %s", id, h.id)
	}
	m := &queue.Message{ID: id, Envelope: h.env, Size: h.size, Enqueued: h.enqueued}
	if st == nil {
		m.Recipients = make([]queue.RecipientStatus, len(h.env.Recipients))
		return m, nil
	}
	if st.id != id || len(st.rcpts) != len(h.env.Recipients) {
		return nil, corrupt("state file of %s does not match its message (%s, %d recipients)", id, st.id, len(st.rcpts))
	}
	m.Recipients, m.Held = st.rcpts, st.held
	return m, nil
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

func (r *contentReader) Close() error { return r.f.Close() }

// openContent opens the content of the message file name for reading.
func openContent(name string) (io.ReadCloser, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	h, err := readHeader(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("filequeue: %s: %w", name, err)
	}
	return &contentReader{f: f, r: io.NewSectionReader(f, int64(h.length), h.size), size: h.size, want: h.crc}, nil
}
