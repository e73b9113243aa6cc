// Package postyard is an embeddable Go SDK for building mail servers.
//
// An application imports the packages it needs and wires them together in
// code: protocol servers on one side, storage and queue interfaces on the
// other, relay policy in between.
//
//   - smtp: ESMTP server (MX on 25, submission on 587, implicit TLS on 465),
//     LMTP, and an SMTP client for relaying.
//   - auth: password checks, SASL mechanisms and failure throttling shared by
//     the protocol servers.
//   - internal/wire and internal/serve: the one line reader, dot codec and
//     reply writer, and the one accept loop and shutdown path.
//
// Data flows one way: a message enters through smtp, the backend decides
// what it is, and it is stored durably before the server answers 250.
//
// # RFC index
//
//   - RFC 5321 SMTP; RFC 1870 SIZE; RFC 2920 PIPELINING; RFC 6152 8BITMIME;
//     RFC 3030 CHUNKING and BINARYMIME; RFC 6531 SMTPUTF8; RFC 2034 and
//     RFC 3463 enhanced status codes; RFC 3207 STARTTLS; RFC 8314 implicit
//     TLS; RFC 4954 AUTH; RFC 3461 DSN parameters; RFC 8689 REQUIRETLS;
//     RFC 2033 LMTP; RFC 3848 trace protocol types (package smtp).
//   - RFC 4422 SASL; RFC 4616 PLAIN; RFC 5802 and RFC 7677 SCRAM-SHA-256
//     (package auth).
//   - HAProxy PROXY protocol v1 and v2 (internal/serve).
package postyard
