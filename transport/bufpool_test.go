package transport

import "testing"

func TestBufClass(t *testing.T) {
	for _, c := range []struct{ n, size int }{
		{0, 2048}, {1, 2048}, {2048, 2048}, {2049, 3072}, {3072, 3072}, {3073, 4096},
		{4096, 4096}, {4097, 6144}, {1 << 20, 1 << 20}, {1<<20 + 1, 3 << 19},
		{MaxFrameBytes, MaxFrameBytes},
	} {
		if _, size := bufClass(c.n); size != c.size {
			t.Errorf("bufClass(%d) = %d, want %d", c.n, size, c.size)
		}
	}
	if c, size := bufClass(MaxFrameBytes + 1); c != -1 || size != MaxFrameBytes+1 {
		t.Errorf("beyond the largest class: %d, %d", c, size)
	}
	// readMessage grows a buffer by doubling up to the limit and counts
	// the new capacity in the budget: every step must be a class size,
	// or getBuf would hand out more than was counted.
	for _, limit := range []int{MaxControlBytes, MaxFrameBytes} {
		if _, size := bufClass(limit); size != limit {
			t.Errorf("limit %d is not a class size", limit)
		}
		for c := 0; c < numBufClass; c++ {
			_, size := bufClass(2048 << (c / 2) * (2 + c%2) / 2)
			if size > limit {
				continue
			}
			next := min(limit, 2*size)
			if got := cap(getBuf(next)); got != next {
				t.Errorf("growing %d: cap %d, want %d", size, got, next)
			}
		}
	}
}

func TestBufPoolReuses(t *testing.T) {
	b := append(getBuf(5000), "frame"...)
	if cap(b) != 6144 {
		t.Fatalf("cap %d", cap(b))
	}
	putBuf(make([]byte, 10, 5000)) // not a class size: dropped, not pooled
	// sync.Pool may drop what it is given (under the race detector it
	// does so on purpose), so give b back until it comes out again.
	for range 100 {
		putBuf(b)
		c := getBuf(4500)
		if cap(c) != 6144 || len(c) != 0 {
			t.Fatalf("getBuf(4500): len %d cap %d", len(c), cap(c))
		}
		if &c[:1][0] == &b[:1][0] {
			if poisonPooled && c[:1][0] != 0xA5 {
				t.Errorf("a pooled buffer was not poisoned under the race detector")
			}
			return
		}
	}
	t.Error("a buffer given back never came out of the pool again")
}
