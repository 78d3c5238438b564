package exambrowser

import (
	"sync"
	"time"
)

// workQueue runs funcs one after another on its own goroutine; add never
// blocks.
type workQueue struct {
	mu     sync.Mutex
	items  []func()
	closed bool
	signal chan struct{}
	done   chan struct{}
}

func newWorkQueue() *workQueue {
	q := &workQueue{signal: make(chan struct{}, 1), done: make(chan struct{})}
	go q.run()
	return q
}

func (q *workQueue) add(f func()) {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return
	}
	q.items = append(q.items, f)
	q.mu.Unlock()
	select {
	case q.signal <- struct{}{}:
	default:
	}
}

func (q *workQueue) run() {
	defer close(q.done)
	for {
		q.mu.Lock()
		items, closed := q.items, q.closed
		q.items = nil
		q.mu.Unlock()
		for _, f := range items {
			f()
		}
		if closed && len(items) == 0 {
			return
		}
		if len(items) == 0 {
			<-q.signal
		}
	}
}

// close runs what is queued and waits for it; later adds are dropped.
func (q *workQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	select {
	case q.signal <- struct{}{}:
	default:
	}
	<-q.done
}

// callGroup runs funcs each on its own goroutine (a command that waits
// for a navigation must not hold up the one that lets the navigation
// go on); close waits for them.
type callGroup struct {
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

func (c *callGroup) add(f func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		f()
	}()
}

func (c *callGroup) close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.wg.Wait()
}

// repeatWindow is how long the same event for the same URL is held back.
const repeatWindow = 10 * time.Second

// heldBack are the events a page can cause over and over; the others (the
// browser starting, closing, crashing) are always sent.
var heldBack = map[string]bool{
	EventNavigationBlocked: true, EventWindowBlocked: true, EventFileChooserBlocked: true,
	EventDownloadBlocked: true, EventPrintBlocked: true, EventDevToolsBlocked: true,
}

// eventQueue delivers events in order on one goroutine, and sends the
// same blocking event (heldBack) for the same URL at most once per
// repeatWindow (the next one carries "repeats": how many were held back).
type eventQueue struct {
	fn      func(string, map[string]any)
	q       *workQueue
	mu      sync.Mutex
	now     func() time.Time
	last    map[string]time.Time
	repeats map[string]int
}

func newEventQueue(fn func(string, map[string]any)) *eventQueue {
	return &eventQueue{fn: fn, q: newWorkQueue(), now: time.Now, last: map[string]time.Time{}, repeats: map[string]int{}}
}

func (e *eventQueue) emit(name string, detail map[string]any) {
	if e.fn == nil {
		return
	}
	if detail == nil {
		detail = map[string]any{}
	}
	if !heldBack[name] {
		e.q.add(func() { e.fn(name, detail) })
		return
	}
	key := name
	if u, ok := detail["url"].(string); ok {
		key += "\x00" + u
	}
	now := e.now()
	e.mu.Lock()
	if t, ok := e.last[key]; ok && now.Sub(t) < repeatWindow {
		e.repeats[key]++
		e.mu.Unlock()
		return
	}
	e.last[key] = now
	if n := e.repeats[key]; n > 0 {
		detail["repeats"] = n
		delete(e.repeats, key)
	}
	for k, t := range e.last {
		if now.Sub(t) >= repeatWindow && e.repeats[k] == 0 {
			delete(e.last, k)
		}
	}
	e.mu.Unlock()
	e.q.add(func() { e.fn(name, detail) })
}

// close delivers what is queued and stops.
func (e *eventQueue) close() { e.q.close() }
