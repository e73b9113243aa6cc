package main

import (
	"context"
	"log/slog"

	"github.com/postyard/postyard/auth"
)

// The users file has one user a line, "name:hash" or "name:hash:scram"
// (auth.UsersFile, shared with examples/smarthost): name is the mailbox
// and login name (an address such as alice@example.org, or a bare local
// part, which then receives mail at every domain), hash an argon2id PHC
// string (what adduser and passwd write) or a bcrypt hash (htpasswd -B),
// and scram SCRAM-SHA-256 credentials, which adduser and passwd write
// unless given -no-scram. Names are compared case-insensitively. Blank
// lines and lines starting with "#" are ignored, and kept when the file
// is rewritten.
//
// The server reads the file again when it changes (checked at most once a
// second, when someone logs in or mail arrives) and on SIGHUP, so adduser
// and passwd need no restart. SCRAM-SHA-256 is offered when, at start,
// every user in the file has SCRAM credentials (a client that chooses
// SCRAM could not log in as one without); otherwise PLAIN and LOGIN only.

// userDB is the users file: an auth.Authenticator (and
// auth.SCRAMAuthenticator) and, through lookup, a relay.UserLookup.
type userDB struct {
	*auth.UsersFile
}

// openUsers loads the users file at path.
func openUsers(path string, log *slog.Logger) (*userDB, error) {
	f, err := auth.OpenUsersFile(path, &auth.UsersFileOptions{Logger: log})
	if err != nil {
		return nil, err
	}
	return &userDB{f}, nil
}

// reload reads the file now. On error the previous users stay.
func (db *userDB) reload() error { return db.Reload() }

// authenticator returns the Authenticator the servers use: db itself,
// offering SCRAM-SHA-256, when every user has SCRAM credentials; else one
// without SCRAM.
func (db *userDB) authenticator(log *slog.Logger) auth.Authenticator {
	n, withSCRAM := db.Count()
	if n == withSCRAM {
		return db.UsersFile
	}
	log.Info("SCRAM-SHA-256 not offered: not every user has SCRAM credentials (set their passwords with mailserver passwd)",
		"users", n, "scram", withSCRAM)
	return auth.AuthenticatorFunc(db.Authenticate)
}

// lookup implements relay.UserLookup: the user of local@domain, or a user
// named local.
func (db *userDB) lookup(ctx context.Context, local, domain string) (string, error) {
	if n, ok := db.Lookup(local + "@" + domain); ok {
		return n, nil
	}
	n, _ := db.Lookup(local)
	return n, nil
}
