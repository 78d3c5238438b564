package client_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/invigil/invigil/capture/xvfb/xvfbtest"
	"github.com/invigil/invigil/client"
	"github.com/invigil/invigil/client/exam"
	"github.com/invigil/invigil/client/flowtest"
	"github.com/invigil/invigil/client/launch"
	"github.com/invigil/invigil/lockdown"
	"github.com/invigil/invigil/lockdown/lockdowntest"
	"github.com/invigil/invigil/lockdown/policy"
)

// fakeForeground is a foreground source a test switches by hand.
type fakeForeground struct {
	mu  sync.Mutex
	fg  lockdown.Foreground
	err error
}

func (s *fakeForeground) set(fg lockdown.Foreground, err error) {
	s.mu.Lock()
	s.fg, s.err = fg, err
	s.mu.Unlock()
}

func (s *fakeForeground) read(context.Context) (lockdown.Foreground, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fg, s.err
}

func allowedAppsPolicy(t *testing.T, names ...string) *policy.Policy {
	t.Helper()
	p := policy.Default()
	for _, n := range names {
		p.AllowedApps = append(p.AllowedApps, policy.AllowedApp{Name: "App " + n, Names: policy.OSList{All: []string{n}}})
	}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	return p
}

// startExamFlow runs a flow with env to the exam screen.
func startExamFlow(t *testing.T, env client.Env, fenv *flowtest.Env) (*client.Flow, *flowtest.Exam) {
	t.Helper()
	f := client.NewFlow(client.FlowOptions{Env: env, Config: launch.Config{SpoolDir: t.TempDir()}, Code: "PHYS1",
		Link: "invigil://join?server=https://proctor.example.edu&code=PHYS1",
		Tick: 20 * time.Millisecond, RoomScan: 30 * time.Millisecond, RoomScanShots: 2})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	waitState(t, f, "check ready", func(s client.State) bool { return s.Screen == client.ScreenCheck && s.Check.CanContinue })
	return f, checkToExam(t, f, fenv)
}

// waitEvent waits for the n-th event of type typ (counting from 1).
func waitEvent(t *testing.T, x *flowtest.Exam, typ string, n int) flowtest.Event {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		k := 0
		for _, e := range x.Events() {
			if e.Type == typ {
				if k++; k == n {
					return e
				}
			}
		}
	}
	t.Fatalf("no %s event #%d; events: %+v", typ, n, x.Events())
	return flowtest.Event{}
}

func countEvents(x *flowtest.Exam, typ string) (n int) {
	for _, e := range x.Events() {
		if e.Type == typ {
			n++
		}
	}
	return n
}

// TestFocusAttribution: focus on an allowed program or the exam browser
// is no focus loss (a focus.allowed event, the indicator's state); any
// other program is, naming it; the flow keeps watching while away, so a
// switch from an allowed program to another one is caught; a program it
// cannot tell is a loss, as before.
func TestFocusAttribution(t *testing.T) {
	env := &flowtest.Env{Policy: allowedAppsPolicy(t, "gnome-calculator")}
	src := &fakeForeground{}
	f, x := startExamFlow(t, env, env)
	f.SetFocusSource(src.read)
	f.SetFocusAllowed(func(pid int) bool { return pid == 55 })

	calc := lockdown.Foreground{PID: 42, Name: "gnome-calculator", Exe: "/usr/bin/gnome-calculator", PIDFrom: "x-resource"}
	src.set(calc, nil)
	f.FocusChanged(false)
	e := waitEvent(t, x, "focus.allowed", 1)
	if e.Fields["program"] != "App gnome-calculator" || e.Fields["kind"] != "allowed_app" || e.Fields["pid"] != "42" {
		t.Errorf("focus.allowed %+v", e.Fields)
	}
	s := waitState(t, f, "indicator state", func(s client.State) bool { return s.Exam != nil && s.Exam.Away.Program != "" })
	if s.Exam.Away != (client.FocusAway{Program: "App gnome-calculator", Kind: "allowed_app"}) {
		t.Errorf("away %+v", s.Exam.Away)
	}
	if got := x.Focus(); len(got) != 0 {
		t.Fatalf("the monitor was told %v for an allowed program", got)
	}

	// From the calculator on to a terminal: caught by the poll.
	src.set(lockdown.Foreground{PID: 99, Name: "xterm", Exe: "/usr/bin/xterm", PIDFrom: "x-resource"}, nil)
	e = waitEvent(t, x, "focus.lost", 1)
	if e.Fields["name"] != "xterm" || e.Fields["pid"] != "99" || e.Fields["program"] != "xterm (pid 99)" {
		t.Errorf("focus.lost %+v", e.Fields)
	}
	waitState(t, f, "no indicator", func(s client.State) bool { return s.Exam != nil && s.Exam.Away.Program == "" })
	if got := x.Focus(); !slices.Equal(got, []bool{false}) {
		t.Errorf("monitor calls %v, want [false]", got)
	}

	// On to the exam browser: the loss ends.
	src.set(lockdown.Foreground{PID: 55, Name: "chromium"}, nil)
	e = waitEvent(t, x, "focus.allowed", 2)
	if e.Fields["kind"] != "exam_browser" || e.Fields["program"] != "the exam browser" {
		t.Errorf("focus.allowed %+v", e.Fields)
	}
	if got := x.Focus(); !slices.Equal(got, []bool{false, true}) {
		t.Errorf("monitor calls %v, want [false true]", got)
	}

	// Back in Invigil.
	f.FocusChanged(true)
	waitEvent(t, x, "focus.gained", 1)
	waitState(t, f, "no indicator", func(s client.State) bool { return s.Exam != nil && s.Exam.Away.Program == "" })

	// Nobody has the focus (the desktop): a loss.
	src.set(lockdown.Foreground{Nobody: true}, nil)
	f.FocusChanged(false)
	if e := waitEvent(t, x, "focus.lost", 2); e.Fields["nobody"] != "true" {
		t.Errorf("desktop focus.lost %+v", e.Fields)
	}
	f.FocusChanged(true)
	waitEvent(t, x, "focus.gained", 2)

	// The program cannot be told: a loss, with the reason.
	src.set(lockdown.Foreground{}, fmt.Errorf("which program has the focus: %w", lockdown.ErrUnsupported))
	f.FocusChanged(false)
	if e := waitEvent(t, x, "focus.lost", 3); e.Fields["program"] != "an unknown program" || e.Fields["reason"] == nil {
		t.Errorf("unknown focus.lost %+v", e.Fields)
	}
	// An Invigil window of its own (the indicator) is no loss either.
	f.FocusChanged(true)
	src.set(lockdown.Foreground{PID: os.Getpid(), Own: true}, nil)
	f.FocusChanged(false)
	f.FocusChanged(true)
	waitEvent(t, x, "focus.gained", 4)
	if n := countEvents(x, "focus.lost"); n != 3 {
		t.Errorf("%d focus.lost events, want 3", n)
	}
	if n := countEvents(x, "focus.allowed"); n != 2 {
		t.Errorf("%d focus.allowed events, want 2", n)
	}
}

// monitorEnv is flowtest's Env whose exams report focus to a real
// lockdown Monitor, to see the violations.
type monitorEnv struct {
	*flowtest.Env
	mon *lockdown.Monitor
}

func (e *monitorEnv) StartExam(ctx context.Context, j *exam.Joined, hooks client.ExamHooks) (client.ExamRun, error) {
	x, err := e.Env.StartExam(ctx, j, hooks)
	if err != nil {
		return nil, err
	}
	return &monitorExam{ExamRun: x, mon: e.mon}, nil
}

type monitorExam struct {
	client.ExamRun
	mon *lockdown.Monitor
}

func (x *monitorExam) FocusLost(at time.Time)   { x.mon.FocusLost(at) }
func (x *monitorExam) FocusGained(at time.Time) { x.mon.FocusGained(at) }
func (x *monitorExam) FocusLostTo(at time.Time, fg lockdown.Foreground) {
	x.mon.FocusLostTo(at, fg)
}

// violations records a Monitor's violations.
type violations struct {
	mu sync.Mutex
	vs []lockdown.Violation
}

func (r *violations) Violation(v lockdown.Violation) {
	r.mu.Lock()
	r.vs = append(r.vs, v)
	r.mu.Unlock()
}

func (r *violations) all() []lockdown.Violation {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.vs)
}

// TestFocusAttributionX11 is the real thing under Xvfb: two other
// programs' windows (copies of xmessage, one allowed by name), the focus
// moved with xdotool, lockdown's X11 foreground reader and a real
// Monitor: the allowed one is no violation, the other is, naming it.
func TestFocusAttributionX11(t *testing.T) {
	display := xvfbtest.Start(t, "1280x720x24")
	t.Setenv("DISPLAY", display)
	t.Setenv("WAYLAND_DISPLAY", "")
	t.Setenv("XDG_SESSION_TYPE", "")
	dir := t.TempDir()
	calc, err := lockdowntest.StartXWindow(display, dir, "calchelper", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer calc.Close()
	evil, err := lockdowntest.StartXWindow(display, dir, "evilhelper", 600, 300)
	if err != nil {
		t.Fatal(err)
	}
	defer evil.Close()

	p := allowedAppsPolicy(t, "calchelper")
	p.FocusLoss.GraceMS = 0
	p.Processes.Prohibited, p.RemotePorts = nil, nil
	rec := &violations{}
	mon, err := lockdown.NewMonitor(p, lockdown.MonitorOptions{Sink: rec})
	if err != nil {
		t.Fatal(err)
	}
	defer mon.Close()
	fenv := &flowtest.Env{Policy: p}
	f, x := startExamFlow(t, &monitorEnv{Env: fenv, mon: mon}, fenv)

	focusViolations := func() (out []lockdown.Violation) {
		for _, v := range rec.all() {
			if v.Code == lockdown.CodeFocusLost && v.Phase == lockdown.PhaseOpen {
				out = append(out, v)
			}
		}
		return out
	}
	if err := lockdowntest.Focus(display, calc.ID); err != nil {
		t.Fatal(err)
	}
	f.FocusChanged(false) // what the exam window's focus-out reports
	e := waitEvent(t, x, "focus.allowed", 1)
	if e.Fields["program"] != "App calchelper" || e.Fields["pid"] != fmt.Sprint(calc.PID()) || e.Fields["pid_from"] != "x-resource" {
		t.Errorf("focus.allowed %+v, want calchelper pid %d", e.Fields, calc.PID())
	}
	waitState(t, f, "indicator state", func(s client.State) bool { return s.Exam != nil && s.Exam.Away.Program == "App calchelper" })
	time.Sleep(300 * time.Millisecond) // the grace is 0: a violation would be open by now
	if vs := focusViolations(); len(vs) != 0 {
		t.Fatalf("focus on an allowed program is a violation: %+v", vs)
	}

	// The student moves on to the other program: caught by the poll.
	if err := lockdowntest.Focus(display, evil.ID); err != nil {
		t.Fatal(err)
	}
	e = waitEvent(t, x, "focus.lost", 1)
	if e.Fields["name"] != "evilhelper" || e.Fields["pid"] != fmt.Sprint(evil.PID()) {
		t.Errorf("focus.lost %+v, want evilhelper pid %d", e.Fields, evil.PID())
	}
	var v lockdown.Violation
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if vs := focusViolations(); len(vs) > 0 {
			v = vs[0]
			break
		}
	}
	if v.ID == "" {
		t.Fatalf("no focus.lost violation; violations %+v", rec.all())
	}
	if v.Evidence["name"] != "evilhelper" || v.Evidence["pid"] != fmt.Sprint(evil.PID()) || v.Evidence["exe"] != evil.Exe ||
		v.Summary != fmt.Sprintf("The exam window lost focus to evilhelper (pid %d)", evil.PID()) {
		t.Errorf("violation %+v, want it to name evilhelper pid %d", v, evil.PID())
	}

	// Back to the allowed program: the violation ends.
	if err := lockdowntest.Focus(display, calc.ID); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, x, "focus.allowed", 2)
	focusOpen := func() bool {
		return slices.ContainsFunc(mon.Open(), func(v lockdown.Violation) bool { return v.Code == lockdown.CodeFocusLost })
	}
	for deadline := time.Now().Add(10 * time.Second); focusOpen(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("still open: %+v", mon.Open())
		}
	}
	f.FocusChanged(true)
	waitEvent(t, x, "focus.gained", 1)
}
