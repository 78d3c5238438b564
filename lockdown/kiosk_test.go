package lockdown

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/invigil/invigil/lockdown/journal"
	"github.com/invigil/invigil/lockdown/policy"
)

// fakeKiosk records how the Monitor drives a kiosk.
type fakeKiosk struct {
	mu     sync.Mutex
	cfg    kioskConfig
	closed int
}

func (f *fakeKiosk) start(cfg kioskConfig) (kioskHandle, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cfg = cfg
	return f, nil
}

func (f *fakeKiosk) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed++
	return nil
}

// TestMonitorKiosk: with a journal the Monitor starts the kiosk with the
// policy's settings, turns key reports into instant violations (at most one
// per key combination per 10 s) and stops the kiosk at Close.
func TestMonitorKiosk(t *testing.T) {
	j, _, err := journal.Open(context.Background(), filepath.Join(t.TempDir(), "j.jsonl"), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close(context.Background())
	p := policy.Default()
	p.Processes.Prohibited = nil
	p.Clipboard = policy.ClipboardAllow
	p.Kiosk.PrintScreen = policy.Flag
	fk := &fakeKiosk{}
	rec := newRecorder()
	m, err := NewMonitor(p, MonitorOptions{Sink: rec, Logger: quietLogger(), Journal: j, kiosk: fk.start,
		listHidden: (&fakeWindows{}).list})
	if err != nil {
		t.Fatal(err)
	}
	fk.mu.Lock()
	cfg := fk.cfg
	fk.mu.Unlock()
	if cfg.journal != j || cfg.policy.PrintScreen != policy.Flag || cfg.report == nil || cfg.self != selfPID() {
		t.Fatalf("kiosk config %+v", cfg)
	}
	cfg.report(keyReport{Keys: "Alt+Tab", Action: policy.Block})
	cfg.report(keyReport{Keys: "Alt+Tab", Action: policy.Block}) // within 10 s: not again
	cfg.report(keyReport{Keys: "PrintScreen", Action: policy.Flag})
	v, _ := rec.wait(t, eventWait, "key.blocked", func(v Violation) bool { return v.Code == CodeKeyBlocked && v.Phase == PhaseEnd })
	if v.Evidence["keys"] != "Alt+Tab" || v.Severity != SeverityWarning || v.Summary != "Alt+Tab pressed and blocked" {
		t.Errorf("violation %+v", v)
	}
	rec.wait(t, eventWait, "key.used", func(v Violation) bool { return v.Code == CodeKeyUsed && v.Evidence["keys"] == "PrintScreen" })
	time.Sleep(50 * time.Millisecond)
	n := 0
	for _, e := range rec.snapshot() {
		if e.Code == CodeKeyBlocked && e.Phase == PhaseOpen {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d key.blocked violations for two Alt+Tab within 10 s, want 1", n)
	}
	m.Close()
	m.Close()
	fk.mu.Lock()
	defer fk.mu.Unlock()
	if fk.closed != 1 {
		t.Errorf("kiosk closed %d times, want 1", fk.closed)
	}
}

// Without a journal, or with a policy that asks for nothing, there is no
// kiosk.
func TestMonitorNoKiosk(t *testing.T) {
	fk := &fakeKiosk{}
	p := policy.Default()
	p.Processes.Prohibited = nil
	m, err := NewMonitor(p, MonitorOptions{Sink: newRecorder(), Logger: quietLogger(), kiosk: fk.start, listHidden: (&fakeWindows{}).list})
	if err != nil {
		t.Fatal(err)
	}
	m.Close()
	j, _, err := journal.Open(context.Background(), filepath.Join(t.TempDir(), "j.jsonl"), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close(context.Background())
	p.Clipboard = policy.ClipboardAllow
	p.Kiosk = policy.Kiosk{WindowsKey: policy.Allow, PrintScreen: policy.Allow, AppSwitch: policy.Allow}
	m, err = NewMonitor(p, MonitorOptions{Sink: newRecorder(), Logger: quietLogger(), Journal: j, kiosk: fk.start, listHidden: (&fakeWindows{}).list})
	if err != nil {
		t.Fatal(err)
	}
	m.Close()
	if fk.cfg.journal != nil {
		t.Error("kiosk started without a journal or with nothing to do")
	}
}
