package transport

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// callStore counts Store calls and the frames in each.
type callStore struct {
	*memStore
	mu    sync.Mutex
	calls []int
}

func (c *callStore) Store(ctx context.Context, frames []Frame) error {
	c.mu.Lock()
	c.calls = append(c.calls, len(frames))
	c.mu.Unlock()
	return c.memStore.Store(ctx, frames)
}

// TestStoreEveryBatches: with StoreEvery a connection stores at most once
// per interval; what arrives in between is stored together, and the first
// message after a quiet spell at once.
func TestStoreEveryBatches(t *testing.T) {
	for _, every := range []time.Duration{0, time.Second} {
		t.Run(fmt.Sprint(every), func(t *testing.T) {
			st := &callStore{memStore: newMemStore()}
			s := startConfSession(t, st, ServerOptions{Heartbeat: 5 * time.Second, StoreEvery: every})
			c := dialRaw(t, s)
			c.hello(1)
			start := time.Now()
			c.send(websocket.BinaryMessage, hbFrame(1, "first"))
			c.waitAck(1)
			if every > 0 && time.Since(start) >= every {
				t.Errorf("the first message waited %v: a quiet connection stores at once", time.Since(start))
			}
			for i := uint64(2); i <= 21; i++ {
				c.send(websocket.BinaryMessage, hbFrame(i, "more"))
			}
			c.waitAck(21)
			st.mu.Lock()
			calls := append([]int(nil), st.calls...)
			st.mu.Unlock()
			// With an interval, the 20 messages sent right after the
			// first Store wait for one more Store. (Without one, how
			// they batch depends on the machine's timing.)
			if every > 0 && len(calls) != 2 {
				t.Errorf("stores of %v: want 2 (the first message, then the 20 sent within the interval)", calls)
			}
		})
	}
}
