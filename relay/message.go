package relay

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
)

// Message is a received message held for the checks, as it will be
// delivered: the fields the checks add (Authentication-Results), then the
// message as received, without Authentication-Results fields forged with
// our authserv-id. It is spooled (in memory up to a bound, then in a
// temporary file) so that every filter can read it from the start; it is
// valid until the Data call that received it returns.
type Message struct {
	sp   *spool
	head []byte // added fields and the received header section
	off  int64  // where the received body starts in sp
}

// Header returns the header section, up to and including the empty line
// that ends it (or the whole message if it has no body). The caller must
// not modify it.
func (m *Message) Header() []byte { return m.head }

// Size is the size of the message in octets.
func (m *Message) Size() int64 { return int64(len(m.head)) + m.sp.n - m.off }

// Open returns a reader of the whole message from its start. Readers are
// independent and may be used concurrently.
func (m *Message) Open() io.Reader {
	return io.MultiReader(bytes.NewReader(m.head), m.sp.section(m.off))
}

// NewMessage reads r, a whole message with CRLF line endings, into a
// Message the way Inbound does (up to DefaultSpoolMemory in memory, the
// rest in a temporary file): for testing a Filter, or running one outside
// an SMTP session. The caller must Close it.
func NewMessage(r io.Reader) (*Message, error) {
	return readMessage(r, 0, "", DefaultMaxHeaderBytes, nil)
}

// Close removes the spool. Filters must not close the Message they are
// given: Inbound does.
func (m *Message) Close() error { return m.sp.Close() }

// readMessage spools r and splits off its header section, which must fit
// in maxHeader octets (negative: unlimited). verify, if not nil, reads the
// message while it is spooled.
func readMessage(r io.Reader, mem int64, dir string, maxHeader int, verify func(io.Reader) error) (*Message, error) {
	sp := &spool{mem: mem, dir: dir}
	var err error
	if verify != nil {
		err = verify(io.TeeReader(r, sp))
	}
	if err == nil {
		_, err = io.Copy(sp, r) // all of it, or what verify did not read
	}
	var hdr []byte
	if err == nil {
		hdr, err = readHeaderSection(bufio.NewReader(sp.section(0)), maxHeader)
	}
	if err != nil {
		sp.Close()
		return nil, err
	}
	return &Message{sp: sp, head: hdr, off: int64(len(hdr))}, nil
}

// spool keeps what is written to it: up to mem octets in memory, the rest
// in a temporary file. mem 0 means DefaultSpoolMemory, negative unlimited.
type spool struct {
	mem  int64
	dir  string
	buf  bytes.Buffer
	file *os.File
	n    int64 // octets written
}

func (s *spool) Write(p []byte) (int, error) {
	if s.file != nil {
		n, err := s.file.Write(p)
		s.n += int64(n)
		return n, err
	}
	limit := s.mem
	if limit == 0 {
		limit = DefaultSpoolMemory
	}
	if limit < 0 || int64(s.buf.Len()+len(p)) <= limit {
		s.n += int64(len(p))
		return s.buf.Write(p)
	}
	f, err := os.CreateTemp(s.dir, "postyard-spool-*")
	if err != nil {
		return 0, err
	}
	s.file = f
	if _, err := f.Write(s.buf.Bytes()); err != nil {
		return 0, err
	}
	s.buf = bytes.Buffer{}
	n, err := f.Write(p)
	s.n += int64(n)
	return n, err
}

// section returns a reader of the spooled content from off. Readers are
// independent of each other.
func (s *spool) section(off int64) io.Reader {
	if s.file == nil {
		return bytes.NewReader(s.buf.Bytes()[off:])
	}
	return io.NewSectionReader(s.file, off, s.n-off)
}

// Reader returns the spooled content from the start.
func (s *spool) Reader() (io.Reader, error) { return s.section(0), nil }

// Close removes the temporary file, if any.
func (s *spool) Close() error {
	if s.file == nil {
		return nil
	}
	name := s.file.Name()
	err := s.file.Close()
	s.file = nil
	return errors.Join(err, os.Remove(name))
}
