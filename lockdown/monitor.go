package lockdown

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/invigil/invigil/lockdown/journal"
	"github.com/invigil/invigil/lockdown/policy"
)

// AskFunc asks the student whether to close prohibited programs (policy
// enforcement.terminate "ask"). It runs on a Monitor goroutine, may block
// until the student answers, and must return when ctx is cancelled (the
// Monitor is closing). It returns true to close them.
type AskFunc func(ctx context.Context, procs []ProcessFinding) bool

// MonitorOptions configure a Monitor. Sink is required.
type MonitorOptions struct {
	// Sink receives the violations.
	Sink Sink
	// Clock defaults to the system clock.
	Clock Clock
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Journal records every change the Monitor makes to the system
	// (clipboard clearing, closed processes). Without a journal the
	// Monitor changes nothing: it only reports.
	Journal *journal.Journal
	// Ask is called for policy enforcement.terminate "ask". Nil: the
	// student is not asked and nothing is closed.
	Ask AskFunc
	// Cameras are the camera devices at the start; SetCameras updates
	// them.
	Cameras []Camera
	// Getenv reads the environment (default os.Getenv).
	Getenv func(string) string

	// ProcessInterval is the process poll period (default 150 ms: p99
	// detection latency ~140 ms at ~0.8 % of a core, see bench/lockdown).
	ProcessInterval time.Duration
	// PortInterval is the listening-port poll period (default 250 ms on
	// Linux, where it is a sock_diag netlink query; 500 ms on Windows; 2 s
	// on macOS, where gopsutil runs lsof).
	PortInterval time.Duration
	// DisplayInterval is the display poll period (default 1 s).
	DisplayInterval time.Duration
	// SessionInterval is the VM and remote-session poll period (default
	// 10 s).
	SessionInterval time.Duration
	// HiddenWindowInterval is the hidden-window poll period (default 1 s;
	// one enumeration of ~100 windows costs well under a millisecond).
	HiddenWindowInterval time.Duration

	// listHidden replaces the OS's hidden-window lister in tests.
	listHidden hiddenWindowLister
	// kiosk replaces the OS's desktop lockdown in tests.
	kiosk kioskStarter
	// detectors replaces the package's list of families in tests.
	detectors []detector
}

// Monitor watches the system during the exam and emits violations: an
// "open" event when one starts, an "end" event when it stops. It owns its
// goroutines; Close stops them and waits. Events reach the Sink in order
// from a goroutine of the Monitor's that holds none of its locks.
type Monitor struct {
	p    *policy.Policy
	opts MonitorOptions
	log  *slog.Logger
	env  func(string) string

	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once

	// hooks are the families' steps in Close.
	hooks []closeHooks
	// snap is the prohibited-programs family's latest full process list,
	// for the remote-session family.
	snap atomic.Pointer[[]procInfo]
	// ticks run at every heartbeat (onTick); guarded by mu.
	ticks []func(now time.Time)

	// notify delivers the events to the Sink, in order, outside mu.
	notify *notifier

	// mu guards the fields below and orders the events.
	mu          sync.Mutex
	stopped     bool
	open        map[string]*openViolation
	resolution  map[string]string // violation key → what became of it (its end event says)
	focusLost   bool
	focusLostAt time.Time
	focusTo     focusTaker        // who took it (foreground.go)
	lastErr     map[string]string // detector → last error logged
}

type openViolation struct {
	v      Violation
	source string
}

// cond is a condition a detector sees; while it holds, its violation is open.
type cond struct {
	key      string
	code     Code
	sev      Severity
	summary  string
	evidence map[string]string
	start    time.Time // zero: now
	// opened, if set, runs with the Monitor's lock held when the
	// condition opens its violation (key is the condition's): the
	// family's enforcement, such as closing the program.
	opened func(key string)
}

// NewMonitor validates the policy and options and starts watching: it
// starts every detector family (detectors) in turn. With clipboard "clear"
// or "block" and a journal, it clears the clipboard now and again at Close.
func NewMonitor(p *policy.Policy, opts MonitorOptions) (*Monitor, error) {
	if p == nil {
		return nil, errors.New("monitor: no policy")
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("monitor: %w", err)
	}
	if opts.Sink == nil {
		return nil, errors.New("monitor: no sink")
	}
	if opts.Clock == nil {
		opts.Clock = realClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Getenv == nil {
		opts.Getenv = os.Getenv
	}
	if opts.ProcessInterval <= 0 {
		opts.ProcessInterval = 150 * time.Millisecond
	}
	if opts.PortInterval <= 0 {
		switch runtime.GOOS {
		case "linux":
			opts.PortInterval = 250 * time.Millisecond
		case "darwin":
			opts.PortInterval = 2 * time.Second
		default:
			opts.PortInterval = 500 * time.Millisecond
		}
	}
	if opts.DisplayInterval <= 0 {
		opts.DisplayInterval = time.Second
	}
	if opts.SessionInterval <= 0 {
		opts.SessionInterval = 10 * time.Second
	}
	if opts.HiddenWindowInterval <= 0 {
		opts.HiddenWindowInterval = time.Second
	}
	if opts.listHidden == nil {
		opts.listHidden = listHiddenWindows
	}
	if opts.kiosk == nil {
		opts.kiosk = startKiosk
	}
	if opts.detectors == nil {
		opts.detectors = detectors
	}
	m := &Monitor{
		p:          p.Clone(),
		opts:       opts,
		log:        opts.Logger.With("component", "lockdown.monitor"),
		env:        opts.Getenv,
		open:       map[string]*openViolation{},
		resolution: map[string]string{},
		lastErr:    map[string]string{},
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	m.notify = newNotifier(opts.Sink)
	for _, d := range opts.detectors {
		m.hooks = append(m.hooks, d.watch(m))
	}
	return m, nil
}

// Close stops the Monitor (and the kiosk), waits for its goroutines, ends
// every open violation (End = now, resolution "monitor stopped") and, per the
// clipboard policy, clears the clipboard: the families' close hooks. It is idempotent. The journal stays open:
// its owner closes it to undo the changes.
func (m *Monitor) Close() error {
	m.closeOnce.Do(func() {
		m.mu.Lock()
		m.stopped = true
		m.mu.Unlock()
		m.cancel()
		for _, h := range m.hooks {
			if h.halt != nil {
				h.halt()
			}
		}
		m.wg.Wait()
		m.mu.Lock()
		now := m.opts.Clock.Now()
		for _, key := range slices.Sorted(maps.Keys(m.open)) {
			m.endLocked(key, now, "monitor stopped")
		}
		m.mu.Unlock()
		m.notify.close() // every event is with the Sink when Close returns
		for _, h := range m.hooks {
			if h.done != nil {
				h.done()
			}
		}
	})
	return nil
}

// Open returns the violations open now.
func (m *Monitor) Open() []Violation {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Violation, 0, len(m.open))
	for _, o := range m.open {
		out = append(out, o.v)
	}
	slices.SortFunc(out, func(a, b Violation) int { return a.Start.Compare(b.Start) })
	return out
}

// reconcileLocked makes the open violations of source match conds: new
// conditions open a violation, vanished ones end theirs at now.
func (m *Monitor) reconcileLocked(source string, conds []cond, now time.Time) {
	if m.stopped {
		return
	}
	want := make(map[string]bool, len(conds))
	for _, c := range conds {
		want[c.key] = true
	}
	for _, key := range slices.Sorted(maps.Keys(m.open)) {
		if o := m.open[key]; o.source == source && !want[key] {
			m.endLocked(key, now, "")
		}
	}
	for _, c := range conds {
		if m.open[c.key] != nil {
			continue
		}
		start := c.start
		if start.IsZero() {
			start = now
		}
		v := Violation{ID: newViolationID(), Code: c.code, Severity: c.sev, Phase: PhaseOpen, Summary: c.summary, Evidence: c.evidence, Start: start}
		m.open[c.key] = &openViolation{v: v, source: source}
		m.notify.violation(v)
		if c.opened != nil {
			c.opened(c.key)
		}
	}
}

func (m *Monitor) endLocked(key string, now time.Time, why string) {
	o := m.open[key]
	delete(m.open, key)
	v := o.v
	v.Phase, v.End = PhaseEnd, now
	if r := m.resolution[key]; r != "" {
		why = r
	}
	delete(m.resolution, key)
	if why != "" {
		v.Evidence = maps.Clone(v.Evidence)
		if v.Evidence == nil {
			v.Evidence = map[string]string{}
		}
		v.Evidence["resolution"] = why
	}
	m.notify.violation(v)
}

// onTick adds f to what runs at every heartbeat of the Monitor, with mu
// held: the prohibited-programs family's poll (every ProcessInterval) is
// the heartbeat. A family's watch calls it.
func (m *Monitor) onTick(f func(now time.Time)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ticks = append(m.ticks, f)
}

// tickLocked runs the heartbeat's functions; mu is held.
func (m *Monitor) tickLocked(now time.Time) {
	for _, f := range m.ticks {
		f(now)
	}
}
