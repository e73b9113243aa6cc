// Package mailbox is the storage model of postyard: users, mailboxes and
// UID-addressed messages with flags, keywords, UIDVALIDITY, MODSEQ, quotas
// and change events. IMAP and POP3 sessions read and change a [Store];
// local delivery writes to it through [Deliverer].
//
// The package holds the interfaces ([Store], [User], [Mailbox]), the
// types they exchange, the typed errors ([Error]) and what every
// implementation shares: [Parse] for the cached message metadata, [Hub]
// for change events, and the flag, keyword, name and UID-set rules.
// Implementations live in subpackages: mailbox/memstore (in memory, the
// test fixture everywhere) and mailbox/maildir (on disk); package
// mailbox/mailboxtest is the conformance suite both pass.
//
// # The model
//
// A user has mailboxes named in UTF-8 with '/' as the hierarchy delimiter;
// INBOX always exists. A mailbox has a UIDVALIDITY, a UIDNEXT and a
// HIGHESTMODSEQ. Messages are addressed by UID; sequence numbers are a
// per-session view kept by the protocol servers. A message is stored as
// the raw bytes received and served as they are: its Size is the number
// of bytes Open returns. Its metadata (envelope, body structure, common
// header fields) is parsed once, when it is stored.
//
// The rules every Store follows (and mailboxtest checks):
//
//   - UIDs grow strictly within a UIDVALIDITY and are never reused, also
//     after expunges and reopening. A mailbox deleted and created again
//     gets a new UIDVALIDITY. UIDVALIDITY and UIDNEXT survive restarts.
//   - Every change (append, flag change, expunge) gets a MODSEQ greater
//     than all before it in the mailbox; a message's MODSEQ is that of
//     its last change; HIGHESTMODSEQ is the greatest. Changes that change
//     nothing get none.
//   - Copy and Move give the new messages ascending UIDs in ascending
//     source order and report the map; Move is atomic.
//   - Change events reach every subscription of the mailbox in MODSEQ
//     order, without polling, and never block the store.
//   - Quota covers the bytes and messages of all of a user's mailboxes.
//   - Changes are visible to every session when the call returns; for
//     file-backed stores they are durable then too (file and directory
//     fsynced).
//
// # Implementing a Store
//
// Besides the rules above and the method docs, an implementation should
// use the shared pieces so that every store behaves alike: [CleanName]
// and [ValidUserName] on every name it is given, [NormalizeKeywords] on
// keywords and [FlagOp.Apply] to change flags, [UIDSet.Normalize] on sets
// from callers, [QuotaUsage.Allows] for quota, [Parse] (on an
// io.TeeReader of what it writes) for [Metadata], and one [Hub] per
// mailbox, published to while holding the lock that orders changes. Wrap
// the sentinel errors with %w. Run package mailboxtest in the store's
// tests, with -race.
//
// # Standards
//
//   - RFC 9051 IMAP4rev2: the mailbox model of §2.3 (UIDs and UIDVALIDITY
//     §2.3.1.1, flags §2.3.2, internal date §2.3.3, size §2.3.4,
//     envelope and body structure §2.3.5, §7.5.2), the namespace
//     operations of §6.3 (CREATE creates parents, DELETE keeps
//     inferiors, RENAME moves inferiors and treats INBOX specially,
//     subscriptions of names that do not exist), EXPUNGE §6.4.3, STORE
//     §6.4.6, COPY §6.4.7. \Recent is not kept.
//   - RFC 7162 CONDSTORE and QRESYNC: per-message MODSEQ, HIGHESTMODSEQ,
//     CHANGEDSINCE, UNCHANGEDSINCE with the MODIFIED set, and expunged
//     UIDs since a MODSEQ for VANISHED.
//   - RFC 4315 UIDPLUS: UID EXPUNGE, APPENDUID and COPYUID data.
//   - RFC 6851 MOVE; RFC 6154 SPECIAL-USE (\Archive, \Drafts, \Junk,
//     \Sent, \Trash) with CREATE-SPECIAL-USE; RFC 8438 STATUS=SIZE;
//     RFC 9208 QUOTA (STORAGE and MESSAGE resources, one root per user).
//   - RFC 5530 response codes and RFC 3463 enhanced status codes in
//     [Error]; RFC 2449 and RFC 3206 POP3 codes.
//   - RFC 1939 POP3: the maildrop lock ([OpenOptions.Exclusive]); UIDL is
//     derived from UIDVALIDITY and UID by the POP3 server.
//   - RFC 5322 and RFC 2045-2047, RFC 2231 for the metadata: parsed with
//     github.com/emersion/go-message, bounded by [ParseOptions].
//
// # Not implemented
//
// \Recent (IMAP4rev1 servers report none), virtual mailboxes (\All,
// \Flagged), shared and other users' namespaces and ACLs (RFC 4314),
// METADATA (RFC 5464), per-mailbox quota roots, NOTIFY (RFC 5465) events
// for mailboxes other than the open one, SAVEDATE (RFC 8514), OBJECTID
// (RFC 8474), THREAD and SORT keys beyond the cached fields, and
// MULTIAPPEND (RFC 3502) atomicity.
package mailbox
