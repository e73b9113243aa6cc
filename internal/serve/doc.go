// Package serve is the one accept loop, connection tracker and shutdown path
// shared by the SMTP, IMAP and POP3 servers.
//
// A protocol server embeds or holds a [Server], sets [Server.Handle] to its
// session loop and [Server.Refuse] to a function that writes the protocol's
// "too many connections" reply, and forwards its own Serve, ServeConn,
// Shutdown and Close methods to it.
//
// # Connection limits
//
// [Server.MaxConns] bounds the number of connections served at once (default
// 1000) and [Server.MaxConnsPerIP] the number from one remote address
// (default 20). Remote addresses are compared by IP address only: the port is
// ignored, an IPv4-mapped IPv6 address counts as the IPv4 address, an IPv6
// zone is ignored, and every IPv6 address is its own bucket (a /128, not a
// /64). A connection over a limit is handed to Refuse instead of Handle and
// then closed.
//
// # Graceful shutdown
//
// [Server.Shutdown] asks every session to end at its next idle point, that is
// while it waits for the client's next command. The session cooperates by
// calling [Conn.Idle] right before it blocks reading the next command and
// [Conn.Busy] as soon as a command has arrived:
//
//	for {
//		c.SetReadDeadline(time.Now().Add(idleTimeout))
//		if !c.Idle() {
//			io.WriteString(c, "421 4.3.2 Server shutting down\r\n")
//			return
//		}
//		line, err := r.ReadLine()
//		if err != nil {
//			if c.ShuttingDown() {
//				io.WriteString(c, "421 4.3.2 Server shutting down\r\n")
//			} else if isTimeout(err) {
//				io.WriteString(c, "421 4.4.2 Idle timeout\r\n")
//			}
//			return
//		}
//		c.Busy()
//		// execute the command; reads of command data (DATA, APPEND
//		// literals) are not interrupted by Shutdown.
//	}
//
// Idle returns false once Shutdown has begun. A session that is already idle
// when Shutdown begins has its pending read interrupted (its read deadline is
// moved into the past, and later calls to [Conn.SetReadDeadline] do not undo
// that until Busy is called). A busy session finishes its command and is
// stopped by its next Idle. Sessions that never call Idle are only ended
// when Shutdown's context expires, when they are force-closed.
//
// # Read polling (Linux)
//
// A read on an accepted TCP connection polls the socket before sleeping
// in the network poller (poll_linux.go), so that a client sending its
// next command as soon as it has the reply does not pay for waking the
// server's thread each time (on a virtual machine, about as much as
// serving the command): for up to 50 µs after a reply of 1 KiB or more
// (POP3 RETR, IMAP FETCH of bodies), for one sched_yield after a short
// one, which lets a client on the same CPU answer. A read polls only
// while every connection of the Server is idle (Idle and Busy keep the
// count), with at most GOMAXPROCS-1 reads polling at once, stopping when
// another thread wanted the CPU; a connection whose last 16 polls ended
// without data (a client across a network) polls once every 64 reads
// only. The connection's reads and writes are system calls made directly,
// outside the Go scheduler's system-call state, so that they do not wake
// its monitor thread. Measurements: BENCHMARKS.md, POP3.
// Elsewhere reads are those of net.
//
// # PROXY protocol
//
// [ReadProxyHeader] implements the receiving side of the HAProxy PROXY
// protocol, versions 1 (text) and 2 (binary), as specified in
// https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt. Implemented:
// v1 "TCP4", "TCP6" and "UNKNOWN"; v2 LOCAL and PROXY commands with
// AF_INET and AF_INET6 over STREAM. Other valid v2 families and transports
// (AF_UNSPEC, AF_UNIX, DGRAM) fall back to the real connection endpoints as
// the specification requires. TLVs are skipped unparsed (their CRC32C is not
// checked). A server must only read the header on listeners that sit behind
// a trusted proxy: use [Server.ServeListener] with a
// [ListenerOptions.Prepare] function that calls ReadProxyHeader, so that the
// per-IP limit applies to the client's address rather than the proxy's.
//
// # Concurrency
//
// All Server methods are safe for concurrent use. A [Conn] belongs to the
// goroutine running Handle; see [Conn] for what other goroutines may call.
package serve
