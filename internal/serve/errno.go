//go:build !plan9

package serve

import "syscall"

// acceptRetryErrnos are Accept errors after which the accept loop backs
// off and retries: out of descriptors or memory, or a connection that died
// before it was accepted.
var acceptRetryErrnos = [...]error{
	syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM,
	syscall.ECONNABORTED, syscall.ECONNRESET, syscall.EAGAIN, syscall.EINTR,
}
