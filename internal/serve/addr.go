package serve

import "net"

// AddrString returns a.String(), or "" for a nil address.
func AddrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}

// AddrIP returns the IP of a TCP address, or the host part of another
// address's string form (all of it if it has no port); "" for nil.
func AddrIP(a net.Addr) string {
	if a == nil {
		return ""
	}
	if t, ok := a.(*net.TCPAddr); ok {
		return t.IP.String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}
