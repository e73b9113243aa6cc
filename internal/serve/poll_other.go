//go:build !linux

package serve

import (
	"net"
	"sync/atomic"
)

// withPolling returns nc: reads poll before they sleep only on Linux.
func withPolling(nc net.Conn, working *atomic.Int32) net.Conn { return nc }
