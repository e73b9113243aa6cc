package dnsmx

import (
	"errors"
	"strings"
)

// Kinds of failure. Every error returned by a lookup is an [*Error] whose
// Kind is one of these (or a context error when the caller's context ended),
// so callers test for a kind with errors.Is, and for what to do with
// [IsPermanent]:
//
//	errors.Is(err, dnsmx.ErrNullMX) // this one kind
//	dnsmx.IsPermanent(err)          // bounce; otherwise queue and retry
var (
	// ErrNXDomain: the name does not exist (RCODE 3, RFC 1035 §4.1.1).
	// Permanent.
	ErrNXDomain = errors.New("domain does not exist")

	// ErrNoRecords: the name exists but has no records of the type asked
	// for (NODATA, RFC 2308 §2.2), or none that qualify (no "v=spf1" TXT
	// record, say). Permanent.
	ErrNoRecords = errors.New("no records")

	// ErrMultipleRecords: more than one record where the standard allows
	// one (SPF, RFC 7208 §4.5; DMARC, RFC 7489 §6.6.3; MTA-STS, RFC 8461
	// §3.1; TLS-RPT, RFC 8460 §3). Permanent.
	ErrMultipleRecords = errors.New("more than one record")

	// ErrNullMX: the domain publishes a null MX (RFC 7505 §3) and accepts
	// no mail. Permanent; RFC 7505 §4.1 suggests the DSN code 5.1.10.
	ErrNullMX = errors.New("domain accepts no mail (null MX)")

	// ErrNoMailHost: the domain has MX records but none of their hosts has
	// an address, or it has neither MX nor address records (RFC 5321
	// §5.1). Permanent when every host failed permanently, temporary
	// otherwise.
	ErrNoMailHost = errors.New("no usable mail host")

	// ErrInsecure: a TLSA answer or denial was not DNSSEC-authenticated, so
	// DANE does not apply (RFC 7672 §2.2). Permanent.
	ErrInsecure = errors.New("answer not DNSSEC-authenticated")

	// ErrInvalidName: the name is not a valid domain name (or a port or
	// network argument is out of range). Permanent.
	ErrInvalidName = errors.New("invalid domain name")

	// ErrMalformed: an answer, record or policy that does not parse.
	// Permanent for records and policies; temporary for DNS messages.
	ErrMalformed = errors.New("malformed")

	// ErrCNAMEChain: a CNAME chain longer than [Resolver.MaxCNAME] or one
	// that loops. Temporary, like the SERVFAIL a validating resolver gives
	// for the same zone data.
	ErrCNAMEChain = errors.New("CNAME chain too long or looping")

	// ErrServFail: every nameserver answered with SERVFAIL, REFUSED or
	// another error RCODE (RFC 1035 §4.1.1). Temporary.
	ErrServFail = errors.New("server failure")

	// ErrTimeout: no nameserver answered in time. Temporary.
	ErrTimeout = errors.New("timeout")

	// ErrPolicyFetch: an MTA-STS policy could not be fetched over HTTPS
	// (RFC 8461 §3.3). Temporary; RFC 8461 §5 says to deliver as if the
	// domain had no policy.
	ErrPolicyFetch = errors.New("MTA-STS policy fetch failed")

	// ErrNetwork: the nameservers could not be reached (other than by a
	// timeout). Temporary.
	ErrNetwork = errors.New("network error")
)

// Error is the error every lookup returns. Its Unwrap gives both Kind and Err,
// so errors.Is works for the kind and for the cause (a *net.OpError,
// context.DeadlineExceeded, or the *Error of each host for ErrNoMailHost).
// Permanent is what counts, not the Permanent of errors it wraps: use
// [IsPermanent]. Error values may be shared between callers (negative
// answers are cached): treat them as read-only.
type Error struct {
	Op        string // what was looked up: "MX", "A", "TLSA", "MTA-STS policy", ...
	Name      string // the name as the caller gave it
	Kind      error  // one of the ErrXxx values above, or a context error
	Permanent bool   // retrying will not help: bounce rather than queue
	Err       error  // the cause, or nil
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("dnsmx: ")
	b.WriteString(e.Op)
	if e.Name != "" {
		b.WriteByte(' ')
		b.WriteString(e.Name)
	}
	b.WriteString(": ")
	b.WriteString(e.Kind.Error())
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns Kind and Err.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

// Temporary reports whether the failure may go away (queue and retry).
func (e *Error) Temporary() bool { return !e.Permanent }

// permanentKind reports whether a failure of this kind is permanent.
func permanentKind(kind error) bool {
	switch kind {
	case ErrNXDomain, ErrNoRecords, ErrMultipleRecords, ErrNullMX, ErrInsecure, ErrInvalidName:
		return true
	}
	return false
}

// newError returns an *Error whose Permanent follows kind.
func newError(op, name string, kind, cause error) *Error {
	return &Error{Op: op, Name: name, Kind: kind, Permanent: permanentKind(kind), Err: cause}
}

// IsPermanent reports whether err is a permanent failure: whether the
// first [*Error] in its chain (the outermost) has Permanent set. Any other
// error, like a context error, is temporary: RFC 5321 §4.5.4.1 says to
// queue and retry when in doubt.
func IsPermanent(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Permanent
}
