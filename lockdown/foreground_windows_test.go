package lockdown

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestWindowsForeground: the foreground reader names invigil's own window,
// then another program's window that comes to the front (the helper
// process of TestWindowsForegroundGuard); the AboveKeeper makes a window
// topmost without activating it.
func TestWindowsForeground(t *testing.T) {
	defer lockThread()()
	own, err := createWindow("invigil exam window")
	if err != nil {
		t.Fatal(err)
	}
	defer destroyWindow(own)
	procSetForegroundWindow.Call(uintptr(own))
	pumpKeys(100 * time.Millisecond)
	r := NewForegroundReader(nil)
	defer r.Close()
	f, err := r.Read(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !f.Own || f.PID != os.Getpid() || f.Window != uint64(own) || f.PIDFrom != "os" {
		t.Errorf("own window: %+v, want own pid %d window %#x", f, os.Getpid(), own)
	}

	k := NewAboveKeeper(nil)
	defer k.Close()
	if err := k.Keep(uint64(own)); err != nil {
		t.Fatal(err)
	}
	for start := time.Now(); exStyle(own)&wsExTopmost == 0; {
		if time.Since(start) > 3*time.Second {
			t.Fatal("the window is not topmost")
		}
		pumpKeys(20 * time.Millisecond)
	}

	cmd, foreign, stop := startForeignWindow(t)
	defer stop()
	start := time.Now()
	for {
		pumpKeys(20 * time.Millisecond)
		if f, err = r.Read(t.Context()); err == nil && f.PID == cmd.Process.Pid {
			break
		}
		if time.Since(start) > 5*time.Second {
			t.Fatalf("foreground %+v (%v), want the helper's pid %d window %#x", f, err, cmd.Process.Pid, foreign)
		}
	}
	exe, _ := os.Executable()
	if f.Own || f.Window != uint64(foreign) || !strings.EqualFold(f.Name, filepath.Base(exe)) || f.Exe == "" {
		t.Errorf("other program: %+v, want %s window %#x", f, filepath.Base(exe), foreign)
	}
	t.Logf("foreground: %s, read in %v", f, time.Since(start))
}
