package auth

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
)

// SCRAMCredentials are what a server stores to verify SCRAM-SHA-256 logins
// without knowing the password (RFC 5802 §3, §5.1).
type SCRAMCredentials struct {
	Salt       []byte
	Iterations int
	StoredKey  []byte // H(HMAC(SaltedPassword, "Client Key")), 32 bytes
	ServerKey  []byte // HMAC(SaltedPassword, "Server Key"), 32 bytes

	// User is the canonical user name, as returned by
	// Authenticator.Authenticate; "" means the name that was looked up.
	User string
}

// SCRAMAuthenticator is an optional interface of an [Authenticator] that can
// provide SCRAM-SHA-256 credentials; [SASL] offers SCRAM-SHA-256 only when its
// Authenticator implements it. SCRAMCredentials returns
// [ErrInvalidCredentials] for an unknown user and any other error for a
// temporary failure; the SCRAM exchange then goes on with made-up credentials
// and fails at the end, so that it does not reveal which users exist.
// Implementations must be safe for concurrent use.
type SCRAMAuthenticator interface {
	SCRAMCredentials(ctx context.Context, username string) (SCRAMCredentials, error)
}

const (
	scramIterations = 4096 // RFC 7677 §4
	scramSaltLen    = 16
)

// NewSCRAMCredentials derives SCRAM-SHA-256 credentials from password (RFC
// 5802 §3). A nil salt means 16 random bytes; iterations 0 means 4096, the
// minimum RFC 7677 §4 allows. The password must be valid UTF-8 without control
// characters; it is not SASLprep-normalised (see the package documentation).
func NewSCRAMCredentials(password string, salt []byte, iterations int) (SCRAMCredentials, error) {
	if !validName(password) {
		return SCRAMCredentials{}, errBadName
	}
	if salt == nil {
		salt = make([]byte, scramSaltLen)
		rand.Read(salt)
	}
	if iterations == 0 {
		iterations = scramIterations
	}
	salted, err := pbkdf2.Key(sha256.New, password, salt, iterations, sha256.Size)
	if err != nil {
		return SCRAMCredentials{}, err
	}
	clientKey := hmacSHA256(salted, "Client Key")
	storedKey := sha256.Sum256(clientKey)
	return SCRAMCredentials{
		Salt:       bytes.Clone(salt),
		Iterations: iterations,
		StoredKey:  storedKey[:],
		ServerKey:  hmacSHA256(salted, "Server Key"),
	}, nil
}

func (c SCRAMCredentials) clone() SCRAMCredentials {
	c.Salt = bytes.Clone(c.Salt)
	c.StoredKey = bytes.Clone(c.StoredKey)
	c.ServerKey = bytes.Clone(c.ServerKey)
	return c
}

func hmacSHA256(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

// fakeSaltKey makes the salts of unknown users stable within a process.
var fakeSaltKey = sync.OnceValue(func() []byte {
	k := make([]byte, 32)
	rand.Read(k)
	return k
})

var b64std = base64.StdEncoding

// scramServer is the server side of SCRAM-SHA-256 (RFC 5802 §5, RFC 7677).
type scramServer struct {
	ctx    context.Context
	auth   SCRAMAuthenticator
	snonce string // server nonce; random if empty

	step            int // 0: client-first, 1: client-final, 2: empty, 3: over
	gs2Header       string
	authzid, name   string
	nonce           string // client nonce + server nonce
	clientFirstBare string
	serverFirst     string
	creds           SCRAMCredentials
	known           bool
}

func malformed(what string) error { return fmt.Errorf("%w: %s", ErrMalformed, what) }

// next returns the next challenge, and the user once done.
func (s *scramServer) next(resp []byte) (challenge []byte, user string, err error) {
	switch s.step {
	case 0:
		if resp == nil {
			return []byte{}, "", nil // RFC 4422 §3.3: ask for the client-first message
		}
		s.step = 3
		if err := s.clientFirst(string(resp)); err != nil {
			return nil, "", err
		}
		s.step = 1
		return []byte(s.serverFirst), "", nil
	case 1:
		s.step = 3
		sig, err := s.clientFinal(string(resp))
		if err != nil {
			return nil, "", err
		}
		s.step = 2
		return []byte("v=" + b64std.EncodeToString(sig)), "", nil
	case 2:
		s.step = 3
		if len(resp) != 0 {
			return nil, "", malformed("data after SCRAM server-final message")
		}
		return nil, s.creds.User, nil
	}
	return nil, "", malformed("exchange is over")
}

// clientFirst parses the client-first message, looks up the user and prepares
// the server-first message (RFC 5802 §7).
func (s *scramServer) clientFirst(msg string) error {
	// gs2-header = gs2-cbind-flag "," [ authzid ] ","
	flag, rest, ok1 := strings.Cut(msg, ",")
	authz, bare, ok2 := strings.Cut(rest, ",")
	if !ok1 || !ok2 {
		return malformed("SCRAM GS2 header")
	}
	switch {
	case flag == "n" || flag == "y":
		// No channel binding; "y" is fine since no -PLUS mechanism is offered.
	case strings.HasPrefix(flag, "p="):
		return malformed("SCRAM channel binding not supported")
	default:
		return malformed("SCRAM GS2 header")
	}
	if authz != "" {
		a, hasPrefix := strings.CutPrefix(authz, "a=")
		id, ok := decodeSASLName(a)
		if !hasPrefix || !ok {
			return malformed("SCRAM authzid")
		}
		s.authzid = id
	}
	s.gs2Header = msg[:len(msg)-len(bare)]
	s.clientFirstBare = bare

	// client-first-message-bare = [reserved-mext ","] username "," nonce ["," extensions]
	attrs := strings.Split(bare, ",")
	if len(attrs) < 2 || !validAttrs(attrs) {
		return malformed("SCRAM client-first message")
	}
	if attrs[0][0] == 'm' {
		return malformed("SCRAM mandatory extension not supported")
	}
	n, okName := strings.CutPrefix(attrs[0], "n=")
	cnonce, okNonce := strings.CutPrefix(attrs[1], "r=")
	name, okDecode := decodeSASLName(n)
	if !okName || !okNonce || !okDecode || !validNonce(cnonce) {
		return malformed("SCRAM client-first message")
	}
	s.name = name

	creds, err := s.auth.SCRAMCredentials(s.ctx, name)
	switch {
	case err == nil:
		if len(creds.Salt) == 0 || creds.Iterations < 1 || len(creds.StoredKey) != sha256.Size || len(creds.ServerKey) != sha256.Size {
			return errors.New("auth: invalid SCRAM credentials from SCRAMAuthenticator")
		}
		s.creds, s.known = creds, true
		if s.creds.User == "" {
			s.creds.User = name
		}
	case errors.Is(err, ErrInvalidCredentials):
		// RFC 5802 §5.1: carry on with made-up but stable credentials.
		salt := hmacSHA256(fakeSaltKey(), name)[:scramSaltLen]
		s.creds = SCRAMCredentials{Salt: salt, Iterations: scramIterations, StoredKey: make([]byte, sha256.Size), ServerKey: make([]byte, sha256.Size)}
	default:
		return err
	}

	snonce := s.snonce
	if snonce == "" {
		b := make([]byte, 18)
		rand.Read(b)
		snonce = b64std.EncodeToString(b)
	}
	s.nonce = cnonce + snonce
	s.serverFirst = "r=" + s.nonce + ",s=" + b64std.EncodeToString(s.creds.Salt) + ",i=" + strconv.Itoa(s.creds.Iterations)
	return nil
}

// clientFinal verifies the client-final message and returns the
// ServerSignature (RFC 5802 §3, §7).
func (s *scramServer) clientFinal(msg string) ([]byte, error) {
	// client-final-message = channel-binding "," nonce ["," extensions] "," proof
	i := strings.LastIndex(msg, ",p=")
	if i < 0 {
		return nil, malformed("SCRAM client-final message")
	}
	withoutProof := msg[:i]
	proof, err := b64std.Strict().DecodeString(msg[i+len(",p="):])
	attrs := strings.Split(withoutProof, ",")
	if err != nil || len(proof) != sha256.Size || len(attrs) < 2 || !validAttrs(attrs) {
		return nil, malformed("SCRAM client-final message")
	}
	if attrs[0] != "c="+b64std.EncodeToString([]byte(s.gs2Header)) {
		return nil, malformed("SCRAM channel binding data differs from the GS2 header")
	}
	if attrs[1] != "r="+s.nonce {
		return nil, malformed("SCRAM nonce mismatch")
	}

	authMessage := s.clientFirstBare + "," + s.serverFirst + "," + withoutProof
	clientKey := hmacSHA256(s.creds.StoredKey, authMessage) // ClientSignature
	subtle.XORBytes(clientKey, clientKey, proof)
	storedKey := sha256.Sum256(clientKey)
	if subtle.ConstantTimeCompare(storedKey[:], s.creds.StoredKey) != 1 || !s.known {
		return nil, ErrInvalidCredentials
	}
	if s.authzid != "" && s.authzid != s.name && s.authzid != s.creds.User {
		return nil, ErrAuthzDenied
	}
	return hmacSHA256(s.creds.ServerKey, authMessage), nil
}

// validAttrs reports whether every attribute has the form "a=value" with a
// letter a (RFC 5802 §7 attr-val).
func validAttrs(attrs []string) bool {
	for _, a := range attrs {
		if len(a) < 2 || a[1] != '=' || !('a' <= a[0] && a[0] <= 'z' || 'A' <= a[0] && a[0] <= 'Z') {
			return false
		}
	}
	return true
}

// validNonce reports whether n is a valid c-nonce: printable ASCII except ','.
func validNonce(n string) bool {
	if n == "" {
		return false
	}
	for i := 0; i < len(n); i++ {
		if n[i] < 0x21 || n[i] > 0x7e || n[i] == ',' {
			return false
		}
	}
	return true
}

// decodeSASLName decodes a saslname (RFC 5802 §7): "=2C" stands for ',' and
// "=3D" for '='. The result must be a valid name (see validName).
func decodeSASLName(s string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '=' {
			b.WriteByte(s[i])
			continue
		}
		switch {
		case strings.HasPrefix(s[i:], "=2C"):
			b.WriteByte(',')
		case strings.HasPrefix(s[i:], "=3D"):
			b.WriteByte('=')
		default:
			return "", false
		}
		i += 2
	}
	return b.String(), validName(b.String())
}
