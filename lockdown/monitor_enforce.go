package lockdown

import (
	"context"
	"time"

	"github.com/invigil/invigil/lockdown/policy"
)

// This file is the Monitor's enforcement: closing blocked programs
// (automatically or after asking the student) and clearing the clipboard,
// each journaled before it is done.

// enforceLocked closes a blocked process, or asks first, per the policy.
func (m *Monitor) enforceLocked(key string, f ProcessFinding) {
	if f.PID <= 0 || f.Action != string(policy.Block) || m.handled[key] || m.opts.Journal == nil {
		return
	}
	switch m.p.Enforcement.Terminate {
	case policy.TerminateAuto:
		m.handled[key] = true
		m.wg.Go(func() { m.closeProcs([]askItem{{key, f}}, "closed automatically") })
	case policy.TerminateAsk:
		if m.opts.Ask == nil {
			return
		}
		select {
		case m.askCh <- askItem{key, f}:
			m.handled[key] = true
		default: // the student has a queue of questions already
		}
	}
}

func (m *Monitor) askLoop() {
	for {
		var batch []askItem
		select {
		case <-m.ctx.Done():
			return
		case it := <-m.askCh:
			batch = append(batch, it)
		}
	drain:
		for {
			select {
			case it := <-m.askCh:
				batch = append(batch, it)
			default:
				break drain
			}
		}
		fs := make([]ProcessFinding, len(batch))
		for i, it := range batch {
			fs[i] = it.f
		}
		if m.opts.Ask(m.ctx, fs) {
			m.closeProcs(batch, "closed with the student's consent")
			continue
		}
		m.mu.Lock()
		for _, it := range batch {
			m.resolution[it.key] = "the student declined to close it"
		}
		m.mu.Unlock()
	}
}

// closeProcs journals and closes processes, and notes the outcome for the
// violations' end events.
func (m *Monitor) closeProcs(items []askItem, how string) {
	fs := make([]ProcessFinding, 0, len(items))
	keys := make([]string, 0, len(items))
	for _, it := range items {
		if _, err := m.opts.Journal.Record("process.close", "close "+it.f.describe(), nil); err != nil {
			m.log.Error("journal process close", "err", err)
			continue // no record, no change
		}
		fs = append(fs, it.f)
		keys = append(keys, it.key)
	}
	// The poll may see a process gone before CloseProcesses returns: note
	// the resolution first, and the outcome after.
	m.mu.Lock()
	for _, key := range keys {
		m.resolution[key] = how
	}
	m.mu.Unlock()
	res := CloseProcesses(m.ctx, fs, time.Duration(m.p.Enforcement.GraceSeconds)*time.Second)
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, r := range res {
		m.log.Info("closed prohibited process", "pid", r.PID, "name", r.Name, "outcome", r.Outcome, "err", r.Error)
		key := keys[i]
		if m.open[key] == nil {
			continue // already ended, with the resolution noted above
		}
		if r.Outcome == "failed" {
			m.resolution[key] = "closing failed: " + r.Error
		} else {
			m.resolution[key] = how + " (" + r.Outcome + ")"
		}
	}
}

func (m *Monitor) clearClipboard(when string) {
	if m.p.Clipboard == policy.ClipboardAllow || m.opts.Journal == nil {
		return
	}
	if _, err := clipboardClearer(); err != nil {
		m.log.Warn("clipboard not cleared", "when", when, "err", err)
		return
	}
	if _, err := m.opts.Journal.Record("clipboard.clear", "cleared the clipboard at "+when, nil); err != nil {
		m.log.Error("journal clipboard clear", "err", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := ClearClipboard(ctx); err != nil {
		m.log.Warn("clipboard not cleared", "when", when, "err", err)
	}
}
