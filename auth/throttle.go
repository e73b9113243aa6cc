package auth

import (
	"container/list"
	"math"
	"sync"
	"time"
)

// Throttle counts authentication failures per key, such as the remote IP
// address, and says how long to delay the reply to the next failure: BaseDelay
// after the first failure, doubling with each further one, up to MaxDelay.
//
// The zero value is ready to use. A Throttle is safe for concurrent use and
// must not be copied after first use; its fields must not change once it is in
// use. It reads the time from time.Now.
type Throttle struct {
	// MaxKeys bounds the number of keys remembered; when it is exceeded, the
	// key whose last failure is oldest is forgotten. Zero means 10000; a
	// negative value means no limit.
	MaxKeys int

	// Window is how long a key's failures are remembered: a failure more
	// than Window after the previous one starts counting again from one.
	// Zero means 15 minutes; a negative value means forever.
	Window time.Duration

	// BaseDelay is the delay after the first failure. Zero means 1 second;
	// a negative value means no delay at all.
	BaseDelay time.Duration

	// MaxDelay caps the delay. Zero means 10 seconds; a negative value means
	// no cap.
	MaxDelay time.Duration

	mu   sync.Mutex
	keys map[string]*list.Element // of *failures
	lru  list.List                // most recent failure at the front
}

type failures struct {
	key  string
	n    int
	last time.Time
}

// Failure records a failed authentication for key and returns how long to
// wait before replying to it.
func (t *Throttle) Failure(key string) (delay time.Duration) {
	now := time.Now()
	window := orDefault(t.Window, 15*time.Minute)
	maxKeys := t.MaxKeys
	if maxKeys == 0 {
		maxKeys = 10000
	}

	t.mu.Lock()
	defer t.mu.Unlock()
	if t.keys == nil {
		t.keys = make(map[string]*list.Element)
	}
	// Forget keys whose window has passed, oldest first.
	for e := t.lru.Back(); window > 0 && e != nil && now.Sub(e.Value.(*failures).last) >= window; e = t.lru.Back() {
		t.remove(e)
	}
	e := t.keys[key]
	if e == nil {
		e = t.lru.PushFront(&failures{key: key})
		t.keys[key] = e
	} else {
		t.lru.MoveToFront(e)
	}
	f := e.Value.(*failures)
	f.n++
	f.last = now
	for maxKeys > 0 && t.lru.Len() > maxKeys {
		t.remove(t.lru.Back())
	}
	return t.delay(f.n)
}

// Success forgets the failures recorded for key.
func (t *Throttle) Success(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.keys[key]; e != nil {
		t.remove(e)
	}
}

func (t *Throttle) remove(e *list.Element) {
	delete(t.keys, t.lru.Remove(e).(*failures).key)
}

// delay returns BaseDelay * 2^(n-1), capped at MaxDelay.
func (t *Throttle) delay(n int) time.Duration {
	base := orDefault(t.BaseDelay, time.Second)
	limit := orDefault(t.MaxDelay, 10*time.Second)
	if base < 0 {
		return 0
	}
	d := base
	for i := 1; i < n && (limit < 0 || d < limit); i++ {
		if d > math.MaxInt64/2 {
			return math.MaxInt64
		}
		d *= 2
	}
	if limit >= 0 && d > limit {
		d = limit
	}
	return d
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}
