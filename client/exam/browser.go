package exam

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/invigil/invigil/client/exambrowser"
)

// examBrowser is the exam browser of a running exam (package
// client/exambrowser): opened when the exam screen shows, closed (and its
// profile wiped) when the exam stops, finished or not.
type examBrowser struct {
	mu        sync.Mutex
	b         *exambrowser.Browser
	launching *exambrowser.Browser // while Launch runs
	stopped   bool
	cancel    context.CancelFunc // ends a launch in progress
	done      chan struct{}      // closed when that launch has ended
}

// ErrExamStopped reports that the exam stopped before its browser opened.
var ErrExamStopped = errors.New("the exam has stopped")

// OpenBrowser opens the exam browser on the policy's start URL, once; it
// does nothing when the policy has no exam browser, and returns at once when
// it is already open. It blocks while the browser starts. The browser's
// events (browser.*, docs/policy.md) go into the session; it runs until the
// exam stops.
func (e *Exam) OpenBrowser(ctx context.Context) error {
	p := e.Joined().Policy
	if p == nil || !p.ExamBrowser.Enabled() {
		return nil
	}
	eb := &e.browser
	eb.mu.Lock()
	if eb.stopped {
		eb.mu.Unlock()
		return ErrExamStopped
	}
	if eb.b != nil || eb.done != nil {
		eb.mu.Unlock()
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	eb.cancel, eb.done = cancel, done
	eb.mu.Unlock()

	b, err := exambrowser.Launch(ctx, exambrowser.Options{
		StartURL: p.ExamBrowser.StartURL,
		Allowed:  p.ExamBrowser.AllowedPrefixes(),
		Events: func(name string, detail map[string]any) {
			e.Event(name, detail)
		},
		Log: e.log,
		Launching: func(b *exambrowser.Browser) {
			eb.mu.Lock()
			eb.launching = b
			eb.mu.Unlock()
		},
	})
	cancel()
	eb.mu.Lock()
	defer eb.mu.Unlock()
	defer close(done)
	eb.launching = nil
	if err != nil {
		eb.done = nil
		e.Event(exambrowser.EventFailed, map[string]any{"error": err.Error(), "attempt": 0})
		return err
	}
	if eb.stopped {
		b.Close()
		return ErrExamStopped
	}
	eb.b = b
	return nil
}

// Browser is the running exam browser, or nil.
func (e *Exam) Browser() *exambrowser.Browser {
	e.browser.mu.Lock()
	defer e.browser.mu.Unlock()
	return e.browser.b
}

// BrowserPIDs are the exam browser's processes, also while it starts (its
// window takes the focus before Launch returns), for focus attribution:
// they are the exam's own.
func (e *Exam) BrowserPIDs() []int {
	e.browser.mu.Lock()
	b := e.browser.b
	if b == nil {
		b = e.browser.launching
	}
	e.browser.mu.Unlock()
	if b == nil {
		return nil
	}
	return b.PIDs()
}

// closeBrowser stops a launch in progress and closes the browser; later
// OpenBrowser calls return ErrExamStopped.
func (e *Exam) closeBrowser() error {
	eb := &e.browser
	eb.mu.Lock()
	eb.stopped = true
	cancel, done := eb.cancel, eb.done
	eb.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
	eb.mu.Lock()
	b := eb.b
	eb.b = nil
	eb.mu.Unlock()
	if b == nil {
		return nil
	}
	if err := b.Close(); err != nil {
		return fmt.Errorf("close the exam browser: %w", err)
	}
	return nil
}
