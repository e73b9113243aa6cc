// Package postyard is an embeddable Go SDK for building mail servers.
//
// An application imports the packages it needs and wires them together in
// code: protocol servers on one side, storage and queue interfaces on the
// other, relay policy in between. Every interface has an in-memory and a
// file-backed reference implementation, so a complete mail server is a
// short main.go (examples/mailserver; the README has one in 60 lines).
//
// # How the pieces compose
//
//	MUA ──587/465 (AUTH)──┐                      ┌──▶ mailbox.Store ◀── imap.Server (143/993) ◀── MUA
//	                      ▼                      │         ▲          ◀── pop3.Server (110/995) ◀── MUA
//	MTA ──25────────▶ smtp.Server ──▶ relay ─────┤  local  │
//	(LMTP) ─────────▶ (per-session   (policy,    │         │ deliver
//	                   Backend)      checks,     └──▶ queue.Queue ──▶ relay.Deliverer ──▶ dnsmx (MX, TLSA,
//	                                 filters)       remote              │  smtp.Client        MTA-STS)
//	                                                                    └──▶ smarthost / next-hop MTA
//	                                                     bounces (DSN) ─┘ back into the queue
//
// Data flows one way. A message enters through an smtp.Server, whose
// Backend is a relay.Inbound (port 25, LMTP) or a relay.Submission (587 and
// 465, AUTH through package auth). At each RCPT the relay.Policy decides
// what the recipient is: local (a user of a local domain, after aliases
// and sub-addressing), relayed (for authenticated users, trusted networks
// or an application rule) or refused. At the end of DATA the message is
// made durable, in the user's mailbox.Store (mailbox/maildir on disk,
// mailbox/memstore in memory) for local recipients and in a queue.Queue
// (queue/filequeue, queue/memqueue) for the others, before the server
// answers 250. A relay.Deliverer drains the queue: it finds the next hop
// through package dnsmx (MX, null MX, MTA-STS, DANE) or uses a smarthost,
// delivers with smtp.Client, and reports each recipient's outcome to the
// queue, which retries, expires, and sends delivery status notifications
// back through itself. imap.Server and pop3.Server read and change the
// same mailbox.Store; its change events become IMAP untagged responses and
// IDLE wake-ups. No package reaches backwards.
//
// Around the core: package certs serves TLS certificates (files reloaded
// when they change, or ACME through golang.org/x/crypto/acme/autocert) to
// every server's tls.Config; package mailtest runs an SMTP server (with
// IMAP, POP3, TLS, faults and a loopback DNS) inside an application's
// tests; internal/wire and internal/serve hold the one line reader, dot
// codec and reply writer and the one accept loop and shutdown path that
// all protocol servers share.
//
// Every server has the same shape: the zero value is usable once its
// Backend (or Store) is set, limits have safe defaults, and it has Serve,
// ServeTLS, ListenAndServe, ServeConn, Shutdown and Close, like net/http.
//
// # RFC index
//
// Each package's documentation says which sections it implements and
// which it deliberately does not.
//
//   - RFC 5321 SMTP (smtp; relay for routing, §5.1 MX in dnsmx);
//     RFC 1870 SIZE; RFC 2920 PIPELINING; RFC 6152 8BITMIME; RFC 3030
//     CHUNKING and BINARYMIME; RFC 6531 SMTPUTF8; RFC 2034 and RFC 3463
//     enhanced status codes; RFC 3207 STARTTLS; RFC 8314 implicit TLS
//     (smtp, imap, pop3); RFC 4954 AUTH; RFC 3461 DSN parameters; RFC 8689
//     REQUIRETLS (smtp, relay, queue); RFC 2033 LMTP (smtp, relay); RFC
//     3848 trace protocol types (package smtp).
//   - RFC 4422 SASL; RFC 4616 PLAIN; RFC 5802 and RFC 7677 SCRAM-SHA-256;
//     RFC 9106 argon2id password hashing (package auth).
//   - RFC 6409 message submission; RFC 5233 sub-addressing; RFC 6376 and
//     RFC 8463 DKIM signing and verification; RFC 7208 SPF; RFC 7489
//     DMARC; RFC 8601 Authentication-Results; RFC 6532 internationalized
//     headers; RFC 8461 MTA-STS and RFC 7672 DANE for outbound TLS
//     (package relay).
//   - RFC 3464 delivery status notifications; RFC 6522 multipart/report;
//     RFC 6533 internationalized DSNs; RFC 3834 Auto-Submitted (package
//     queue).
//   - RFC 1035, RFC 2181, RFC 2308, RFC 6891, RFC 7766 DNS; RFC 7505 null
//     MX; RFC 4035 and RFC 6840 DNSSEC (the AD bit); RFC 6698 TLSA; RFC
//     8461 MTA-STS and RFC 8460 TLS-RPT records; RFC 5782 DNSBL; RFC 5890
//     IDNA2008 (package dnsmx).
//   - RFC 9051 IMAP4rev2 and RFC 3501 IMAP4rev1; RFC 7162 CONDSTORE and
//     QRESYNC; RFC 2177 IDLE; RFC 4315 UIDPLUS; RFC 6851 MOVE; RFC 6154
//     SPECIAL-USE; RFC 5258 LIST-EXTENDED; RFC 5819 LIST-STATUS; RFC 4731
//     ESEARCH; RFC 7888 LITERAL+/-; RFC 7889 APPENDLIMIT; RFC 3516 BINARY;
//     RFC 3691 UNSELECT; RFC 6855 UTF8=ACCEPT; RFC 8438 STATUS=SIZE; RFC
//     2342 NAMESPACE; RFC 2971 ID; RFC 5161 ENABLE; RFC 4959 SASL-IR
//     (package imap; the storage model in package mailbox, with RFC 9208
//     quotas).
//   - RFC 1939 POP3; RFC 2449 CAPA; RFC 2595 STLS; RFC 3206 response
//     codes; RFC 5034 SASL (package pop3).
//   - RFC 8555 ACME, through autocert (package certs).
//   - HAProxy PROXY protocol v1 and v2 (internal/serve).
package postyard
