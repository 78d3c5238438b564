package lockdown

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/invigil/invigil/lockdown/policy"
)

// CheckHiddenWindows is the ID of the hidden-window check.
const CheckHiddenWindows = "hidden_windows"

// HiddenWindow is a top-level window of another program that asks the
// operating system to leave it out of screen captures: "invisible" AI
// overlays do this so that the screen recording never shows them.
type HiddenWindow struct {
	// Handle identifies the window (HWND on Windows, the CGWindowID on
	// macOS).
	Handle uint64 `json:"handle"`
	PID    int32  `json:"pid"`
	// Program is the base name of the owning process's executable
	// ("Cluely.exe"), or "" when it cannot be read.
	Program string `json:"program"`
	// Exe is the full executable path when it can be read.
	Exe string `json:"exe,omitempty"`
	// Mode is how the window hides: "exclude_from_capture"
	// (WDA_EXCLUDEFROMCAPTURE: left out), "monitor" (WDA_MONITOR: shown
	// black), "sharing_none" (macOS), or "affinity 0x…" for a value
	// Windows may add later.
	Mode string `json:"mode"`
}

// Windows display-affinity values (GetWindowDisplayAffinity).
const (
	wdaNone               = 0x00
	wdaMonitor            = 0x01
	wdaExcludeFromCapture = 0x11
)

// affinityMode names a display-affinity value; ok is false for WDA_NONE,
// the value of every ordinary window.
func affinityMode(a uint32) (mode string, ok bool) {
	switch a {
	case wdaNone:
		return "", false
	case wdaMonitor:
		return "monitor", true
	case wdaExcludeFromCapture:
		return "exclude_from_capture", true
	}
	return fmt.Sprintf("affinity 0x%x", a), true
}

// errNotApplicable says that the system has no way for a window to hide
// from screen capture, so there is nothing to look for: the check passes
// and says so in its evidence (not a silent pass).
var errNotApplicable = errors.New("not applicable")

// windowScan is one enumeration of the top-level windows.
type windowScan struct {
	// Checked counts the visible top-level windows of other processes
	// that were looked at.
	Checked int
	Hidden  []HiddenWindow
	// Why is set with errNotApplicable: the reason there is nothing to
	// look for.
	Why string
}

// hiddenWindowLister lists the windows hidden from capture, skipping the
// windows of process self. Tests inject one; the default is the OS's.
type hiddenWindowLister func(ctx context.Context, self int32) (windowScan, error)

// hiddenProgram groups the hidden windows of one process.
type hiddenProgram struct {
	PID     int32
	Program string
	Exe     string
	Modes   []string
	Windows int
}

func (h hiddenProgram) describe() string {
	name := h.Program
	if name == "" {
		name = "A program"
	}
	return fmt.Sprintf("%s (pid %d)", name, h.PID)
}

func (h hiddenProgram) evidence() map[string]string {
	ev := map[string]string{
		"pid": strconv.Itoa(int(h.PID)), "program": h.Program, "mode": strings.Join(h.Modes, ","),
		"windows": strconv.Itoa(h.Windows),
	}
	if h.Exe != "" {
		ev["exe"] = h.Exe
	}
	return ev
}

// groupHidden turns hidden windows into one entry per process, in pid
// order, with the modes seen sorted.
func groupHidden(ws []HiddenWindow) []hiddenProgram {
	byPID := map[int32]*hiddenProgram{}
	var out []*hiddenProgram
	for _, w := range ws {
		h := byPID[w.PID]
		if h == nil {
			h = &hiddenProgram{PID: w.PID, Program: w.Program, Exe: w.Exe}
			byPID[w.PID] = h
			out = append(out, h)
		}
		h.Windows++
		if !slices.Contains(h.Modes, w.Mode) {
			h.Modes = append(h.Modes, w.Mode)
		}
	}
	res := make([]hiddenProgram, len(out))
	for i, h := range out {
		slices.Sort(h.Modes)
		res[i] = *h
	}
	slices.SortFunc(res, func(a, b hiddenProgram) int { return int(a.PID) - int(b.PID) })
	return res
}

// hiddenResult is the system check's hidden-window result.
func hiddenResult(p *policy.Policy, s windowScan, err error) CheckResult {
	r := CheckResult{ID: CheckHiddenWindows, Title: "Windows hidden from screen recording"}
	switch {
	case errors.Is(err, errNotApplicable):
		r.Status, r.Summary = StatusPass, "Not applicable here: "+s.Why
		r.Evidence = map[string]string{"not_applicable": s.Why}
		return r
	case err != nil:
		r.Status, r.Error, r.Summary = StatusUnknown, err.Error(), "Could not tell whether a window is hidden from screen recording"
		return r
	}
	r.Evidence = map[string]string{"windows_checked": strconv.Itoa(s.Checked)}
	hs := groupHidden(s.Hidden)
	if len(hs) == 0 || p.HiddenWindows == policy.Allow {
		r.Status = StatusPass
		r.Summary = fmt.Sprintf("No window is hidden from screen recording (%d windows checked)", s.Checked)
		if len(hs) > 0 {
			r.Summary = fmt.Sprintf("%d programs hide windows from screen recording; the exam allows it", len(hs))
		}
		return r
	}
	r.Status = statusFor(p.HiddenWindows)
	var names []string
	for i, h := range hs {
		names = append(names, h.describe())
		r.Fixes = append(r.Fixes, "Close "+h.describe()+": it hides its window from the screen recording")
		for k, v := range h.evidence() {
			r.Evidence[fmt.Sprintf("hidden.%d.%s", i, k)] = v
		}
	}
	r.Summary = "Hidden from screen recording: " + strings.Join(names, ", ")
	return r
}

// hiddenConds are the Monitor's conditions for the hidden windows found.
func hiddenConds(p *policy.Policy, ws []HiddenWindow) []cond {
	if p.HiddenWindows == policy.Allow {
		return nil
	}
	var conds []cond
	for _, h := range groupHidden(ws) {
		conds = append(conds, cond{
			key: fmt.Sprintf("hidden:%d:%s", h.PID, strings.Join(h.Modes, ",")), code: CodeWindowHidden,
			sev:      severityFor(p.HiddenWindows),
			summary:  h.describe() + " hides a window from the screen recording",
			evidence: h.evidence(),
		})
	}
	return conds
}

func selfPID() int32 { return int32(os.Getpid()) }

// hiddenWindowDetector is the family of windows hidden from screen
// capture: another program's window that asks to be left out of
// screenshots is a window.hidden violation and a check that warns or fails
// per the policy's hidden_windows. Where no window can hide (X11) the check
// passes with evidence "not_applicable" and the Monitor does not poll.
type hiddenWindowDetector struct{}

func (hiddenWindowDetector) name() string { return "hidden_windows" }

func (hiddenWindowDetector) check(ctx context.Context, in *checkInput) []CheckResult {
	s, err := in.listHidden(ctx, selfPID())
	return []CheckResult{hiddenResult(in.p, s, err)}
}

func (hiddenWindowDetector) watch(m *Monitor) closeHooks {
	m.wg.Go(func() {
		if _, err := m.opts.listHidden(m.ctx, selfPID()); errors.Is(err, errNotApplicable) {
			return // nothing to watch on this system
		}
		m.poll(m.opts.HiddenWindowInterval, func(now time.Time) {
			s, err := m.opts.listHidden(m.ctx, selfPID())
			if m.ctx.Err() != nil {
				return
			}
			m.detectorErr("hidden_windows", err)
			if err != nil {
				return
			}
			m.mu.Lock()
			defer m.mu.Unlock()
			m.reconcileLocked("hidden", hiddenConds(m.p, s.Hidden), now)
		})
	})
	return closeHooks{}
}
