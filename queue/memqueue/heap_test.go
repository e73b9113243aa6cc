package memqueue

import (
	"math/rand/v2"
	"slices"
	"testing"
)

type item struct {
	key, index int
}

// TestMinHeap checks the heap against a sorted slice under random pushes,
// pops, removals and re-keys.
func TestMinHeap(t *testing.T) {
	h := minHeap[*item]{
		less:     func(a, b *item) bool { return a.key < b.key },
		setIndex: func(x *item, i int) { x.index = i },
	}
	var live []*item
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		switch op := r.IntN(4); {
		case op == 0 || len(live) == 0:
			x := &item{key: r.IntN(1000)}
			h.Push(x)
			live = append(live, x)
		case op == 1:
			x := h.Pop()
			least := slices.MinFunc(live, func(a, b *item) int { return a.key - b.key })
			if x.key != least.key || x.index != -1 {
				t.Fatalf("Pop = %d (index %d), want %d", x.key, x.index, least.key)
			}
			live = slices.DeleteFunc(live, func(y *item) bool { return y == x })
		case op == 2:
			x := live[r.IntN(len(live))]
			if h.Remove(x.index) != x {
				t.Fatal("Remove took another item")
			}
			live = slices.DeleteFunc(live, func(y *item) bool { return y == x })
		default:
			x := live[r.IntN(len(live))]
			x.key = r.IntN(1000)
			h.Fix(x.index)
		}
		if h.Len() != len(live) {
			t.Fatalf("Len = %d, want %d", h.Len(), len(live))
		}
		for i, x := range h.items {
			if x.index != i || i > 0 && h.less(x, h.items[(i-1)/2]) {
				t.Fatalf("heap invariant broken at %d", i)
			}
		}
	}
}
