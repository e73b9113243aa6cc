// Package relay decides who may send where, and wires the SMTP server to
// local delivery and the outbound queue.
//
// [Policy] is the relay decision made at each RCPT: a recipient in one of
// the server's own domains is local (and must exist: unknown users are
// refused at RCPT time, RFC 5321 §3.6.2 and §7.1, so no backscatter); any
// other recipient is relayed only for authenticated clients (RFC 6409),
// trusted networks or an application rule; everything else is refused with
// 554 5.7.1. Addresses are normalised before the decision so that no
// routing trick reaches a remote domain from an untrusted client:
//
//   - source routes (@a,@b:user@c) are ignored, as RFC 5321 §4.1.1.3 and
//     Appendix C allow: the decision is made on user@c;
//   - %-hacks (user%remote@local), bang paths (remote!user@local) and quoted
//     local parts holding "@" or "%" are local parts like any other: they
//     name a local user that does not exist, and are refused with 550 5.1.1;
//   - domains are compared in lower-case A-label form (RFC 5890), without a
//     trailing dot, so case, IDN and trailing-dot variants of a local domain
//     are local, and of a remote domain remote;
//   - address literals (user@[192.0.2.1], RFC 5321 §4.1.3) are local only
//     for the server's own addresses.
//
// Sub-addressing (RFC 5233, user+detail), aliases and catch-all addresses
// are configured on the Policy.
//
// Not yet implemented here: the inbound and submission backends, the
// outbound Deliverer, message authentication and filters (later issues).
package relay
