package smtp

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Limits on ESMTP parameters (RFC 5321 §4.1.2 esmtp-param).
const (
	paramMaxCount    = 10  // parameters per command
	paramMaxValue    = 500 // octets per value; RFC 3461 §4.2 allows 500 for ORCPT
	paramMaxEnvID    = 100 // octets of the decoded ENVID, RFC 3461 §4.4
	paramMaxKeyInMsg = 32  // octets of a keyword quoted in ParamError.Msg
)

// Errors that [ParseMailParams] and [ParseRcptParams] wrap in a
// [*ParamError]; test for them with [errors.Is].
var (
	// ErrUnknownParam means a parameter is not known, belongs to the other
	// command, or belongs to an extension the server did not advertise
	// (including BODY=BINARYMIME without BINARYMIME). Reply 555 5.5.4
	// (RFC 5321 §4.1.1.11, §4.2.3; RFC 3463).
	ErrUnknownParam = errors.New("smtp: parameter not recognized or not implemented")
	// ErrParamSyntax means the parameters are malformed: bad keyword or
	// value, a duplicate, a value where none is allowed or none where one
	// is required, too many or too long. Reply 501 5.5.4 (RFC 5321
	// §4.2.3, RFC 3463).
	ErrParamSyntax = errors.New("smtp: parameter syntax error")
)

// ParamError is the error [ParseMailParams] and [ParseRcptParams] return.
// Err is [ErrUnknownParam] or [ErrParamSyntax]. Keyword is the upper-cased
// keyword of the offending parameter, "" when the problem is not with one
// parameter or its keyword is malformed. Msg is a short English phrase
// that contains no input other than a well-formed keyword of at most 32
// characters, so a server may put it in the reply text.
type ParamError struct {
	Err     error
	Keyword string
	Msg     string
}

// Error returns the sentinel's text followed by Msg.
func (e *ParamError) Error() string { return e.Err.Error() + ": " + e.Msg }

// Unwrap returns Err, so that errors.Is(err, ErrUnknownParam) works.
func (e *ParamError) Unwrap() error { return e.Err }

// paramErr builds a ParamError; msg may start with the keyword, written
// as "%s".
func paramErr(sentinel error, keyword, msg string) *ParamError {
	k := keyword
	if k == "" {
		k = "parameter"
	} else if len(k) > paramMaxKeyInMsg {
		k = k[:paramMaxKeyInMsg] + "..."
	}
	return &ParamError{Err: sentinel, Keyword: keyword, Msg: strings.Replace(msg, "%s", k, 1)}
}

// ParamSet is the set of ESMTP extensions whose MAIL and RCPT parameters a
// server accepts: those it advertised in its EHLO reply. A parameter of an
// extension not in the set fails with [ErrUnknownParam].
type ParamSet uint32

// The extensions that define MAIL and RCPT parameters.
const (
	// ParamSize: SIZE= on MAIL (RFC 1870).
	ParamSize ParamSet = 1 << iota
	// ParamBody8BIT: BODY=7BIT and BODY=8BITMIME on MAIL (8BITMIME,
	// RFC 6152).
	ParamBody8BIT
	// ParamBodyBinary: BODY=7BIT and BODY=BINARYMIME on MAIL (BINARYMIME,
	// RFC 3030; it needs CHUNKING, which is the server's to advertise).
	ParamBodyBinary
	// ParamSMTPUTF8: SMTPUTF8 on MAIL (RFC 6531 §3.4), and UTF-8 in
	// parameter values (RFC 6531 §3.3). For ParseRcptParams, include it
	// only when the transaction's MAIL command carried SMTPUTF8: it then
	// allows the utf-8-addr-unitext form of ORCPT (RFC 6533 §3).
	ParamSMTPUTF8
	// ParamRequireTLS: REQUIRETLS on MAIL (RFC 8689 §4.1). Servers
	// advertise it only on TLS connections.
	ParamRequireTLS
	// ParamDSN: RET= and ENVID= on MAIL, NOTIFY= and ORCPT= on RCPT
	// (RFC 3461 §4).
	ParamDSN
	// ParamAuth: AUTH= on MAIL (RFC 4954 §5).
	ParamAuth
)

// BodyType is the value of the BODY parameter of MAIL.
type BodyType string

// Body types. The empty BodyType means BODY was not given, which means
// 7BIT (RFC 6152 §2).
const (
	Body7Bit       BodyType = "7BIT"       // RFC 6152 §2
	Body8BitMIME   BodyType = "8BITMIME"   // RFC 6152 §2
	BodyBinaryMIME BodyType = "BINARYMIME" // RFC 3030 §3
)

// DSNReturn is the value of the RET parameter of MAIL (RFC 3461 §4.3): how
// much of the message a delivery status notification returns.
type DSNReturn string

// DSN return types. The empty DSNReturn means RET was not given: the
// reporting MTA chooses.
const (
	DSNReturnFull    DSNReturn = "FULL" // the whole message
	DSNReturnHeaders DSNReturn = "HDRS" // the header only
)

// MailOptions holds the ESMTP parameters of a MAIL command. The zero value
// means no parameters.
type MailOptions struct {
	// Size is the message size the client declared with SIZE= (RFC 1870
	// §3), in octets; 0 if not given. A value too large for an int64,
	// which RFC 1870's 20 digits allow, is math.MaxInt64, so that a size
	// check answers it with 552 5.3.4 rather than a syntax error.
	Size int64
	// Body is the BODY= value (RFC 6152, RFC 3030), "" if not given.
	Body BodyType
	// UTF8 is true if SMTPUTF8 was given (RFC 6531 §3.4): the paths and
	// the message may contain UTF-8.
	UTF8 bool
	// RequireTLS is true if REQUIRETLS was given (RFC 8689 §4): the
	// message must only be relayed over verified TLS.
	RequireTLS bool
	// Return is the RET= value (RFC 3461 §4.3), "" if not given.
	Return DSNReturn
	// EnvelopeID is the xtext-decoded ENVID= value (RFC 3461 §4.4), ""
	// if not given: printable ASCII, at most 100 characters.
	EnvelopeID string
	// Auth is the xtext-decoded AUTH= value (RFC 4954 §5): the mailbox
	// the client says submitted the message, "<>" if the client does not
	// know or does not trust it, "" if AUTH= was not given. It is not
	// checked to be a valid address; it never contains control
	// characters. RFC 4954 §5 says a server should use it only if it
	// trusts the client.
	Auth string
}

// Notify is the value of the NOTIFY parameter of RCPT (RFC 3461 §4.1): the
// conditions under which a delivery status notification is wanted. The
// zero Notify means NOTIFY was not given (the default is FAILURE, and DELAY
// at the reporting MTA's choice). NotifyNever is never combined with the
// others.
type Notify uint8

// Notify values (RFC 3461 §4.1).
const (
	NotifyNever   Notify = 1 << iota // NEVER: no notification
	NotifySuccess                    // SUCCESS: notify on delivery
	NotifyFailure                    // FAILURE: notify on failure
	NotifyDelay                      // DELAY: notify on delay
)

// String returns n as a NOTIFY value, such as "SUCCESS,FAILURE"; "" for
// the zero Notify.
func (n Notify) String() string {
	return string(n.appendValue(nil))
}

func (n Notify) appendValue(dst []byte) []byte {
	start := len(dst)
	for _, f := range [...]struct {
		bit  Notify
		name string
	}{{NotifyNever, "NEVER"}, {NotifySuccess, "SUCCESS"}, {NotifyFailure, "FAILURE"}, {NotifyDelay, "DELAY"}} {
		if n&f.bit != 0 {
			if len(dst) > start {
				dst = append(dst, ',')
			}
			dst = append(dst, f.name...)
		}
	}
	return dst
}

// RcptOptions holds the ESMTP parameters of a RCPT command. The zero value
// means no parameters.
type RcptOptions struct {
	// Notify is the NOTIFY= value (RFC 3461 §4.1), 0 if not given.
	Notify Notify
	// OriginalRcpt is the decoded address of ORCPT= (RFC 3461 §4.2), ""
	// if not given: xtext-decoded for most address types, decoded from
	// utf-8-addr-xtext or utf-8-addr-unitext for "utf-8" (RFC 6533 §3).
	// It is valid UTF-8 without control characters, ASCII for "rfc822",
	// and is not otherwise checked to be an address.
	OriginalRcpt string
	// OriginalRcptType is the address type of ORCPT=, lower-cased:
	// "rfc822", "utf-8" (RFC 6533 §3), or another registered type such as
	// "x400" (RFC 3461 §4.2 allows any atom). "" if ORCPT was not given.
	OriginalRcptType string
}

// paramToken is one esmtp-param.
type paramToken struct {
	keyword string // upper-cased
	value   string
	hasEq   bool
}

// paramSplit splits the parameter list of a MAIL or RCPT command into its
// esmtp-params (RFC 5321 §4.1.2, extended by RFC 6531 §3.3) and checks
// their generic syntax. Parameters may be separated by more than one space.
func paramSplit(s string, tokens []paramToken, utf8ok bool) ([]paramToken, error) {
	tokens = tokens[:0]
	for {
		s = strings.TrimLeft(s, " ")
		if s == "" {
			return tokens, nil
		}
		if len(tokens) == paramMaxCount {
			return nil, paramErr(ErrParamSyntax, "", "too many parameters")
		}
		var p string
		p, s, _ = strings.Cut(s, " ")
		var t paramToken
		var kw string
		kw, t.value, t.hasEq = strings.Cut(p, "=")
		// esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")
		if kw == "" || !pathIsLetDig(kw[0]) {
			return nil, paramErr(ErrParamSyntax, "", "malformed parameter")
		}
		for i := 1; i < len(kw); i++ {
			if !pathIsLetDig(kw[i]) && kw[i] != '-' {
				return nil, paramErr(ErrParamSyntax, "", "malformed parameter")
			}
		}
		t.keyword = strings.ToUpper(kw)
		if t.hasEq {
			if t.value == "" {
				return nil, paramErr(ErrParamSyntax, t.keyword, "%s needs a value after \"=\"")
			}
			if len(t.value) > paramMaxValue {
				return nil, paramErr(ErrParamSyntax, t.keyword, "%s value too long")
			}
			// esmtp-value = 1*(%d33-60 / %d62-126), =/ UTF8-non-ascii
			for i := 0; i < len(t.value); {
				c := t.value[i]
				switch {
				case c > ' ' && c < 0x7f && c != '=':
					i++
				case c >= 0x80 && utf8ok:
					r, size := utf8.DecodeRuneInString(t.value[i:])
					if r == utf8.RuneError && size <= 1 {
						return nil, paramErr(ErrParamSyntax, t.keyword, "invalid UTF-8 in %s value")
					}
					i += size
				default:
					return nil, paramErr(ErrParamSyntax, t.keyword, "invalid character in %s value")
				}
			}
		}
		tokens = append(tokens, t)
	}
}

// ParseMailParams parses the ESMTP parameters of a MAIL command (RFC 5321
// §4.1.1.2, §4.1.2): rest as returned by [ParsePath]. Parameters are
// separated by spaces; keywords are case-insensitive, and so are the
// values of SIZE, BODY and RET. allowed is the set of extensions the server
// advertised.
//
// The error is a [*ParamError]. The parameter list is checked in three
// steps, and the first problem found is reported: the generic syntax of
// every parameter ([ErrParamSyntax]: malformed keyword or value, more than
// 10 parameters, a value longer than 500 octets); then the keywords
// ([ErrUnknownParam] for one that is unknown, meant for RCPT, or outside
// allowed; [ErrParamSyntax] for a duplicate); then the values
// ([ErrParamSyntax], or [ErrUnknownParam] for BODY=8BITMIME or
// BODY=BINARYMIME without its extension). Non-ASCII UTF-8 in a value is
// allowed only when allowed has ParamSMTPUTF8 and SMTPUTF8 is among the
// parameters (RFC 6531 §3.3).
func ParseMailParams(rest string, allowed ParamSet) (MailOptions, error) {
	var o MailOptions
	var buf [paramMaxCount]paramToken
	tokens, err := paramSplit(rest, buf[:], true)
	if err != nil {
		return MailOptions{}, err
	}
	utf8ok := false
	if allowed&ParamSMTPUTF8 != 0 {
		for _, t := range tokens {
			utf8ok = utf8ok || t.keyword == "SMTPUTF8"
		}
	}
	// Keywords first, so that an unknown parameter is reported as such
	// wherever it is in the list.
	var seen [7]bool
	for _, t := range tokens {
		var (
			idx  int
			need ParamSet
		)
		switch t.keyword {
		case "SIZE":
			idx, need = 0, ParamSize
		case "BODY":
			idx, need = 1, ParamBody8BIT|ParamBodyBinary
		case "SMTPUTF8":
			idx, need = 2, ParamSMTPUTF8
		case "REQUIRETLS":
			idx, need = 3, ParamRequireTLS
		case "RET":
			idx, need = 4, ParamDSN
		case "ENVID":
			idx, need = 5, ParamDSN
		case "AUTH":
			idx, need = 6, ParamAuth
		default:
			return MailOptions{}, paramErr(ErrUnknownParam, t.keyword, "unrecognized parameter %s")
		}
		if allowed&need == 0 {
			return MailOptions{}, paramErr(ErrUnknownParam, t.keyword, "parameter %s not supported")
		}
		if seen[idx] {
			return MailOptions{}, paramErr(ErrParamSyntax, t.keyword, "duplicate parameter %s")
		}
		seen[idx] = true
	}
	for _, t := range tokens {
		if !utf8ok && !pathIsASCII(t.value) {
			return MailOptions{}, paramErr(ErrParamSyntax, t.keyword, "non-ASCII %s value without SMTPUTF8")
		}
		if err := o.set(t, allowed); err != nil {
			return MailOptions{}, err
		}
	}
	return o, nil
}

// set stores one known, allowed MAIL parameter.
func (o *MailOptions) set(t paramToken, allowed ParamSet) error {
	kw, v := t.keyword, t.value
	switch kw {
	case "SMTPUTF8", "REQUIRETLS":
		if t.hasEq {
			return paramErr(ErrParamSyntax, kw, "%s takes no value")
		}
		if kw == "SMTPUTF8" {
			o.UTF8 = true
		} else {
			o.RequireTLS = true
		}
		return nil
	}
	if !t.hasEq {
		return paramErr(ErrParamSyntax, kw, "%s needs a value")
	}
	switch kw {
	case "SIZE":
		// size-value = 1*20DIGIT (RFC 1870 §3)
		if len(v) > 20 || !pathOnly(v, "0123456789") {
			return paramErr(ErrParamSyntax, kw, "%s value must be a number of up to 20 digits")
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			n = math.MaxInt64 // in range for RFC 1870, too large for us
		}
		o.Size = n
	case "BODY":
		switch b := BodyType(strings.ToUpper(v)); b {
		case Body7Bit:
			o.Body = b
		case Body8BitMIME:
			if allowed&ParamBody8BIT == 0 {
				return paramErr(ErrUnknownParam, kw, "%s=8BITMIME not supported")
			}
			o.Body = b
		case BodyBinaryMIME:
			if allowed&ParamBodyBinary == 0 {
				return paramErr(ErrUnknownParam, kw, "%s=BINARYMIME not supported")
			}
			o.Body = b
		default:
			return paramErr(ErrParamSyntax, kw, "%s value must be 7BIT, 8BITMIME or BINARYMIME")
		}
	case "RET":
		switch r := DSNReturn(strings.ToUpper(v)); r {
		case DSNReturnFull, DSNReturnHeaders:
			o.Return = r
		default:
			return paramErr(ErrParamSyntax, kw, "%s value must be FULL or HDRS")
		}
	case "ENVID":
		id, err := xtextDecode(v, false)
		if err != nil {
			return paramErr(ErrParamSyntax, kw, "%s value is not valid xtext")
		}
		if len(id) > paramMaxEnvID {
			return paramErr(ErrParamSyntax, kw, "%s value longer than 100 characters")
		}
		// RFC 3461 §4.4: printable (graphic) US-ASCII, after decoding.
		for i := 0; i < len(id); i++ {
			if id[i] < ' ' || id[i] > '~' {
				return paramErr(ErrParamSyntax, kw, "%s value must be printable ASCII")
			}
		}
		o.EnvelopeID = id
	case "AUTH":
		mb, err := xtextDecode(v, true)
		if err != nil {
			return paramErr(ErrParamSyntax, kw, "%s value is not valid xtext")
		}
		if mb == "" || !paramTextOK(mb) {
			return paramErr(ErrParamSyntax, kw, "%s value must be a mailbox or <>")
		}
		o.Auth = mb
	}
	return nil
}

// ParseRcptParams parses the ESMTP parameters of a RCPT command (RFC 5321
// §4.1.1.3, §4.1.2): rest as returned by [ParsePath]. It follows the rules
// of [ParseMailParams], with the RCPT parameters NOTIFY and ORCPT
// (RFC 3461 §4.1, §4.2) in place of the MAIL ones. Non-ASCII UTF-8 in a
// value, and so the utf-8-addr-unitext form of ORCPT (RFC 6533 §3), is
// allowed when allowed has ParamSMTPUTF8, which the caller sets only if the
// transaction's MAIL command had SMTPUTF8. The error is a [*ParamError].
func ParseRcptParams(rest string, allowed ParamSet) (RcptOptions, error) {
	var o RcptOptions
	utf8ok := allowed&ParamSMTPUTF8 != 0
	var buf [paramMaxCount]paramToken
	tokens, err := paramSplit(rest, buf[:], utf8ok)
	if err != nil {
		return RcptOptions{}, err
	}
	var seenNotify, seenOrcpt bool
	for _, t := range tokens {
		var seen *bool
		switch t.keyword {
		case "NOTIFY":
			seen = &seenNotify
		case "ORCPT":
			seen = &seenOrcpt
		default:
			return RcptOptions{}, paramErr(ErrUnknownParam, t.keyword, "unrecognized parameter %s")
		}
		if allowed&ParamDSN == 0 {
			return RcptOptions{}, paramErr(ErrUnknownParam, t.keyword, "parameter %s not supported")
		}
		if *seen {
			return RcptOptions{}, paramErr(ErrParamSyntax, t.keyword, "duplicate parameter %s")
		}
		*seen = true
	}
	for _, t := range tokens {
		if !t.hasEq {
			return RcptOptions{}, paramErr(ErrParamSyntax, t.keyword, "%s needs a value")
		}
		if t.keyword == "NOTIFY" {
			o.Notify, err = paramParseNotify(t.value)
		} else {
			o.OriginalRcptType, o.OriginalRcpt, err = paramParseOrcpt(t.value, utf8ok)
		}
		if err != nil {
			return RcptOptions{}, err
		}
	}
	return o, nil
}

// paramParseNotify parses
// notify-esmtp-value = "NEVER" / 1#notify-list-element (RFC 3461 §4.1).
// A condition given twice is accepted.
func paramParseNotify(v string) (Notify, error) {
	var n Notify
	for elem := range strings.SplitSeq(v, ",") {
		switch strings.ToUpper(elem) {
		case "NEVER":
			n |= NotifyNever
		case "SUCCESS":
			n |= NotifySuccess
		case "FAILURE":
			n |= NotifyFailure
		case "DELAY":
			n |= NotifyDelay
		default:
			return 0, paramErr(ErrParamSyntax, "NOTIFY", "%s value must be NEVER or a list of SUCCESS, FAILURE, DELAY")
		}
	}
	if n&NotifyNever != 0 && n != NotifyNever {
		return 0, paramErr(ErrParamSyntax, "NOTIFY", "%s=NEVER cannot be combined with other values")
	}
	return n, nil
}

// paramParseOrcpt parses
// original-recipient-address = addr-type ";" xtext (RFC 3461 §4.2), or
// "utf-8;" utf-8-addr-xtext / utf-8-addr-unitext (RFC 6533 §3).
func paramParseOrcpt(v string, utf8ok bool) (typ, addr string, err error) {
	typ, enc, ok := strings.Cut(v, ";")
	if !ok || typ == "" || !pathIsASCII(typ) {
		return "", "", paramErr(ErrParamSyntax, "ORCPT", "%s value must be addr-type;address")
	}
	// addr-type = atom
	for i := 0; i < len(typ); i++ {
		if !pathIsAtext(typ[i]) {
			return "", "", paramErr(ErrParamSyntax, "ORCPT", "%s value must be addr-type;address")
		}
	}
	typ = strings.ToLower(typ)
	if enc == "" {
		return "", "", paramErr(ErrParamSyntax, "ORCPT", "%s address is empty")
	}
	if typ == "utf-8" {
		addr, err = utf8AddrDecode(enc, utf8ok)
	} else {
		addr, err = xtextDecode(enc, false)
	}
	if err != nil {
		return "", "", paramErr(ErrParamSyntax, "ORCPT", "%s address is not correctly encoded")
	}
	if !paramTextOK(addr) || typ == "rfc822" && !pathIsASCII(addr) {
		return "", "", paramErr(ErrParamSyntax, "ORCPT", "%s address contains invalid characters")
	}
	return typ, addr, nil
}

// paramTextOK reports whether s is valid UTF-8 without C0 or C1 control
// characters or DEL: safe to copy into a header field of a DSN.
func paramTextOK(s string) bool {
	for _, r := range s {
		if r < ' ' || 0x7f <= r && r < 0xa0 || r == utf8.RuneError {
			return false
		}
	}
	return true
}

// AppendParams appends the ESMTP parameters for o, each preceded by a
// space, to dst and returns the extended slice, for a client's MAIL
// command: "MAIL FROM:<a@example.org>" followed by the result. Values are
// encoded as their RFC requires (xtext for ENVID and AUTH). Empty fields
// are left out. AppendParams does not check that the server advertised
// the extensions or that the values are valid; ParseMailParams of the
// output (with all extensions allowed) returns o for any o it accepts.
func (o MailOptions) AppendParams(dst []byte) []byte {
	if o.Size > 0 {
		dst = append(dst, " SIZE="...)
		dst = strconv.AppendInt(dst, o.Size, 10)
	}
	if o.Body != "" {
		dst = append(dst, " BODY="...)
		dst = append(dst, o.Body...)
	}
	if o.UTF8 {
		dst = append(dst, " SMTPUTF8"...)
	}
	if o.RequireTLS {
		dst = append(dst, " REQUIRETLS"...)
	}
	if o.Return != "" {
		dst = append(dst, " RET="...)
		dst = append(dst, o.Return...)
	}
	if o.EnvelopeID != "" {
		dst = append(dst, " ENVID="...)
		dst = xtextAppend(dst, o.EnvelopeID)
	}
	if o.Auth != "" {
		dst = append(dst, " AUTH="...)
		dst = xtextAppend(dst, o.Auth)
	}
	return dst
}

// AppendParams appends the ESMTP parameters for o, each preceded by a
// space, to dst and returns the extended slice, for a client's RCPT
// command. ORCPT is encoded as xtext, or for the "utf-8" type as
// utf-8-addr-xtext, which is ASCII and so needs no SMTPUTF8 (RFC 6533
// §3). If OriginalRcptType is "", it is "rfc822" for an ASCII
// OriginalRcpt and "utf-8" otherwise. ParseRcptParams of the output (with
// ParamDSN allowed) returns o for any o it accepts, with
// OriginalRcptType filled in.
func (o RcptOptions) AppendParams(dst []byte) []byte {
	if o.Notify != 0 {
		dst = append(dst, " NOTIFY="...)
		dst = o.Notify.appendValue(dst)
	}
	if o.OriginalRcpt != "" {
		typ := o.OriginalRcptType
		if typ == "" {
			typ = "rfc822"
			if !pathIsASCII(o.OriginalRcpt) {
				typ = "utf-8"
			}
		}
		dst = append(dst, " ORCPT="...)
		dst = append(dst, typ...)
		dst = append(dst, ';')
		if strings.EqualFold(typ, "utf-8") {
			dst = utf8AddrAppend(dst, o.OriginalRcpt)
		} else {
			dst = xtextAppend(dst, o.OriginalRcpt)
		}
	}
	return dst
}
