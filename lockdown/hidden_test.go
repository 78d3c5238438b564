package lockdown

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/invigil/invigil/lockdown/policy"
)

func TestAffinityMode(t *testing.T) {
	tests := []struct {
		a      uint32
		mode   string
		hidden bool
	}{
		{0, "", false},
		{1, "monitor", true},
		{0x11, "exclude_from_capture", true},
		{0x20, "affinity 0x20", true},
	}
	for _, tt := range tests {
		mode, hidden := affinityMode(tt.a)
		if mode != tt.mode || hidden != tt.hidden {
			t.Errorf("affinityMode(%#x) = %q, %v; want %q, %v", tt.a, mode, hidden, tt.mode, tt.hidden)
		}
	}
}

var overlay = []HiddenWindow{
	{Handle: 1, PID: 4242, Program: "Cluely.exe", Exe: `C:\Users\s\AppData\Local\Cluely\Cluely.exe`, Mode: "exclude_from_capture"},
	{Handle: 2, PID: 4242, Program: "Cluely.exe", Exe: `C:\Users\s\AppData\Local\Cluely\Cluely.exe`, Mode: "exclude_from_capture"},
	{Handle: 3, PID: 77, Program: "", Mode: "monitor"},
}

func TestHiddenResult(t *testing.T) {
	p := policy.Default()
	tests := []struct {
		name    string
		action  policy.Action
		scan    windowScan
		err     error
		status  Status
		summary string
		fixes   int
	}{
		{"clean", policy.Block, windowScan{Checked: 12}, nil, StatusPass, "No window is hidden from screen recording (12 windows checked)", 0},
		{"block", policy.Block, windowScan{Checked: 12, Hidden: overlay}, nil, StatusFail, "Hidden from screen recording: A program (pid 77), Cluely.exe (pid 4242)", 2},
		{"flag", policy.Flag, windowScan{Checked: 12, Hidden: overlay}, nil, StatusWarn, "Hidden from screen recording: A program (pid 77), Cluely.exe (pid 4242)", 2},
		{"allow", policy.Allow, windowScan{Checked: 12, Hidden: overlay}, nil, StatusPass, "2 programs hide windows from screen recording; the exam allows it", 0},
		{"not applicable", policy.Block, windowScan{Why: "X11 gives no way"}, errNotApplicable, StatusPass, "Not applicable here: X11 gives no way", 0},
		{"cannot tell", policy.Block, windowScan{}, ErrUnsupported, StatusUnknown, "Could not tell whether a window is hidden from screen recording", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p.HiddenWindows = tt.action
			r := hiddenResult(p, tt.scan, tt.err)
			if r.ID != CheckHiddenWindows || r.Status != tt.status || r.Summary != tt.summary || len(r.Fixes) != tt.fixes {
				t.Errorf("got %s %q fixes %q, want %s %q with %d fixes", r.Status, r.Summary, r.Fixes, tt.status, tt.summary, tt.fixes)
			}
			if tt.status == StatusUnknown && r.Error == "" {
				t.Error("unknown without an error")
			}
			if errors.Is(tt.err, errNotApplicable) && r.Evidence["not_applicable"] == "" {
				t.Error("not applicable without saying so in the evidence")
			}
		})
	}
	p.HiddenWindows = policy.Block
	r := hiddenResult(p, windowScan{Checked: 3, Hidden: overlay}, nil)
	if r.Evidence["hidden.1.program"] != "Cluely.exe" || r.Evidence["hidden.1.windows"] != "2" || r.Evidence["hidden.1.mode"] != "exclude_from_capture" {
		t.Errorf("evidence %v", r.Evidence)
	}
	if !strings.Contains(r.Fixes[1], "Close Cluely.exe (pid 4242)") {
		t.Errorf("fix %q", r.Fixes[1])
	}
}

// fakeWindows is an injected hidden-window lister whose answer the test
// changes.
type fakeWindows struct {
	mu   sync.Mutex
	scan windowScan
	err  error
	self int32
}

func (f *fakeWindows) set(s windowScan, err error) {
	f.mu.Lock()
	f.scan, f.err = s, err
	f.mu.Unlock()
}

func (f *fakeWindows) list(_ context.Context, self int32) (windowScan, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.self = self
	return f.scan, f.err
}

// TestMonitorHiddenWindows: an overlay that hides its window opens a
// critical window.hidden violation naming the program; it ends when the
// window goes.
func TestMonitorHiddenWindows(t *testing.T) {
	p := policy.Default()
	p.Processes.Prohibited = nil
	fw := &fakeWindows{}
	fw.set(windowScan{Checked: 5}, nil)
	rec := newRecorder()
	m, err := NewMonitor(p, MonitorOptions{Sink: rec, Logger: quietLogger(), HiddenWindowInterval: 20 * time.Millisecond, listHidden: fw.list})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	fw.set(windowScan{Checked: 6, Hidden: overlay[:2]}, nil)
	v, _ := rec.wait(t, eventWait, "window.hidden open", func(v Violation) bool { return v.Code == CodeWindowHidden && v.Phase == PhaseOpen })
	if v.Severity != SeverityCritical || v.Evidence["program"] != "Cluely.exe" || v.Evidence["pid"] != "4242" || v.Evidence["windows"] != "2" {
		t.Errorf("violation %+v", v)
	}
	if !strings.Contains(v.Summary, "Cluely.exe (pid 4242) hides a window") {
		t.Errorf("summary %q", v.Summary)
	}
	// A detector error keeps the violation open (cannot tell is not gone).
	fw.set(windowScan{}, errors.New("EnumWindows: access denied"))
	time.Sleep(100 * time.Millisecond)
	for _, e := range rec.snapshot() {
		if e.Code == CodeWindowHidden && e.Phase == PhaseEnd {
			t.Fatal("violation ended on a detector error")
		}
	}
	fw.set(windowScan{Checked: 5}, nil)
	rec.wait(t, eventWait, "window.hidden end", func(v Violation) bool { return v.Code == CodeWindowHidden && v.Phase == PhaseEnd })
	fw.mu.Lock()
	self := fw.self
	fw.mu.Unlock()
	if self != selfPID() {
		t.Errorf("lister told self = %d, want our pid %d", self, selfPID())
	}
}

// TestCheckHiddenWindows: the system check fails on a hidden window under
// the default policy.
func TestCheckHiddenWindows(t *testing.T) {
	fw := &fakeWindows{}
	fw.set(windowScan{Checked: 9, Hidden: overlay[2:]}, nil)
	r := Check(context.Background(), policy.Default(), CheckOptions{listHidden: fw.list})
	c, ok := r.Check(CheckHiddenWindows)
	if !ok || c.Status != StatusFail || !r.Failed() {
		t.Fatalf("check %+v, report %s", c, r.Status)
	}
}
