package auth

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"

	"github.com/postyard/postyard/internal/atomicfile"
)

// A users file holds one user a line:
//
//	name:hash
//	name:hash:scram
//
// name is the login name, compared case-insensitively (as [Users] with
// Fold). hash is an argon2id PHC string, as [HashPassword] makes, or a
// bcrypt hash ($2a$, $2b$, $2y$), as "htpasswd -B" writes. scram, if
// present, holds SCRAM-SHA-256 credentials derived from the same password,
// in the format PostgreSQL stores them (base64 with padding):
//
//	SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>
//
// Users with them can also log in with SCRAM-SHA-256; the others only with
// PLAIN and LOGIN. Note that SCRAM credentials (PBKDF2-SHA-256, 4096
// iterations by default) are cheaper to attack by brute force than the
// argon2id hash beside them, should the file leak: omit them
// ([FileUserOptions].NoSCRAM) where that matters more than SCRAM.
//
// Blank lines and lines whose first non-blank character is "#" are
// comments; they are kept when the file is rewritten. White space around
// a line is ignored. A name must be a valid name (see [Users.Add]) without
// white space, ":", "/" or "\", and must not start with "." or "#", so
// that it can also name a mailbox directory. When a name appears twice
// the later line wins.
//
// The format is that of the files examples/mailserver and
// examples/smarthost read, and a superset of "htpasswd -B" files.

const scramPrefix = "SCRAM-SHA-256$"

// Errors of the users-file editing functions.
var (
	// ErrUserExists is returned by AddFileUser for a user already in the
	// file.
	ErrUserExists = errors.New("auth: user exists")
	// ErrUnknownUser is returned by ReplaceFileUser and RemoveFileUser
	// for a user not in the file.
	ErrUnknownUser = errors.New("auth: no such user")
)

// FileUser is one user of a users file.
type FileUser struct {
	Name string
	// Hash is an argon2id PHC string or a bcrypt hash.
	Hash string
	// SCRAM are the user's SCRAM-SHA-256 credentials; nil means none.
	SCRAM *SCRAMCredentials
}

// FileUserOptions are options of [NewFileUser].
type FileUserOptions struct {
	// NoSCRAM leaves out the SCRAM-SHA-256 credentials: the user can then
	// log in with PLAIN and LOGIN only.
	NoSCRAM bool
	// SCRAMIterations is the PBKDF2 iteration count of the SCRAM
	// credentials. Zero means 4096 (RFC 7677 §4); more makes brute force
	// slower, and every SCRAM login slower for the client.
	SCRAMIterations int
}

// NewFileUser makes the users-file entry of user name with password: an
// argon2id hash ([HashPassword]) and, unless opts says not to,
// SCRAM-SHA-256 credentials. It takes tens of milliseconds. A nil opts
// means the defaults.
func NewFileUser(name, password string, opts *FileUserOptions) (FileUser, error) {
	if opts == nil {
		opts = &FileUserOptions{}
	}
	if err := CheckFileUserName(name); err != nil {
		return FileUser{}, err
	}
	if !validName(password) {
		return FileUser{}, errBadName
	}
	hash, err := HashPassword(password)
	if err != nil {
		return FileUser{}, err
	}
	u := FileUser{Name: name, Hash: hash}
	if !opts.NoSCRAM {
		sc, err := NewSCRAMCredentials(password, nil, opts.SCRAMIterations)
		if err != nil {
			return FileUser{}, err
		}
		u.SCRAM = &sc
	}
	return u, nil
}

// CheckFileUserName reports why name cannot be a user of a users file, or
// nil if it can.
func CheckFileUserName(name string) error {
	if !validName(name) || strings.ContainsAny(name, ":/\\") || strings.ContainsFunc(name, unicode.IsSpace) ||
		strings.HasPrefix(name, ".") || strings.HasPrefix(name, "#") {
		return fmt.Errorf("auth: bad user name %q: no spaces, control characters, ':', '/', '\\', nor a leading '.' or '#'", name)
	}
	return nil
}

// String returns u's line in a users file, without the line ending.
func (u FileUser) String() string {
	if u.SCRAM == nil {
		return u.Name + ":" + u.Hash
	}
	c := u.SCRAM
	return u.Name + ":" + u.Hash + ":" + scramPrefix + strconv.Itoa(c.Iterations) + ":" + b64std.EncodeToString(c.Salt) +
		"$" + b64std.EncodeToString(c.StoredKey) + ":" + b64std.EncodeToString(c.ServerKey)
}

// ParseFileUser parses one line of a users file. ok is false, with a nil
// error, for a blank line or a comment.
func ParseFileUser(line string) (u FileUser, ok bool, err error) {
	line = strings.TrimSpace(line)
	if line == "" || strings.HasPrefix(line, "#") {
		return FileUser{}, false, nil
	}
	name, rest, _ := strings.Cut(line, ":")
	// Neither hash format contains ':'; the SCRAM field does.
	hash, scram, hasSCRAM := strings.Cut(rest, ":")
	if name == "" || hash == "" {
		return FileUser{}, false, errors.New(`auth: want "name:hash" or "name:hash:scram"`)
	}
	if err := CheckFileUserName(name); err != nil {
		return FileUser{}, false, err
	}
	if err := checkHashFormat(hash); err != nil {
		return FileUser{}, false, err
	}
	u = FileUser{Name: name, Hash: hash}
	if hasSCRAM {
		c, err := parseSCRAMField(scram)
		if err != nil {
			return FileUser{}, false, err
		}
		u.SCRAM = &c
	}
	return u, true, nil
}

var errBadSCRAM = errors.New("auth: malformed SCRAM-SHA-256 credentials: want SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>")

// maxSCRAMIterations bounds a stored iteration count, which clients spend
// their time on.
const maxSCRAMIterations = 1 << 24

// parseSCRAMField parses SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>.
func parseSCRAMField(s string) (SCRAMCredentials, error) {
	rest, ok := strings.CutPrefix(s, scramPrefix)
	if !ok {
		return SCRAMCredentials{}, errBadSCRAM
	}
	params, keys, ok1 := strings.Cut(rest, "$")
	iter, salt, ok2 := strings.Cut(params, ":")
	stored, server, ok3 := strings.Cut(keys, ":")
	if !ok1 || !ok2 || !ok3 {
		return SCRAMCredentials{}, errBadSCRAM
	}
	n, err := strconv.Atoi(iter)
	if err != nil || n < 1 || n > maxSCRAMIterations || strconv.Itoa(n) != iter {
		return SCRAMCredentials{}, errBadSCRAM
	}
	c := SCRAMCredentials{Iterations: n}
	var e1, e2, e3 error
	c.Salt, e1 = b64std.Strict().DecodeString(salt)
	c.StoredKey, e2 = b64std.Strict().DecodeString(stored)
	c.ServerKey, e3 = b64std.Strict().DecodeString(server)
	if e1 != nil || e2 != nil || e3 != nil || len(c.Salt) == 0 || len(c.Salt) > 64 || len(c.StoredKey) != 32 || len(c.ServerKey) != 32 {
		return SCRAMCredentials{}, errBadSCRAM
	}
	return c, nil
}

// ParseUsersFile reads the contents of a users file into a new [Users]
// with Fold set. An error names the line.
func ParseUsersFile(r io.Reader) (*Users, error) {
	users := &Users{Fold: true}
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		u, ok, err := ParseFileUser(sc.Text())
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		if ok {
			users.set(&userEntry{name: u.Name, hash: u.Hash, scram: u.SCRAM})
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return users, nil
}

// LoadUsersFile reads the users file at path into a new [Users] with Fold
// set. See [OpenUsersFile] for one that follows changes to the file.
func LoadUsersFile(path string) (*Users, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	users, err := ParseUsersFile(f)
	if err != nil {
		return nil, fmt.Errorf("users file %s: %w", path, err)
	}
	return users, nil
}

// AddFileUser adds u to the users file at path, creating the file (mode
// 0600) and its directory if needed. It returns an error wrapping
// [ErrUserExists] if a user of that name is in the file. The file is
// replaced atomically and durably (see [ReplaceFileUser]).
func AddFileUser(path string, u FileUser) error {
	if err := checkFileUser(u); err != nil {
		return err
	}
	return editUsersFile(path, u.Name, func(old *FileUser) (*FileUser, error) {
		if old != nil {
			return nil, fmt.Errorf("%w: %q in %s", ErrUserExists, u.Name, path)
		}
		return &u, nil
	})
}

// ReplaceFileUser replaces the line of the user named u.Name (compared
// case-insensitively; the name stays as written in the file) in the users
// file at path: a new password. It returns an error wrapping
// [ErrUnknownUser] if there is no such user. The other lines, comments
// included, are kept. The file is replaced atomically and durably: the new
// contents are written to a temporary file in the same directory, synced,
// renamed over the old file, and the directory is synced; a reader sees
// the old file or the new one. Concurrent edits of one file by several
// processes are not serialised: the last one wins.
func ReplaceFileUser(path string, u FileUser) error {
	if err := checkFileUser(u); err != nil {
		return err
	}
	return editUsersFile(path, u.Name, func(old *FileUser) (*FileUser, error) {
		if old == nil {
			return nil, fmt.Errorf("%w: %q in %s", ErrUnknownUser, u.Name, path)
		}
		u.Name = old.Name
		return &u, nil
	})
}

// RemoveFileUser removes user name's line from the users file at path. It
// returns an error wrapping [ErrUnknownUser] if there is no such user.
func RemoveFileUser(path, name string) error {
	return editUsersFile(path, name, func(old *FileUser) (*FileUser, error) {
		if old == nil {
			return nil, fmt.Errorf("%w: %q in %s", ErrUnknownUser, name, path)
		}
		return nil, nil
	})
}

func checkFileUser(u FileUser) error {
	if err := CheckFileUserName(u.Name); err != nil {
		return err
	}
	if err := checkHashFormat(u.Hash); err != nil {
		return err
	}
	if c := u.SCRAM; c != nil && (c.Iterations < 1 || c.Iterations > maxSCRAMIterations || len(c.Salt) == 0 || len(c.Salt) > 64 ||
		len(c.StoredKey) != 32 || len(c.ServerKey) != 32) {
		return errBadSCRAM
	}
	return nil
}

// editUsersFile rewrites the users file at path: the line of user name
// (the last one, if several) becomes what edit returns for it (nil
// removes it; a new user is appended), the others are kept as they are.
func editUsersFile(path, name string, edit func(old *FileUser) (*FileUser, error)) error {
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	var lines []string
	last := -1
	var old *FileUser
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		u, ok, err := ParseFileUser(line)
		if err != nil {
			return fmt.Errorf("%s:%d: %w", path, n, err)
		}
		if ok && foldCase(u.Name) == foldCase(name) {
			if last >= 0 {
				lines[last] = "" // an earlier line of the same user: dropped
			}
			last, old = len(lines), &u
		}
		lines = append(lines, line+"\n")
	}
	if err := sc.Err(); err != nil {
		return err
	}
	nu, err := edit(old)
	if err != nil {
		return err
	}
	switch {
	case nu != nil && last >= 0:
		lines[last] = nu.String() + "\n"
	case nu != nil:
		lines = append(lines, nu.String()+"\n")
	case last >= 0:
		lines[last] = ""
	}
	return atomicfile.WriteFile(path, []byte(strings.Join(lines, "")), 0o600)
}

// DefaultUsersFileCheckInterval is how often, at most, a UsersFile looks
// at its file for changes.
const DefaultUsersFileCheckInterval = time.Second

// UsersFileOptions are options of [OpenUsersFile].
type UsersFileOptions struct {
	// CheckInterval is how often, at most, the file is looked at for
	// changes (a stat: modification time, size, and whether it was
	// replaced), when a user logs in or is looked up. Zero means
	// DefaultUsersFileCheckInterval (1 s); negative means never: only
	// Reload reads the file again.
	CheckInterval time.Duration
	// Logger reports reloads, at Info, and files that fail to parse, at
	// Error. Nil means slog.Default().
	Logger *slog.Logger
}

// UsersFile serves the users of a users file, reading the file again when
// it changes, so that users added or changed by another program (an
// "adduser" command) need no restart. It is an [Authenticator] and a
// [SCRAMAuthenticator] (SCRAM-SHA-256 works for the users whose line has
// SCRAM credentials). A file that no longer parses, or cannot be read,
// leaves the previous users in place, and the error is logged.
//
// It is safe for concurrent use.
type UsersFile struct {
	path     string
	interval time.Duration
	log      *slog.Logger

	cur       atomic.Pointer[usersFileVersion]
	nextCheck atomic.Int64 // UnixNano before which the file is not looked at

	mu   sync.Mutex  // serialises loads; guards seen
	seen os.FileInfo // of the file last read
}

// usersFileVersion is one version of the file.
type usersFileVersion struct {
	users        *Users
	count, scram int
}

// OpenUsersFile reads the users file at path. A nil opts means the
// defaults.
func OpenUsersFile(path string, opts *UsersFileOptions) (*UsersFile, error) {
	if opts == nil {
		opts = &UsersFileOptions{}
	}
	f := &UsersFile{path: path, interval: opts.CheckInterval, log: opts.Logger}
	if f.interval == 0 {
		f.interval = DefaultUsersFileCheckInterval
	}
	if f.log == nil {
		f.log = slog.Default()
	}
	if err := f.Reload(); err != nil {
		return nil, err
	}
	return f, nil
}

// Path returns the file's path.
func (f *UsersFile) Path() string { return f.path }

// Reload reads the file now. On error the previous users stay.
func (f *UsersFile) Reload() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	fi, err := os.Stat(f.path)
	if err != nil {
		return fmt.Errorf("users file: %w", err)
	}
	return f.loadLocked(fi)
}

func (f *UsersFile) loadLocked(fi os.FileInfo) error {
	f.seen = fi
	f.nextCheck.Store(time.Now().Add(f.interval).UnixNano())
	users, err := LoadUsersFile(f.path)
	if err != nil {
		return err
	}
	v := &usersFileVersion{users: users}
	for _, e := range users.users {
		v.count++
		if e.scram != nil {
			v.scram++
		}
	}
	f.cur.Store(v)
	f.log.Info("users loaded", "file", f.path, "users", v.count, "scram", v.scram)
	return nil
}

// current returns the users, first reading the file again if it changed
// and was not looked at for CheckInterval.
func (f *UsersFile) current() *usersFileVersion {
	if f.interval > 0 {
		now := time.Now()
		if next := f.nextCheck.Load(); now.UnixNano() >= next && f.nextCheck.CompareAndSwap(next, now.Add(f.interval).UnixNano()) {
			f.mu.Lock()
			if fi, err := os.Stat(f.path); err == nil && f.changed(fi) {
				if err := f.loadLocked(fi); err != nil {
					f.log.Error("keeping the previous users", "err", err)
				}
			}
			f.mu.Unlock()
		}
	}
	return f.cur.Load()
}

// changed reports whether fi differs from the file last read.
func (f *UsersFile) changed(fi os.FileInfo) bool {
	return f.seen == nil || !os.SameFile(f.seen, fi) || !fi.ModTime().Equal(f.seen.ModTime()) || fi.Size() != f.seen.Size()
}

// Authenticate implements [Authenticator], as [Users.Authenticate].
func (f *UsersFile) Authenticate(ctx context.Context, identity, username, password string) (string, error) {
	return f.current().users.Authenticate(ctx, identity, username, password)
}

// SCRAMCredentials implements [SCRAMAuthenticator]: it returns
// [ErrInvalidCredentials] for unknown users and users without SCRAM
// credentials in the file.
func (f *UsersFile) SCRAMCredentials(ctx context.Context, username string) (SCRAMCredentials, error) {
	return f.current().users.SCRAMCredentials(ctx, username)
}

// Lookup returns the name of user name as written in the file, compared
// case-insensitively, and whether there is such a user.
func (f *UsersFile) Lookup(name string) (string, bool) {
	e, _ := f.current().users.lookup(name)
	if e == nil {
		return "", false
	}
	return e.name, true
}

// Count returns how many users the file has, and how many of them have
// SCRAM-SHA-256 credentials. (A server that offers SCRAM-SHA-256 to all
// clients may want every user to have them: a client that picks SCRAM
// cannot log in as a user without.)
func (f *UsersFile) Count() (users, withSCRAM int) {
	v := f.current()
	return v.count, v.scram
}
