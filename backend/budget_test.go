package backend

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/invigil/invigil/transport"
)

func TestTimeBudget(t *testing.T) {
	t0 := time.Unix(1000, 0)
	b := newTimeBudget(0.25, 2*time.Second)
	if d := b.wait(t0); d != 0 {
		t.Fatalf("fresh budget waits %v", d)
	}
	b.spend(3*time.Second, t0) // 1 s in debt
	if d, want := b.wait(t0), 4*time.Second; d != want {
		t.Errorf("1 s of debt at 0.25: wait %v, want %v", d, want)
	}
	if d := b.wait(t0.Add(4 * time.Second)); d != 0 {
		t.Errorf("after the wait: %v", d)
	}
	// Credit saves up to the burst only.
	if b.wait(t0.Add(time.Hour)); b.credit != 2*time.Second {
		t.Errorf("credit %v, want the burst", b.credit)
	}
	b.spend(time.Minute, t0.Add(time.Hour))
	if d := b.wait(t0.Add(time.Hour)); d != maxThrottle {
		t.Errorf("deep debt waits %v, want at most %v", d, maxThrottle)
	}
}

// TestStoreWaitsForBudget: a session in debt stores nothing until its
// budget allows, and a connection that ends meanwhile ends the wait.
func TestStoreWaitsForBudget(t *testing.T) {
	e := newEnv(t)
	s := e.b.newLiveSession("s_x")
	s.budget.spend(time.Minute, time.Now())
	ctx, cancel := context.WithCancelCause(context.Background())
	errGone := errors.New("gone")
	done := make(chan error, 1)
	go func() {
		done <- s.Store(ctx, []transport.Frame{{Header: transport.Header{Kind: transport.KindData, Track: transport.TrackHeartbeat, Seq: 1, Time: time.Now()}}})
	}()
	select {
	case err := <-done:
		t.Fatalf("Store in debt returned at once: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	cancel(errGone)
	select {
	case err := <-done:
		if !errors.Is(err, errGone) {
			t.Errorf("Store = %v, want the connection's end", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Store kept waiting after the connection ended")
	}
}
