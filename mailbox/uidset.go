package mailbox

import (
	"cmp"
	"iter"
	"slices"
	"strconv"
)

// UIDRange is the UIDs from Start to Stop inclusive. A range with
// Start > Stop is read as Stop:Start, as IMAP does (RFC 9051 §9
// seq-range).
type UIDRange struct {
	Start, Stop UID
}

// UIDSet is a set of UIDs as a list of ranges (an IMAP uid-set,
// RFC 9051 §9). The zero value is the empty set. Sets built by Add,
// AddRange and UIDSetOf are normalized: ranges ascending, disjoint and not
// adjacent; other sets (literals, sets parsed from a client) may be in any
// order, and every method accepts them. IMAP "*" is the IMAP layer's
// business: it resolves it against its view before calling a Store.
type UIDSet []UIDRange

// AllUIDs returns the set of every UID, IMAP "1:*".
func AllUIDs() UIDSet { return UIDSet{{1, MaxUID}} }

// UIDSetOf returns the normalized set of the given UIDs.
func UIDSetOf(uids ...UID) UIDSet {
	var s UIDSet
	for _, u := range uids {
		s.Add(u)
	}
	return s
}

// Contains reports whether uid is in s (never for 0, which is no UID).
func (s UIDSet) Contains(uid UID) bool {
	if uid == 0 {
		return false
	}
	for _, r := range s {
		lo, hi := r.bounds()
		if lo <= uid && uid <= hi {
			return true
		}
	}
	return false
}

// IsEmpty reports whether s has no UIDs (0 is not a UID).
func (s UIDSet) IsEmpty() bool {
	for _, r := range s {
		if _, hi := r.bounds(); hi != 0 {
			return false
		}
	}
	return true
}

// Add adds uid to s, keeping s normalized if it was. Adding UIDs in
// ascending order takes constant time each.
func (s *UIDSet) Add(uid UID) { s.AddRange(uid, uid) }

// AddRange adds the UIDs from start to stop (inclusive, either order) to
// s, keeping s normalized if it was.
func (s *UIDSet) AddRange(start, stop UID) {
	r := UIDRange{start, stop}
	r.Start, r.Stop = r.bounds()
	if r.Start == 0 {
		if r.Stop == 0 {
			return
		}
		r.Start = 1
	}
	if n := len(*s); n > 0 {
		last := &(*s)[n-1]
		if last.Start <= last.Stop && r.Start > last.Stop {
			if r.Start-1 == last.Stop {
				last.Stop = r.Stop
			} else {
				*s = append(*s, r)
			}
			return
		}
	}
	*s = append(*s, r)
	*s = s.Normalize()
}

// Normalize returns s as a normalized set: ranges with Start <= Stop,
// ascending, disjoint and not adjacent, without UID 0. s is not modified.
func (s UIDSet) Normalize() UIDSet {
	if len(s) == 0 {
		return nil
	}
	rs := make(UIDSet, 0, len(s))
	for _, r := range s {
		lo, hi := r.bounds()
		if hi == 0 {
			continue
		}
		rs = append(rs, UIDRange{max(lo, 1), hi})
	}
	slices.SortFunc(rs, func(a, b UIDRange) int { return cmp.Compare(a.Start, b.Start) })
	out := rs[:0]
	for _, r := range rs {
		if n := len(out); n > 0 && (r.Start <= out[n-1].Stop || r.Start-1 == out[n-1].Stop) {
			out[n-1].Stop = max(out[n-1].Stop, r.Stop)
			continue
		}
		out = append(out, r)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// All yields the UIDs of a normalized s in ascending order. The set
// {1:MaxUID} has 2^32-1 members: callers iterate their messages and call
// Contains instead when the set comes from a client.
func (s UIDSet) All() iter.Seq[UID] {
	return func(yield func(UID) bool) {
		for _, r := range s {
			for u := r.Start; ; u++ {
				if !yield(u) || u == r.Stop {
					break
				}
			}
		}
	}
}

// String formats s in IMAP syntax ("1:3,7"), as used in the COPYUID and
// APPENDUID response codes (RFC 4315 §3); "" for an empty set.
func (s UIDSet) String() string {
	var b []byte
	for i, r := range s {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendUint(b, uint64(r.Start), 10)
		if r.Stop != r.Start {
			b = append(b, ':')
			b = strconv.AppendUint(b, uint64(r.Stop), 10)
		}
	}
	return string(b)
}

func (r UIDRange) bounds() (lo, hi UID) {
	if r.Start > r.Stop {
		return r.Stop, r.Start
	}
	return r.Start, r.Stop
}
