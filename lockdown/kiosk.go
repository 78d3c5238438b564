package lockdown

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/invigil/invigil/lockdown/journal"
	"github.com/invigil/invigil/lockdown/policy"
)

// The kiosk is the desktop lockdown during the exam (policy "kiosk"):
// blocked keys, other programs kept out of the front, the exam window on
// top, quiet notifications. Windows implements it (kiosk_windows.go); other
// systems return ErrUnsupported and the Monitor says so in its log.

// kioskConfig is what a kiosk needs.
type kioskConfig struct {
	policy  policy.Kiosk
	journal *journal.Journal
	log     *slog.Logger
	self    int32
	// report is called, from the hook's thread, for every key event the
	// policy reports. It must not block.
	report func(keyReport)
}

// keyReport is a key combination the kiosk swallowed (action block) or let
// through and reports (flag).
type keyReport struct {
	Keys   string
	Action policy.Action
}

// kioskHandle stops a kiosk. The changes it recorded in the journal are
// undone when the journal closes.
type kioskHandle interface {
	// Close removes the hooks and takes the exam window off the top. It
	// is idempotent and waits for the kiosk's threads.
	Close() error
}

// kioskStarter starts a kiosk; tests inject one.
type kioskStarter func(kioskConfig) (kioskHandle, error)

// kioskActive reports whether the policy asks for anything at all.
func kioskActive(k policy.Kiosk) bool {
	return k.WindowsKey != policy.Allow || k.PrintScreen != policy.Allow || k.AppSwitch != policy.Allow ||
		k.Topmost || k.QuietNotifications
}

// keyReportEvery is how often one key combination is reported at most.
const keyReportEvery = 10 * time.Second

// kioskDetector is the desktop-lockdown family (policy "kiosk", Windows
// only): the kiosk swallows the keys the policy blocks and reports them
// and the ones it flags; each report is a key.blocked or key.used
// violation, opened and ended at once, one per key combination per
// keyReportEvery. The kiosk starts when the Monitor has a journal (without
// one it changes nothing) and the policy asks for it; other systems say in
// the log that it is not available. The system check has nothing to check.
type kioskDetector struct{}

func (kioskDetector) name() string { return "kiosk" }

func (kioskDetector) check(context.Context, *checkInput) []CheckResult { return nil }

func (kioskDetector) watch(m *Monitor) closeHooks {
	if m.opts.Journal == nil || !kioskActive(m.p.Kiosk) {
		return closeHooks{}
	}
	keyCh := make(chan keyReport, 64)
	k, err := m.opts.kiosk(kioskConfig{
		policy: kioskPolicy(m.p), journal: m.opts.Journal, log: m.log, self: selfPID(),
		report: func(r keyReport) {
			select {
			case keyCh <- r:
			default: // a burst: the rate limit would drop it anyway
			}
		},
	})
	switch {
	case errors.Is(err, ErrUnsupported):
		m.log.Info("desktop lockdown (kiosk) is not available on this system", "err", err)
		return closeHooks{}
	case err != nil:
		m.log.Error("desktop lockdown (kiosk) failed", "err", err)
		return closeHooks{}
	}
	m.wg.Go(func() { m.keyLoop(keyCh) })
	return closeHooks{halt: func() {
		if err := k.Close(); err != nil {
			m.log.Warn("desktop lockdown (kiosk) stop", "err", err)
		}
	}}
}

// keyLoop turns key reports into instant violations, one per key
// combination per keyReportEvery.
func (m *Monitor) keyLoop(keyCh <-chan keyReport) {
	last := map[string]time.Time{}
	for {
		select {
		case <-m.ctx.Done():
			return
		case r := <-keyCh:
			now := m.opts.Clock.Now()
			if t, ok := last[r.Keys]; ok && now.Sub(t) < keyReportEvery {
				continue
			}
			last[r.Keys] = now
			code, summary := CodeKeyUsed, r.Keys+" pressed"
			if r.Action == policy.Block {
				code, summary = CodeKeyBlocked, r.Keys+" pressed and blocked"
			}
			m.mu.Lock()
			if !m.stopped {
				v := Violation{ID: newViolationID(), Code: code, Severity: SeverityWarning, Phase: PhaseOpen,
					Summary: summary, Evidence: map[string]string{"keys": r.Keys, "action": string(r.Action)}, Start: now}
				m.notify.violation(v)
				v.Phase, v.End = PhaseEnd, now
				m.notify.violation(v)
			}
			m.mu.Unlock()
		}
	}
}
