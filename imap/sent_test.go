package imap

import (
	"math/rand/v2"
	"testing"

	"github.com/postyard/postyard/mailbox"
)

// TestSentFlags compares sentFlags with a map (what it replaced) over
// random reports, in order (as a STORE makes them) and out of it, with
// prunes between.
func TestSentFlags(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var s sentFlags
	model := map[mailbox.UID]mailbox.ModSeq{}
	var modseq mailbox.ModSeq = 10
	check := func(step int) {
		t.Helper()
		for u := mailbox.UID(1); u <= 300; u++ {
			for _, ms := range []mailbox.ModSeq{modseq - 3, modseq - 2, modseq - 1, modseq, modseq + 1} {
				want := model[u] != 0 && ms <= model[u]
				if got := s.has(u, ms); got != want {
					t.Fatalf("step %d: has(%d, %d) = %v, want %v (model %d)", step, u, ms, got, want, model[u])
				}
			}
		}
	}
	for step := range 200 {
		switch r.IntN(4) {
		case 0, 1: // a STORE: ascending UIDs, mostly one MODSEQ
			modseq++
			u := mailbox.UID(1 + r.IntN(50))
			for range r.IntN(100) {
				ms := modseq
				if r.IntN(10) == 0 {
					ms = modseq - mailbox.ModSeq(r.IntN(3)) // already in that state
				}
				s.add(u, ms)
				model[u] = max(model[u], ms)
				u += mailbox.UID(1 + r.IntN(2))
			}
		case 2: // out of order
			u := mailbox.UID(1 + r.IntN(300))
			s.add(u, modseq)
			model[u] = max(model[u], modseq)
		case 3:
			upTo := modseq - mailbox.ModSeq(r.IntN(3))
			s.prune(upTo)
			for u, ms := range model {
				if ms <= upTo {
					delete(model, u)
				}
			}
		}
		check(step)
	}
	s.reset()
	clear(model)
	check(-1)
}
