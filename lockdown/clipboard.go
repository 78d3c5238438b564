package lockdown

import (
	"context"
	"time"

	"github.com/invigil/invigil/lockdown/policy"
)

// ClipboardOp is what the exam window saw the student do.
type ClipboardOp string

// Clipboard operations reported through Monitor.ClipboardUsed.
const (
	ClipboardCopy  ClipboardOp = "copy"
	ClipboardCut   ClipboardOp = "cut"
	ClipboardPaste ClipboardOp = "paste"
)

// ClearClipboard empties the system clipboard. On Linux it runs wl-copy
// (Wayland), xsel or xclip, whichever is installed, and returns an error
// wrapping ErrUnsupported when none is; on Windows it calls EmptyClipboard; on
// macOS it runs pbcopy with no input. Clearing cannot be undone, so the
// monitor journals it for the record only.
func ClearClipboard(ctx context.Context) error { return clearClipboard(ctx) }

func clipboardResult(ctx context.Context, p *policy.Policy) CheckResult {
	r := CheckResult{ID: CheckClipboard, Title: "Clipboard", Evidence: map[string]string{"mode": string(p.Clipboard)}}
	if p.Clipboard == policy.ClipboardAllow {
		r.Status, r.Summary = StatusPass, "The exam allows the clipboard"
		return r
	}
	tool, err := clipboardClearer()
	if err != nil {
		r.Status, r.Error = StatusWarn, err.Error()
		r.Summary = "The clipboard cannot be cleared on this computer; the proctor is told"
		r.Fixes = clipboardFixes
		return r
	}
	r.Evidence["tool"] = tool
	r.Status, r.Summary = StatusPass, "The clipboard will be cleared when the exam starts and ends"
	return r
}

// clipboardDetector is the clipboard family. Under clipboard "clear" or
// "block" the Monitor clears the clipboard (journaled) when the exam starts
// and when it ends, and the check warns when this computer cannot clear it;
// under "block" every copy, cut or paste the exam window reports
// (ClipboardUsed) is a clipboard.used violation, opened and ended at once.
type clipboardDetector struct{}

func (clipboardDetector) name() string { return "clipboard" }

func (clipboardDetector) check(ctx context.Context, in *checkInput) []CheckResult {
	return []CheckResult{clipboardResult(ctx, in.p)}
}

func (clipboardDetector) watch(m *Monitor) closeHooks {
	m.clearClipboard("exam start")
	return closeHooks{done: func() { m.clearClipboard("exam end") }}
}

// ClipboardUsed tells the Monitor that the student tried to copy, cut or
// paste in the exam window. Under clipboard "block" it is a violation
// (opened and ended at once); otherwise it is ignored.
func (m *Monitor) ClipboardUsed(at time.Time, op ClipboardOp) {
	if m.p.Clipboard != policy.ClipboardBlock {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stopped {
		return
	}
	v := Violation{ID: newViolationID(), Code: CodeClipboardUsed, Severity: SeverityWarning, Phase: PhaseOpen,
		Summary: "Clipboard " + string(op) + " attempted; the exam blocks the clipboard", Evidence: map[string]string{"op": string(op)}, Start: at}
	m.notify.violation(v)
	v.Phase, v.End = PhaseEnd, at
	m.notify.violation(v)
}

// clearClipboard clears the clipboard under clipboard "clear" or "block",
// when the Monitor has a journal (without one it changes nothing).
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
