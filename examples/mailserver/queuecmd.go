package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/postyard/postyard/queue"
	"github.com/postyard/postyard/queue/filequeue"
)

// The queue subcommand:
//
//	mailserver queue [-config FILE | -data DIR | -queue DIR] list [ID...]
//	mailserver queue ... hold|release|delete ID...
//	mailserver queue ... retry [ID...]     (no ID: every message)
//
// A filequeue directory is open in one process at a time (flock). So the
// subcommand opens the queue directory itself when no server has it, and
// otherwise asks the running server, over the admin socket DATA/admin.sock
// (a Unix socket, mode 0600: whoever may read the data directory may
// manage the queue). Either way the same code (queueOp) does the work.

// adminSocket is the name of the admin socket in the data directory.
const adminSocket = "admin.sock"

// adminRequest is one line a client sends on the admin socket.
type adminRequest struct {
	Op  string   `json:"op"` // list, hold, release, delete, retry
	IDs []string `json:"ids,omitempty"`
}

// adminReply is one line of the answer: a message (list), the result for
// one ID (the others), and last a line with Done set.
type adminReply struct {
	Message *queueEntry `json:"message,omitempty"`
	ID      string      `json:"id,omitempty"`
	Error   string      `json:"error,omitempty"`
	Done    bool        `json:"done,omitempty"`
}

// queueEntry is a queued message as shown by list.
type queueEntry struct {
	ID         string      `json:"id"`
	State      string      `json:"state"`
	From       string      `json:"from"`
	Size       int64       `json:"size"`
	Enqueued   time.Time   `json:"enqueued"`
	Recipients []rcptEntry `json:"recipients"`
}

type rcptEntry struct {
	To          string    `json:"to"`
	State       string    `json:"state"`
	Attempts    int       `json:"attempts,omitempty"`
	NextAttempt time.Time `json:"next_attempt,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
}

func newQueueEntry(m *queue.Message, now time.Time) *queueEntry {
	e := &queueEntry{ID: string(m.ID), State: m.State(now).String(), From: m.Envelope.From.String(), Size: m.Size, Enqueued: m.Enqueued}
	for i, r := range m.Envelope.Recipients {
		st := m.Recipients[i]
		re := rcptEntry{To: r.To.String(), State: st.State.String(), Attempts: st.Attempts}
		if st.State == queue.RecipientPending {
			re.NextAttempt = st.NextAttempt
		}
		if e := st.Err; e != nil {
			re.LastError = e.Status() + " " + e.Message
			if e.Code != 0 {
				re.LastError = fmt.Sprintf("%d %s", e.Code, re.LastError)
			}
			if e.RemoteMTA != "" {
				re.LastError += " (" + e.RemoteMTA + ")"
			}
		}
		e.Recipients = append(e.Recipients, re)
	}
	return e
}

// queueOp runs one admin request on q, passing each reply line to emit,
// the Done line last. Only a failure of emit is returned.
func queueOp(ctx context.Context, q queue.Queue, req adminRequest, emit func(adminReply) error) error {
	done := func(err error) error {
		r := adminReply{Done: true}
		if err != nil {
			r.Error = err.Error()
		}
		return emit(r)
	}
	ids := make([]queue.ID, len(req.IDs))
	for i, s := range req.IDs {
		if ids[i] = queue.ID(s); !ids[i].Valid() {
			return done(fmt.Errorf("bad message ID %q", s))
		}
	}
	var act func(context.Context, queue.ID) error
	switch req.Op {
	case "list":
		now := time.Now()
		if len(ids) > 0 {
			for _, id := range ids {
				m, err := q.Inspect(ctx, id)
				r := adminReply{ID: string(id)}
				if err != nil {
					r.Error = err.Error()
				} else {
					r.Message = newQueueEntry(m, now)
				}
				if err := emit(r); err != nil {
					return err
				}
			}
			return done(nil)
		}
		for m, err := range q.List(ctx, nil) {
			if err != nil {
				return done(err)
			}
			if err := emit(adminReply{Message: newQueueEntry(m, now)}); err != nil {
				return err
			}
		}
		return done(nil)
	case "hold":
		act = q.Hold
	case "release":
		act = q.Release
	case "delete":
		act = q.Delete
	case "retry":
		act = q.RetryNow
		if len(ids) == 0 {
			for m, err := range q.List(ctx, nil) {
				if err != nil {
					return done(err)
				}
				ids = append(ids, m.ID)
			}
		}
	default:
		return done(fmt.Errorf("unknown operation %q", req.Op))
	}
	if len(ids) == 0 && req.Op != "retry" {
		return done(fmt.Errorf("%s: which message? give its ID", req.Op))
	}
	for _, id := range ids {
		r := adminReply{ID: string(id)}
		if err := act(ctx, id); err != nil {
			r.Error = err.Error()
		}
		if err := emit(r); err != nil {
			return err
		}
	}
	return done(nil)
}

// queueCommand runs "mailserver queue ...".
func queueCommand(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("mailserver queue", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configFile := fs.String("config", "", "server config `file` (its data_dir and queue_dir)")
	dataDir := fs.String("data", "", "the server's data `directory`")
	queueDir := fs.String("queue", "", "queue `directory` (default DATA/queue)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: mailserver queue [-config FILE | -data DIR | -queue DIR] list [ID...] | hold ID... | release ID... | delete ID... | retry [ID...]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return errors.New("no operation")
	}
	req := adminRequest{Op: fs.Arg(0), IDs: fs.Args()[1:]}
	if *configFile != "" {
		c := defaultConfig()
		if err := loadConfigFile(*configFile, &c); err != nil {
			return err
		}
		if *dataDir == "" {
			*dataDir = c.DataDir
		}
		if *queueDir == "" {
			*queueDir = c.QueueDir
		}
	}
	if *queueDir == "" {
		if *dataDir == "" {
			return errors.New("which queue? give -config FILE, -data DIR or -queue DIR")
		}
		*queueDir = filepath.Join(*dataDir, "queue")
	}

	p := &queuePrinter{w: stdout}
	ctx := context.Background()
	q, err := filequeue.Open(*queueDir, &queue.Options{Logger: slog.New(slog.DiscardHandler)})
	switch {
	case err == nil:
		defer q.Close()
		queueOp(ctx, q, req, p.print)
	case errors.Is(err, filequeue.ErrLocked):
		if *dataDir == "" {
			return fmt.Errorf("%s is in use by a running server; give -data or -config so that its admin socket can be found", *queueDir)
		}
		if err := adminCall(ctx, filepath.Join(*dataDir, adminSocket), req, p.print); err != nil {
			return fmt.Errorf("%s is in use, and the server's admin socket: %w", *queueDir, err)
		}
	default:
		return err
	}
	return p.err
}

// queuePrinter writes replies for people.
type queuePrinter struct {
	w      io.Writer
	n      int
	failed int
	err    error
}

func (p *queuePrinter) print(r adminReply) error {
	switch {
	case r.Done:
		if r.Error != "" {
			p.err = errors.New(r.Error)
		} else if p.failed > 0 {
			p.err = fmt.Errorf("%d of the messages failed", p.failed)
		} else if p.n > 0 || r.ID == "" {
			fmt.Fprintf(p.w, "%d message%s\n", p.n, plural(p.n))
		}
	case r.Message != nil:
		p.n++
		m := r.Message
		fmt.Fprintf(p.w, "%-26s  %-10s  %8d  %s  <%s>\n", m.ID, m.State, m.Size, m.Enqueued.UTC().Format(time.DateTime), strings.Trim(m.From, "<>"))
		for _, rc := range m.Recipients {
			line := fmt.Sprintf("    <%s>  %s", strings.Trim(rc.To, "<>"), rc.State)
			if rc.Attempts > 0 {
				line += fmt.Sprintf("  attempts=%d", rc.Attempts)
			}
			if !rc.NextAttempt.IsZero() {
				line += "  next=" + rc.NextAttempt.UTC().Format(time.DateTime)
			}
			if rc.LastError != "" {
				line += "  last: " + rc.LastError
			}
			fmt.Fprintln(p.w, line)
		}
	case r.Error != "":
		p.failed++
		fmt.Fprintf(p.w, "%s: %s\n", r.ID, r.Error)
	default:
		p.n++
		fmt.Fprintf(p.w, "%s: ok\n", r.ID)
	}
	return nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// adminServer answers admin requests on a Unix socket.
type adminServer struct {
	l   net.Listener
	q   queue.Queue
	log *slog.Logger
	wg  sync.WaitGroup

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

// listenAdmin removes a stale socket at path (the caller holds the queue's
// lock, so no other server is using it) and listens there.
func listenAdmin(path string, q queue.Queue, log *slog.Logger) (*adminServer, error) {
	if err := removeStaleSocket(path); err != nil {
		return nil, err
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	a := &adminServer{l: l, q: q, log: log, conns: map[net.Conn]struct{}{}}
	a.wg.Go(a.serve)
	return a, nil
}

func (a *adminServer) serve() {
	for {
		c, err := a.l.Accept()
		if err != nil {
			return
		}
		a.mu.Lock()
		if a.closed {
			a.mu.Unlock()
			c.Close()
			return
		}
		a.conns[c] = struct{}{}
		a.mu.Unlock()
		a.wg.Go(func() {
			defer func() {
				a.mu.Lock()
				delete(a.conns, c)
				a.mu.Unlock()
				c.Close()
			}()
			a.handle(c)
		})
	}
}

// handle answers one request: one JSON line in, JSON lines out.
func (a *adminServer) handle(c net.Conn) {
	c.SetDeadline(time.Now().Add(time.Minute))
	r := bufio.NewReader(io.LimitReader(c, 1<<20))
	line, err := r.ReadBytes('\n')
	if err != nil {
		return
	}
	var req adminRequest
	enc := json.NewEncoder(c)
	if err := json.Unmarshal(line, &req); err != nil {
		enc.Encode(adminReply{Done: true, Error: "malformed request"})
		return
	}
	a.log.Info("admin", "op", req.Op, "ids", req.IDs)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	queueOp(ctx, a.q, req, func(r adminReply) error { return enc.Encode(r) })
}

// Close stops the listener (removing the socket) and ends the requests in
// progress.
func (a *adminServer) Close() error {
	a.mu.Lock()
	a.closed = true
	for c := range a.conns {
		c.Close()
	}
	a.mu.Unlock()
	err := a.closeListener()
	a.wg.Wait()
	return err
}

// closeListener closes the listener; closing it again is not an error.
func (a *adminServer) closeListener() error {
	if err := a.l.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		return err
	}
	return nil
}

// Shutdown stops the listener and waits for the requests in progress, or
// until ctx ends.
func (a *adminServer) Shutdown(ctx context.Context) error {
	a.mu.Lock()
	a.closed = true
	a.mu.Unlock()
	err := a.closeListener()
	done := make(chan struct{})
	go func() { a.wg.Wait(); close(done) }()
	select {
	case <-done:
		return err
	case <-ctx.Done():
		a.Close()
		return ctx.Err()
	}
}

// adminCall sends req to the server at the socket path and passes each
// reply to emit.
func adminCall(ctx context.Context, path string, req adminRequest, emit func(adminReply) error) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Minute))
	if err := json.NewEncoder(c).Encode(req); err != nil {
		return err
	}
	dec := json.NewDecoder(c)
	for {
		var r adminReply
		if err := dec.Decode(&r); err != nil {
			return fmt.Errorf("reading the reply: %w", err)
		}
		if err := emit(r); err != nil {
			return err
		}
		if r.Done {
			return nil
		}
	}
}

// removeStaleSocket removes the socket a server that died left at path.
func removeStaleSocket(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode().Type() != os.ModeSocket {
		return fmt.Errorf("admin socket: %s exists and is not a socket", path)
	}
	return os.Remove(path)
}
