package client

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/invigil/invigil/lockdown"
)

// Focus attribution: when the exam window loses the focus, the flow asks
// lockdown which program took it. Invigil's own windows (the indicator),
// the exam browser and the policy's allowed_apps are not a focus loss: the
// proctor gets an informational focus.allowed event and the indicator
// shows. Any other program, or none (the desktop), is a focus.lost naming
// it. While the exam window is not focused the flow keeps asking (every
// FlowOptions.Tick, 500 ms by default), so a switch from an allowed
// program on to another one is caught.

// FocusAway says which allowed program has the focus while the exam window
// does not; the zero value: the exam window has it, or a program that is
// not allowed does (then the alerts say so).
type FocusAway struct {
	// Program is what the student and the indicator call it: the
	// allowed_apps entry's name, or "the exam browser".
	Program string
	// Kind is "allowed_app" or "exam_browser".
	Kind string
}

// The kinds of focus holder.
const (
	focusOwn         = "own"          // an Invigil window (the indicator)
	focusAllowedApp  = "allowed_app"  // policy allowed_apps
	focusExamBrowser = "exam_browser" // SetFocusAllowed said yes
	focusElsewhere   = "lost"         // any other program, or none
	focusUnknown     = "unknown"      // the program cannot be told
)

// focusVerdict is what the flow makes of the program holding the focus.
type focusVerdict struct {
	kind string
	fg   lockdown.Foreground
	app  string // the allowed program's name
	err  error  // focusUnknown: why
}

func (v focusVerdict) same(w focusVerdict) bool {
	return v.kind == w.kind && v.app == w.app && v.fg.Nobody == w.fg.Nobody && v.fg.PID == w.fg.PID && v.fg.Name == w.fg.Name
}

// lost reports whether the monitor was told of a focus loss for v.
func (v focusVerdict) lost() bool { return v.kind == focusElsewhere || v.kind == focusUnknown }

// focusState is the flow's focus attribution. The fields under mu may be
// set from any goroutine; the rest belong to Run's.
type focusState struct {
	mu      sync.Mutex
	allowed func(pid int) bool
	// source replaces lockdown's foreground reader (tests).
	source func(ctx context.Context) (lockdown.Foreground, error)

	away   bool
	gen    int // counts losses and gains: a poll's stale result is dropped
	cur    focusVerdict
	cancel context.CancelFunc // stops the poll
}

// firstFocusWait bounds how long the flow waits for the first answer to
// "who has the focus?" before it reports a loss to an unknown program (an
// X server that does not answer must not freeze the flow).
const firstFocusWait = 300 * time.Millisecond

// SetFocusAllowed sets the check for processes that may hold the focus
// during the exam besides the policy's allowed_apps: the exam browser's.
// allowed is called with a pid from a flow goroutine and must be fast and
// safe for concurrent use; nil removes it. Wire it as
//
//	flow.SetFocusAllowed(func(pid int) bool { return slices.Contains(browser.PIDs(), pid) })
//
// (with the browser that runs now, if any). Safe from any goroutine.
func (f *Flow) SetFocusAllowed(allowed func(pid int) bool) {
	f.focus.mu.Lock()
	f.focus.allowed = allowed
	f.focus.mu.Unlock()
}

// setFocusSource replaces lockdown's foreground reader (tests).
func (f *Flow) setFocusSource(src func(ctx context.Context) (lockdown.Foreground, error)) {
	f.focus.mu.Lock()
	f.focus.source = src
	f.focus.mu.Unlock()
}

// focusNamer is an ExamRun that can name the program that took the focus
// (lockdown's Monitor.FocusLostTo); one that cannot gets FocusLost.
type focusNamer interface {
	FocusLostTo(at time.Time, fg lockdown.Foreground)
}

// onFocusChanged runs on Run's goroutine for FocusChanged.
func (f *Flow) onFocusChanged(focused bool, at time.Time) {
	fs := &f.focus
	if f.exam == nil || f.finishStarted {
		f.stopFocusPoll()
		return
	}
	if focused {
		f.stopFocusPoll()
		fs.away, fs.cur = false, focusVerdict{}
		f.exam.FocusGained(at)
		f.exam.Event("focus.gained", nil)
		f.setAway(FocusAway{})
		return
	}
	if fs.away {
		return
	}
	fs.away, fs.cur = true, focusVerdict{}
	first := f.startFocusPoll()
	select {
	case v := <-first:
		f.applyFocus(v, at)
	case <-time.After(firstFocusWait):
		f.applyFocus(focusVerdict{kind: focusUnknown, err: errFocusSlow}, at)
	}
}

var errFocusSlow = errors.New("the display server did not say within 300 ms")

// startFocusPoll starts asking which program has the focus, now and every
// Tick until stopFocusPoll: the first verdict comes on the returned
// channel (and is posted to Run), later ones are posted when they differ.
func (f *Flow) startFocusPoll() <-chan focusVerdict {
	fs := &f.focus
	f.stopFocusPoll()
	fs.gen++
	gen, exam := fs.gen, f.exam
	ctx, cancel := context.WithCancel(f.ctx)
	fs.cancel = cancel
	fs.mu.Lock()
	src := fs.source
	fs.mu.Unlock()
	var matcher *lockdown.AppMatcher
	if f.joined != nil && f.joined.Policy != nil {
		matcher = lockdown.NewAppMatcher(f.joined.Policy)
	}
	first := make(chan focusVerdict, 1)
	interval := f.opts.Tick
	f.jobs.Go(func() {
		if src == nil {
			r := lockdown.NewForegroundReader(nil)
			defer r.Close()
			src = r.Read
		}
		var last focusVerdict
		for n := 0; ; n++ {
			fg, err := src(ctx)
			if ctx.Err() != nil {
				return
			}
			f.focus.mu.Lock()
			allowed := f.focus.allowed // the browser may have started meanwhile
			f.focus.mu.Unlock()
			v := classifyFocus(fg, err, allowed, matcher)
			if n == 0 {
				first <- v
			}
			// The first verdict is posted too, in case Run gave up
			// waiting for it (applyFocus ignores a repeat).
			if n == 0 || !v.same(last) {
				at := f.now()
				f.postJob(action{run: func() {
					if f.focus.gen == gen && f.exam == exam {
						f.applyFocus(v, at)
					}
				}})
			}
			last = v
			select {
			case <-ctx.Done():
				return
			case <-time.After(interval):
			}
		}
	})
	return first
}

func (f *Flow) stopFocusPoll() {
	if f.focus.cancel != nil {
		f.focus.cancel()
		f.focus.cancel = nil
	}
}

// classifyFocus says what the program holding the focus is to the exam.
func classifyFocus(fg lockdown.Foreground, err error, allowed func(int) bool, m *lockdown.AppMatcher) focusVerdict {
	switch {
	case err != nil:
		return focusVerdict{kind: focusUnknown, err: err}
	case fg.Own:
		return focusVerdict{kind: focusOwn, fg: fg}
	case fg.Nobody:
		return focusVerdict{kind: focusElsewhere, fg: fg}
	case fg.PID > 0 && allowed != nil && allowed(fg.PID):
		return focusVerdict{kind: focusExamBrowser, fg: fg, app: "the exam browser"}
	}
	if m != nil {
		if a := m.Match(fg); a != nil {
			return focusVerdict{kind: focusAllowedApp, fg: fg, app: a.Name}
		}
	}
	return focusVerdict{kind: focusElsewhere, fg: fg}
}

// applyFocus acts on a verdict while the exam window is not focused: a
// loss for the monitor (naming the program) or an allowed program for the
// proctor and the indicator.
func (f *Flow) applyFocus(v focusVerdict, at time.Time) {
	fs := &f.focus
	if !fs.away || f.exam == nil || f.finishStarted {
		f.stopFocusPoll()
		return
	}
	if fs.cur.kind != "" && v.same(fs.cur) {
		return
	}
	wasLost := fs.cur.lost()
	fs.cur = v
	switch v.kind {
	case focusOwn:
		if wasLost {
			f.exam.FocusGained(at)
		}
		f.setAway(FocusAway{})
	case focusAllowedApp, focusExamBrowser:
		if wasLost {
			f.exam.FocusGained(at)
		}
		fields := evidenceFields(v.fg)
		fields["program"], fields["kind"] = v.app, v.kind
		f.exam.Event("focus.allowed", fields)
		f.setAway(FocusAway{Program: v.app, Kind: v.kind})
	case focusElsewhere:
		if n, ok := f.exam.(focusNamer); ok {
			n.FocusLostTo(at, v.fg)
		} else {
			f.exam.FocusLost(at)
		}
		f.exam.Event("focus.lost", evidenceFields(v.fg))
		f.setAway(FocusAway{})
	case focusUnknown:
		f.exam.FocusLost(at)
		f.exam.Event("focus.lost", map[string]any{"program": "an unknown program", "reason": v.err.Error()})
		f.setAway(FocusAway{})
	}
}

func evidenceFields(fg lockdown.Foreground) map[string]any {
	ev := fg.Evidence()
	out := make(map[string]any, len(ev)+2)
	for k, v := range ev {
		out[k] = v
	}
	return out
}

// setAway publishes which allowed program has the focus, if it changed.
func (f *Flow) setAway(a FocusAway) {
	if f.examState.Away == a {
		return
	}
	f.examState.Away = a
	if f.st.Screen == ScreenExam {
		f.publish()
	}
}
