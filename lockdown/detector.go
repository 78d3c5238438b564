package lockdown

import (
	"context"
	"time"

	"github.com/invigil/invigil/lockdown/policy"
)

// A detector is one family of what lockdown looks for (prohibited
// programs, displays, a virtual machine, a remote session, virtual cameras,
// the clipboard, windows hidden from capture, focus, keys). It holds the
// family's rules in one place: what the system check reports, which
// conditions open a violation during the exam and how severe it is, and
// what the Monitor does about it (closing a program, clearing the
// clipboard). Check and NewMonitor both walk the same list, detectors: a
// family added there is checked before the exam and watched during it, with
// no change to either.
type detector interface {
	// name names the family in logs and tests ("processes").
	name() string
	// check looks at the system once, for the system check, and returns
	// the family's results in report order; none for a family that only
	// the Monitor watches (focus, keys). It is called concurrently with
	// the other families' check and must not fail silently: a result it
	// cannot tell is StatusUnknown with the reason.
	check(ctx context.Context, in *checkInput) []CheckResult
	// watch starts the family in Monitor m, which NewMonitor is building:
	// it starts the family's goroutines with m.wg.Go (they return once
	// m.ctx is done) and turns what they see into conditions with
	// m.reconcileLocked. It returns what the family does when the Monitor
	// closes. NewMonitor walks the list in order, so a family's goroutines
	// may run while later families start. The Monitor's helpers for it:
	// poll (a ticker loop), detectorErr (a detector that cannot tell,
	// logged once), reconcileLocked, onTick (the heartbeat).
	watch(m *Monitor) closeHooks
}

// closeHooks are a family's steps in Monitor.Close; nil ones are skipped.
type closeHooks struct {
	// halt runs as the Monitor starts closing, after its context is
	// cancelled and before it waits for its goroutines (the kiosk removes
	// its hooks).
	halt func()
	// done runs last, when every event has reached the Sink (the
	// clipboard is cleared at the exam's end).
	done func()
}

// detectors are the families, in the order of the system check's report.
// Check and the Monitor both walk it.
var detectors = []detector{
	prohibitedPrograms{},
	displayDetector{},
	vmDetector{},
	remoteSessionDetector{},
	cameraDetector{},
	clipboardDetector{},
	hiddenWindowDetector{},
	focusDetector{},
	kioskDetector{},
}

// checkInput is what the system check gives every family.
type checkInput struct {
	p   *policy.Policy
	env envFunc
	// cameras are the devices capture found; nil means unknown.
	cameras []Camera
	// listHidden lists the hidden windows (the OS's, or a test's).
	listHidden hiddenWindowLister
}

// poll runs f now and then every d until the Monitor closes: the loop of a
// polled family.
func (m *Monitor) poll(d time.Duration, f func(now time.Time)) {
	t := m.opts.Clock.NewTicker(d)
	defer t.Stop()
	f(m.opts.Clock.Now())
	for {
		select {
		case <-m.ctx.Done():
			return
		case now := <-t.C():
			f(now)
		}
	}
}

// detectorErr logs a detector error once, not on every poll, and logs
// again when the detector works again.
func (m *Monitor) detectorErr(name string, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	if m.lastErr[name] == msg {
		return
	}
	m.lastErr[name] = msg
	if err != nil {
		m.log.Warn("detector cannot tell", "detector", name, "err", err)
	} else {
		m.log.Info("detector works again", "detector", name)
	}
}
