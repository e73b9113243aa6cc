// Package smtp implements an ESMTP and LMTP server and an SMTP client.
//
// A [Server] needs only a [Backend]; everything else has a safe default
// (see the field docs). The backend gets a [Session] per connection and sees
// each command of a mail transaction: MAIL, RCPT and the content, which
// streams through an io.Reader. Replies a session wants to send are
// [*Error] values; any other error becomes a generic temporary failure.
//
// # Standards
//
//   - RFC 5321 Simple Mail Transfer Protocol: the whole server side of §3
//     and §4 (commands, replies, limits of §4.5.3, Received trace fields of
//     §4.4). VRFY and EXPN answer 252 (§3.5.3). Source routes are parsed and
//     kept (§4.1.2, Appendix C) but never acted on.
//   - RFC 1870 SIZE, with early refusal at MAIL when the declared size is too
//     big.
//   - RFC 2920 PIPELINING: replies are flushed when the client has nothing
//     more buffered.
//   - RFC 6152 8BITMIME, RFC 3030 CHUNKING (BDAT) and BINARYMIME.
//   - RFC 6531 SMTPUTF8 (internationalised addresses).
//   - RFC 2034, RFC 3463 enhanced status codes on every reply.
//   - RFC 3207 STARTTLS; input pipelined before the handshake is discarded
//     (§4.2). RFC 8314 implicit TLS ([Server.ServeTLS]); the Received header
//     names the TLS version and cipher (§4.4).
//   - RFC 4954 AUTH, only over TLS unless [Server.AllowInsecureAuth]; the
//     mechanisms are those of package auth (PLAIN, LOGIN, SCRAM-SHA-256).
//   - RFC 3461 DSN parameters (RET, ENVID, NOTIFY, ORCPT) are parsed and
//     handed to the backend; RFC 6533 for UTF-8 ORCPT.
//   - RFC 8689 REQUIRETLS, advertised and accepted only over TLS.
//   - RFC 2033 LMTP ([Server.LMTP]): LHLO and one reply per recipient.
//   - RFC 3848 "with" protocol types in the Received header.
//
// # SMTP smuggling
//
// Message content ends only at <CRLF>.<CRLF>. Content with a bare CR or LF
// anywhere (in DATA and in BDAT chunks of non-BINARYMIME messages) is refused
// with 550 5.6.0 after it has been read to its real end, or, with
// [Server.NormalizeLineEndings], stored with CRLF in their place. No variant
// of a bare line ending can end a message early or split it in two.
//
// # Not implemented
//
// ETRN, TURN, ATRN, SEND/SOML/SAML, RFC 1845 checkpointing, RFC 4865
// FUTURERELEASE, RFC 6710 MT-PRIORITY, and channel binding for SCRAM.
package smtp
