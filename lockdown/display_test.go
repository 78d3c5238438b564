package lockdown

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/invigil/invigil/capture/xvfb/xvfbtest"
	"github.com/invigil/invigil/lockdown/policy"
)

// TestDisplaysXvfb: two screens under Xinerama are two displays; the
// check fails with max 1 and the Monitor opens a display.count violation.
func TestDisplaysXvfb(t *testing.T) {
	display := xvfbtest.Start(t, "1280x720x24", "1280x720x24") // two screens under Xinerama
	t.Setenv("DISPLAY", display)
	ds, err := Displays()
	if err != nil || len(ds) != 2 {
		t.Fatalf("Displays() = %v, %v; want 2", ds, err)
	}
	p := policy.Default()
	r := Check(context.Background(), p, CheckOptions{})
	c, _ := r.Check(CheckDisplays)
	if c.Status != StatusFail || c.Evidence["count"] != "2" || len(c.Fixes) == 0 || !strings.Contains(c.Fixes[0], "second display") {
		t.Errorf("display check %+v, want fail on 2 displays with a fix", c)
	}
	p.Displays.Max = 2
	if c := displayResult(p, ds, nil); c.Status != StatusPass {
		t.Errorf("max 2: %s", c.Status)
	}

	rec := newRecorder()
	m, err := NewMonitor(policy.Default(), MonitorOptions{Sink: rec, Logger: quietLogger(), DisplayInterval: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	v, _ := rec.wait(t, eventWait, "display.count", func(v Violation) bool { return v.Code == CodeDisplayCount && v.Phase == PhaseOpen })
	if v.Evidence["count"] != "2" || v.Severity != SeverityCritical {
		t.Errorf("violation %+v", v)
	}
	rec.mu.Lock()
	changes := len(rec.disp)
	rec.mu.Unlock()
	if changes == 0 {
		t.Error("DisplaySink not told about the displays")
	}
	m.Close()
	end, _ := rec.wait(t, eventWait, "display end", func(v Violation) bool { return v.Code == CodeDisplayCount && v.Phase == PhaseEnd })
	if end.Evidence["resolution"] != "monitor stopped" {
		t.Errorf("end %+v", end)
	}
}
