package smtp

import (
	"context"
	"crypto/tls"
	"io"
	"net"
)

// ConnInfo describes a client connection. The server updates it as the
// session goes on (HELO name, TLS, authentication); a Session may keep the
// pointer and read it from its methods, which the server never calls
// concurrently.
type ConnInfo struct {
	RemoteAddr net.Addr
	LocalAddr  net.Addr
	// TLS is the TLS state, nil on a plaintext connection (before STARTTLS).
	TLS *tls.ConnectionState
	// Hello is the name the client gave in HELO, EHLO or LHLO; ESMTP is true
	// after EHLO or LHLO.
	Hello string
	ESMTP bool
	// User is the authenticated principal (RFC 4954), "" if none.
	User string
	// LMTP is true when the server speaks LMTP (RFC 2033).
	LMTP bool
}

// Backend creates a Session for each connection.
type Backend interface {
	// NewSession is called when a client connects, before the greeting. An
	// *Error refuses the connection with that reply (e.g. 554 5.7.1 for a
	// blocked address); any other error refuses it with 421 4.3.0.
	NewSession(ctx context.Context, c *ConnInfo) (Session, error)
}

// BackendFunc adapts a function to the Backend interface.
type BackendFunc func(ctx context.Context, c *ConnInfo) (Session, error)

// NewSession calls f.
func (f BackendFunc) NewSession(ctx context.Context, c *ConnInfo) (Session, error) {
	return f(ctx, c)
}

// Session handles the mail transactions of one connection. The server calls
// its methods from one goroutine. An *Error return is sent as the reply;
// any other error becomes 451 4.3.0 and is logged.
type Session interface {
	// Mail starts a transaction (MAIL FROM). from is null for bounces.
	Mail(ctx context.Context, from Path, opts *MailOptions) error
	// Rcpt adds a recipient (RCPT TO).
	Rcpt(ctx context.Context, to Path, opts *RcptOptions) error
	// Data receives the message content (DATA or BDAT), starting with the
	// Received header the server prepends. r returns an error if the content
	// is malformed, too large, or the client goes away; Data must then
	// return an error and keep nothing. On success Data returns only once
	// the message is stored durably, with an ID sent in the 250 reply
	// ("queued as ID"; "" for none).
	Data(ctx context.Context, r io.Reader) (id string, err error)
	// Reset ends the current transaction, if any: after RSET, a new
	// HELO/EHLO, STARTTLS, AUTH, and at the end of each DATA or BDAT.
	Reset(ctx context.Context)
	// Close is called once when the connection ends.
	Close() error
}

// LMTPSession is a Session that gives a result per recipient, as LMTP
// requires (RFC 2033 §4.2). In LMTP mode the server uses LMTPData instead of
// Data when the session implements it; otherwise Data's result is repeated
// for every recipient.
type LMTPSession interface {
	Session
	// LMTPData is like Data, but returns one error (nil for success) per
	// accepted recipient, in RCPT order.
	LMTPData(ctx context.Context, r io.Reader) ([]error, error)
}

// HelloSession is a Session that checks the name the client gives in HELO,
// EHLO or LHLO. An error refuses the command; the client may try again.
type HelloSession interface {
	Session
	Hello(ctx context.Context, name string) error
}
