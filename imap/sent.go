package imap

import (
	"sort"

	"github.com/postyard/postyard/mailbox"
)

// sentFlags records the flag changes a session has reported itself, in
// the FETCH responses of its STORE (or of a FETCH that set \Seen): UIDs
// and the MODSEQ each was reported at, so that the events of those
// changes are not reported again. A STORE of thousands of messages
// reports them in UID order, mostly with one MODSEQ, so they are kept as
// runs of consecutive UIDs rather than one by one; a UID reported out of
// that order goes to a map.
//
// The zero sentFlags is empty. It is not safe for concurrent use.
type sentFlags struct {
	runs []sentRun // ascending and disjoint
	more map[mailbox.UID]mailbox.ModSeq
}

// sentRun says the UIDs first to last were reported at modseq.
type sentRun struct {
	first, last mailbox.UID
	modseq      mailbox.ModSeq
}

// add records that the flags of uid were reported at modseq.
func (s *sentFlags) add(uid mailbox.UID, modseq mailbox.ModSeq) {
	n := len(s.runs)
	if n == 0 || uid > s.runs[n-1].last {
		if n > 0 && uid == s.runs[n-1].last+1 && modseq == s.runs[n-1].modseq {
			s.runs[n-1].last = uid
			return
		}
		s.runs = append(s.runs, sentRun{uid, uid, modseq})
		return
	}
	if s.more == nil {
		s.more = map[mailbox.UID]mailbox.ModSeq{}
	}
	s.more[uid] = max(s.more[uid], modseq)
}

// has reports whether a change of uid at modseq was reported: the flags
// of uid were reported at modseq or later.
func (s *sentFlags) has(uid mailbox.UID, modseq mailbox.ModSeq) bool {
	if ms, ok := s.more[uid]; ok && modseq <= ms {
		return true
	}
	i := sort.Search(len(s.runs), func(i int) bool { return s.runs[i].last >= uid })
	return i < len(s.runs) && s.runs[i].first <= uid && modseq <= s.runs[i].modseq
}

// prune forgets what was reported at modseq or before: the view has
// taken in every event up to modseq, and later events have higher
// MODSEQs.
func (s *sentFlags) prune(modseq mailbox.ModSeq) {
	k := 0
	for _, r := range s.runs {
		if r.modseq > modseq {
			s.runs[k] = r
			k++
		}
	}
	s.runs = s.runs[:k]
	for u, ms := range s.more {
		if ms <= modseq {
			delete(s.more, u)
		}
	}
}

// reset forgets everything.
func (s *sentFlags) reset() {
	s.runs = s.runs[:0]
	s.more = nil
}
