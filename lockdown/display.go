package lockdown

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/invigil/invigil/lockdown/policy"
)

// Display is one active display and its place on the virtual desktop.
type Display struct {
	Index  int `json:"index"`
	X      int `json:"x"`
	Y      int `json:"y"`
	Width  int `json:"width"`
	Height int `json:"height"`
}

func (d Display) String() string { return fmt.Sprintf("%dx%d+%d+%d", d.Width, d.Height, d.X, d.Y) }

// errNoDisplay: there is no display to ask (DISPLAY unset, a headless box).
var errNoDisplay = errors.New("no display server to ask (DISPLAY is not set)")

// Displays returns the active displays. It reports an error, never an empty
// list, when it cannot tell (kbinani/screenshot says "0 displays" both for
// no display server and for a failed connection).
func Displays() ([]Display, error) { return readDisplays() }

// displayReader reads the displays; the Monitor keeps one open between
// polls (on Linux it holds an X connection).
type displayReader interface {
	read() ([]Display, error)
	close()
}

func readDisplays() ([]Display, error) {
	r := newDisplayReader()
	defer r.close()
	return r.read()
}

func displayResult(p *policy.Policy, ds []Display, err error) CheckResult {
	r := CheckResult{ID: CheckDisplays, Title: "Displays"}
	if err != nil {
		r.Status, r.Error = StatusUnknown, err.Error()
		r.Summary = "Could not count the displays"
		return r
	}
	geo := make([]string, len(ds))
	for i, d := range ds {
		geo[i] = d.String()
	}
	r.Evidence = map[string]string{"count": strconv.Itoa(len(ds)), "geometry": strings.Join(geo, " "), "max": strconv.Itoa(p.Displays.Max)}
	if len(ds) <= p.Displays.Max {
		r.Status = StatusPass
		r.Summary = plural(len(ds), "display", "displays") + " connected"
		return r
	}
	r.Status = statusFor(p.Displays.Action)
	r.Summary = fmt.Sprintf("%s connected, the exam allows %d", plural(len(ds), "display", "displays"), p.Displays.Max)
	if r.Status != StatusPass {
		extra := len(ds) - p.Displays.Max
		what := "the second display"
		if p.Displays.Max > 1 || extra > 1 {
			what = plural(extra, "display", "displays")
		}
		r.Fixes = []string{"Disconnect " + what + ", then run the check again"}
	}
	return r
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// statusFor maps a policy action to the status of a detection.
func statusFor(a policy.Action) Status {
	switch a {
	case policy.Block:
		return StatusFail
	case policy.Flag:
		return StatusWarn
	}
	return StatusPass
}

// displayDetector is the display family: more displays than the policy's
// displays.max is a display.count violation (and a check that warns or
// fails, per displays.action). The Monitor also tells a DisplaySink of
// every change in the displays' count or geometry.
type displayDetector struct{}

func (displayDetector) name() string { return "displays" }

func (displayDetector) check(_ context.Context, in *checkInput) []CheckResult {
	ds, err := readDisplays()
	return []CheckResult{displayResult(in.p, ds, err)}
}

func (displayDetector) watch(m *Monitor) closeHooks {
	m.wg.Go(func() {
		r := newDisplayReader()
		defer r.close()
		var last []Display // guarded by m.mu
		m.poll(m.opts.DisplayInterval, func(now time.Time) {
			ds, err := r.read()
			m.detectorErr("displays", err)
			if err != nil {
				return
			}
			conds := displayConds(m.p, ds)
			m.mu.Lock()
			defer m.mu.Unlock()
			if !slices.Equal(ds, last) {
				last = ds
				if !m.stopped {
					m.notify.displaysChanged(now, slices.Clone(ds))
				}
			}
			m.reconcileLocked("display", conds, now)
		})
	})
	return closeHooks{}
}

// displayConds is the condition of too many displays, if they are.
func displayConds(p *policy.Policy, ds []Display) []cond {
	if len(ds) <= p.Displays.Max || p.Displays.Action == policy.Allow {
		return nil
	}
	geo := make([]string, len(ds))
	for i, d := range ds {
		geo[i] = d.String()
	}
	return []cond{{
		key: "display.count:" + strconv.Itoa(len(ds)), code: CodeDisplayCount, sev: severityFor(p.Displays.Action),
		summary:  fmt.Sprintf("%s connected, the exam allows %d", plural(len(ds), "display", "displays"), p.Displays.Max),
		evidence: map[string]string{"count": strconv.Itoa(len(ds)), "max": strconv.Itoa(p.Displays.Max), "geometry": strings.Join(geo, " ")},
	}}
}
