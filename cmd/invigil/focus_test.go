package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/invigil/invigil/backend"
	"github.com/invigil/invigil/capture/xvfb/xvfbtest"
	"github.com/invigil/invigil/client"
	"github.com/invigil/invigil/client/launch"
	"github.com/invigil/invigil/client/ui"
	"github.com/invigil/invigil/lockdown/lockdowntest"
)

// TestFocusAllowedAppsXvfb is policy allowed_apps end to end: the real
// binary under Xvfb (no window manager) against a real backend, two other
// programs' windows (copies of xmessage, one of them allowed), the X focus
// moved with xdotool. Focus on the allowed program is no violation (the
// backend gets focus.allowed) and the always-on-top indicator shows;
// clicking it brings Invigil's window forward (the X focus returns to it)
// and the indicator goes; focus on the other program is a focus.lost
// violation that names it.
func TestFocusAllowedAppsXvfb(t *testing.T) {
	if _, err := os.Stat("/usr/bin/xmessage"); err != nil {
		t.Fatal("xmessage not installed: run scripts/setup.sh (x11-utils)")
	}
	d := startDesktopExam(t, func(pol map[string]any) {
		pol["allowed_apps"] = []any{map[string]any{"name": "Calculator", "names": map[string]any{"all": []string{"calchelper"}}}}
	})
	app, adm, session, display, dir := d.app, d.adm, d.session, d.display, d.dir

	calc, err := lockdowntest.StartXWindow(display, dir, "calchelper", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer calc.Close()
	evil, err := lockdowntest.StartXWindow(display, dir, "evilhelper", 300, 500)
	if err != nil {
		t.Fatal(err)
	}
	defer evil.Close()
	invigil := app.window()
	focused := func() string { return app.xdotool("getwindowfocus") }
	// Fyne reports a focus loss only for a window it saw focused.
	app.xdotool("windowfocus", "--sync", invigil)
	time.Sleep(300 * time.Millisecond)

	// The allowed program: no violation, the indicator shows.
	app.xdotool("windowfocus", "--sync", strconv.Itoa(int(calc.ID)))
	indicator := waitWindow(t, app, "^"+ui.IndicatorTitle+"$", true)
	waitEvent(t, adm, session, "focus.allowed", func(body map[string]any) bool {
		return body["program"] == "Calculator" && body["name"] == "calchelper" && body["pid"] == strconv.Itoa(calc.PID())
	})
	time.Sleep(500 * time.Millisecond) // grace 0: a violation would be there by now
	if n := countViolations(t, adm, session, "focus.lost"); n != 0 {
		t.Fatalf("%d focus.lost violations while an allowed program has the focus; events:\n%s", n, eventLines(t, adm, session))
	}
	if got := focused(); got != strconv.Itoa(int(calc.ID)) {
		t.Fatalf("focus on %s, want calchelper's %d: the indicator took it", got, calc.ID)
	}
	geo := app.xdotool("getwindowgeometry", "--shell", indicator)
	t.Logf("indicator window %s: %s", indicator, strings.ReplaceAll(geo, "\n", " "))
	if shots := os.Getenv("INVIGIL_UI_SHOTS"); shots != "" {
		time.Sleep(700 * time.Millisecond)
		cmd := exec.Command("import", "-window", "root", filepath.Join(shots, "indicator.png"))
		cmd.Env = app.env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("import: %v\n%s", err, out)
		}
	}

	// Without a window manager a window mapped later stacks above the
	// indicator: within a second or two it is on top again.
	cover, err := lockdowntest.StartXWindow(display, dir, "coverhelper", 1000, 20)
	if err != nil {
		t.Fatal(err)
	}
	defer cover.Close()
	for deadline := time.Now().Add(10 * time.Second); !stackedAbove(t, app, indicator, cover.ID); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the indicator stays below a window mapped after it")
		}
	}
	cover.Close()

	// A click on the indicator brings Invigil forward.
	app.xdotool("mousemove", "--window", indicator, "40", "20")
	time.Sleep(200 * time.Millisecond)
	app.xdotool("click", "1")
	for deadline := time.Now().Add(10 * time.Second); focused() != invigil; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("focus on %s after the click, want Invigil's %s", focused(), invigil)
		}
	}
	waitWindow(t, app, "^"+ui.IndicatorTitle+"$", false)
	waitEvent(t, adm, session, "focus.gained", func(map[string]any) bool { return true })

	// Another program: a violation naming it.
	app.xdotool("windowfocus", "--sync", strconv.Itoa(int(evil.ID)))
	adm.waitViolation(t, session, time.Now(), func(v violationEvent) bool {
		return v.Code == "focus.lost" && v.Evidence["name"] == "evilhelper" && v.Evidence["pid"] == strconv.Itoa(evil.PID()) &&
			strings.Contains(v.Summary, "evilhelper")
	})
	if n := countViolations(t, adm, session, "focus.lost"); n != 1 {
		t.Errorf("%d focus.lost violations, want 1", n)
	}
}

// waitWindow waits until a window whose name matches re is mapped (or,
// with !visible, none is) and returns its id.
func waitWindow(t *testing.T, app *uiApp, re string, visible bool) string {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		cmd := xdotoolCmd(app, "search", "--onlyvisible", "--name", re)
		out, _ := cmd.Output()
		ids := strings.Fields(string(out))
		if visible && len(ids) > 0 {
			return ids[0]
		}
		if !visible && len(ids) == 0 {
			return ""
		}
	}
	t.Fatalf("window %s visible %v: not within 15 s\n%s", re, !visible, tail(app.stderr.String(), 2000))
	return ""
}

func waitEvent(t *testing.T, adm adminClient, session, typ string, match func(map[string]any) bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		var evs []backend.Event
		adm.get(t, "/api/v1/admin/sessions/"+session+"/events", &evs)
		if slices.ContainsFunc(evs, func(e backend.Event) bool {
			var body map[string]any
			return e.Type == typ && json.Unmarshal(e.Body, &body) == nil && match(body)
		}) {
			return
		}
	}
	t.Fatalf("no matching %s event within 10 s; events:\n%s", typ, eventLines(t, adm, session))
}

// eventLines is session's events, one "type body" line each, for a
// failure message.
func eventLines(t *testing.T, adm adminClient, session string) string {
	t.Helper()
	var evs []backend.Event
	adm.get(t, "/api/v1/admin/sessions/"+session+"/events", &evs)
	var seen []string
	for _, e := range evs {
		seen = append(seen, e.Type+" "+string(e.Body))
	}
	return strings.Join(seen, "\n")
}

func countViolations(t *testing.T, adm adminClient, session, code string) (n int) {
	t.Helper()
	var evs []backend.Event
	adm.get(t, "/api/v1/admin/sessions/"+session+"/events", &evs)
	for _, e := range evs {
		var v violationEvent
		if e.Type == "violation.open" && json.Unmarshal(e.Body, &v) == nil && v.Code == code {
			n++
		}
	}
	return n
}

func xdotoolCmd(app *uiApp, args ...string) *exec.Cmd {
	cmd := exec.Command("xdotool", args...)
	cmd.Env = app.env
	return cmd
}

// stackedAbove reports whether window id (decimal) is above window other
// among the root's children (xwininfo lists them bottom to top).
func stackedAbove(t *testing.T, app *uiApp, id string, other uint32) bool {
	t.Helper()
	cmd := exec.Command("xwininfo", "-root", "-children")
	cmd.Env = app.env
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("xwininfo: %v", err)
	}
	n, _ := strconv.ParseUint(id, 10, 32)
	at, otherAt := -1, -1
	for i, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], "0x") {
			continue
		}
		w, err := strconv.ParseUint(f[0][2:], 16, 32)
		if err != nil {
			continue
		}
		switch w {
		case n:
			at = i
		case uint64(other):
			otherAt = i
		}
	}
	return at >= 0 && otherAt >= 0 && at > otherAt
}

// desktopExam is the desktop app under Xvfb (no window manager) in an
// exam's running screen, against a real backend.
type desktopExam struct {
	app          *uiApp
	adm          adminClient
	session      string
	display, dir string
}

// startDesktopExam creates an exam from testdata/ui-policy.json changed by
// tweak (focus_loss is flag with grace 0), starts invigild and the desktop
// app on its link (no camera, no screen capture), and goes through the
// check and the consent to the exam screen.
func startDesktopExam(t *testing.T, tweak func(pol map[string]any)) desktopExam {
	t.Helper()
	binaries(t)
	display := xvfbtest.Start(t, "1280x800x24")
	dir := t.TempDir()
	data := t.TempDir()

	var pol map[string]any
	b, err := os.ReadFile("testdata/ui-policy.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &pol); err != nil {
		t.Fatal(err)
	}
	pol["focus_loss"] = map[string]any{"action": "flag", "grace_ms": 0}
	tweak(pol)
	b, _ = json.Marshal(pol)
	polFile := filepath.Join(dir, "policy.json")
	if err := os.WriteFile(polFile, b, 0o644); err != nil {
		t.Fatal(err)
	}
	runOut(t, "exam", "create", "--data", data, "--name", "Physics midterm", "--code", "PHYS1", "--policy", polFile)
	be := startBackend(t, data, "127.0.0.1:0")
	adm := newAdmin(t, be)
	key := strings.TrimSpace(runOut(t, "key", "--data", data))
	cfgFile := filepath.Join(dir, "config.json")
	cfg, _ := json.Marshal(launch.ManagedConfig{ServerKey: key, SpoolDir: filepath.Join(dir, "spool"), JournalPath: filepath.Join(dir, "journal")})
	if err := os.WriteFile(cfgFile, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	env := uiEnv(t, display, dir)
	link := launch.JoinLink{Server: be.url(), Code: "PHYS1"}.String()
	app := startApp(t, env, display, filepath.Join(dir, "shots"), dir, "--config", cfgFile, "--camera", "none", "--screen", "none", link)
	app.wait(client.ScreenCheck, "check_ready")
	app.tap("Continue")
	app.wait(client.ScreenConsent, "")
	app.tap("I agree")
	app.wait(client.ScreenExam, "")
	return desktopExam{app: app, adm: adm, session: adm.waitSession(t), display: display, dir: dir}
}
