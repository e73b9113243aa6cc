// Package maildir is a file-backed [mailbox.Store]: one Maildir++ tree
// per user, readable by mutt, Dovecot and other Maildir programs, with a
// crash-safe index per mailbox for what Maildir cannot hold (UIDs,
// UIDVALIDITY, MODSEQs, keywords, cached metadata).
//
// # Layout
//
//	DIR/.tmp/                  spool: messages are written here first
//	DIR/<user>/                the user's INBOX: a Maildir
//	    cur/ new/ tmp/         Maildir (https://cr.yp.to/proto/maildir.html)
//	    postyard-index         the index: an append-only log (see below)
//	    postyard-meta          cached metadata blobs (a cache: rebuilt from
//	                           the message file when damaged)
//	    postyard-folder        UIDVALIDITY and special use, written once
//	    postyard-user          quota and the last UIDVALIDITY given out
//	    postyard-lock          the maildrop lock (flock)
//	    subscriptions          subscribed names, one a line (Maildir++)
//	    .Work/ .Work.2024/     mailboxes "Work" and "Work/2024" (Maildir++:
//	                           "/" becomes ".", and "." and "%" in names
//	                           are written %2E and %25), each a Maildir
//	                           with a maildirfolder marker and its own index
//
// User names are directory names with "%" and a leading "." escaped.
// Message files are named "<time>.M<usec>P<pid>Q<n>.<host>,S=<size>,U=<uid>:2,<flags>":
// the system flags are the standard info letters (D \Draft, F \Flagged,
// R \Answered, S \Seen, T \Deleted), so mail readers see and change them;
// keywords live in the index only. Every message of the store is in
// cur/; new/ is where other programs deliver.
//
// # Durability
//
// A change is acknowledged (its method returns) only once it is on
// stable storage. Append and Deliver stream the message into DIR/.tmp
// (parsing it on the way; it is never held in memory) and write its data
// to the device; then, under the mailbox's lock, they rename it (link
// it, for all recipients of a delivery but the last) into cur/ under its
// final name with its UID, and append the index record; then they wait
// for the group commit. One goroutine fsyncs, in one round, every index
// file and directory asked for since its last round, all at once (the
// device serves fsyncs issued together with fewer cache flushes; on ext4
// and XFS the first journal commit carries the renames and the message
// files' block allocations too), so that 16 sessions delivering together
// share a round instead of queueing for 16. Each message file is fsynced
// before its rename, so that it is durable on any file system (ext4
// without a journal included): not by its writer but by a round of a
// second group commit, which fsyncs the files of all deliveries waiting
// for it in parallel while the first fsyncs the directories and indexes
// of those placed before (its data is handed to the device with
// sync_file_range(2) as soon as it is written, so that the fsync has less
// to wait for). With [Options.WriteBackFiles], on Linux, a message
// file's data is only written with sync_file_range(2) and made durable
// by the first group commit's journal commit, which ext4 (with its
// journal, data=ordered) and XFS order after the data: one round a
// delivery instead of two, but not durable on ext4 without a journal.
// Whatever the file system does, recovery drops a file shorter than the
// size its name or record gives, so a crash never leaves a partial
// message: each recipient of a delivery has it whole or not at all.
// Flag changes rename files and append a record; expunges unlink files
// and append a record; both wait for the group commit too. Namespace
// changes (create, delete, rename, subscriptions, quota) are made
// crash-safe on their own: files are written to a temporary name,
// fsynced, renamed into place and the directory fsynced; a new mailbox
// is built in tmp/ and renamed into the tree whole; a deleted one is
// renamed out of it first.
//
// # The index and recovery
//
// The index is a log of records, each with its length and CRC-32C. It is
// replayed when the mailbox is loaded (on the user's first use in the
// Store) and compacted, crash-safely, when it has doubled since the last
// compaction. A record cut short or failing its checksum ends the replay
// (a torn write: never acknowledged) and the log is cut there. Then the
// files are compared with the index: a message whose file is gone (or
// shorter than recorded: a write a crash cut before it was synced) is
// expunged; a file without a record (a change a crash interrupted, a mail
// reader's copy, a delivery by another program) gets a UID, the one in
// its name when that is free; flags changed by a mail reader are taken
// over. A missing or unreadable index is rebuilt from the files, keeping
// UIDVALIDITY (from postyard-folder) and the UIDs in the file names, with
// MODSEQs from the clock so that they stay above those given out before;
// if the UIDs cannot be kept (two files claim one), UIDVALIDITY changes.
// While a mailbox is in use, new/ is read on Status and Messages, and
// what other programs dropped there is picked up, with events.
//
// # Concurrency
//
// Each mailbox has a lock that orders its changes, its index records and
// its events; Copy and Move take both mailboxes' locks. A change is
// visible to other sessions when its record is written, a moment before
// the group commit makes it durable. One Store (one process) may use a
// directory at a time; the maildrop lock (OpenOptions.Exclusive) is a
// flock, so it also keeps out a POP3 session of another process, and the
// kernel releases it when its holder dies. The store keeps every mailbox
// it has loaded in memory until Close: 48 bytes a message plus its file
// name without the ",S=" and ",U=" fields (about 80 bytes in all, with
// no pointers for the garbage collector to follow); metadata stays on
// disk. It keeps an open file per mailbox index and metadata cache.
//
// # Metadata
//
// Listing messages with Metadata reads the cached blobs of neighbouring
// messages with one read and decodes only the parts asked for
// (FetchOptions.Metadata): each blob keeps its envelope and its body
// structure in sections that a decoder skips whole. Decoded strings
// share the bytes read; the rest of a blob's metadata takes a few
// allocations for a run of blobs, or none with FetchOptions.Reuse, whose
// listings reuse one arena a chunk of messages.
//
// # Not implemented
//
// Other programs' keyword letters in file names (Dovecot's
// dovecot-keywords) are dropped when a file is adopted; Dovecot reads the
// tree as Maildir++ with mailbox names in UTF-8 (not its default modified
// UTF-7) and builds its own index. The metadata cache is never compacted.
// Renaming a mailbox with inferiors renames their directories one by one:
// a crash in between leaves some inferiors under the old name (each one
// whole).
// Loaded mailboxes are not evicted. The maildirsize quota file of
// Maildir++ is not written.
package maildir
