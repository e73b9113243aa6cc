// Package pop3 implements a POP3 server over a [mailbox.Store].
//
// A [Server] needs a Store and an [auth.Authenticator]; everything else has
// a safe default (see the field docs). Each authenticated user's INBOX is
// their maildrop. At login the session locks it (mailbox.OpenOptions
// Exclusive) and takes a listing of its messages, numbered from 1; DELE
// only marks a message. Only QUIT in the TRANSACTION state changes the
// store: the marked messages are flagged \Deleted and expunged, the
// messages sent by RETR get \Seen, and +OK is sent once the store has done
// so durably. A session that ends any other way (a dropped connection, a
// timeout, Shutdown) changes nothing and releases the lock.
//
// [Policy] and [Server.UserPolicy] decide, per server or per user, whether
// DELE deletes at all ("leave mail on server"), whether downloaded messages
// are deleted at QUIT (EXPIRE 0), the EXPIRE period announced and the least
// time between logins (LOGIN-DELAY).
//
// # Standards
//
//   - RFC 1939 Post Office Protocol version 3: the AUTHORIZATION,
//     TRANSACTION and UPDATE states and every command: USER, PASS, QUIT,
//     STAT, LIST, RETR, DELE, NOOP, RSET, TOP, UIDL, and APOP, which is off
//     unless [Server.APOP] gives the shared secrets. Messages are served as
//     stored (CRLF line endings) with dot-stuffing (§3); LIST sizes are the
//     stored sizes, so they equal the octets RETR sends before stuffing.
//     UIDL unique-ids are the UID and the UIDVALIDITY as eight hex digits
//     each, stable across sessions and restarts. The maildrop lock of §8 is
//     mailbox.OpenOptions.Exclusive; a second session gets -ERR [IN-USE].
//     The idle timeout defaults to the 10 minutes of §3.
//   - RFC 2449 POP3 Extension Mechanism: CAPA, with TOP, UIDL, USER, SASL,
//     RESP-CODES, PIPELINING, EXPIRE, LOGIN-DELAY and IMPLEMENTATION;
//     extended response codes [IN-USE] and [LOGIN-DELAY] (§8); the 255-octet
//     command line limit (§4). Responses are flushed when the client has no
//     more commands pipelined (§6.6).
//   - RFC 3206 POP3 response codes [SYS/TEMP], [SYS/PERM] and [AUTH], and
//     the AUTH-RESP-CODE capability.
//   - RFC 2595 §4 STLS. Input pipelined before the handshake is discarded,
//     and a USER given before it is forgotten.
//   - RFC 8314 implicit TLS ([Server.ServeTLS], port 995). Passwords are
//     refused on plaintext connections (§3.2) unless
//     [Server.AllowInsecureAuth]: USER and SASL are then not announced, and
//     USER, PASS, APOP and AUTH answer -ERR [AUTH].
//   - RFC 5034 SASL authentication (AUTH) with an initial response, with
//     the mechanisms of package auth: PLAIN, LOGIN and, if the
//     Authenticator implements auth.SCRAMAuthenticator, SCRAM-SHA-256. AUTH
//     without arguments lists the mechanisms, as older clients expect.
//
// # Limits
//
// Command lines are limited to 255 octets, CRLF included (AUTH lines and
// SASL responses to 12288); unknown, malformed and out-of-state commands to
// 10 per session; failed logins to 3 per session, each answered after a
// delay that grows per client address ([auth.Throttle]); connections to
// 1000, 20 per IP address. Errors from the Store with a POP3 response code
// ([mailbox.Error]) are sent with it; other errors are logged and answered
// with -ERR [SYS/TEMP], never with their text.
//
// # Not implemented
//
//   - RFC 6856 UTF8 and LANG: the UTF8 command and capability and
//     localised responses. User names and passwords in UTF-8 are passed on
//     to the Authenticator as they are.
//   - RFC 2449 §6.7 EXPIRE is announced, not enforced: a period set in
//     Policy.ExpireDays is for the application to apply; only EXPIRE 0
//     (Policy.DeleteRetrieved) is carried out by the server.
//   - Mailboxes other than INBOX; the XTND and LAST commands of older
//     servers; channel binding for SCRAM; SASL security layers; a protocol
//     trace writer.
package pop3
