package auth

import (
	"context"
	"errors"
)

// Errors returned by this package. Protocol servers map them to replies with
// errors.Is; the error text is never meant for the client.
var (
	// ErrInvalidCredentials means the user name or the password is wrong.
	// Which of the two is never revealed.
	ErrInvalidCredentials = errors.New("auth: invalid credentials")

	// ErrAuthzDenied means the credentials are valid but the authenticated
	// user may not act as the requested authorization identity.
	ErrAuthzDenied = errors.New("auth: authorization denied")

	// ErrUnsupportedMechanism means the SASL mechanism is not offered.
	ErrUnsupportedMechanism = errors.New("auth: unsupported mechanism")

	// ErrCanceled means the client canceled the exchange with "*".
	ErrCanceled = errors.New("auth: exchange canceled by client")

	// ErrMalformed means a client response does not follow the mechanism's
	// syntax, is too long, or comes after the exchange ended.
	ErrMalformed = errors.New("auth: malformed client response")
)

// Authenticator checks a password. It is used by the SMTP, IMAP, POP3 and
// ManageSieve servers, directly or through [SASL].
//
// Authenticate checks password for username. identity is the SASL
// authorization identity; "" means the same as username. It returns the
// canonical name of the user the session is authenticated as; an empty user
// with a nil error is taken to mean username. It returns
// [ErrInvalidCredentials] for an unknown user or a wrong password (never
// revealing which), [ErrAuthzDenied] when username may not act as identity,
// and any other error for a temporary failure.
//
// Implementations must be safe for concurrent use.
type Authenticator interface {
	Authenticate(ctx context.Context, identity, username, password string) (user string, err error)
}

// AuthenticatorFunc adapts a function to the [Authenticator] interface.
type AuthenticatorFunc func(ctx context.Context, identity, username, password string) (string, error)

// Authenticate calls f(ctx, identity, username, password).
func (f AuthenticatorFunc) Authenticate(ctx context.Context, identity, username, password string) (string, error) {
	return f(ctx, identity, username, password)
}

// validName reports whether s is usable as a user name or password: not
// empty, valid UTF-8, and free of the control characters SASLprep prohibits
// (RFC 4013 §2.3, RFC 3454 tables C.2.1 and C.2.2).
func validName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < 0x20 || (r >= 0x7f && r <= 0x9f) || r == '\uFFFD' {
			return false
		}
	}
	return true
}
