package lockdown

import (
	"slices"
	"testing"
	"time"

	"github.com/invigil/invigil/lockdown/policy"
)

// TestMonitorFocusLostTo: the focus.lost violation names the program that
// took the focus; another program taking it over ends that violation and
// opens one naming the new program; the grace runs once, from the loss.
func TestMonitorFocusLostTo(t *testing.T) {
	p := policy.Default()
	p.FocusLoss = policy.FocusLoss{Action: policy.Block, GraceMS: 1000}
	p.Processes.Prohibited = nil
	p.RemotePorts = nil
	p.VirtualMachine, p.RemoteSession = policy.Allow, policy.Allow // focus events only, whatever machine this is
	t0 := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	clock := &fakeClock{now: t0}
	rec := newRecorder()
	m, err := NewMonitor(p, MonitorOptions{Sink: rec, Clock: clock, Logger: quietLogger(), Getenv: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	focus := func(phase Phase) func(Violation) bool {
		return func(v Violation) bool { return v.Code == CodeFocusLost && v.Phase == phase }
	}
	term := Foreground{Window: 0x400001, PID: 4242, PIDFrom: "x-resource", Name: "xterm", Exe: "/usr/bin/xterm"}
	m.FocusLostTo(t0, term)
	clock.advance(t, 500*time.Millisecond)
	if got := len(rec.snapshot()); got != 0 {
		t.Fatalf("%d events within the grace", got)
	}
	clock.advance(t, 600*time.Millisecond)
	open, _ := rec.wait(t, eventWait, "focus open", focus(PhaseOpen))
	if !open.Start.Equal(t0) || open.Severity != SeverityCritical || open.Summary != "The exam window lost focus to xterm (pid 4242)" {
		t.Errorf("open %+v, want start %v, critical, naming xterm", open, t0)
	}
	for k, want := range map[string]string{"pid": "4242", "name": "xterm", "exe": "/usr/bin/xterm", "pid_from": "x-resource", "program": "xterm (pid 4242)", "grace_ms": "1000"} {
		if got := open.Evidence[k]; got != want {
			t.Errorf("evidence %s = %q, want %q", k, got, want)
		}
	}

	// The same program again: nothing new.
	m.FocusLostTo(t0.Add(1200*time.Millisecond), term)
	// Another program: the first violation ends, a new one names it.
	at := t0.Add(2 * time.Second)
	m.FocusLostTo(at, Foreground{PID: 77, Name: "firefox-esr", PIDFrom: "x-resource"})
	end, _ := rec.wait(t, eventWait, "first focus end", focus(PhaseEnd))
	if end.ID != open.ID || !end.End.Equal(at) {
		t.Errorf("end %+v, want %s ended at %v", end, open.ID, at)
	}
	second, _ := rec.wait(t, eventWait, "second focus open", func(v Violation) bool { return focus(PhaseOpen)(v) && v.ID != open.ID })
	if second.Evidence["name"] != "firefox-esr" || !second.Start.Equal(at) {
		t.Errorf("second %+v, want firefox-esr from %v", second, at)
	}
	// The desktop.
	m.FocusLostTo(at.Add(time.Second), Foreground{Nobody: true})
	third, _ := rec.wait(t, eventWait, "desktop focus open", func(v Violation) bool {
		return focus(PhaseOpen)(v) && v.Evidence["nobody"] == "true"
	})
	if third.Summary != "The exam window lost focus to no window (the desktop)" {
		t.Errorf("desktop summary %q", third.Summary)
	}
	m.FocusGained(at.Add(3 * time.Second))
	rec.wait(t, eventWait, "third end", func(v Violation) bool { return focus(PhaseEnd)(v) && v.ID == third.ID })
	if got := m.Open(); len(got) != 0 {
		t.Errorf("open after FocusGained: %+v", got)
	}
}

func TestForegroundString(t *testing.T) {
	for _, tc := range []struct {
		f    Foreground
		want string
	}{
		{Foreground{Nobody: true}, "no window (the desktop)"},
		{Foreground{}, "an unknown program"},
		{Foreground{Name: "XTerm"}, "XTerm (process not known)"},
		{Foreground{PID: 12}, "pid 12"},
		{Foreground{PID: 12, Name: "evince"}, "evince (pid 12)"},
	} {
		if got := tc.f.String(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.f, got, tc.want)
		}
	}
}

// TestKioskPolicyAllowedApps: the Windows foreground guard lets the
// allowed apps to the front, without touching the policy's own lists.
func TestKioskPolicyAllowedApps(t *testing.T) {
	p := policy.Default()
	p.Kiosk.SwitchTo.Windows = make([]string, 1, 8)
	p.Kiosk.SwitchTo.Windows[0] = "notepad.exe"
	p.AllowedApps = []policy.AllowedApp{{Name: "Calculator", Names: policy.OSList{Windows: []string{"calc.exe"}, All: []string{"galculator"}}}}
	k := kioskPolicy(p)
	if got, want := k.SwitchTo.For("windows"), []string{"galculator", "notepad.exe", "calc.exe"}; !slices.Equal(got, want) {
		t.Errorf("switch_to %q, want %q", got, want)
	}
	if got := p.Kiosk.SwitchTo.For("windows"); !slices.Equal(got, []string{"notepad.exe"}) {
		t.Errorf("the policy's switch_to changed: %q", got)
	}
	if !newKeyDecider(kioskPolicy(&policy.Policy{AllowedApps: p.AllowedApps}), "windows").switchOpen {
		t.Error("with allowed apps the switching keys stay closed")
	}
}

// With an exam browser the exam happens in the browser's window: the
// kiosk lets the browsers the client launches to the front and does not
// keep Invigil's window on top of them.
func TestKioskPolicyExamBrowser(t *testing.T) {
	p := policy.Default()
	p.Kiosk.Topmost = true
	if k := kioskPolicy(p); !k.Topmost || slices.Contains(k.SwitchTo.For("windows"), "msedge.exe") {
		t.Fatalf("without an exam browser: topmost %v, switch_to %q", k.Topmost, k.SwitchTo.For("windows"))
	}
	p.ExamBrowser = policy.ExamBrowser{StartURL: "https://lms.example.edu/quiz"}
	k := kioskPolicy(p)
	if k.Topmost {
		t.Error("Invigil's window stays topmost over the exam browser")
	}
	for _, exe := range []string{"msedge.exe", "chrome.exe", "chromium.exe"} {
		if !slices.Contains(k.SwitchTo.For("windows"), exe) {
			t.Errorf("%s may not come to the front", exe)
		}
	}
	if !p.Kiosk.Topmost || len(p.Kiosk.SwitchTo.Windows) != 0 {
		t.Error("the policy itself changed")
	}
}
