package relay

import (
	"bufio"
	"bytes"
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// SieveTracker remembers keys per user until they expire: the vacation
// replies sent (RFC 5230 §4.2: one per sender and :handle within :days)
// and the identifiers of the duplicate test (RFC 7352). [SieveState] is
// the implementation of this package. Implementations must be safe for
// concurrent use.
type SieveTracker interface {
	// Seen reports whether user's key is remembered and has not expired
	// at now.
	Seen(ctx context.Context, user, key string, now time.Time) (bool, error)
	// Record remembers user's key until expires, durably once it returns.
	// If refresh is false and the key is remembered and not expired at
	// now, its expiry is left as it was.
	Record(ctx context.Context, user, key string, expires, now time.Time, refresh bool) error
}

// Defaults of SieveState.
const (
	// DefaultSieveStateUsers is how many users' state SieveState keeps in
	// memory.
	DefaultSieveStateUsers = 10000
	// maxSieveStateKeys bounds the keys kept for one user; the ones that
	// expire first are dropped beyond it.
	maxSieveStateKeys = 100000
	// maxSieveKeyLen bounds the length of a key.
	maxSieveKeyLen = 256
)

// SieveState is a [SieveTracker] kept in memory and, when Dir is set, on
// disk so that it survives restarts: one append-only file per user under
// Dir, each record a line "expiry key checksum" that is fsynced before
// Record returns. A torn last line (a crash in the middle of a write) or a
// line whose checksum does not match is ignored when the file is read. A
// file with many expired or replaced records is rewritten (to a temporary
// file, fsynced, renamed over the old one, and the directory fsynced).
//
// One process at a time may use a Dir. The zero SieveState keeps state in
// memory only. It is safe for concurrent use.
type SieveState struct {
	// Dir is the directory of the state files; it is created if needed.
	// "" means memory only.
	Dir string
	// MaxUsers bounds how many users' state is held in memory at once;
	// the least recently used are dropped (and read again from Dir when
	// needed; without Dir, forgotten). Zero means DefaultSieveStateUsers.
	MaxUsers int

	mu    sync.Mutex
	users map[string]*list.Element
	lru   list.List
	dirOK bool
}

// sieveStateUser is one user's keys.
type sieveStateUser struct {
	name  string
	mu    sync.Mutex
	keys  map[string]int64 // key → expiry (Unix seconds)
	lines int              // records in the file
	err   error            // reading the file failed
}

func (st *SieveState) user(name string) (*sieveStateUser, error) {
	st.mu.Lock()
	if st.users == nil {
		st.users = make(map[string]*list.Element)
	}
	if e, ok := st.users[name]; ok {
		st.lru.MoveToFront(e)
		u := e.Value.(*sieveStateUser)
		st.mu.Unlock()
		return u, nil
	}
	u := &sieveStateUser{name: name, keys: make(map[string]int64)}
	st.users[name] = st.lru.PushFront(u)
	max := st.MaxUsers
	if max <= 0 {
		max = DefaultSieveStateUsers
	}
	for st.lru.Len() > max {
		old := st.lru.Back()
		st.lru.Remove(old)
		delete(st.users, old.Value.(*sieveStateUser).name)
	}
	// Read the file with u locked, so that no one sees it half read.
	u.mu.Lock()
	st.mu.Unlock()
	defer u.mu.Unlock()
	if st.Dir != "" {
		if err := st.load(u); err != nil {
			st.mu.Lock()
			if e, ok := st.users[name]; ok && e.Value == u {
				st.lru.Remove(e)
				delete(st.users, name)
			}
			st.mu.Unlock()
			return nil, err
		}
	}
	return u, nil
}

// Seen implements SieveTracker.
func (st *SieveState) Seen(ctx context.Context, user, key string, now time.Time) (bool, error) {
	u, err := st.user(user)
	if err != nil {
		return false, err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	exp, ok := u.keys[key]
	return ok && exp > now.Unix(), nil
}

// Record implements SieveTracker.
func (st *SieveState) Record(ctx context.Context, user, key string, expires, now time.Time, refresh bool) error {
	if key == "" || len(key) > maxSieveKeyLen || bytes.ContainsAny([]byte(key), " \t\r\n") {
		return fmt.Errorf("relay: invalid sieve state key %q", key)
	}
	u, err := st.user(user)
	if err != nil {
		return err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	exp := expires.Unix()
	if old, ok := u.keys[key]; ok && old > now.Unix() && (!refresh || old == exp) {
		return nil
	}
	if st.Dir != "" {
		if err := st.append(u, key, exp); err != nil {
			return err
		}
	}
	u.keys[key] = exp
	if len(u.keys) > maxSieveStateKeys {
		u.prune(now.Unix())
	}
	if st.Dir != "" && u.lines > 2*len(u.keys)+64 {
		if err := st.compact(u, now.Unix()); err != nil {
			return err
		}
	}
	return nil
}

// prune drops expired keys and, beyond the bound, those expiring first.
func (u *sieveStateUser) prune(now int64) {
	for k, exp := range u.keys {
		if exp <= now {
			delete(u.keys, k)
		}
	}
	for len(u.keys) > maxSieveStateKeys {
		var first string
		var fexp int64
		for k, exp := range u.keys {
			if first == "" || exp < fexp {
				first, fexp = k, exp
			}
		}
		delete(u.keys, first)
	}
}

// file returns the name of user's state file: a hash of the name, so
// that any user name is a safe file name.
func (st *SieveState) file(user string) string {
	sum := sha256.Sum256([]byte(user))
	return filepath.Join(st.Dir, hex.EncodeToString(sum[:16])+".state")
}

const sieveStateMagic = "postyard-sieve-state 1 "

// load reads u's file, if there is one.
func (st *SieveState) load(u *sieveStateUser) error {
	f, err := os.Open(st.file(u.name))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	r := bufio.NewReader(f)
	first, err := r.ReadString('\n')
	if err != nil && err != io.EOF {
		return err
	}
	if first != sieveStateMagic+strconv.Quote(u.name)+"\n" {
		return fmt.Errorf("relay: sieve state file %s: not %q's", st.file(u.name), u.name)
	}
	for {
		line, err := r.ReadBytes('\n')
		if err == io.EOF {
			break // a torn last line, if any, is dropped
		}
		if err != nil {
			return err
		}
		u.lines++
		key, exp, ok := sieveParseStateLine(line[:len(line)-1])
		if ok {
			u.keys[key] = exp
		}
	}
	return nil
}

func sieveStateLine(key string, exp int64) []byte {
	b := strconv.AppendInt(nil, exp, 10)
	b = append(b, ' ')
	b = append(b, key...)
	sum := crc32.ChecksumIEEE(b)
	b = append(b, ' ')
	b = strconv.AppendUint(b, uint64(sum), 16)
	return append(b, '\n')
}

func sieveParseStateLine(line []byte) (string, int64, bool) {
	i := bytes.LastIndexByte(line, ' ')
	if i < 0 {
		return "", 0, false
	}
	sum, err := strconv.ParseUint(string(line[i+1:]), 16, 32)
	if err != nil || uint32(sum) != crc32.ChecksumIEEE(line[:i]) {
		return "", 0, false
	}
	expS, key, ok := bytes.Cut(line[:i], []byte(" "))
	if !ok {
		return "", 0, false
	}
	exp, err := strconv.ParseInt(string(expS), 10, 64)
	if err != nil {
		return "", 0, false
	}
	return string(key), exp, true
}

// mkdir creates Dir once.
func (st *SieveState) mkdir() error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.dirOK {
		return nil
	}
	if err := os.MkdirAll(st.Dir, 0o700); err != nil {
		return err
	}
	st.dirOK = true
	return nil
}

// append adds a record to u's file, creating it if needed, and fsyncs.
func (st *SieveState) append(u *sieveStateUser, key string, exp int64) error {
	if err := st.mkdir(); err != nil {
		return err
	}
	name := st.file(u.name)
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_APPEND, 0)
	if errors.Is(err, os.ErrNotExist) {
		// A new file appears whole: header and first record, through a
		// rename.
		return st.rewrite(u, key, exp)
	}
	if err != nil {
		return err
	}
	_, err = f.Write(sieveStateLine(key, exp))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		u.lines++
	}
	return err
}

// compact rewrites u's file with its unexpired keys only. Records in
// the file that u does not hold (written by an earlier copy of u that was
// dropped from memory while in use) are kept.
func (st *SieveState) compact(u *sieveStateUser, now int64) error {
	disk := &sieveStateUser{name: u.name, keys: make(map[string]int64)}
	if err := st.load(disk); err != nil {
		return err
	}
	for k, exp := range disk.keys {
		if old, ok := u.keys[k]; !ok || exp > old {
			u.keys[k] = exp
		}
	}
	u.prune(now)
	return st.rewrite(u, "", 0)
}

// rewrite replaces u's file, crash-safely, with one holding u's keys and,
// if key is not "", key.
func (st *SieveState) rewrite(u *sieveStateUser, key string, exp int64) error {
	name := st.file(u.name)
	tmp, err := os.CreateTemp(st.Dir, ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	w := bufio.NewWriter(tmp)
	w.WriteString(sieveStateMagic + strconv.Quote(u.name) + "\n")
	n := 0
	write := func(k string, exp int64) {
		w.Write(sieveStateLine(k, exp))
		n++
	}
	if key != "" {
		write(key, exp)
	}
	for k, e := range u.keys {
		if k != key {
			write(k, e)
		}
	}
	err = w.Flush()
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), name)
	}
	if err == nil {
		err = sieveSyncDir(st.Dir)
	}
	if err == nil {
		u.lines = n
	}
	return err
}

// sieveSyncDir fsyncs a directory, so that a new or renamed entry in it is
// durable.
func sieveSyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
