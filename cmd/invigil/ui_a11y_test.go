package main

// The desktop app on small screens and from the keyboard alone: the real
// invigil binary under Xvfb without a window manager, against a real
// invigild (issue 10: the 1100×780 window was taller than 1280×720 and
// 1366×768 screens, and without a window manager its header and buttons
// were cut off).

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/invigil/invigil/capture/xvfb/xvfbtest"
	"github.com/invigil/invigil/client"
	"github.com/invigil/invigil/client/launch"
	"github.com/invigil/invigil/client/ui"
)

// uiWorld is a backend with the PHYS1 exam and a managed configuration
// pinning its key, and an Xvfb screen of a given size, without a window
// manager.
type uiWorld struct {
	display, dir, cfgFile, server string
	width, height                 int
	env                           []string
}

func newUIWorld(t *testing.T, width, height int, extraEnv ...string) *uiWorld {
	t.Helper()
	for _, tool := range []string{"import", "xdotool"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not installed: run scripts/setup.sh", tool)
		}
	}
	binaries(t)
	w := &uiWorld{width: width, height: height, dir: t.TempDir()}
	w.display = xvfbtest.Start(t, fmt.Sprintf("%dx%dx24", width, height))
	data := t.TempDir()
	runOut(t, "exam", "create", "--data", data, "--name", "Physics midterm", "--code", "PHYS1", "--policy", "testdata/ui-policy.json")
	be := startBackend(t, data, "127.0.0.1:0")
	w.server = be.url()
	key := strings.TrimSpace(runOut(t, "key", "--data", data))
	w.cfgFile = filepath.Join(w.dir, "config.json")
	cfg, _ := json.Marshal(launch.ManagedConfig{ServerKey: key, SpoolDir: filepath.Join(w.dir, "spool"), JournalPath: filepath.Join(w.dir, "journal")})
	if err := os.WriteFile(w.cfgFile, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	w.env = append(uiEnv(t, w.display, w.dir), extraEnv...)
	return w
}

func (w *uiWorld) start(t *testing.T, args ...string) *uiApp {
	t.Helper()
	shots := filepath.Join(w.dir, "shots")
	os.MkdirAll(shots, 0o755)
	return startApp(t, w.env, w.display, shots, w.dir, append([]string{"--config", w.cfgFile, "--camera", "scene", "--room-scan", "3s"}, args...)...)
}

func (w *uiWorld) link() string { return launch.JoinLink{Server: w.server, Code: "PHYS1"}.String() }

// geometry is the app window's place and size on the screen, in pixels.
func (a *uiApp) geometry() (x, y, width, height int) {
	a.t.Helper()
	vals := map[string]int{}
	for _, l := range strings.Fields(a.xdotool("getwindowgeometry", "--shell", a.window())) {
		k, v, _ := strings.Cut(l, "=")
		n, _ := strconv.Atoi(v)
		vals[k] = n
	}
	return vals["X"], vals["Y"], vals["WIDTH"], vals["HEIGHT"]
}

// fits checks that the window and the button with this text lie within
// the screen. The window takes its size at its first frame and the exam
// switches to full screen: it tries for a few seconds before failing.
func (w *uiWorld) fits(a *uiApp, label string) {
	a.t.Helper()
	var problem string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		r := a.do(ui.DriverRequest{Op: "locate", Label: label})
		x, y, ww, wh := a.geometry()
		s := r.Scale
		if s == 0 {
			s = 1
		}
		bx0, by0 := float32(x)+r.X*s, float32(y)+r.Y*s
		bx1, by1 := bx0+r.W*s, by0+r.H*s
		switch {
		case x < 0 || y < 0 || x+ww > w.width || y+wh > w.height:
			problem = fmt.Sprintf("window %dx%d+%d+%d is not within the %dx%d screen", ww, wh, x, y, w.width, w.height)
		case bx0 < 0 || by0 < 0 || bx1 > float32(w.width) || by1 > float32(w.height) || bx1 > float32(x+ww) || by1 > float32(y+wh):
			problem = fmt.Sprintf("button %q at (%.0f,%.0f)-(%.0f,%.0f) is outside the window %dx%d+%d+%d or the %dx%d screen",
				label, bx0, by0, bx1, by1, ww, wh, x, y, w.width, w.height)
		default:
			return
		}
	}
	a.t.Errorf("%dx%d screen: %s", w.width, w.height, problem)
}

// TestUIFitsSmallScreens walks the whole journey on 1280×720 and 1366×768
// screens without a window manager, at the normal scale and with the text
// scaled by 1.5 (FYNE_SCALE), and checks on every screen that the window
// and its main button lie within the screen.
func TestUIFitsSmallScreens(t *testing.T) {
	for _, tt := range []struct {
		width, height int
		scale         string
	}{
		{1280, 720, "1"}, {1366, 768, "1"}, {1366, 768, "1.5"},
	} {
		t.Run(fmt.Sprintf("%dx%d@%s", tt.width, tt.height, tt.scale), func(t *testing.T) {
			w := newUIWorld(t, tt.width, tt.height, "FYNE_SCALE="+tt.scale)
			app := w.start(t, w.link())
			app.wait(client.ScreenCheck, "check_ready")
			w.fits(app, "Continue")
			app.shot(fmt.Sprintf("fit-%dx%d-%s-check", tt.width, tt.height, tt.scale))
			app.tap("Continue")
			app.wait(client.ScreenConsent, "")
			w.fits(app, "I agree")
			app.tap("I agree")
			app.wait(client.ScreenIDPhoto, "photo_live")
			w.fits(app, "Take photo")
			app.tap("Take photo")
			app.wait(client.ScreenIDPhoto, "photo_taken")
			w.fits(app, "Use this photo")
			app.tap("Use this photo")
			app.wait(client.ScreenRoomScan, "")
			w.fits(app, "Start room scan")
			app.tap("Start room scan")
			app.wait(client.ScreenExam, "")
			w.fits(app, ui.LabelFinish)
			app.tap(ui.LabelFinish)
			app.wait(client.ScreenExam, "confirm")
			w.fits(app, ui.LabelConfirm)
			app.tap(ui.LabelConfirm)
			app.wait(client.ScreenReceipt, "")
			w.fits(app, ui.LabelClose)
			app.tap(ui.LabelClose)
			if code := app.exit(); code != exitOK {
				t.Fatalf("exit %d:\n%s", code, tail(app.stderr.String(), 3000))
			}

			join := w.start(t)
			join.wait(client.ScreenJoin, "")
			w.fits(join, "Join exam")
			join.tap("Quit")
			join.exit()

			bad := w.start(t, "invigil://join?server=ftp%3A%2F%2Fexample.edu&code=PHYS1")
			bad.wait(client.ScreenError, "")
			w.fits(bad, "Quit")
			bad.tap("Quit")
			bad.exit()
		})
	}
}

// key presses keys with real X input (xdotool, XTEST) into the focused
// window.
func (a *uiApp) key(keys ...string) {
	a.t.Helper()
	a.xdotool(append([]string{"key", "--delay", "60"}, keys...)...)
}

// focused is what has the keyboard focus (see the test driver's op).
func (a *uiApp) focused() string {
	a.t.Helper()
	return a.do(ui.DriverRequest{Op: "focused"}).Detail
}

// tabTo presses Tab until the control named want has the focus.
func (a *uiApp) tabTo(want string) {
	a.t.Helper()
	var seen []string
	for range 16 {
		if f := a.focused(); f == want {
			return
		} else {
			seen = append(seen, f)
		}
		a.key("Tab")
		time.Sleep(100 * time.Millisecond)
	}
	a.t.Fatalf("Tab never reached %q; the focus went to %q", want, seen)
}

// press presses a key on the focused control, which must be want.
func (a *uiApp) press(want, key string) {
	a.t.Helper()
	a.tabTo(want)
	a.key(key)
}

// TestUIKeyboardJourney takes the exam with the keyboard alone, real key
// presses into the real app on a 1366×768 screen without a window manager:
// the join code typed and submitted with Enter, Tab to each step's button
// and Enter or Space, Escape to back out of the finish dialog, Shift-Tab
// backwards, and the receipt closed with Enter.
func TestUIKeyboardJourney(t *testing.T) {
	w := newUIWorld(t, 1366, 768)
	app := w.start(t)
	app.wait(client.ScreenJoin, "")
	// Without a window manager nothing gives the window the X focus.
	app.xdotool("windowfocus", "--sync", app.window())
	// The join screen starts in its first empty entry: the server's.
	if f := app.focused(); f != "entry:"+ui.PlaceholderServer {
		t.Fatalf("the join screen starts with the focus on %q", f)
	}
	app.xdotool("type", "--delay", "20", w.server)
	app.key("Tab")
	app.xdotool("type", "--delay", "20", "PHYS1")
	app.key("Return")

	app.wait(client.ScreenCheck, "check_ready")
	app.press("Continue", "Return")
	app.wait(client.ScreenConsent, "")
	// Shift-Tab goes backwards: from "I agree" to "I do not agree".
	app.tabTo("I agree")
	app.key("shift+Tab")
	time.Sleep(100 * time.Millisecond)
	if f := app.focused(); f != "I do not agree" {
		t.Fatalf("Shift-Tab from I agree went to %q", f)
	}
	app.tabTo("I agree")
	app.shot("27-keyboard-focus") // the focus ring
	app.press("I agree", "space")
	app.wait(client.ScreenIDPhoto, "photo_live")
	app.press("Take photo", "Return")
	app.wait(client.ScreenIDPhoto, "photo_taken")
	// Escape backs out of the photo taken, to the live picture.
	app.key("Escape")
	app.wait(client.ScreenIDPhoto, "photo_live")
	app.press("Take photo", "Return")
	app.wait(client.ScreenIDPhoto, "photo_taken")
	app.press("Use this photo", "Return")
	app.wait(client.ScreenRoomScan, "")
	app.press("Start room scan", "Return")
	app.wait(client.ScreenExam, "")

	// The reply entry submits on Enter.
	app.tabTo("entry:" + ui.PlaceholderReply)
	app.xdotool("type", "--delay", "20", "Hello from the keyboard")
	app.key("Return")
	app.wait(client.ScreenExam, "message")

	// Finish, then Escape: the dialog closes and the exam goes on.
	app.press(ui.LabelFinish, "Return")
	app.wait(client.ScreenExam, "confirm")
	if f := app.focused(); f != "Keep working" {
		t.Errorf("the finish dialog opens with the focus on %q, want Keep working", f)
	}
	app.key("Escape")
	app.wait(client.ScreenExam, "no_confirm")
	app.press(ui.LabelFinish, "Return")
	app.wait(client.ScreenExam, "confirm")
	app.press(ui.LabelConfirm, "Return")
	app.wait(client.ScreenReceipt, "")
	app.shot("keyboard-receipt")
	app.press(ui.LabelClose, "Return")
	if code := app.exit(); code != exitOK {
		t.Fatalf("exit %d:\n%s", code, tail(app.stderr.String(), 3000))
	}
	if *updateScreenshots {
		copyShots(t, app.shots, "27-")
	}
}
