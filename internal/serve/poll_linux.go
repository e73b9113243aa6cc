package serve

import (
	"io"
	"net"
	"os"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"
)

// pollBudget is how long a read on an accepted TCP connection keeps
// polling its socket before it sleeps in the network poller.
//
// A client that sends its next command as soon as it has read a reply
// (POP3 RETR after RETR, IMAP FETCH after FETCH, SMTP's command
// round trips) would otherwise find the server's thread asleep every time,
// and pay for waking it: on a virtual machine with an idle vCPU that is a
// halt exit, around 90 µs, more than serving the command. Polling costs at
// most pollBudget of CPU per reply, only while the server has nothing else
// to do and a core is to spare (see pollConn.startPolling), and yields to
// every other runnable goroutine and thread between polls.
const pollBudget = 50 * time.Microsecond

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

// pollConn is an accepted TCP connection whose Read polls the socket for up
// to pollBudget before it blocks. Everything else, including the
// sendfile and splice paths of ReadFrom and WriteTo, is the TCPConn's.
type pollConn struct {
	*net.TCPConn
	rc      syscall.RawConn
	working *atomic.Int32 // the Server's count of connections not idle
	misses  int           // polls in a row that ended without data (at most pollMisses)
	skipped int           // reads not polled since the last probe
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

// Read reads like net.TCPConn.Read (deadlines included: the poller wait
// honours them), polling first when the socket has nothing yet.
func (c *pollConn) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
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
			n, err = syscall.Read(int(fd), b)
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
			} else if time.Since(start) >= pollBudget {
				break
			}
			runtime.Gosched()
			t := time.Now()
			syscall.Syscall(syscall.SYS_SCHED_YIELD, 0, 0, 0)
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
