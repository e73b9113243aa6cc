package mailtest

import (
	"bytes"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// listener wraps accepted connections in a tconn, which records the
// transcript and applies connect-stage faults.
type listener struct {
	net.Listener
	s           *Server
	implicitTLS bool
	smtp        bool // record and apply faults; IMAP and POP3 pass through
}

func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if !l.smtp {
		return c, nil
	}
	return l.s.newConn(c, l.implicitTLS), nil
}

// tconn is the server side of one client connection, below TLS.
type tconn struct {
	net.Conn
	s  *Server
	tr *transcript

	fault     *Fault // connect-stage fault to apply at the first I/O
	faultOnce sync.Once
	faultErr  error

	closeOnce sync.Once
	closed    chan struct{}

	mu        sync.Mutex // guards the recording state
	rbuf      []byte     // partial client line
	wbuf      []byte     // partial server line
	lastVerb  string     // verb of the last client command
	inData    bool       // between 354 and the final "."
	dataLines int
	authCont  bool  // the next client line is an AUTH response
	skip      int64 // BDAT chunk octets still to come
	chunk     int64
	encrypted bool // TLS has started: record session events only
}

func (s *Server) newConn(c net.Conn, implicitTLS bool) *tconn {
	tc := &tconn{Conn: c, s: s, closed: make(chan struct{})}
	tc.tr = &transcript{remote: c.RemoteAddr().String(), start: time.Now()}
	tc.encrypted = implicitTLS
	if implicitTLS {
		tc.tr.add("-- implicit TLS: session events only")
	}
	tc.fault = s.decide(stageConnect, &Message{})
	s.mu.Lock()
	s.conns[tc.tr.remote] = tc
	s.transcripts = append(s.transcripts, tc.tr)
	if len(s.transcripts) > maxTranscripts {
		s.transcripts = s.transcripts[len(s.transcripts)-maxTranscripts:]
	}
	s.mu.Unlock()
	return tc
}

// connect applies the connect-stage fault, once, before the first read or
// write.
func (c *tconn) connect() error {
	if c.fault == nil {
		return nil
	}
	c.faultOnce.Do(func() {
		f := c.fault
		c.tr.add("-- fault: " + f.String())
		if f.delay > 0 && !c.s.sleep(nil, f.delay, c) {
			c.faultErr = net.ErrClosed
			return
		}
		switch {
		case f.disconnect:
			c.Close()
			c.faultErr = net.ErrClosed
		case f.hang:
			c.s.hang(nil, c)
			c.Close()
			c.faultErr = net.ErrClosed
		case f.reply:
			line := fmt.Sprintf("%d %s %s\r\n", f.code, f.enhanced, f.text)
			c.tr.add("S: " + strings.TrimSuffix(line, "\r\n"))
			c.Conn.Write([]byte(line))
			c.Close()
			c.faultErr = net.ErrClosed
		}
	})
	return c.faultErr
}

func (c *tconn) Read(p []byte) (int, error) {
	if err := c.connect(); err != nil {
		return 0, err
	}
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.client(p[:n])
	}
	return n, err
}

func (c *tconn) Write(p []byte) (int, error) {
	if err := c.connect(); err != nil {
		return 0, err
	}
	c.server(p)
	return c.Conn.Write(p)
}

func (c *tconn) Close() error {
	first := false
	c.closeOnce.Do(func() {
		first = true
		close(c.closed)
		c.s.mu.Lock()
		if c.s.conns[c.tr.remote] == c {
			delete(c.s.conns, c.tr.remote)
		}
		c.s.mu.Unlock()
	})
	err := c.Conn.Close()
	if first {
		c.tr.add("-- closed")
	}
	return err
}

// event records a session event when the wire is not readable.
func (c *tconn) event(s string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	enc := c.encrypted
	c.mu.Unlock()
	if enc {
		c.tr.add("· " + s)
	}
}

// client records bytes the client sent.
func (c *tconn) client(b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(b) > 0 && !c.encrypted {
		if c.skip > 0 {
			n := min(c.skip, int64(len(b)))
			c.skip -= n
			b = b[n:]
			if c.skip == 0 {
				c.tr.add(fmt.Sprintf("C: [chunk of %d octets]", c.chunk))
			}
			continue
		}
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			if len(c.rbuf) < 2048 {
				c.rbuf = append(c.rbuf, b...)
			}
			return
		}
		line := string(append(c.rbuf, b[:i]...))
		c.rbuf = c.rbuf[:0]
		b = b[i+1:]
		c.clientLine(strings.TrimSuffix(line, "\r"))
	}
}

func (c *tconn) clientLine(line string) {
	if c.inData {
		if line != "." {
			c.dataLines++
			return
		}
		c.tr.add(fmt.Sprintf("C: [message content: %d lines]", c.dataLines))
		c.tr.add("C: .")
		c.inData = false
		return
	}
	if c.authCont {
		c.authCont = false
		c.tr.add("C: [redacted]")
		return
	}
	verb, rest, _ := strings.Cut(line, " ")
	verb = strings.ToUpper(verb)
	c.lastVerb = verb
	switch verb {
	case "AUTH":
		mech, _, ir := strings.Cut(rest, " ")
		if ir {
			line = "AUTH " + mech + " [redacted]"
		}
	case "BDAT":
		f := strings.Fields(rest)
		if len(f) > 0 {
			if n, err := strconv.ParseInt(f[0], 10, 64); err == nil && n > 0 {
				c.skip, c.chunk = n, n
			}
		}
	}
	c.tr.add("C: " + line)
}

// server records bytes the server sent.
func (c *tconn) server(b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.encrypted {
		return
	}
	for {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			if len(c.wbuf) < 2048 {
				c.wbuf = append(c.wbuf, b...)
			}
			return
		}
		line := strings.TrimSuffix(string(append(c.wbuf, b[:i]...)), "\r")
		c.wbuf = c.wbuf[:0]
		b = b[i+1:]
		c.tr.add("S: " + line)
		switch {
		case strings.HasPrefix(line, "354"):
			c.inData, c.dataLines = true, 0
		case strings.HasPrefix(line, "334"):
			c.authCont = true
		case strings.HasPrefix(line, "220") && (c.lastVerb == "STARTTLS" || c.lastVerb == "STLS"):
			c.encrypted = true
			c.tr.add("-- TLS started: session events only")
			return
		}
	}
}

// transcript is the record of one connection.
type transcript struct {
	remote string
	start  time.Time

	mu      sync.Mutex
	lines   []string
	dropped int
}

func (t *transcript) add(line string) {
	if len(line) > 200 {
		line = line[:200] + "…"
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.lines) >= maxTranscriptLine {
		t.dropped++
		return
	}
	t.lines = append(t.lines, line)
}

func (t *transcript) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "connection from %s:\n", t.remote)
	for _, l := range t.lines {
		b.WriteString("  " + l + "\n")
	}
	if t.dropped > 0 {
		fmt.Fprintf(&b, "  [%d more lines]\n", t.dropped)
	}
	return b.String()
}
