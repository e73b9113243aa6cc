package dnsmx

import (
	"slices"
	"testing"
	"time"
)

// Nameserver addresses get port 53 unless they have a port.
func TestWithPorts(t *testing.T) {
	got := withPorts([]string{"192.0.2.53", "192.0.2.53:5353", "::1", "[::1]", "[::1]:5353", "ns.example"})
	want := []string{"192.0.2.53:53", "192.0.2.53:5353", "[::1]:53", "[::1]:53", "[::1]:5353", "ns.example:53"}
	if !slices.Equal(got, want) {
		t.Errorf("withPorts = %v, want %v", got, want)
	}
}

// Zero means the default, negative none or unlimited.
func TestDefaults(t *testing.T) {
	var r Resolver
	if r.timeout() != DefaultTimeout || r.rounds() != 2 || r.udpSize() != DefaultUDPSize || r.maxCNAME() != 8 || r.maxHosts() != 10 {
		t.Errorf("zero Resolver: timeout %v rounds %d udp %d cname %d hosts %d", r.timeout(), r.rounds(), r.udpSize(), r.maxCNAME(), r.maxHosts())
	}
	r = Resolver{Timeout: -1, Retries: -1, UDPSize: -1, MaxCNAME: -1, MaxHosts: -1}
	if r.timeout() != 0 || r.rounds() != 1 || r.udpSize() != 0 || r.maxCNAME() != 0 || r.maxHosts() < 1<<30 {
		t.Errorf("negative Resolver: timeout %v rounds %d udp %d cname %d hosts %d", r.timeout(), r.rounds(), r.udpSize(), r.maxCNAME(), r.maxHosts())
	}
	r = Resolver{UDPSize: 100000}
	if r.udpSize() != 65535 {
		t.Errorf("UDPSize capped at %d", r.udpSize())
	}
}

// The LRU evicts the least recently used entry and drops expired ones.
func TestLRU(t *testing.T) {
	now := time.Now()
	c := newLRU[string, int](2)
	c.add("a", 1, now, now.Add(time.Minute))
	c.add("b", 2, now, now.Add(time.Second))
	c.add("x", 9, now, now) // already expired: not stored
	if _, ok := c.get("a", now); !ok {
		t.Fatal("a missing")
	}
	c.add("c", 3, now, now.Add(time.Minute)) // evicts b, the least recently used
	if _, ok := c.get("b", now); ok {
		t.Error("b not evicted")
	}
	if v, ok := c.get("c", now); !ok || v != 3 {
		t.Error("c missing")
	}
	if _, ok := c.get("a", now.Add(2*time.Minute)); ok || c.len() != 1 {
		t.Errorf("expired a returned, or kept (len %d)", c.len())
	}
	disabled := newLRU[string, int](0)
	disabled.add("a", 1, now, now.Add(time.Minute))
	if _, ok := disabled.get("a", now); ok || disabled.len() != 0 {
		t.Error("a disabled cache cached")
	}
}
