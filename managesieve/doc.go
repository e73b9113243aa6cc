// Package managesieve implements a ManageSieve server (RFC 5804), through
// which mail clients upload, check, list, activate, download, rename and
// delete their Sieve scripts, and the per-user script storage it works
// over.
//
// A [Server] needs a [Store] and an [auth.Authenticator]; everything else
// has a safe default (see the field docs). Scripts are checked with
// package sieve before they are stored, or with [Server.Check]. [MemStore]
// keeps scripts in memory, [DirStore] in files, crash-safely. Local
// delivery runs the script [Store.Active] returns for the recipient.
//
// # Standards
//
//   - RFC 5804 A Protocol for Remotely Managing Sieve Scripts:
//     the capability response in the greeting, after STARTTLS and for
//     CAPABILITY, with IMPLEMENTATION, SASL, SIEVE (the extensions of
//     Server.Sieve, by default all of package sieve's), STARTTLS,
//     MAXREDIRECTS, OWNER (once authenticated), UNAUTHENTICATE and
//     VERSION "1.0" (§1.7); every command of §2: AUTHENTICATE with an
//     initial response, continuations as quoted strings or literals, "*"
//     to cancel and additional data with success in OK (SASL ...) (§2.1),
//     STARTTLS (§2.2), LOGOUT, CAPABILITY, HAVESPACE, PUTSCRIPT,
//     LISTSCRIPTS, SETACTIVE (with "" to deactivate), GETSCRIPT,
//     DELETESCRIPT, RENAMESCRIPT, CHECKSCRIPT, NOOP with a TAG and
//     UNAUTHENTICATE (§2.3–§2.14); the response codes AUTH-TOO-WEAK,
//     ENCRYPT-NEEDED, QUOTA, QUOTA/MAXSCRIPTS, QUOTA/MAXSIZE,
//     TRANSITION-NEEDED, TRYLATER, ACTIVE, NONEXISTENT, ALREADYEXISTS,
//     WARNINGS, TAG and SASL (§1.3); script names per §1.6, compared in
//     Unicode normalization form C; the string syntax of §4: quoted
//     strings with the \" and \\ escapes, and literals, "{n+}" and also
//     "{n}", both of which the client sends without waiting.
//     PUTSCRIPT and CHECKSCRIPT answer a script that does not compile
//     with NO and package sieve's errors, each naming its line and
//     column, one a line ("line 2, column 1: ..."); warnings, such as an
//     include of a script not stored yet, with OK (WARNINGS). SETACTIVE
//     checks the script again before activating it.
//   - RFC 8314: passwords only over TLS. Without
//     Server.AllowInsecureAuth the SASL capability is empty before
//     STARTTLS and AUTHENTICATE answers NO (ENCRYPT-NEEDED). Input
//     pipelined after STARTTLS, before the handshake, is discarded.
//   - RFC 4422 SASL with the mechanisms of package auth: PLAIN, LOGIN and,
//     if the Authenticator implements auth.SCRAMAuthenticator,
//     SCRAM-SHA-256, whose server-final message is sent in
//     OK (SASL "...").
//
// # Limits
//
// Command lines are limited to 8 KiB without their literals; names and
// other strings to the same; scripts to 1 MiB (Server.MaxScriptSize; a
// larger literal is skipped unread and answered with NO (QUOTA/MAXSIZE),
// and one over 16 MiB, or four times the limit, closes the connection);
// unknown, malformed and out-of-state commands to 10 per session; failed
// logins to 3 per session, each answered after a delay that grows per
// client address ([auth.Throttle]); idle time to 10 minutes; connections
// to 1000, 20 per IP address. The stores' [Quota] defaults to 100 scripts
// of at most 1 MiB and 10 MiB in all. Errors from the Store with wire
// meaning (the ErrXxx values, [*Error]) are sent with their response
// code; others are logged and answered with NO (TRYLATER), never with
// their text. A panic in a command is logged and answered with
// BYE (TRYLATER). Shutdown sends BYE (TRYLATER) to idle sessions.
//
// # Not implemented
//
//   - REFERRAL (RFC 5804 §1.3, §1.4) and sieve URLs (§3): the server
//     never refers clients elsewhere.
//   - The NOTIFY and LANGUAGE capabilities: package sieve implements no
//     notification method (RFC 5435), and responses are in English.
//   - SASL security layers, and so the capability response after an
//     AUTHENTICATE that negotiates one; channel binding for SCRAM.
//   - TRANSITION-NEEDED and AUTH-TOO-WEAK are defined for Stores and
//     Authenticators to use, but never sent by the server itself.
//   - Script names containing "/" (allowed by §1.6) are refused, so that
//     every name can be a file name, as in Dovecot's Pigeonhole.
//   - Quoted strings longer than 1024 octets (§4) are accepted from
//     clients, up to the line length; the server never sends one.
package managesieve
