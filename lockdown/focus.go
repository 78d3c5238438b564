package lockdown

import (
	"context"
	"time"

	"github.com/invigil/invigil/lockdown/policy"
)

// focusDetector is the focus family: the client tells the Monitor when the
// exam window loses and regains the focus (FocusLost, FocusLostTo,
// FocusGained); a loss longer than the policy's grace period is a
// focus.lost violation dated from the loss, naming the program that took
// the focus when the client knows it (foreground.go). The grace period is
// timed by the Monitor's heartbeat. The system check has nothing to check
// before the exam window exists.
type focusDetector struct{}

func (focusDetector) name() string { return "focus" }

func (focusDetector) check(context.Context, *checkInput) []CheckResult { return nil }

func (focusDetector) watch(m *Monitor) closeHooks {
	m.onTick(m.focusTickLocked)
	return closeHooks{}
}

// FocusLost tells the Monitor that the exam window lost focus at at. After
// the policy's grace period a focus.lost violation opens, starting at at.
func (m *Monitor) FocusLost(at time.Time) {
	if m.p.FocusLoss.Action == policy.Allow {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.focusLost {
		return
	}
	m.focusLost, m.focusLostAt = true, at
	m.focusTickLocked(at)
}

// FocusGained tells the Monitor that the exam window has focus again; an
// open focus.lost violation ends at at.
func (m *Monitor) FocusGained(at time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.focusLost, m.focusTo = false, focusTaker{}
	m.reconcileLocked("focus", nil, at)
}

// focusTickLocked opens the focus.lost violation once the grace period
// after the loss is over.
func (m *Monitor) focusTickLocked(now time.Time) {
	if !m.focusLost {
		return
	}
	c := m.focusCondLocked()
	if m.open[c.key] != nil {
		return
	}
	grace := time.Duration(m.p.FocusLoss.GraceMS) * time.Millisecond
	if now.Sub(m.focusLostAt) < grace {
		return
	}
	m.reconcileLocked("focus", []cond{c}, now)
}
