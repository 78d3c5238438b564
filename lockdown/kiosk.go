package lockdown

import (
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

// startKiosk starts the kiosk when the Monitor has a journal (without one
// it changes nothing) and the policy asks for it.
func (m *Monitor) startKiosk() {
	if m.opts.Journal == nil || !kioskActive(m.p.Kiosk) {
		return
	}
	m.keyCh = make(chan keyReport, 64)
	k, err := m.opts.kiosk(kioskConfig{
		policy: kioskPolicy(m.p), journal: m.opts.Journal, log: m.log, self: selfPID(),
		report: func(r keyReport) {
			select {
			case m.keyCh <- r:
			default: // a burst: the rate limit would drop it anyway
			}
		},
	})
	switch {
	case errors.Is(err, ErrUnsupported):
		m.log.Info("desktop lockdown (kiosk) is not available on this system", "err", err)
		return
	case err != nil:
		m.log.Error("desktop lockdown (kiosk) failed", "err", err)
		return
	}
	m.kioskH = k
	m.wg.Go(m.keyLoop)
}

func (m *Monitor) stopKiosk() {
	if m.kioskH != nil {
		if err := m.kioskH.Close(); err != nil {
			m.log.Warn("desktop lockdown (kiosk) stop", "err", err)
		}
	}
}

// keyLoop turns key reports into instant violations, one per key
// combination per keyReportEvery.
func (m *Monitor) keyLoop() {
	last := map[string]time.Time{}
	for {
		select {
		case <-m.ctx.Done():
			return
		case r := <-m.keyCh:
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
