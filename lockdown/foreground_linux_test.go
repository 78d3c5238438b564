package lockdown

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/invigil/invigil/capture/xvfb/xvfbtest"
	"github.com/invigil/invigil/lockdown/lockdowntest"
	"github.com/invigil/invigil/lockdown/policy"
)

// TestForegroundX11 runs the X11 foreground reader against real windows
// of other processes under Xvfb (no window manager): the pointer's window
// while the focus follows the pointer, the window xdotool focuses, the
// real pid although the window claims another one in _NET_WM_PID, and the
// allowed-app match by name and digest.
func TestForegroundX11(t *testing.T) {
	display := xvfbtest.Start(t, "1280x720x24")
	env := func(k string) string {
		if k == "DISPLAY" {
			return display
		}
		return ""
	}
	r := NewForegroundReader(env)
	defer r.Close()
	ctx := context.Background()
	read := func(what string) Foreground {
		t.Helper()
		var f Foreground
		var err error
		// Xvfb's connection fails now and then (doc.go): the reader
		// retries; the test gives it a few rounds more.
		for i := 0; i < 5; i++ {
			if f, err = r.Read(ctx); err == nil {
				return f
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("%s: %v", what, err)
		return f
	}

	// Xvfb starts with the focus following the pointer, which is over the
	// root window: nobody.
	if f := read("at start"); !f.Nobody {
		t.Errorf("at start %+v, want nobody", f)
	}

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
	want := func(f Foreground, w *lockdowntest.XWindow, name string) {
		t.Helper()
		if f.Nobody || f.PID != w.PID() || f.Name != name || f.Exe != w.Exe || f.PIDFrom != "x-resource" || f.Window != uint64(w.ID) || f.Own {
			t.Errorf("foreground %+v, want %s pid %d window %#x exe %s from x-resource", f, name, w.PID(), w.ID, w.Exe)
		}
	}

	// The focus follows the pointer: the window under it.
	if _, err := lockdowntest.Xdotool(ctx, display, "mousemove", "10", "10"); err != nil {
		t.Fatal(err)
	}
	want(read("pointer over calchelper"), calc, "calchelper")

	// Explicit focus (XSetInputFocus), as a window manager sets it.
	if err := lockdowntest.Focus(display, evil.ID); err != nil {
		t.Fatal(err)
	}
	evilFG := read("evilhelper focused")
	want(evilFG, evil, "evilhelper")

	// A window claiming another program's pid does not fool the reader:
	// the X server knows which client made it.
	xprop := exec.Command("xprop", "-id", strconv.Itoa(int(evil.ID)), "-f", "_NET_WM_PID", "32c", "-set", "_NET_WM_PID", strconv.Itoa(calc.PID()))
	xprop.Env = append(xprop.Environ(), "DISPLAY="+display)
	if out, err := xprop.CombinedOutput(); err != nil {
		t.Fatalf("xprop: %v: %s", err, out)
	}
	want(read("evilhelper claiming calchelper's pid"), evil, "evilhelper")

	if err := lockdowntest.Focus(display, calc.ID); err != nil {
		t.Fatal(err)
	}
	calcFG := read("calchelper focused")
	want(calcFG, calc, "calchelper")

	// Allowed apps: by name, and by name and digest (both copies are
	// xmessage, so the digest alone cannot tell them apart).
	_, sum, err := lockdowntest.CopySleep(t.TempDir(), "unused") // a digest that matches neither
	if err != nil {
		t.Fatal(err)
	}
	xsum := fileSHA256(t, calc.Exe)
	for _, tc := range []struct {
		apps       []policy.AllowedApp
		calc, evil bool
	}{
		{[]policy.AllowedApp{{Name: "Calculator", Names: policy.OSList{Linux: []string{"calchelper"}}}}, true, false},
		{[]policy.AllowedApp{{Name: "Calculator", Names: policy.OSList{All: []string{"calc*"}}, SHA256: []string{xsum}}}, true, false},
		{[]policy.AllowedApp{{Name: "Calculator", Names: policy.OSList{All: []string{"calchelper"}}, SHA256: []string{sum}}}, false, false},
		{[]policy.AllowedApp{{Name: "Any xmessage", SHA256: []string{xsum}}}, true, true},
		{nil, false, false},
	} {
		p := policy.Default()
		p.AllowedApps = tc.apps
		m := NewAppMatcher(p)
		if got := m.Match(calcFG) != nil; got != tc.calc {
			t.Errorf("%+v: calchelper allowed %v, want %v", tc.apps, got, tc.calc)
		}
		if got := m.Match(evilFG) != nil; got != tc.evil {
			t.Errorf("%+v: evilhelper allowed %v, want %v", tc.apps, got, tc.evil)
		}
	}

	// The window goes: the focus reverts (to the pointer's root here).
	calc.Close()
	if f := read("after calchelper exited"); f.PID == calc.PID() {
		t.Errorf("after exit still %+v", f)
	}
}

func TestForegroundX11Unsupported(t *testing.T) {
	for _, env := range []map[string]string{
		{"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0"},
		{"DISPLAY": ":0", "XDG_SESSION_TYPE": "wayland"},
	} {
		r := NewForegroundReader(func(k string) string { return env[k] })
		if _, err := r.Read(context.Background()); !errors.Is(err, ErrUnsupported) {
			t.Errorf("%v: %v, want ErrUnsupported", env, err)
		}
		r.Close()
	}
	r := NewForegroundReader(func(string) string { return "" })
	defer r.Close()
	if _, err := r.Read(context.Background()); !errors.Is(err, errNoDisplay) {
		t.Errorf("no DISPLAY: %v, want %v", err, errNoDisplay)
	}
}

func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// BenchmarkForegroundX11 is the cost of one "who has the focus?" (the
// client asks every 500 ms while Invigil is not in front): a window of
// another process focused under Xvfb.
func BenchmarkForegroundX11(b *testing.B) {
	display := xvfbtest.Start(b, "1280x720x24")
	w, err := lockdowntest.StartXWindow(display, b.TempDir(), "benchhelper", 0, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	if err := lockdowntest.Focus(display, w.ID); err != nil {
		b.Fatal(err)
	}
	r := NewForegroundReader(func(k string) string {
		if k == "DISPLAY" {
			return display
		}
		return ""
	})
	defer r.Close()
	for b.Loop() {
		f, err := r.Read(b.Context())
		if err != nil || f.PID != w.PID() {
			b.Fatalf("%+v, %v", f, err)
		}
	}
}
