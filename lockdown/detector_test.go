package lockdown

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/invigil/invigil/lockdown/policy"
)

// spyDetector wraps a family and counts the calls the check and the
// Monitor make.
type spyDetector struct {
	detector
	mu             sync.Mutex
	checks, watchs int
}

func (s *spyDetector) check(ctx context.Context, in *checkInput) []CheckResult {
	s.mu.Lock()
	s.checks++
	s.mu.Unlock()
	return s.detector.check(ctx, in)
}

func (s *spyDetector) watch(m *Monitor) closeHooks {
	s.mu.Lock()
	s.watchs++
	s.mu.Unlock()
	return s.detector.watch(m)
}

// fakeDetector is a family the package does not have: a check result and,
// in the Monitor, a polled condition, with both close hooks.
type fakeDetector struct {
	mu     sync.Mutex
	steps  []string // what happened, in order
	polled chan struct{}
}

func (f *fakeDetector) step(s string) {
	f.mu.Lock()
	f.steps = append(f.steps, s)
	f.mu.Unlock()
}

func (f *fakeDetector) name() string { return "fake" }

func (f *fakeDetector) check(context.Context, *checkInput) []CheckResult {
	return []CheckResult{{ID: "fake.check", Title: "Fake", Status: StatusWarn, Summary: "the fake detector saw something"}}
}

func (f *fakeDetector) watch(m *Monitor) closeHooks {
	var once sync.Once
	m.wg.Go(func() {
		m.poll(time.Hour, func(now time.Time) {
			m.mu.Lock()
			m.reconcileLocked("fake", []cond{{key: "fake", code: "fake.code", sev: SeverityWarning, summary: "fake",
				opened: func(string) { f.step("opened") }}}, now)
			m.mu.Unlock()
			once.Do(func() { close(f.polled) })
		})
	})
	return closeHooks{halt: func() { f.step("halt") }, done: func() { f.step("done") }}
}

// TestCheckWalksDetectors: the report has the checks of every family, in
// the order of the detectors list, and nothing else.
func TestCheckWalksDetectors(t *testing.T) {
	r := Check(context.Background(), policy.Default(), CheckOptions{Cameras: []Camera{{Label: "Integrated Camera"}}, listHidden: (&fakeWindows{}).list})
	var got []string
	for _, c := range r.Checks {
		got = append(got, c.ID)
	}
	want := []string{CheckProcesses, CheckRemotePorts, CheckDisplays, CheckVM, CheckRemoteSession, CheckCamera, CheckClipboard, CheckHiddenWindows}
	if !slices.Equal(got, want) {
		t.Errorf("check IDs %v, want %v", got, want)
	}
	names := map[string]bool{}
	for _, d := range detectors {
		if names[d.name()] {
			t.Errorf("two families named %q", d.name())
		}
		names[d.name()] = true
	}
}

// TestDetectorsInCheckAndMonitor: every family of the list is run by both
// the system check and the Monitor, and a family added to the list (a fake
// one) shows up in the report and opens its violations in the Monitor, with
// no change to either; its close hooks run in Monitor.Close, halt before
// the open violations end and done after every event reached the Sink.
func TestDetectorsInCheckAndMonitor(t *testing.T) {
	var list []detector
	var spies []*spyDetector
	for _, d := range detectors {
		s := &spyDetector{detector: d}
		spies = append(spies, s)
		list = append(list, s)
	}
	fake := &fakeDetector{polled: make(chan struct{})}
	list = append(list, fake)
	p := policy.Default()
	p.Processes.Prohibited = nil

	r := Check(context.Background(), p, CheckOptions{Cameras: []Camera{}, listHidden: (&fakeWindows{}).list, detectors: list})
	c, ok := r.Check("fake.check")
	if !ok || c.Status != StatusWarn || r.Checks[len(r.Checks)-1].ID != "fake.check" {
		t.Errorf("fake check %+v (found %v) not last in the report %+v", c, ok, r.Checks)
	}
	if r.Status == StatusPass {
		t.Errorf("report passes with the fake check warning")
	}

	var sink struct {
		sync.Mutex
		got []Violation
	}
	fakeSink := SinkFunc(func(v Violation) {
		if v.Code != "fake.code" {
			return
		}
		fake.step(string(v.Phase))
		sink.Lock()
		sink.got = append(sink.got, v)
		sink.Unlock()
	})
	m, err := NewMonitor(p, MonitorOptions{Sink: fakeSink, Logger: quietLogger(), listHidden: (&fakeWindows{}).list,
		kiosk: (&fakeKiosk{}).start, detectors: list})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-fake.polled:
	case <-time.After(eventWait):
		t.Fatal("the fake detector was never polled")
	}
	m.Close()
	for _, s := range spies {
		if s.checks != 1 || s.watchs != 1 {
			t.Errorf("family %s: check ran %d times, watch %d times; want 1 and 1", s.name(), s.checks, s.watchs)
		}
	}
	sink.Lock()
	defer sink.Unlock()
	if len(sink.got) != 2 || sink.got[0].Phase != PhaseOpen || sink.got[1].Phase != PhaseEnd || sink.got[0].ID != sink.got[1].ID ||
		sink.got[1].Evidence["resolution"] != "monitor stopped" {
		t.Errorf("fake violation events %+v, want open and end (monitor stopped)", sink.got)
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	// The Sink gets events from the notifier's goroutine: "opened" (the
	// family's enforcement, under the lock) and "open" may come in either
	// order, but halt comes before the end and done after it.
	steps := slices.Clone(fake.steps)
	if i := slices.Index(steps, "opened"); i < 0 || !slices.Contains(steps, "open") {
		t.Fatalf("steps %v: the violation did not open", steps)
	}
	steps = slices.DeleteFunc(steps, func(s string) bool { return s == "opened" || s == "open" })
	if want := []string{"halt", "end", "done"}; !slices.Equal(steps, want) {
		t.Errorf("close steps %v, want %v", steps, want)
	}
}
