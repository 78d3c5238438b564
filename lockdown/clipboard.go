package lockdown

import (
	"context"

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
