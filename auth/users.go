package auth

import (
	"context"
	"errors"
	"strings"
	"sync"
	"unicode"
)

// defaultDummy is checked for unknown users while no hash has been stored.
var defaultDummy = argon2Params{argon2Memory, argon2Time, argon2Threads, make([]byte, argon2SaltLen), make([]byte, argon2KeyLen)}.String()

// Users is an in-memory [Authenticator] and [SCRAMAuthenticator]. The zero
// value is an empty set of users, ready to use. Users is safe for concurrent
// use and must not be copied after first use.
//
// Passwords are checked in constant time. A login as an unknown user is
// checked against a hash of the same kind and cost as the last one stored, so
// that response times do not reveal which users exist.
type Users struct {
	// Fold makes user names case-insensitive (Unicode simple folding, as in
	// strings.EqualFold); the canonical name is the one given to Add or
	// SetHash. The default is case-sensitive. Set it before adding users.
	Fold bool

	mu    sync.RWMutex
	users map[string]*userEntry // by key(name)
	dummy string                // see dummyHash
}

type userEntry struct {
	name  string
	hash  string
	scram *SCRAMCredentials // nil after SetHash
}

var errBadName = errors.New("auth: empty user name or password, or one with control characters")

// Add adds or replaces user name with password. It hashes the password with
// [HashPassword] and derives SCRAM-SHA-256 credentials, which together take
// tens of milliseconds. Names and passwords must be non-empty, valid UTF-8 and
// free of control characters.
func (u *Users) Add(name, password string) error {
	if !validName(name) || !validName(password) {
		return errBadName
	}
	hash, err := HashPassword(password)
	if err != nil {
		return err
	}
	sc, err := NewSCRAMCredentials(password, nil, 0)
	if err != nil {
		return err
	}
	u.set(&userEntry{name, hash, &sc})
	return nil
}

// SetHash adds or replaces user name with a stored password hash: an
// argon2id PHC string as made by [HashPassword], or a bcrypt hash ($2a$, $2b$
// or $2y$). Such a user cannot log in with SCRAM-SHA-256, which needs
// credentials derived from the password itself.
func (u *Users) SetHash(name, hash string) error {
	if !validName(name) {
		return errBadName
	}
	if err := checkHashFormat(hash); err != nil {
		return err
	}
	u.set(&userEntry{name: name, hash: hash})
	return nil
}

// Remove removes user name, if present.
func (u *Users) Remove(name string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	delete(u.users, u.key(name))
}

func (u *Users) set(e *userEntry) {
	dummy := dummyHash(e.hash)
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.users == nil {
		u.users = make(map[string]*userEntry)
	}
	u.users[u.key(e.name)] = e
	u.dummy = dummy
}

func (u *Users) key(name string) string {
	if u.Fold {
		return foldCase(name)
	}
	return name
}

// foldCase maps s to a string such that foldCase(a) == foldCase(b) exactly
// when strings.EqualFold(a, b).
func foldCase(s string) string {
	return strings.Map(func(r rune) rune {
		// The smallest rune in r's simple-folding orbit is a
		// canonical representative.
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			if f < r {
				r = f
			}
		}
		return r
	}, s)
}

func (u *Users) lookup(name string) (e *userEntry, dummy string) {
	u.mu.RLock()
	defer u.mu.RUnlock()
	if u.dummy == "" {
		return u.users[u.key(name)], defaultDummy
	}
	return u.users[u.key(name)], u.dummy
}

// Authenticate implements [Authenticator]. identity must be "" or name the
// same user as username; otherwise, after the password is verified, it returns
// [ErrAuthzDenied]. It returns the canonical user name.
func (u *Users) Authenticate(ctx context.Context, identity, username, password string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	e, dummy := u.lookup(username)
	if e == nil {
		_, _ = CheckHash(dummy, password) // spend the same time as for a known user
		return "", ErrInvalidCredentials
	}
	ok, err := CheckHash(e.hash, password)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", ErrInvalidCredentials
	}
	if identity != "" && u.key(identity) != u.key(e.name) {
		return "", ErrAuthzDenied
	}
	return e.name, nil
}

// SCRAMCredentials implements [SCRAMAuthenticator]. It returns
// [ErrInvalidCredentials] for unknown users and for users set with
// [Users.SetHash].
func (u *Users) SCRAMCredentials(ctx context.Context, username string) (SCRAMCredentials, error) {
	if err := ctx.Err(); err != nil {
		return SCRAMCredentials{}, err
	}
	e, _ := u.lookup(username)
	if e == nil || e.scram == nil {
		return SCRAMCredentials{}, ErrInvalidCredentials
	}
	c := e.scram.clone()
	c.User = e.name
	return c, nil
}
