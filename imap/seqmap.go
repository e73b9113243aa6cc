package imap

import (
	"iter"
	"slices"
	"sort"

	"github.com/postyard/postyard/mailbox"
)

// seqMap is a session's sequence number → UID map (RFC 9051 §2.3.1.2),
// stored as runs of consecutive UIDs. A mailbox's UIDs are mostly
// contiguous ranges (delivery assigns them in order; only expunges leave
// gaps), so a 10,000-message mailbox typically costs a few runs instead
// of 40 KB. Lookups both ways are binary searches over the runs.
//
// The zero seqMap is empty. It is not safe for concurrent use.
type seqMap struct {
	// runs are sorted by both fields: run i covers sequence numbers
	// runs[i].seq … runs[i+1].seq-1 (… n for the last run), which map to
	// runs[i].uid onwards.
	runs []seqRun
	n    uint32 // number of messages
}

// seqRun is a run of consecutive UIDs starting at uid, the first of which
// has sequence number seq.
type seqRun struct {
	uid mailbox.UID
	seq uint32
}

// len returns the number of messages.
func (m *seqMap) len() uint32 { return m.n }

// runEnd returns the sequence number after run i.
func (m *seqMap) runEnd(i int) uint32 {
	if i+1 < len(m.runs) {
		return m.runs[i+1].seq
	}
	return m.n + 1
}

// max returns the highest UID, 0 if the map is empty.
func (m *seqMap) max() mailbox.UID {
	if m.n == 0 {
		return 0
	}
	last := m.runs[len(m.runs)-1]
	return last.uid + mailbox.UID(m.n-last.seq)
}

// append adds uid as the last message. uid must exceed max.
func (m *seqMap) append(uid mailbox.UID) {
	if m.n > 0 && uid == m.max()+1 {
		m.n++
		return
	}
	m.n++
	m.runs = append(m.runs, seqRun{uid: uid, seq: m.n})
}

// uid returns the UID of sequence number seq, which must be in 1…len.
func (m *seqMap) uid(seq uint32) mailbox.UID {
	// The last run whose first sequence number is ≤ seq.
	i := sort.Search(len(m.runs), func(i int) bool { return m.runs[i].seq > seq }) - 1
	r := m.runs[i]
	return r.uid + mailbox.UID(seq-r.seq)
}

// seq returns the sequence number of uid, 0 if it is not in the map.
func (m *seqMap) seq(uid mailbox.UID) uint32 {
	i := sort.Search(len(m.runs), func(i int) bool { return m.runs[i].uid > uid }) - 1
	if i < 0 {
		return 0
	}
	r := m.runs[i]
	off := uint32(uid - r.uid)
	if off >= m.runEnd(i)-r.seq {
		return 0
	}
	return r.seq + off
}

// all yields the sequence numbers and UIDs in order.
func (m *seqMap) all() iter.Seq2[uint32, mailbox.UID] {
	return func(yield func(uint32, mailbox.UID) bool) {
		for i, r := range m.runs {
			for s := r.seq; s < m.runEnd(i); s++ {
				if !yield(s, r.uid+mailbox.UID(s-r.seq)) {
					return
				}
			}
		}
	}
}

// removeUIDs deletes uids, which must be sorted, distinct and all in the
// map, renumbering the messages after them, and returns the sequence
// numbers they had, in ascending order. It costs O(runs + len(uids)), not
// O(messages).
func (m *seqMap) removeUIDs(uids []mailbox.UID) []uint32 {
	if len(uids) == 0 {
		return nil
	}
	removed := make([]uint32, 0, len(uids))
	for _, u := range uids {
		removed = append(removed, m.seq(u))
	}
	runs := make([]seqRun, 0, len(m.runs)+len(uids))
	var n uint32
	add := func(uid mailbox.UID, count uint32) {
		if count == 0 {
			return
		}
		if k := len(runs); k > 0 {
			last := runs[k-1]
			if last.uid+mailbox.UID(n+1-last.seq) == uid {
				n += count
				return
			}
		}
		runs = append(runs, seqRun{uid: uid, seq: n + 1})
		n += count
	}
	j := 0
	for i, r := range m.runs {
		cnt := m.runEnd(i) - r.seq
		// 64 bits: a run may end at the highest UID, 2³²-1.
		lo := uint64(r.uid)
		hi := lo + uint64(cnt) // exclusive
		for j < len(uids) && uint64(uids[j]) < hi {
			u := uint64(uids[j])
			add(mailbox.UID(lo), uint32(u-lo))
			lo = u + 1
			j++
		}
		add(mailbox.UID(lo), uint32(hi-lo))
	}
	m.runs, m.n = slices.Clip(runs), n
	return removed
}
