package memqueue

// minHeap is a binary min-heap whose elements know their position, so
// that they can be removed or re-keyed in O(log n).
type minHeap[T any] struct {
	items    []T
	less     func(a, b T) bool
	setIndex func(x T, i int) // i is -1 once x leaves the heap
}

func (h *minHeap[T]) Len() int { return len(h.items) }

func (h *minHeap[T]) Peek() T { return h.items[0] }

func (h *minHeap[T]) Push(x T) {
	h.items = append(h.items, x)
	h.setIndex(x, len(h.items)-1)
	h.up(len(h.items) - 1)
}

func (h *minHeap[T]) Pop() T { return h.Remove(0) }

// Remove takes out the element at index i.
func (h *minHeap[T]) Remove(i int) T {
	x := h.items[i]
	last := len(h.items) - 1
	if i != last {
		h.swap(i, last)
	}
	var zero T
	h.items[last] = zero
	h.items = h.items[:last]
	if i != last {
		h.Fix(i)
	}
	h.setIndex(x, -1)
	return x
}

// Fix restores the heap after the key of the element at i changed.
func (h *minHeap[T]) Fix(i int) {
	if !h.down(i) {
		h.up(i)
	}
}

func (h *minHeap[T]) swap(i, j int) {
	h.items[i], h.items[j] = h.items[j], h.items[i]
	h.setIndex(h.items[i], i)
	h.setIndex(h.items[j], j)
}

func (h *minHeap[T]) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !h.less(h.items[i], h.items[p]) {
			return
		}
		h.swap(i, p)
		i = p
	}
}

func (h *minHeap[T]) down(i int) bool {
	start := i
	n := len(h.items)
	for {
		c := 2*i + 1
		if c >= n {
			break
		}
		if r := c + 1; r < n && h.less(h.items[r], h.items[c]) {
			c = r
		}
		if !h.less(h.items[c], h.items[i]) {
			break
		}
		h.swap(i, c)
		i = c
	}
	return i > start
}
