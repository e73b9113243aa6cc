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
// Message files are named
// "<time>.M<usec>P<pid>Q<n>.<host>,Z=<crc>,S=<size>,U=<uid>:2,<flags>"
// (Z is the CRC-32C of the content, see Durability):
// the system flags are the standard info letters (D \Draft, F \Flagged,
// R \Answered, S \Seen, T \Deleted), so mail readers see and change them;
// keywords live in the index only. Every message of the store is in
// cur/; new/ is where other programs deliver.
//
// # Durability
//
// A change is acknowledged (its method returns) only once it is on
// stable storage. Append and Deliver stream the message into DIR/.tmp
// (parsing it and computing its CRC-32C on the way; it is never held in
// memory) and start writing its data to the device (sync_file_range(2),
// without waiting); then, under the mailbox's lock, they rename it (link
// it, for all recipients of a delivery but the last) into cur/ under its
// final name, with its UID and checksum, and append the index record;
// then they wait for the group commit. One goroutine fsyncs, in one
// round, every message file, directory and index file asked for since
// its last round, all at once (the device serves fsyncs issued together
// with fewer cache flushes), so that 16 sessions delivering together
// share a round instead of queueing for 16, and a delivery waits for one
// round: when it returns, the file's data and inode, each of its names
// and each index record are on stable storage, on any file system (ext4
// without a journal included).
//
// The name is in cur/ before the file's data is durable (mail readers
// never see a partial file: it was complete in the spool first), so a
// power loss during the round can leave the name, and its index record,
// without the data: zeros, a file's old blocks, a short file. That
// delivery was never acknowledged, and recovery never takes its file for
// a message. The file name carries the CRC-32C of the content
// (",Z=<8 hex digits>"); the index carries durable marks (the content of
// every message below UID n is on stable storage), one written before an
// add record whenever the lowest UID whose round is still running has
// moved past the last; and loading a mailbox reads the files of the
// messages at or above the last mark, and the files with a ",Z=" field
// that the index does not know, and checks their size and checksum. A
// file that fails is removed and its message expunged (its UID is not
// given out again); intact ones, acknowledged or not, keep their UIDs,
// and are fsynced (with their directories) before a new mark covers
// them: after a crash of the process alone they may be whole in the page
// cache only. Only the deliveries of the last rounds before a crash are
// read, not the mailbox (after a commit round that failed, every message
// added since), and a clean Close writes a final mark. Files without a
// ",Z=" field (other programs') are kept as they are, unless shorter
// than the ",S=" size in their names or records. A copy or move of a
// message whose delivery's round is still running fsyncs its file in its
// own round, so that it is never acknowledged without its content. With
// [Options.WriteBackFiles], on Linux, a message file's data is written
// with sync_file_range(2) before it is renamed and made durable by the
// round's journal commit, which ext4 (with its journal, data=ordered)
// and XFS order after the data: not durable on ext4 without a journal.
//
// Flag changes rename files and append a record; expunges unlink files
// and append a record; both wait for the group commit too. A file a
// mail reader renamed meanwhile (to change its flags) is found in cur/
// by its base name, and the STORE applies on top of the reader's flags.
// A message whose file is gone keeps its flags (the next full scan
// expunges it); one whose file cannot be renamed for another reason
// keeps its flags too, the others' changes are recorded, made durable
// and published, and UpdateFlags then returns the error. Namespace
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
// files are compared with the index: a message whose file is gone,
// shorter than recorded, or (at or above the last durable mark) not
// matching the checksum in its name is expunged (a write a crash kept
// from the disk; see Durability); a file without a record (a change a
// crash interrupted, a mail reader's copy, a delivery by another
// program) gets a UID, the one in its name when that is free, unless it
// has a ",Z=" checksum it does not match; flags changed by a mail
// reader are taken over. A missing or unreadable index is rebuilt from the files, keeping
// UIDVALIDITY (from postyard-folder) and the UIDs in the file names, with
// MODSEQs from the clock so that they stay above those given out before;
// if the UIDs cannot be kept (two files claim one), UIDVALIDITY changes.
// While a mailbox is in use, new/ is read on Status and Messages, and
// what other programs dropped there is picked up, with events; cur/ is
// listed there too when it changed, at most once a second, and flags
// that mail readers changed by renaming files are taken over, with
// events (files gone from cur/ or added to it wait for the next load:
// see curflags.go).
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
// name without the ",S=" and ",U=" fields (about 90 bytes in all, with
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
