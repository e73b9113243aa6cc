package imap

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/postyard/postyard/mailbox"
)

// checkSeqMap compares m with model, the plain list of UIDs by sequence
// number, both ways and over the gaps between UIDs.
func checkSeqMap(t *testing.T, m *seqMap, model []mailbox.UID) {
	t.Helper()
	if m.len() != uint32(len(model)) {
		t.Fatalf("len = %d, want %d", m.len(), len(model))
	}
	var want mailbox.UID
	if len(model) > 0 {
		want = model[len(model)-1]
	}
	if m.max() != want {
		t.Fatalf("max = %d, want %d", m.max(), want)
	}
	for i, u := range model {
		if got := m.uid(uint32(i + 1)); got != u {
			t.Fatalf("uid(%d) = %d, want %d", i+1, got, u)
		}
		if got := m.seq(u); got != uint32(i+1) {
			t.Fatalf("seq(%d) = %d, want %d", u, got, i+1)
		}
		// The UIDs on either side are in the map only if the model has them.
		for _, v := range []mailbox.UID{u - 1, u + 1} {
			_, found := slices.BinarySearch(model, v)
			if got := m.seq(v); (got != 0) != found {
				t.Fatalf("seq(%d) = %d, model has it: %v", v, got, found)
			}
		}
	}
	if got := m.seq(0); got != 0 {
		t.Fatalf("seq(0) = %d", got)
	}
	var all []mailbox.UID
	for s, u := range m.all() {
		if s != uint32(len(all)+1) {
			t.Fatalf("all yielded seq %d at position %d", s, len(all)+1)
		}
		all = append(all, u)
	}
	if !slices.Equal(all, model) {
		t.Fatalf("all = %v, want %v", all, model)
	}
	// The runs are as few as possible: no run continues the one before.
	for i := 1; i < len(m.runs); i++ {
		prev, r := m.runs[i-1], m.runs[i]
		if r.seq <= prev.seq || prev.uid+mailbox.UID(r.seq-prev.seq) >= r.uid {
			t.Fatalf("runs %d and %d overlap or touch: %+v %+v", i-1, i, prev, r)
		}
	}
	if m.len() == 0 && len(m.runs) != 0 {
		t.Fatalf("empty map has runs %v", m.runs)
	}
}

func TestSeqMap(t *testing.T) {
	var m seqMap
	checkSeqMap(t, &m, nil)
	if got := m.removeUIDs(nil); got != nil {
		t.Fatalf("removeUIDs(nil) = %v", got)
	}
	var model []mailbox.UID
	for u := mailbox.UID(1); u <= 10000; u++ {
		m.append(u)
		model = append(model, u)
	}
	checkSeqMap(t, &m, model)
	if len(m.runs) != 1 {
		t.Fatalf("10,000 consecutive UIDs take %d runs, want 1", len(m.runs))
	}
	// Expunge the first, one in the middle and the last.
	seqs := m.removeUIDs([]mailbox.UID{1, 5000, 10000})
	if !slices.Equal(seqs, []uint32{1, 5000, 10000}) {
		t.Fatalf("removed seqs = %v", seqs)
	}
	model = slices.DeleteFunc(model, func(u mailbox.UID) bool { return u == 1 || u == 5000 || u == 10000 })
	checkSeqMap(t, &m, model)
	if len(m.runs) != 2 {
		t.Fatalf("runs = %v, want 2", m.runs)
	}
	// New mail after a gap, then the whole view expunged.
	m.append(20000)
	m.append(20001)
	model = append(model, 20000, 20001)
	checkSeqMap(t, &m, model)
	seqs = m.removeUIDs(slices.Clone(model))
	if len(seqs) != len(model) || seqs[0] != 1 || seqs[len(seqs)-1] != uint32(len(model)) {
		t.Fatalf("removing all: seqs %d..%d (%d)", seqs[0], seqs[len(seqs)-1], len(seqs))
	}
	checkSeqMap(t, &m, nil)
}

// TestSeqMapMaxUID covers runs that end at the highest UID.
func TestSeqMapMaxUID(t *testing.T) {
	var m seqMap
	top := mailbox.UID(math.MaxUint32)
	model := []mailbox.UID{1, 2, top - 2, top - 1, top}
	for _, u := range model {
		m.append(u)
	}
	checkSeqMap(t, &m, model)
	if m.seq(top/2) != 0 {
		t.Fatal("UID in the gap found")
	}
	if seqs := m.removeUIDs([]mailbox.UID{top - 1}); !slices.Equal(seqs, []uint32{4}) {
		t.Fatalf("removed seqs = %v", seqs)
	}
	model = []mailbox.UID{1, 2, top - 2, top}
	checkSeqMap(t, &m, model)
	m.removeUIDs([]mailbox.UID{top})
	checkSeqMap(t, &m, model[:3])
}

// TestSeqMapRandom applies random appends and expunges to a seqMap and to
// a plain slice, and compares them after each step.
func TestSeqMapRandom(t *testing.T) {
	for seed := range uint64(200) {
		rng := rand.New(rand.NewPCG(seed, 6))
		var m seqMap
		var model []mailbox.UID
		next := mailbox.UID(1)
		for range 40 {
			switch rng.IntN(3) {
			case 0, 1: // deliveries: mostly consecutive, sometimes a gap
				for range rng.IntN(50) {
					if rng.IntN(8) == 0 {
						next += mailbox.UID(1 + rng.IntN(20))
					}
					m.append(next)
					model = append(model, next)
					next++
				}
			case 2: // an expunge of random messages, or of a range
				var gone []mailbox.UID
				if len(model) > 0 && rng.IntN(2) == 0 {
					lo := rng.IntN(len(model))
					hi := lo + rng.IntN(len(model)-lo)
					gone = slices.Clone(model[lo : hi+1])
				} else {
					for _, u := range model {
						if rng.IntN(6) == 0 {
							gone = append(gone, u)
						}
					}
				}
				var wantSeqs []uint32
				for i, u := range model {
					if _, ok := slices.BinarySearch(gone, u); ok {
						wantSeqs = append(wantSeqs, uint32(i+1))
					}
				}
				seqs := m.removeUIDs(gone)
				if !slices.Equal(seqs, wantSeqs) {
					t.Fatalf("seed %d: removed seqs %v, want %v", seed, seqs, wantSeqs)
				}
				model = slices.DeleteFunc(model, func(u mailbox.UID) bool {
					_, ok := slices.BinarySearch(gone, u)
					return ok
				})
			}
			checkSeqMap(t, &m, model)
		}
	}
}

// TestSeqMapSize checks that a typical mailbox's map is small: the point
// of the run-length form is an idle session's memory.
func TestSeqMapSize(t *testing.T) {
	var m seqMap
	for u := mailbox.UID(1); u <= 10000; u++ {
		if u%1000 != 0 { // ten expunged messages
			m.append(u)
		}
	}
	if len(m.runs) > 11 {
		t.Fatalf("%d runs for 10 gaps", len(m.runs))
	}
}
