package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/postyard/postyard/auth"
)

// The users file has one user a line, "name:hash", where name is the
// mailbox and login name (an address such as alice@example.org, or a bare
// local part, which then receives mail at every domain) and hash an
// argon2id PHC string (auth.HashPassword, what adduser and passwd write)
// or a bcrypt hash ($2a$, $2b$, $2y$: htpasswd -B). Names are compared
// case-insensitively. Blank lines and lines starting with "#" are
// ignored, and kept when the file is rewritten.
//
// The server reads the file again when it changes (checked at most once a
// second, when someone logs in or mail arrives) and on SIGHUP, so adduser
// and passwd need no restart. Users from the file cannot use
// SCRAM-SHA-256 (it needs more than a hash), so it is not offered then.

// userSet is one version of the users file.
type userSet struct {
	auth  *auth.Users
	names map[string]string // lower-case name → name as written
}

// parseUsers parses the contents of a users file.
func parseUsers(data []byte) (*userSet, error) {
	s := &userSet{auth: &auth.Users{Fold: true}, names: map[string]string{}}
	for i, line := range strings.Split(string(data), "\n") {
		name, hash, ok, err := parseUserLine(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", i+1, err)
		}
		if !ok {
			continue
		}
		if err := s.auth.SetHash(name, hash); err != nil {
			return nil, fmt.Errorf("line %d: %w", i+1, err)
		}
		s.names[strings.ToLower(name)] = name
	}
	return s, nil
}

// parseUserLine splits one line; ok is false for blank and comment lines.
func parseUserLine(line string) (name, hash string, ok bool, err error) {
	line = strings.TrimRight(line, "\r")
	if t := strings.TrimSpace(line); t == "" || strings.HasPrefix(t, "#") {
		return "", "", false, nil
	}
	name, hash, found := strings.Cut(line, ":")
	if !found || name == "" || hash == "" {
		return "", "", false, errors.New(`want "name:hash"`)
	}
	if err := checkUserName(name); err != nil {
		return "", "", false, err
	}
	return name, hash, true, nil
}

// checkUserName refuses names the file or the mailbox store cannot hold.
func checkUserName(name string) error {
	if name == "" || strings.ContainsAny(name, ": \t\r\n/\\") || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "#") {
		return fmt.Errorf("bad user name %q: no spaces, ':', '/', '\\', nor a leading '.' or '#'", name)
	}
	return nil
}

// lookup finds the user who receives mail for local@domain: the user of
// that address, or a user named local.
func (s *userSet) lookup(local, domain string) string {
	if n, ok := s.names[strings.ToLower(local+"@"+domain)]; ok {
		return n
	}
	return s.names[strings.ToLower(local)]
}

// userDB serves a users file and reloads it when it changes. It is an
// auth.Authenticator (without SCRAM) and a relay.UserLookup.
type userDB struct {
	path string
	log  *slog.Logger

	cur       atomic.Pointer[userSet]
	nextCheck atomic.Int64 // UnixNano before which the file is not looked at

	mu   sync.Mutex // serialises loads; guards seen
	seen fileStamp
}

type fileStamp struct {
	mod  time.Time
	size int64
}

// openUsers loads the users file at path.
func openUsers(path string, log *slog.Logger) (*userDB, error) {
	db := &userDB{path: path, log: log}
	if err := db.reload(); err != nil {
		return nil, err
	}
	db.nextCheck.Store(time.Now().Add(time.Second).UnixNano())
	return db, nil
}

// reload reads the file now. On error the previous users stay.
func (db *userDB) reload() error {
	db.mu.Lock()
	defer db.mu.Unlock()
	fi, err := os.Stat(db.path)
	if err != nil {
		return fmt.Errorf("users file: %w", err)
	}
	return db.loadLocked(fileStamp{fi.ModTime(), fi.Size()})
}

func (db *userDB) loadLocked(st fileStamp) error {
	db.seen = st
	data, err := os.ReadFile(db.path)
	if err != nil {
		return fmt.Errorf("users file: %w", err)
	}
	s, err := parseUsers(data)
	if err != nil {
		return fmt.Errorf("users file %s: %w", db.path, err)
	}
	db.cur.Store(s)
	db.log.Info("users loaded", "file", db.path, "users", len(s.names))
	return nil
}

// current returns the users, first reloading the file if it changed and
// was not looked at for a second.
func (db *userDB) current() *userSet {
	now := time.Now()
	if next := db.nextCheck.Load(); now.UnixNano() >= next && db.nextCheck.CompareAndSwap(next, now.Add(time.Second).UnixNano()) {
		db.mu.Lock()
		if fi, err := os.Stat(db.path); err == nil {
			if st := (fileStamp{fi.ModTime(), fi.Size()}); st != db.seen {
				if err := db.loadLocked(st); err != nil {
					db.log.Error("keeping the previous users", "err", err)
				}
			}
		}
		db.mu.Unlock()
	}
	return db.cur.Load()
}

// Authenticate implements auth.Authenticator.
func (db *userDB) Authenticate(ctx context.Context, identity, username, password string) (string, error) {
	return db.current().auth.Authenticate(ctx, identity, username, password)
}

// lookup implements relay.UserLookup.
func (db *userDB) lookup(ctx context.Context, local, domain string) (string, error) {
	return db.current().lookup(local, domain), nil
}

// setUserHash adds or replaces user name's line in the users file at path
// (created, with its directory, if missing), keeping the other lines. With
// mustExist, name must be in the file already (passwd); otherwise it must
// not be (adduser). A hash of "" removes the user (deluser; mustExist).
// The file is replaced atomically: written to a temporary file, synced,
// renamed over the old one, and the directory synced.
func setUserHash(path, name, hash string, mustExist bool) error {
	if err := checkUserName(name); err != nil {
		return err
	}
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	var out bytes.Buffer
	found := false
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		u, _, ok, err := parseUserLine(line)
		if err != nil {
			return fmt.Errorf("%s:%d: %w", path, n, err)
		}
		if ok && strings.EqualFold(u, name) {
			found = true
			if hash == "" {
				continue
			}
			line = u + ":" + hash
		}
		out.WriteString(line + "\n")
	}
	if err := sc.Err(); err != nil {
		return err
	}
	switch {
	case mustExist && !found:
		return fmt.Errorf("no user %q in %s", name, path)
	case !mustExist && found:
		return fmt.Errorf("user %q exists in %s (use passwd to change the password)", name, path)
	case !found:
		out.WriteString(name + ":" + hash + "\n")
	}
	return writeFileAtomic(path, out.Bytes(), 0o600)
}

// writeFileAtomic replaces path with data durably.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // after a successful rename, a no-op
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
