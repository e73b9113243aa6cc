package serve

import (
	"io"
	"net"
	"os"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// A client that sends its next command as soon as it has read the reply
// finds the server's thread asleep unless the server waits for it awake,
// and waking a thread costs more than serving a short command: on a
// virtual machine with an idle vCPU, a halt exit of around 90 µs. So a
// read on an accepted TCP connection first polls its socket, yielding the
// CPU between polls, while the server has nothing else to do and a core
// is to spare (see pollConn.startPolling):
//
//   - after a long reply (pollAfter octets or more: POP3 RETR, IMAP FETCH
//     of bodies) for up to pollBudget, because the client takes a while
//     to read it, on a CPU of its own;
//   - after a short one (status lines: POP3 STAT, SMTP, IMAP) for one
//     yield only. A client that answers within microseconds does so best
//     on the server's CPU, and one yield lets it run there; a server
//     polling longer would hold that CPU and push the client onto another
//     one, where each round trip then wakes an idle CPU (BENCHMARKS.md,
//     POP3 STAT at one client).
const (
	pollBudget = 50 * time.Microsecond
	pollAfter  = 1024
)

// yieldedLong is how long a sched_yield(2) between two polls may take
// before polling stops: longer means the kernel ran another thread on this
// CPU, which is then not to spare.
const yieldedLong = 10 * time.Microsecond

// A connection whose polls end without data pollMisses times in a row (a
// client farther away than pollBudget, as clients across a network are,
// or a machine with no CPU to spare) stops polling, and tries again once
// every pollProbe reads: the CPU is not spent where it cannot help.
const (
	pollMisses = 16
	pollProbe  = 64
)

// pollers counts the reads polling now. At most GOMAXPROCS-1 poll at once,
// so one processor is always left for other work, and none poll with
// GOMAXPROCS=1.
var pollers atomic.Int32

// pollConn is an accepted TCP connection whose Read polls the socket
// before it blocks, and whose Read and Write make their system calls
// directly. Everything else, including the sendfile and splice paths of
// ReadFrom and WriteTo (not counted as written), is the TCPConn's.
//
// The socket is non-blocking, so a read or write returns at once; made
// through syscall.Read and syscall.Write each would enter the Go
// scheduler's system-call state, and the first of them after the
// scheduler went idle wakes its monitor thread (sysmon), which then runs
// every 20 µs for a while: with the client and the server sharing one
// CPU, that is a third thread taking turns on it, and about a third of a
// short command's round trip (POP3 STAT, client and server on one CPU:
// about 80,000 a second with those calls, 112,000 without).
type pollConn struct {
	*net.TCPConn
	rc      syscall.RawConn
	working *atomic.Int32 // the Server's count of connections not idle
	misses  int           // polls in a row that ended without data (at most pollMisses)
	skipped int           // reads not polled since the last probe
	// wrote counts the octets written since the last read (atomic: a
	// session may write from another goroutine, as IMAP IDLE does).
	wrote atomic.Int64
}

// withPolling wraps nc in a pollConn if it is a TCP connection; working
// is the Server's count of connections not idle.
func withPolling(nc net.Conn, working *atomic.Int32) net.Conn {
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return nc
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nc
	}
	return &pollConn{TCPConn: tc, rc: rc, working: working}
}

// sysRead and sysWrite are read(2) and write(2) on a non-blocking socket,
// outside the scheduler's system-call state (see pollConn). Built with
// the race detector they are syscall.Read and syscall.Write, whose
// annotations order what a program did before writing to a socket before
// what the peer does after reading it: without them, a test that sets up
// a server's configuration and then connects would be reported as racing
// with the server.
func sysRead(fd uintptr, b []byte) (int, error) {
	if raceEnabled {
		return syscall.Read(int(fd), b)
	}
	return rawIO(syscall.SYS_READ, fd, b)
}

func sysWrite(fd uintptr, b []byte) (int, error) {
	if raceEnabled {
		return syscall.Write(int(fd), b)
	}
	return rawIO(syscall.SYS_WRITE, fd, b)
}

// rawIO makes the read(2) or write(2) call trap on fd with b.
func rawIO(trap, fd uintptr, b []byte) (int, error) {
	n, _, e := syscall.RawSyscall(trap, fd, uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// Write writes like net.TCPConn.Write, deadlines included, and counts what
// it wrote for the next Read. What the socket does not take at once is left
// to TCPConn.Write, which waits for room in the network poller.
func (c *pollConn) Write(b []byte) (int, error) {
	done := 0
	var werr error
	rerr := c.rc.Write(func(fd uintptr) bool {
		for done < len(b) {
			n, err := sysWrite(fd, b[done:])
			if err == syscall.EINTR {
				continue
			}
			if err != nil {
				if err != syscall.EAGAIN {
					werr = err
				}
				break
			}
			done += n
		}
		return true
	})
	if rerr == nil && werr != nil {
		rerr = os.NewSyscallError("write", werr)
	}
	var err error
	switch {
	case rerr != nil:
		err = &net.OpError{Op: "write", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: rerr}
	case done < len(b):
		var n int
		n, err = c.TCPConn.Write(b[done:])
		done += n
	}
	c.wrote.Add(int64(done))
	return done, err
}

// Read reads like net.TCPConn.Read (deadlines included: the poller wait
// honours them), polling first when the socket has nothing yet.
func (c *pollConn) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	long := c.wrote.Swap(0) >= pollAfter
	var (
		n       int
		err     error
		polling bool
		start   time.Time
		calls   int
	)
	rerr := c.rc.Read(func(fd uintptr) bool {
		calls++
		for {
			n, err = sysRead(fd, b)
			if err == syscall.EINTR {
				continue
			}
			if err != syscall.EAGAIN {
				break
			}
			if calls > 1 {
				return false // woken by the poller: one try, as net does
			}
			if !polling {
				if !c.wantPoll() || !c.startPolling() {
					return false
				}
				polling, start = true, time.Now()
			} else if !long || time.Since(start) >= pollBudget {
				break
			}
			t := time.Now()
			syscall.RawSyscall(syscall.SYS_SCHED_YIELD, 0, 0, 0)
			if time.Since(t) > yieldedLong {
				break // another thread wanted this CPU: stop taking it
			}
		}
		if polling {
			pollers.Add(-1)
			polling = false
			if err == syscall.EAGAIN {
				c.misses = min(c.misses+1, pollMisses)
			} else {
				c.misses = 0
			}
		}
		return err != syscall.EAGAIN
	})
	if rerr == nil && err != nil {
		rerr = os.NewSyscallError("read", err)
	}
	if rerr != nil {
		return 0, &net.OpError{Op: "read", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: rerr}
	}
	if n == 0 {
		return 0, io.EOF
	}
	return n, nil
}

// wantPoll reports whether this read may poll: yes, unless the last
// pollMisses polls all ended without data; then once every pollProbe
// reads.
func (c *pollConn) wantPoll() bool {
	if c.misses < pollMisses {
		return true
	}
	c.skipped++
	if c.skipped < pollProbe {
		return false
	}
	c.skipped = 0
	return true
}

// startPolling takes a polling slot if the server has nothing else to do
// (every connection idle, this one included: with several clients at work
// the cores are busy and their wake-ups overlap anyway) and a slot is free.
func (c *pollConn) startPolling() bool {
	if c.working.Load() != 0 {
		return false
	}
	limit := int32(runtime.GOMAXPROCS(0) - 1)
	if pollers.Add(1) > limit {
		pollers.Add(-1)
		return false
	}
	return true
}
