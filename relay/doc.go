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
// [Inbound] is the smtp.Backend of a mail exchanger: Policy at RCPT, local
// delivery to a mailbox.Deliverer with a Return-Path (RFC 5321 §4.4), remote
// recipients into a queue.Queue, the 250 only once both are durable, and
// failure reports (RFC 3464) for local recipients whose delivery failed
// after others' succeeded. With a [Verifier] it checks SPF (RFC 7208), DKIM
// (RFC 6376, RFC 8463) and DMARC (RFC 7489) and records the result in an
// Authentication-Results header (RFC 8601), removing forged ones first.
//
// [Submission] is the backend of a message submission agent (RFC 6409):
// authentication required, the sender must be the user's, Date and
// Message-ID are added when missing (§8.2, §8.3), 8-bit header fields need
// SMTPUTF8 (RFC 6532), an hourly limit per user, and optional DKIM signing
// ([DKIMSigner]).
//
// [Sieve] files local mail with the users' Sieve scripts (RFC 5228, package
// sieve) at delivery, in Inbound and for queued mail in Deliverer: the
// administrator's scripts before and after the user's active one (from a
// [SieveScripts], such as a managesieve.Store), keep and fileinto with
// flags (RFC 5232) and :create (RFC 5490), redirect through the queue with
// loop protection, reject as an MDN (RFC 5429 §2.1.3, RFC 8098) and ereject
// as a 550 at SMTP/LMTP time, vacation replies (RFC 5230, RFC 6131,
// RFC 3834) and the duplicate test (RFC 7352) remembered across restarts
// in a [SieveState]; the implicit keep of a message with a spam verdict
// goes to the quarantine mailbox. A filter error never loses a message.
//
// [Deliverer] drains the queue: MX resolution through dnsmx (RFC 5321 §5.1,
// null MX RFC 7505), fallback across hosts and addresses, connection reuse,
// STARTTLS (RFC 3207) opportunistic by default, per-destination TLS
// policies, MTA-STS (RFC 8461), DANE (RFC 7672), REQUIRETLS (RFC 8689),
// SMTPUTF8 and 8BITMIME checks (RFC 6531, RFC 6152), a smarthost mode
// (RFC 6409 with AUTH, or RFC 8314 implicit TLS), LMTP hand-off (RFC 2033),
// and local delivery for the server's own domains.
//
// [Filter]s run on Inbound and Submission at MAIL, RCPT and end of DATA:
// each may accept, reject, tempfail, quarantine (local copies into Junk,
// queued copies held), add header fields or discard. Adapters speak to the
// tools people run: [Milter] (the Sendmail/Postfix milter protocol v6:
// rspamd, spamass-milter, clamav-milter, OpenDKIM), [Spamd] (SpamAssassin's
// SPAMC/1.5) and [Clamd] (ClamAV INSTREAM); built-in rules check DNS block
// and allow lists (RFC 5782), size, attachment types and data-loss
// patterns. [Archive] keeps a copy of every accepted message, with
// retention.
//
// Not implemented: ARC (RFC 8617), DMARC and TLS reports, 8BITMIME to 7bit
// downgrade (such messages fail permanently instead).
package relay
