package lockdown

import (
	"sync"
	"time"
)

// notifier delivers a Monitor's events to its Sink in order, from one
// goroutine of its own: the Monitor queues them while it holds its lock and
// never waits for the Sink, so a slow Sink stalls neither the detectors nor
// the callers of FocusLost and the like. The queue is unbounded: no
// violation is ever dropped.
type notifier struct {
	sink    Sink
	display DisplaySink // nil if the Sink does not implement it

	mu     sync.Mutex
	cond   *sync.Cond
	queue  []notice
	closed bool
	done   chan struct{} // closed when every queued notice is delivered after close
}

// notice is one event: a violation, or a display change.
type notice struct {
	v        Violation
	display  bool // a display change: at and displays
	at       time.Time
	displays []Display
}

func newNotifier(sink Sink) *notifier {
	n := &notifier{sink: sink, done: make(chan struct{})}
	n.display, _ = sink.(DisplaySink)
	n.cond = sync.NewCond(&n.mu)
	go n.run()
	return n
}

// violation queues v. After close it does nothing.
func (n *notifier) violation(v Violation) { n.push(notice{v: v}) }

// displaysChanged queues a display change, if the Sink wants them.
func (n *notifier) displaysChanged(at time.Time, ds []Display) {
	if n.display != nil {
		n.push(notice{display: true, at: at, displays: ds})
	}
}

func (n *notifier) push(x notice) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return
	}
	n.queue = append(n.queue, x)
	n.cond.Signal()
}

func (n *notifier) run() {
	defer close(n.done)
	for {
		n.mu.Lock()
		for len(n.queue) == 0 && !n.closed {
			n.cond.Wait()
		}
		batch := n.queue
		n.queue = nil
		closed := n.closed
		n.mu.Unlock()
		for _, x := range batch {
			if x.display {
				n.display.DisplaysChanged(x.at, x.displays)
			} else {
				n.sink.Violation(x.v)
			}
		}
		if closed && len(batch) == 0 {
			return
		}
	}
}

// close stops taking notices and waits until the queued ones are
// delivered. It is called once.
func (n *notifier) close() {
	n.mu.Lock()
	n.closed = true
	n.cond.Signal()
	n.mu.Unlock()
	<-n.done
}
