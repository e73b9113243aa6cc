package dnsmx

import (
	"context"
	"errors"
	"sync"
	"time"
)

// lru is a map bounded to max entries, evicting the least recently used,
// whose entries expire. A nil *lru caches nothing. Safe for concurrent use.
type lru[K comparable, V any] struct {
	mu   sync.Mutex
	max  int
	m    map[K]*lruEntry[K, V]
	ring lruEntry[K, V] // ring.next is the most recently used entry
}

type lruEntry[K comparable, V any] struct {
	key        K
	val        V
	expires    time.Time
	prev, next *lruEntry[K, V]
}

// newLRU returns a cache of at most max entries, or nil if max <= 0.
func newLRU[K comparable, V any](max int) *lru[K, V] {
	if max <= 0 {
		return nil
	}
	c := &lru[K, V]{max: max, m: make(map[K]*lruEntry[K, V])}
	c.ring.next, c.ring.prev = &c.ring, &c.ring
	return c
}

// get returns the value for k if it has not expired at now.
func (c *lru[K, V]) get(k K, now time.Time) (v V, ok bool) {
	if c == nil {
		return v, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.m[k]
	if e == nil {
		return v, false
	}
	if !now.Before(e.expires) {
		c.remove(e)
		return v, false
	}
	c.unlink(e)
	c.pushFront(e)
	return e.val, true
}

// add stores v for k until expires, evicting the least recently used entry
// when the cache is full. An expiry not after now is not stored.
func (c *lru[K, V]) add(k K, v V, now, expires time.Time) {
	if c == nil || !expires.After(now) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.m[k]; e != nil {
		e.val, e.expires = v, expires
		c.unlink(e)
		c.pushFront(e)
		return
	}
	if len(c.m) >= c.max {
		c.remove(c.ring.prev)
	}
	e := &lruEntry[K, V]{key: k, val: v, expires: expires}
	c.m[k] = e
	c.pushFront(e)
}

// len returns the number of entries, expired ones included.
func (c *lru[K, V]) len() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

func (c *lru[K, V]) remove(e *lruEntry[K, V]) {
	c.unlink(e)
	delete(c.m, e.key)
}

func (c *lru[K, V]) unlink(e *lruEntry[K, V]) {
	e.prev.next, e.next.prev = e.next, e.prev
}

func (c *lru[K, V]) pushFront(e *lruEntry[K, V]) {
	e.prev, e.next = &c.ring, c.ring.next
	c.ring.next.prev = e
	c.ring.next = e
}

// flight runs one call per key at a time and gives its result to every
// caller that asked for the same key meanwhile. The zero value is ready.
type flight[K comparable, V any] struct {
	mu sync.Mutex
	m  map[K]*flightCall[V]
}

type flightCall[V any] struct {
	done chan struct{}
	val  V
	err  error
}

// do returns fn's result for k, running fn unless a call for k is already
// running. A waiting caller stops when its ctx ends; if the running call
// failed only because its own caller's context ended, a waiter whose ctx is
// still live runs fn itself.
func (f *flight[K, V]) do(ctx context.Context, k K, fn func() (V, error)) (V, error) {
	for {
		f.mu.Lock()
		c := f.m[k]
		if c == nil {
			c = &flightCall[V]{done: make(chan struct{})}
			if f.m == nil {
				f.m = make(map[K]*flightCall[V])
			}
			f.m[k] = c
			f.mu.Unlock()
			f.run(k, c, fn)
			return c.val, c.err
		}
		f.mu.Unlock()
		select {
		case <-c.done:
		case <-ctx.Done():
			var zero V
			return zero, ctx.Err()
		}
		if isContextError(c.err) && ctx.Err() == nil {
			continue
		}
		return c.val, c.err
	}
}

// run calls fn for c and releases the waiters even if fn panics.
func (f *flight[K, V]) run(k K, c *flightCall[V], fn func() (V, error)) {
	c.err = errFlightPanic
	defer func() {
		f.mu.Lock()
		delete(f.m, k)
		f.mu.Unlock()
		close(c.done)
	}()
	c.val, c.err = fn()
}

var errFlightPanic = errors.New("lookup panicked")

func isContextError(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
