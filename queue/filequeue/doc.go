// Package filequeue is the durable, file-backed implementation of
// [queue.Queue]: every message is a file in a directory, a change is on
// stable storage before the method that made it returns, and a queue
// that restarts after a crash (kill -9, power loss on a file system that
// honours fsync) has every message whose Enqueue returned and no outcome
// whose Complete returned undone.
//
// It follows every rule of the queue package and passes queuetest, with
// its persistence tests. Time is read with time.Now(), so the queue runs
// on fake time inside a testing/synctest bubble.
//
// # Files
//
// A queue directory holds:
//
//	lock              flock(2)ed by the Queue that has the directory open
//	msg/ID            message file: header record, then the content
//	msg/ID.state      state record, once the message has changed
//	tmp/              files being written, renamed into msg/ when complete;
//	                  spare files (message files of removed messages) to write over
//	quarantine/       files that failed their checks, moved out of the way
//
// The message file is written once and never changed. Its header
// record holds the immutable part of the message's [queue.Message]: ID,
// enqueue time, the whole envelope, and the content's length and
// CRC-32C. The state record holds the mutable part: Held and each
// recipient's [queue.RecipientStatus] (the cause of a DeliveryError, Err,
// is not kept). A message without a state file is as enqueued (held if
// its envelope asked for Hold). Leases,
// per-destination back-off and RetryNow's lifting of it live in memory
// only, as the queue package says.
//
// Both records are binary, little-endian, versioned and checksummed:
//
//	header: "PYQM" version(1) flags(1) headerLen(u32) contentLen(u64) contentCRC(u32)
//	        id enqueued from mailOptions rcptCount {to notify orcpt orcptType}... crc32c(u32)
//	state:  "PYQS" version(1) id held(1) rcptCount
//	        {state attempts lastAttempt nextAttempt flags [code enhanced message remoteMTA] remoteMTA}...
//	        crc32c(u32)
//
// where strings are a uvarint length and the octets, counts and small
// integers uvarints, times a varint of seconds since 0001-01-01 UTC and a
// uvarint of nanoseconds, a path is local, domain and its source route,
// and the CRC-32C (Castagnoli) covers every octet before it. A reader
// rejects a record whose magic, version, checksum or structure is wrong,
// or that has octets left over.
//
// # Durability
//
// Enqueue streams the content through a fixed buffer into tmp/ID, or
// over a spare file in tmp/ (the header first with a placeholder,
// rewritten with the length and CRC at the end; a message that fits the
// buffer takes a single write; a spare is then cut to the new length),
// fsyncs the file, renames it to msg/ID and fsyncs the msg directory. A change
// of state (Complete, Hold, Release, RetryNow) writes tmp/ID.state,
// fsyncs it, renames it over msg/ID.state and fsyncs msg/. A removal
// (Delete, or Complete of a message whose recipients are all final)
// unlinks msg/ID, or renames it to a spare in tmp/, fsyncs msg/, then
// unlinks msg/ID.state. Each method returns only after its fsync of
// msg/ has ended. Open fsyncs the queue directory (and its parent, if
// Open created it), so that the layout itself is durable.
//
// Spare files: a file is created and deleted per message only when
// there is no spare. Creating and deleting files costs more than
// writing them (an inode allocated and freed per message; ext4 without
// a journal scans past every inode freed in the last half minute for
// each new one, which dominated a relay's CPU time), so the message file
// of a removed message becomes a spare, once its removal is durable and
// if no reader from Open has it open, up to 64 spares of messages up to
// 256 KiB.
//
// Group commit: the fsyncs of msg/ are made by a committer for every
// writer waiting at the time, so concurrent Enqueues (and state changes)
// share them; two such fsyncs may run at once, so that a batch that forms
// while one runs need not wait for its end. Each writer fsyncs its own
// file before its rename, so a shared directory fsync never covers a
// rename of a file whose data is not on disk, and a writer's fsync of
// msg/ always starts after its rename. The committer's goroutines end
// with Close.
//
// Complete enqueues the reports it sends (durably) before it writes the
// message's new state: a crash in between sends a report twice rather
// than never.
//
// # Recovery
//
// [Open] deletes tmp/ (unfinished writes, never acknowledged), then
// reads the header of every message file and every state file, in
// parallel, checking checksums and that each message file is exactly as
// long as its header says, and rebuilds the in-memory index. Files that
// fail a check are moved to quarantine/ and logged at Error, never
// deleted; a message whose state record fails is quarantined with it
// (delivering it again from its initial state could deliver recipients
// twice). A state file whose message file is gone, and a message whose
// recipients are all final, are the remains of a removal and are
// removed. The content is not read at recovery; the reader from Open
// checks its length and CRC-32C and fails at the end instead of serving
// content that is not what was enqueued.
//
// # Memory
//
// The record of a message stays on disk. Memory holds, per message, the
// index entry: its ID, held flag, and for each pending recipient its
// index, destination (interned at recovery) and next attempt, about 270
// octets with the map and heap that index it (about 27 MiB of heap for
// 100,000 messages); Inspect and List read the record from disk, and so
// do Lease and Complete, except for the records of up to 256 messages
// just enqueued or leased, which are kept in memory until they change.
// The due messages are kept in a binary heap keyed by when they are due
// (or, for a leased message, when its lease expires), so choosing the
// next one costs O(log n); messages whose destinations are backing off
// are parked per destination, off the heap.
//
// # Not implemented
//
// Files are not spread over subdirectories (one directory holds them
// all; ext4, XFS and btrfs index large directories). The directory
// must be on a local POSIX file system that implements fsync of a
// directory; the lock is advisory and not taken where flock(2) is
// missing. A message's content is not re-checked at recovery, only when
// it is read.
package filequeue
