package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

const (
	// Parameters of HashPassword, see its documentation.
	argon2Memory  = 19 * 1024 // KiB
	argon2Time    = 2
	argon2Threads = 1
	argon2SaltLen = 16
	argon2KeyLen  = 32

	// Bounds on stored argon2id parameters, so that a corrupt or hostile hash
	// cannot exhaust memory or CPU.
	maxArgon2Memory  = 1 << 21 // KiB, 2 GiB
	maxArgon2Time    = 64
	maxArgon2Threads = 64
)

// errBadHash reports a stored hash this package cannot parse.
var errBadHash = errors.New("auth: unsupported or malformed password hash")

// b64 is the base64 variant of the PHC string format: standard alphabet, no
// padding.
var b64 = base64.RawStdEncoding

// HashPassword hashes password with argon2id (RFC 9106) and returns it in the
// PHC string format:
//
//	$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>
//
// The parameters are 19 MiB of memory, 2 passes and 1 lane, the argon2id
// configuration recommended by the OWASP Password Storage Cheat Sheet; the
// salt is 16 random bytes and the hash 32 bytes. Hashing takes tens of
// milliseconds and 19 MiB of memory.
func HashPassword(password string) (string, error) {
	salt := make([]byte, argon2SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	p := argon2Params{argon2Memory, argon2Time, argon2Threads, salt, nil}
	p.key = argon2.IDKey([]byte(password), salt, p.time, p.memory, p.threads, argon2KeyLen)
	return p.String(), nil
}

// CheckHash reports whether password matches hash, in constant time with
// respect to the password. hash is either an argon2id PHC string (as made by
// [HashPassword]) or a bcrypt hash ($2a$, $2b$ or $2y$). The error is non-nil
// only when hash is malformed or of an unsupported kind.
func CheckHash(hash, password string) (bool, error) {
	if isBcrypt(hash) {
		switch err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)); {
		case err == nil:
			return true, nil
		case errors.Is(err, bcrypt.ErrMismatchedHashAndPassword):
			return false, nil
		default:
			return false, fmt.Errorf("%w: %v", errBadHash, err)
		}
	}
	p, err := parseArgon2(hash)
	if err != nil {
		return false, err
	}
	key := argon2.IDKey([]byte(password), p.salt, p.time, p.memory, p.threads, uint32(len(p.key)))
	return subtle.ConstantTimeCompare(key, p.key) == 1, nil
}

// checkHashFormat validates hash without checking any password.
func checkHashFormat(hash string) error {
	if isBcrypt(hash) {
		if _, err := bcrypt.Cost([]byte(hash)); err != nil || len(hash) != 60 {
			return errBadHash
		}
		return nil
	}
	_, err := parseArgon2(hash)
	return err
}

// dummyHash returns a hash with the same kind and cost as hash that no
// password is expected to match. Checking a password against it takes as long
// as checking against hash, without keeping hash's secret around.
func dummyHash(hash string) string {
	if isBcrypt(hash) {
		return hash[:7] + strings.Repeat(".", 53)
	}
	p, err := parseArgon2(hash)
	if err != nil {
		return ""
	}
	p.salt = make([]byte, len(p.salt))
	p.key = make([]byte, len(p.key))
	return p.String()
}

func isBcrypt(hash string) bool {
	return len(hash) >= 7 && (strings.HasPrefix(hash, "$2a$") || strings.HasPrefix(hash, "$2b$") || strings.HasPrefix(hash, "$2y$"))
}

// argon2Params is a parsed argon2id PHC string.
type argon2Params struct {
	memory, time uint32
	threads      uint8
	salt, key    []byte
}

func (p argon2Params) String() string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.memory, p.time, p.threads, b64.EncodeToString(p.salt), b64.EncodeToString(p.key))
}

// parseArgon2 parses "$argon2id$v=19$m=M,t=T,p=P$salt$hash".
func parseArgon2(hash string) (argon2Params, error) {
	var p argon2Params
	f := strings.Split(hash, "$")
	if len(f) != 6 || f[0] != "" || f[1] != "argon2id" || f[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return p, errBadHash
	}
	var m, t, th uint32
	if _, err := fmt.Sscanf(f[3], "m=%d,t=%d,p=%d", &m, &t, &th); err != nil ||
		f[3] != fmt.Sprintf("m=%d,t=%d,p=%d", m, t, th) {
		return p, errBadHash
	}
	if t < 1 || t > maxArgon2Time || th < 1 || th > maxArgon2Threads || m < 8*th || m > maxArgon2Memory {
		return p, errBadHash
	}
	salt, err1 := b64.Strict().DecodeString(f[4])
	key, err2 := b64.Strict().DecodeString(f[5])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(salt) > 64 || len(key) < 16 || len(key) > 64 {
		return p, errBadHash
	}
	return argon2Params{m, t, uint8(th), salt, key}, nil
}
