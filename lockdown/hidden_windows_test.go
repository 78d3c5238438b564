package lockdown

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/windows"
)

// TestWindowsHiddenWindows creates a window, asks Windows to exclude it
// from capture and expects the detector (told that our own process is
// "another" one) to name this program. Wine 8 implements
// SetWindowDisplayAffinity as a stub (it fails) and GetWindowDisplayAffinity
// always answers WDA_NONE: there, the affinity value is injected for our
// window and everything else (EnumWindows, visibility, pid, executable
// name) runs for real.
func TestWindowsHiddenWindows(t *testing.T) {
	defer lockThread()()
	w, err := createWindow("invigil test overlay")
	if err != nil {
		t.Fatal(err)
	}
	defer destroyWindow(w)

	affinity := windowAffinity
	r, _, setErr := procSetWindowDisplayAffinity.Call(uintptr(w), wdaExcludeFromCapture)
	got, getErr := windowAffinity(w)
	if r == 0 || got != wdaExcludeFromCapture {
		t.Logf("SetWindowDisplayAffinity: ok=%v (%v); GetWindowDisplayAffinity then says %#x (%v): injecting the value (Wine stub)", r != 0, setErr, got, getErr)
		affinity = func(h windows.HWND) (uint32, error) {
			if h == w {
				return wdaExcludeFromCapture, nil
			}
			return windowAffinity(h)
		}
	} else {
		t.Log("SetWindowDisplayAffinity and GetWindowDisplayAffinity work: no injection")
	}
	s, err := scanWindows(context.Background(), -1, affinity)
	if err != nil {
		t.Fatal(err)
	}
	exe, _ := os.Executable()
	var found bool
	for _, h := range s.Hidden {
		if h.Handle == uint64(w) {
			found = true
			if h.PID != selfPID() || !strings.EqualFold(h.Program, filepath.Base(exe)) || h.Mode != "exclude_from_capture" {
				t.Errorf("hidden window %+v, want pid %d program %s", h, selfPID(), filepath.Base(exe))
			}
		}
	}
	if !found {
		t.Errorf("our hidden window was not found among %d checked: %+v", s.Checked, s.Hidden)
	}
	// Our own windows are skipped when we are "self".
	s, err = scanWindows(context.Background(), selfPID(), affinity)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range s.Hidden {
		if h.PID == selfPID() {
			t.Errorf("own window reported: %+v", h)
		}
	}
}

// TestWindowsEnumerationCost measures one scan with many windows: the
// Monitor runs it every second.
func TestWindowsEnumerationCost(t *testing.T) {
	defer lockThread()()
	const n = 8 // creating a window under Wine and Xvfb is slow (~1-2 s on a loaded machine); doc.go has the cost for 40 and 200
	for i := range n {
		w, err := createWindow("window " + string(rune('a'+i%26)))
		if err != nil {
			t.Fatal(err)
		}
		defer destroyWindow(w)
	}
	const rounds = 20
	t0 := time.Now()
	var s windowScan
	for range rounds {
		var err error
		if s, err = listHiddenWindows(context.Background(), -1); err != nil {
			t.Fatal(err)
		}
	}
	per := time.Since(t0) / rounds
	if s.Checked < n {
		t.Errorf("checked %d windows, want at least %d", s.Checked, n)
	}
	t.Logf("one hidden-window scan of %d visible top-level windows: %v (%.1f µs a window)", s.Checked, per, float64(per.Microseconds())/float64(s.Checked))
}
