// Package auth checks user credentials for the postyard protocol servers.
//
// It provides:
//
//   - [Authenticator], the password check that smtp, imap, pop3 and
//     managesieve servers call, and [Users], an in-memory implementation;
//   - password hashing: [HashPassword] (argon2id, RFC 9106, in the PHC string
//     format) and [CheckHash], which also verifies bcrypt hashes;
//   - [SASL], the server side of SASL (RFC 4422) shared by the protocol
//     servers, with the mechanisms PLAIN (RFC 4616), LOGIN
//     (draft-murchison-sasl-login-00) and SCRAM-SHA-256 (RFC 5802, RFC 7677);
//   - [Throttle], which delays replies to repeated authentication failures;
//   - users files ("name:hash[:scram]" lines, compatible with "htpasswd -B"):
//     [UsersFile], which follows changes to the file, [LoadUsersFile],
//     [ParseUsersFile], and [AddFileUser], [ReplaceFileUser] and
//     [RemoveFileUser], which rewrite the file atomically.
//
// # SASL exchanges
//
// A protocol server calls [SASL.Start] for the mechanism the client chose,
// then feeds every client response, decoded from base64, to [Exchange.Next]
// and sends back the challenges it returns, until Next reports done or an
// error. When the client cancels the exchange ("*", RFC 4422 §3.5, RFC 4954
// §4), the server calls [Exchange.Cancel] or simply drops the exchange.
//
// SCRAM ends with "additional data with success" (RFC 4422 §3.6): the
// server-final message. Next returns it as an ordinary challenge, the server
// sends it as a continuation (SMTP "334", IMAP "+", POP3 "+"), the client
// answers with an empty response, and only then does Next report done. RFC
// 4954 §4 describes this flow for SMTP; IMAP (RFC 9051 §6.2.2) and POP3 (RFC
// 5034 §4) allow it too.
//
// # Not implemented
//
//   - Channel binding: SCRAM-SHA-256-PLUS is not offered; a client that asks
//     for channel binding ("p=" in the GS2 header) is rejected, while "n" and
//     "y" are accepted (RFC 5802 §6).
//   - Full SASLprep (RFC 4013): user names and passwords are used as given,
//     without Unicode normalisation. Strings that are not valid UTF-8 or that
//     contain control characters (U+0000–U+001F, U+007F–U+009F), which
//     SASLprep prohibits, are rejected. Passwords in NFKC form, which covers
//     every ASCII password, behave exactly as with SASLprep.
//   - SASL security layers, SCRAM-SHA-1, CRAM-MD5, DIGEST-MD5, EXTERNAL,
//     OAUTHBEARER.
package auth
