package transport

import (
	"testing"
	"time"
)

// TestBudgetWaitsInTurn: a reader that finds the budget exhausted waits
// for bytes to be given back instead of failing at once, in the order the
// readers came; one that waits past its deadline gets nothing and leaves
// nothing held.
func TestBudgetWaitsInTurn(t *testing.T) {
	b := NewBudget(100)
	if !b.take(90) {
		t.Fatal("take within the budget failed")
	}
	got := make(chan int, 2)
	for i, n := range []int64{50, 20} {
		go func() {
			if b.takeWait(n, time.Now().Add(10*time.Second), new(budgetWaiter)) {
				got <- i
			}
		}()
		for b.waiting.Load() != int32(i+1) { // queued in this order
			time.Sleep(time.Millisecond)
		}
	}
	// 20 would fit now, but the 50 came first.
	b.give(30)
	select {
	case i := <-got:
		t.Fatalf("waiter %d served out of turn", i)
	case <-time.After(50 * time.Millisecond):
	}
	b.give(10) // 50 used: the 50 fits, then nothing
	if i := <-got; i != 0 {
		t.Fatalf("waiter %d served first", i)
	}
	b.give(20) // 80 used: the 20 fits
	if i := <-got; i != 1 {
		t.Fatalf("waiter %d served second", i)
	}
	if u := b.Used(); u != 100 {
		t.Fatalf("used %d, want 100", u)
	}
	b.give(30)
	// Past its deadline a waiter gives up and holds nothing.
	if b.takeWait(40, time.Now().Add(20*time.Millisecond), new(budgetWaiter)) {
		t.Fatal("took 40 with 30 free")
	}
	if u, w := b.Used(), b.waiting.Load(); u != 70 || w != 0 {
		t.Fatalf("after a timed-out wait: used %d, %d waiting", u, w)
	}
}

// TestBudgetWaiterReused: one reader's waiter serves wait after wait (the
// reader's place in the queue is not allocated per message): a grant is
// used once, and a wait that timed out leaves no token that would let the
// next wait through without bytes.
func TestBudgetWaiterReused(t *testing.T) {
	b := NewBudget(100)
	if !b.take(100) {
		t.Fatal("take within the budget failed")
	}
	var w budgetWaiter
	for i := range 3 {
		if b.takeWait(10, time.Now().Add(20*time.Millisecond), &w) {
			t.Fatalf("round %d: took 10 of a full budget", i)
		}
		got := make(chan bool)
		go func() { got <- b.takeWait(10, time.Now().Add(10*time.Second), &w) }()
		for b.waiting.Load() != 1 {
			time.Sleep(time.Millisecond)
		}
		b.give(10)
		if !<-got {
			t.Fatalf("round %d: a granted wait failed", i)
		}
		if u, n := b.Used(), b.waiting.Load(); u != 100 || n != 0 {
			t.Fatalf("round %d: used %d, %d waiting; want 100, 0", i, u, n)
		}
	}
	b.give(10)
	if !b.takeWait(10, time.Now().Add(time.Second), &w) || b.Used() != 100 {
		t.Fatalf("a wait with room failed or took the wrong amount: used %d", b.Used())
	}
}
