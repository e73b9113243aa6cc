package sieve

import (
	"container/list"
	"context"
	"crypto/sha256"
	"sync"
)

// Cache keeps compiled scripts keyed by the SHA-256 of their source, so a
// script is compiled once however many messages it filters. Failed
// compilations are cached too (the same source fails the same way). The
// zero Cache is usable; it is safe for concurrent use.
//
// Included scripts are compiled into the script that includes them: when
// one changes, call Purge (or Forget the scripts that include it).
type Cache struct {
	// Options are used for every compilation; nil means defaults. Set
	// before first use.
	Options *Options
	// Max is the number of scripts kept, least recently used dropped
	// first. Zero means 1024; negative means unlimited.
	Max int

	mu  sync.Mutex
	m   map[[32]byte]*list.Element
	lru list.List
}

type cacheEntry struct {
	key [32]byte
	s   *Script
	err error
}

// Compile returns the compiled script for src, compiling it on first use.
func (c *Cache) Compile(ctx context.Context, src []byte) (*Script, error) {
	key := sha256.Sum256(src)
	c.mu.Lock()
	if e, ok := c.m[key]; ok {
		c.lru.MoveToFront(e)
		ent := e.Value.(*cacheEntry)
		c.mu.Unlock()
		return ent.s, ent.err
	}
	c.mu.Unlock()

	s, err := CompileContext(ctx, src, c.Options)
	if err != nil && ctx.Err() != nil {
		return nil, err // do not cache a cancelled compilation
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[[32]byte]*list.Element{}
	}
	if e, ok := c.m[key]; ok {
		ent := e.Value.(*cacheEntry)
		return ent.s, ent.err
	}
	c.m[key] = c.lru.PushFront(&cacheEntry{key: key, s: s, err: err})
	max := pick(c.Max, 1024)
	for c.lru.Len() > max {
		old := c.lru.Back()
		c.lru.Remove(old)
		delete(c.m, old.Value.(*cacheEntry).key)
	}
	return s, err
}

// Forget drops the compiled form of src.
func (c *Cache) Forget(src []byte) {
	key := sha256.Sum256(src)
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[key]; ok {
		c.lru.Remove(e)
		delete(c.m, key)
	}
}

// Purge drops every compiled script.
func (c *Cache) Purge() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m = nil
	c.lru.Init()
}

// Len returns the number of cached scripts.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}
