package auth

import (
	"context"
	"slices"
	"strings"

	"github.com/emersion/go-sasl"
)

// SASL mechanism names.
const (
	Plain       = "PLAIN"         // RFC 4616
	Login       = "LOGIN"         // draft-murchison-sasl-login-00
	SCRAMSHA256 = "SCRAM-SHA-256" // RFC 5802, RFC 7677
)

// maxResponse bounds a single client response, after base64 decoding.
const maxResponse = 8 << 10

// SASL offers SASL mechanisms (RFC 4422) backed by an Authenticator. It is
// safe for concurrent use; its fields must not change once exchanges start.
//
// SASL does not know whether the connection is encrypted: the protocol server
// decides whether PLAIN and LOGIN may be offered on it.
type SASL struct {
	// Authenticator checks the credentials. Nil offers no mechanism.
	Authenticator Authenticator

	// Mechanisms lists the mechanisms to offer, in order. Nil means PLAIN,
	// LOGIN, and SCRAM-SHA-256 when Authenticator implements
	// SCRAMAuthenticator. Names are case-insensitive; names this package does
	// not implement are ignored.
	Mechanisms []string
}

// Available returns the names of the mechanisms offered, in upper case, for
// the server to advertise. The caller may modify the returned slice.
func (s *SASL) Available() []string {
	names := s.Mechanisms
	if names == nil {
		names = []string{Plain, Login, SCRAMSHA256}
	}
	var avail []string
	for _, n := range names {
		n = strings.ToUpper(n)
		if s.implements(n) && !slices.Contains(avail, n) {
			avail = append(avail, n)
		}
	}
	return avail
}

func (s *SASL) implements(mech string) bool {
	switch mech {
	case Plain, Login:
		return s.Authenticator != nil
	case SCRAMSHA256:
		_, ok := s.Authenticator.(SCRAMAuthenticator)
		return ok
	}
	return false
}

// Start begins an exchange for mech, case-insensitive. It returns
// [ErrUnsupportedMechanism] if mech is not offered. ctx applies to every call
// the exchange makes to the Authenticator, and should end with the command or
// the connection.
func (s *SASL) Start(ctx context.Context, mech string) (*Exchange, error) {
	mech = strings.ToUpper(mech)
	if !slices.Contains(s.Available(), mech) {
		return nil, ErrUnsupportedMechanism
	}
	e := &Exchange{mech: mech}
	switch mech {
	case Plain:
		e.m = newPlain(ctx, s.Authenticator)
	case Login:
		e.m = &loginServer{ctx: ctx, auth: s.Authenticator}
	case SCRAMSHA256:
		e.m = &scramServer{ctx: ctx, auth: s.Authenticator.(SCRAMAuthenticator)}
	}
	return e, nil
}

// mechanism is the server side of one SASL mechanism. next returns the next
// challenge, or a non-empty user once authentication succeeded.
type mechanism interface {
	next(response []byte) (challenge []byte, user string, err error)
}

// Exchange is one SASL authentication exchange, started by [SASL.Start]. It is
// not safe for concurrent use.
type Exchange struct {
	mech    string
	m       mechanism
	started bool
	over    bool
	user    string
}

// Next takes the client's response, decoded from base64 by the caller, and
// returns the challenge to send, raw (the caller base64-encodes it; an empty
// challenge is an empty continuation, "334 " or "+ "), or done=true when
// authentication succeeded; [Exchange.User] then names the user. A client's
// "*" is not a response: see [Exchange.Cancel].
//
// In the first call, response is the initial response: nil means the client
// sent none, and an empty non-nil slice means it sent an empty one ("=").
// Later responses may be empty but are never treated as absent.
//
// The exchange ends with done=true or with an error: [ErrInvalidCredentials],
// [ErrAuthzDenied], [ErrMalformed] for a response that breaks the mechanism's
// syntax or is longer than 8 KiB, or another error, from the Authenticator,
// for a temporary failure. Once the exchange has ended Next returns
// ErrMalformed.
//
// For SCRAM-SHA-256, the server-final message ("v=...") is returned as a
// challenge with done=false: the server sends it as a continuation, the client
// answers with an empty response, and Next then returns done=true (RFC 4954
// §4, RFC 4422 §3.6).
func (e *Exchange) Next(response []byte) (challenge []byte, done bool, err error) {
	if e.over {
		return nil, false, malformed("exchange is over")
	}
	if e.started && response == nil {
		response = []byte{}
	}
	e.started = true
	if len(response) > maxResponse {
		e.over = true
		return nil, false, malformed("response too long")
	}
	challenge, user, err := e.m.next(response)
	if err != nil || user != "" {
		e.over = true
	}
	if err != nil {
		return nil, false, err
	}
	e.user = user
	return challenge, user != "", nil
}

// User returns the canonical name of the authenticated user once Next has
// returned done=true, and "" before.
func (e *Exchange) User() string { return e.user }

// Mechanism returns the name of the exchange's mechanism, in upper case.
func (e *Exchange) Mechanism() string { return e.mech }

// Cancel ends the exchange because the client canceled it with "*" (RFC 4422
// §3.5; RFC 4954 §4; RFC 9051 §6.2.2). It returns [ErrCanceled], for the
// caller's convenience. Dropping the exchange has the same effect.
func (e *Exchange) Cancel() error {
	e.over = true
	e.user = ""
	return ErrCanceled
}

// authenticate validates the strings a client sent and calls a.
func authenticate(ctx context.Context, a Authenticator, identity, username, password string) (string, error) {
	if !validName(username) || !validName(password) || (identity != "" && !validName(identity)) {
		return "", malformed("user name, password or authorization identity")
	}
	user, err := a.Authenticate(ctx, identity, username, password)
	if err != nil {
		return "", err
	}
	if user == "" {
		user = username
	}
	return user, nil
}

// plainServer wraps go-sasl's PLAIN server (RFC 4616).
type plainServer struct {
	srv    sasl.Server
	called bool
	user   string
	err    error
}

func newPlain(ctx context.Context, a Authenticator) *plainServer {
	p := &plainServer{}
	p.srv = sasl.NewPlainServer(func(identity, username, password string) error {
		p.called = true
		p.user, p.err = authenticate(ctx, a, identity, username, password)
		return p.err
	})
	return p
}

func (p *plainServer) next(response []byte) ([]byte, string, error) {
	challenge, _, err := p.srv.Next(response)
	switch {
	case p.called:
		return nil, p.user, p.err
	case err != nil:
		return nil, "", malformed("PLAIN message")
	}
	return challenge, "", nil
}

// loginServer is the server side of LOGIN (draft-murchison-sasl-login-00 §2):
// it asks for the user name and then the password, and accepts the user name
// as initial response.
type loginServer struct {
	ctx      context.Context
	auth     Authenticator
	step     int // 0: start, 1: user name, 2: password
	username string
}

func (l *loginServer) next(response []byte) ([]byte, string, error) {
	switch l.step {
	case 0:
		if response == nil {
			l.step = 1
			return []byte("Username:"), "", nil
		}
		fallthrough
	case 1:
		l.username = string(response)
		l.step = 2
		return []byte("Password:"), "", nil
	default:
		user, err := authenticate(l.ctx, l.auth, "", l.username, string(response))
		return nil, user, err
	}
}
