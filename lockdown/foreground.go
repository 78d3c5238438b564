package lockdown

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/invigil/invigil/lockdown/policy"
)

// Foreground is the program that holds the input focus: the window the
// keyboard types into and the process it belongs to.
type Foreground struct {
	// Nobody is true when no window has the focus (the desktop, or the
	// focus is between windows); the other fields are then empty.
	Nobody bool `json:"nobody,omitempty"`
	// Window is the focused top-level window: the X11 window id, the HWND
	// on Windows.
	Window uint64 `json:"window,omitempty"`
	// PID is the owning process, 0 when it could not be told (an X client
	// on another machine that sets no _NET_WM_PID).
	PID int `json:"pid,omitempty"`
	// PIDFrom says how the pid was learnt: "x-resource" (the X server's
	// own record of the client's process, which the client cannot fake),
	// "_NET_WM_PID" (a property the client sets itself, used only when
	// the server cannot tell) or "os" (Windows).
	PIDFrom string `json:"pid_from,omitempty"`
	// Name is the process name ("gnome-calculator"), or the window's
	// class when the process is not known.
	Name string `json:"name,omitempty"`
	// Exe is the executable's path, "" when it cannot be read.
	Exe string `json:"exe,omitempty"`
	// Own is true when the window belongs to this process (Invigil's own
	// windows: the exam window, the indicator, a dialog).
	Own bool `json:"own,omitempty"`
}

// String names the program for a person: "gnome-calculator (pid 4242)".
func (f Foreground) String() string {
	switch {
	case f.Nobody:
		return "no window (the desktop)"
	case f.PID <= 0 && f.Name == "":
		return "an unknown program"
	case f.PID <= 0:
		return f.Name + " (process not known)"
	case f.Name == "":
		return "pid " + strconv.Itoa(f.PID)
	}
	return fmt.Sprintf("%s (pid %d)", f.Name, f.PID)
}

// Evidence is the foreground as violation or event fields.
func (f Foreground) Evidence() map[string]string {
	ev := map[string]string{"program": f.String()}
	if f.Nobody {
		ev["nobody"] = "true"
		return ev
	}
	if f.PID > 0 {
		ev["pid"] = strconv.Itoa(f.PID)
		ev["pid_from"] = f.PIDFrom
	}
	if f.Name != "" {
		ev["name"] = f.Name
	}
	if f.Exe != "" {
		ev["exe"] = f.Exe
	}
	return ev
}

// rawForeground is what an OS reports before the process is read.
type rawForeground struct {
	nobody  bool
	window  uint64
	pid     int
	pidFrom string
	class   string // a name to fall back on (X11 WM_CLASS)
}

// foregroundSource asks the OS which window has the input focus. One
// goroutine at a time (ForegroundReader serialises).
type foregroundSource interface {
	read() (rawForeground, error)
	close()
}

// ForegroundReader tells which program holds the input focus: X11
// (GetInputFocus, the top-level window, its client's pid from the
// X-Resource extension or _NET_WM_PID) and Windows
// (GetForegroundWindow, GetWindowThreadProcessId). Elsewhere, and under
// Wayland, Read returns an error wrapping ErrUnsupported: the focused
// program cannot be told there. It keeps its connection to the display
// server between reads; it is safe for concurrent use.
type ForegroundReader struct {
	mu   sync.Mutex
	src  foregroundSource
	self int
	// last is the previous answer: the same window of the same process
	// is not read from /proc again.
	last struct {
		raw rawForeground
		fg  Foreground
	}
}

// NewForegroundReader makes a reader; getenv reads the environment
// (DISPLAY, WAYLAND_DISPLAY; nil: os.Getenv).
func NewForegroundReader(getenv func(string) string) *ForegroundReader {
	if getenv == nil {
		getenv = os.Getenv
	}
	return &ForegroundReader{src: newForegroundSource(getenv), self: os.Getpid()}
}

// Read returns the program that holds the input focus now.
func (r *ForegroundReader) Read(ctx context.Context) (Foreground, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	raw, err := r.src.read()
	if err != nil {
		return Foreground{}, fmt.Errorf("which program has the focus: %w", err)
	}
	if raw.nobody {
		return Foreground{Nobody: true}, nil
	}
	if raw == r.last.raw && raw.pid > 0 {
		return r.last.fg, nil
	}
	f := Foreground{Window: raw.window, PID: raw.pid, PIDFrom: raw.pidFrom, Name: raw.class, Own: raw.pid == r.self}
	if raw.pid > 0 {
		info, err := readProc(ctx, int32(raw.pid))
		if err == nil {
			f.Name, f.Exe = info.name, info.exe
		}
		if err == nil && info.exe != "" {
			r.last.raw, r.last.fg = raw, f
		}
	}
	return f, nil
}

// Close releases the connection to the display server.
func (r *ForegroundReader) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.src.close()
}

// AppMatcher tells whether a foreground program is one of the policy's
// allowed_apps. It hashes executables only when an app lists digests, and
// caches the digests by file identity as the process scanner does. Safe
// for concurrent use.
type AppMatcher struct {
	p    *policy.Policy
	goos string
	mu   sync.Mutex
	hash *procScanner // only its digest cache
}

// NewAppMatcher compiles the policy's allowed_apps.
func NewAppMatcher(p *policy.Policy) *AppMatcher {
	return &AppMatcher{p: p.Clone(), goos: runtime.GOOS, hash: &procScanner{hashes: map[fileKey]hashResult{}}}
}

// Match returns the allowed app the program is, or nil.
func (m *AppMatcher) Match(f Foreground) *policy.AllowedApp {
	if f.Nobody || f.PID <= 0 || len(m.p.AllowedApps) == 0 {
		return nil
	}
	names := []string{f.Name}
	if f.Exe != "" {
		names = append(names, filepath.Base(f.Exe))
	}
	sum := ""
	if m.p.NeedsAppHash() && f.Exe != "" {
		m.mu.Lock()
		sum, _ = m.hash.hashExe(procInfo{pid: int32(f.PID), exe: f.Exe})
		m.mu.Unlock()
	}
	return m.p.MatchApp(m.goos, names, sum)
}

// focusTaker is the program that took the focus from the exam window, as
// the client last told the Monitor (FocusLostTo).
type focusTaker struct {
	fg *Foreground // nil: not known
	at time.Time
}

// FocusLostTo is FocusLost naming the program that took the focus. While
// the focus stays away, call it again when another program takes it: the
// open focus.lost violation then ends and a new one names the new program
// (the grace period runs once, from the first loss).
func (m *Monitor) FocusLostTo(at time.Time, fg Foreground) {
	if m.p.FocusLoss.Action == policy.Allow {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.focusLost {
		m.focusLost, m.focusLostAt = true, at
	}
	if m.focusTo.fg == nil || !sameProgram(*m.focusTo.fg, fg) {
		m.focusTo = focusTaker{fg: &fg, at: at}
	}
	m.focusTickLocked(at)
}

func sameProgram(a, b Foreground) bool {
	return a.Nobody == b.Nobody && a.PID == b.PID && a.Name == b.Name
}

// focusCondLocked is the focus.lost condition while the focus is away.
func (m *Monitor) focusCondLocked() cond {
	c := cond{
		key: "focus", code: CodeFocusLost, sev: severityFor(m.p.FocusLoss.Action),
		summary: "The exam window lost focus", start: m.focusLostAt,
		evidence: map[string]string{"grace_ms": strconv.Itoa(m.p.FocusLoss.GraceMS)},
	}
	if fg := m.focusTo.fg; fg != nil {
		for k, v := range fg.Evidence() {
			c.evidence[k] = v
		}
		c.key = "focus:" + fg.String()
		c.summary = "The exam window lost focus to " + fg.String()
		if m.focusTo.at.After(c.start) {
			c.start = m.focusTo.at
		}
	}
	return c
}

// kioskPolicy is the kiosk section the desktop lockdown enforces: the
// allowed_apps may come to the front too (kiosk.switch_to plus their
// names). With an exam browser, the exam happens in the browser's window:
// Invigil's window is not kept on top of it (topmost off), and the
// browsers the client may launch may come to the front (the kiosk knows
// programs by name; focus attribution tells the exam browser's own
// processes from another window of the same browser, which is a
// focus.lost).
// examBrowserExes are the Windows executables client/exambrowser launches.
var examBrowserExes = []string{"chrome.exe", "chromium.exe", "msedge.exe"}

func kioskPolicy(p *policy.Policy) policy.Kiosk {
	k := p.Kiosk
	if p.ExamBrowser.Enabled() {
		k.Topmost = false
		k.SwitchTo.Windows = append(slices.Clip(k.SwitchTo.Windows), examBrowserExes...)
		k.SwitchTo.Darwin = append(slices.Clip(k.SwitchTo.Darwin), "Chromium", "Google Chrome", "Microsoft Edge")
	}
	for _, a := range p.AllowedApps {
		// Clip: never append into the policy's own arrays.
		k.SwitchTo.All = append(slices.Clip(k.SwitchTo.All), a.Names.All...)
		k.SwitchTo.Linux = append(slices.Clip(k.SwitchTo.Linux), a.Names.Linux...)
		k.SwitchTo.Windows = append(slices.Clip(k.SwitchTo.Windows), a.Names.Windows...)
		k.SwitchTo.Darwin = append(slices.Clip(k.SwitchTo.Darwin), a.Names.Darwin...)
	}
	return k
}
