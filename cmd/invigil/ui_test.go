package main

// The desktop app end to end: the real invigil binary under Xvfb against a
// real invigild, driven through its test driver (--ui-test-control) and,
// for a few steps, with real X input from xdotool, through join, check,
// consent, ID photo, room scan, an exam with a proctor's chat, warning and
// pause, the finish and the receipt; plus a malformed link, an exam that
// is not open yet and a second launch handing its link to the first.
// Screenshots of every screen go to $INVIGIL_UI_SHOTS (default: the test's
// temporary directory); -update-screenshots copies a set to
// docs/screenshots.

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
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
	"github.com/invigil/invigil/client/exam"
	"github.com/invigil/invigil/client/launch"
	"github.com/invigil/invigil/client/ui"
)

var updateScreenshots = flag.Bool("update-screenshots", false, "copy the desktop app's screenshots to docs/screenshots")

// uiApp is a running desktop app and its test driver connection.
type uiApp struct {
	t       *testing.T
	cmd     *exec.Cmd
	stderr  *lockedBuffer
	conn    net.Conn
	rd      *bufio.Reader
	display string
	shots   string
	env     []string
	exited  chan struct{}
}

// uiEnv is the environment of an app under Xvfb: its own runtime, config
// and cache directories (the instance socket, Fyne's preferences).
func uiEnv(t *testing.T, display, dir string) []string {
	t.Helper()
	for _, d := range []string{"rt", "cfg", "cache", "docs"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		k, _, _ := strings.Cut(kv, "=")
		return slices.Contains([]string{"DISPLAY", "WAYLAND_DISPLAY", "XDG_RUNTIME_DIR", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DOCUMENTS_DIR",
			"DBUS_SESSION_BUS_ADDRESS", "LANG", "LC_ALL", "LANGUAGE", "INVIGIL_CONFIG", "INVIGIL_SERVER", "INVIGIL_SERVER_KEY", "INVIGIL_SPOOL_DIR"}, k)
	})
	return append(env, "DISPLAY="+display, "XDG_RUNTIME_DIR="+filepath.Join(dir, "rt"),
		"XDG_CONFIG_HOME="+filepath.Join(dir, "cfg"), "XDG_CACHE_HOME="+filepath.Join(dir, "cache"),
		"XDG_DOCUMENTS_DIR="+filepath.Join(dir, "docs"), // the receipt files
		"LANG=C.UTF-8", "LANGUAGE=en")
}

// startApp runs `invigil run args...` with the test driver on and connects
// to it. Opening the X display under Xvfb fails now and then here (EOF,
// EAGAIN): an app that exits at start is started again, twice at most.
func startApp(t *testing.T, env []string, display, shots, dir string, args ...string) *uiApp {
	t.Helper()
	for attempt := 1; ; attempt++ {
		a, err := tryStartApp(t, env, display, shots, dir, args...)
		if err == nil {
			return a
		}
		if attempt == 3 {
			t.Fatal(err)
		}
		t.Logf("the app did not start (attempt %d), again: %v", attempt, err)
		time.Sleep(200 * time.Millisecond)
	}
}

func tryStartApp(t *testing.T, env []string, display, shots, dir string, args ...string) (*uiApp, error) {
	t.Helper()
	bin, _ := binaries(t)
	sock := filepath.Join(dir, "driver.sock")
	os.Remove(sock)
	a := &uiApp{t: t, stderr: &lockedBuffer{}, display: display, shots: shots, env: env, exited: make(chan struct{})}
	a.cmd = exec.Command(bin, append([]string{"run", "--ui-test-control", sock}, args...)...)
	a.cmd.Env = env
	a.cmd.Stderr = a.stderr
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { a.cmd.Wait(); close(a.exited) }()
	t.Cleanup(func() {
		if a.conn != nil {
			a.conn.Close()
		}
		select {
		case <-a.exited:
		default:
			a.cmd.Process.Kill()
			<-a.exited
		}
	})
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		c, err := net.Dial("unix", sock)
		if err == nil {
			a.conn, a.rd = c, bufio.NewReader(c)
			return a, nil
		}
		select {
		case <-a.exited:
			return nil, fmt.Errorf("the app exited at start (%v):\n%s", a.cmd.ProcessState, tail(a.stderr.String(), 3000))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no test driver after 30 s:\n%s", a.stderr)
		}
	}
}

func (a *uiApp) do(req ui.DriverRequest) ui.DriverReply {
	a.t.Helper()
	b, _ := json.Marshal(req)
	a.conn.SetDeadline(time.Now().Add(60 * time.Second))
	if _, err := a.conn.Write(append(b, '\n')); err != nil {
		a.t.Fatalf("driver: %v\n%s", err, a.stderr)
	}
	line, err := a.rd.ReadBytes('\n')
	if err != nil {
		a.t.Fatalf("driver: %v\n%s", err, a.stderr)
	}
	var rep ui.DriverReply
	if err := json.Unmarshal(line, &rep); err != nil {
		a.t.Fatalf("driver answered %q", line)
	}
	if !rep.OK {
		a.t.Fatalf("driver %+v: %s\nstderr:\n%s", req, rep.Error, tail(a.stderr.String(), 3000))
	}
	return rep
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// wait waits for a screen (and a condition of the test driver's list).
func (a *uiApp) wait(screen client.Screen, until string) ui.DriverReply {
	a.t.Helper()
	return a.do(ui.DriverRequest{Op: "wait", Screen: string(screen), Until: until, TimeoutMS: 30000})
}

func (a *uiApp) tap(label string) {
	a.t.Helper()
	a.do(ui.DriverRequest{Op: "tap", Label: label})
}

// click clicks a button with real X input (xdotool): the pointer moves to
// the button's centre in the app's window and presses.
func (a *uiApp) click(label string) {
	a.t.Helper()
	r := a.do(ui.DriverRequest{Op: "locate", Label: label})
	win := a.window()
	x, y := int(r.X+r.W/2), int(r.Y+r.H/2)
	a.xdotool("mousemove", "--window", win, strconv.Itoa(x), strconv.Itoa(y))
	time.Sleep(100 * time.Millisecond)
	a.xdotool("click", "1")
}

func (a *uiApp) xdotool(args ...string) string {
	a.t.Helper()
	cmd := exec.Command("xdotool", args...)
	cmd.Env = a.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		a.t.Fatalf("xdotool %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// window is the app window's X id.
func (a *uiApp) window() string {
	a.t.Helper()
	ids := strings.Fields(a.xdotool("search", "--name", "^Invigil$"))
	if len(ids) == 0 {
		a.t.Fatal("no Invigil window")
	}
	return ids[len(ids)-1]
}

// shot waits for the frame to settle (and the camera preview to fill)
// and saves the app's window as name.png.
func (a *uiApp) shot(name string) {
	a.t.Helper()
	time.Sleep(700 * time.Millisecond)
	out := filepath.Join(a.shots, name+".png")
	cmd := exec.Command("import", "-window", a.window(), out)
	cmd.Env = a.env
	if b, err := cmd.CombinedOutput(); err != nil {
		a.t.Fatalf("import %s: %v\n%s", name, err, b)
	}
}

// exit waits for the app to exit and returns its exit code.
func (a *uiApp) exit() int {
	a.t.Helper()
	select {
	case <-a.exited:
	case <-time.After(30 * time.Second):
		a.t.Fatalf("the app did not exit:\n%s", tail(a.stderr.String(), 3000))
	}
	return a.cmd.ProcessState.ExitCode()
}

// say sends a proctor command with a text through the admin API.
func say(t *testing.T, adm adminClient, session, command, text string) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"command": command, "text": text})
	req, _ := http.NewRequest("POST", adm.base+"/api/v1/admin/sessions/"+session+"/commands", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+adm.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("command %s: %s", command, resp.Status)
	}
}

func TestUIXvfb(t *testing.T) {
	for _, tool := range []string{"import", "xdotool"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not installed: run scripts/setup.sh", tool)
		}
	}
	binaries(t)
	start := time.Now()
	display := xvfbtest.Start(t, "1280x800x24")
	dir := t.TempDir()
	shots := os.Getenv("INVIGIL_UI_SHOTS")
	if shots == "" {
		shots = filepath.Join(dir, "shots")
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	runOut(t, "exam", "create", "--data", data, "--name", "Physics midterm", "--code", "PHYS1", "--policy", "testdata/ui-policy.json")
	runOut(t, "exam", "create", "--data", data, "--name", "Chemistry final", "--code", "CHEM2", "--policy", "testdata/ui-policy.json",
		"--opens", time.Now().Add(2*time.Hour).UTC().Format(time.RFC3339))
	be := startBackend(t, data, "127.0.0.1:0")
	adm := newAdmin(t, be)
	key := strings.TrimSpace(runOut(t, "key", "--data", data))

	// The managed configuration pins the backend's key and puts the spool
	// in the test's directory.
	spool := filepath.Join(dir, "spool")
	cfgFile := filepath.Join(dir, "config.json")
	cfg, _ := json.Marshal(launch.ManagedConfig{ServerKey: key, SpoolDir: spool, JournalPath: filepath.Join(dir, "journal")})
	if err := os.WriteFile(cfgFile, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	env := uiEnv(t, display, dir)
	link := launch.JoinLink{Server: be.url(), Code: "PHYS1"}.String()
	app := startApp(t, env, display, shots, dir, "--config", cfgFile, "--camera", "scene", "--room-scan", "3s", link)

	// Check: everything passes with the quiet policy; the camera preview runs.
	app.wait(client.ScreenCheck, "check_ready")
	app.shot("02-check")

	// A second launch hands its link to this window and exits at once.
	bin, _ := binaries(t)
	second := exec.Command(bin, "run", "--config", cfgFile, link)
	second.Env = env
	if out, err := second.CombinedOutput(); err != nil || !strings.Contains(string(out), "already open") {
		t.Fatalf("second launch: %v\n%s", err, out)
	}

	app.click("Continue") // a real click
	app.wait(client.ScreenConsent, "")
	app.shot("03-consent")
	app.click("I agree")

	app.wait(client.ScreenIDPhoto, "photo_live")
	app.shot("04-id-photo")
	app.tap("Take photo")
	app.wait(client.ScreenIDPhoto, "photo_taken")
	app.shot("05-id-photo-taken")
	app.tap("Use this photo")
	app.wait(client.ScreenRoomScan, "")
	app.tap("Start room scan")
	app.wait(client.ScreenRoomScan, "scanning")
	app.shot("06-room-scan")

	app.wait(client.ScreenExam, "")
	session := adm.waitSession(t)
	say(t, adm, session, "chat", "Hello! Please keep your phone out of reach.")
	app.wait(client.ScreenExam, "message")
	app.do(ui.DriverRequest{Op: "type", Placeholder: ui.PlaceholderReply, Text: "OK, it is in my bag."})
	app.tap("Send")
	app.wait(client.ScreenExam, "replied")
	app.shot("07-exam")
	say(t, adm, session, "warn", "Please keep your eyes on your own screen.")
	app.wait(client.ScreenExam, "warning")
	app.shot("08-exam-warning")
	app.click(ui.LabelAcknowledge)
	app.wait(client.ScreenExam, "no_warning")
	say(t, adm, session, "pause", "A short technical check; please wait.")
	app.wait(client.ScreenExam, "paused")
	app.shot("09-exam-paused")
	say(t, adm, session, "resume", "")
	app.wait(client.ScreenExam, "running")

	app.tap(ui.LabelFinish)
	app.wait(client.ScreenExam, "confirm")
	app.shot("10-finish-confirm")
	app.tap(ui.LabelConfirm)
	rep := app.wait(client.ScreenReceipt, "")
	app.shot("11-receipt")
	var receipt exam.Receipt
	if err := json.Unmarshal([]byte(rep.Detail), &receipt); err != nil {
		t.Fatalf("receipt %q: %v", rep.Detail, err)
	}
	app.tap(ui.LabelClose)
	if code := app.exit(); code != exitOK {
		t.Fatalf("exit %d:\n%s", code, tail(app.stderr.String(), 3000))
	}

	// The backend has the finished session, with the receipt's digest and
	// everything the student did.
	var ss []backend.SessionInfo
	adm.get(t, "/api/v1/admin/sessions", &ss)
	i := slices.IndexFunc(ss, func(s backend.SessionInfo) bool { return s.ID == receipt.SessionID })
	if i < 0 || ss[i].State != "finished" || ss[i].Digest != receipt.ClientDigest || !receipt.Match || ss[i].LastAck != receipt.Messages {
		t.Fatalf("receipt %+v; backend sessions %+v", receipt, ss)
	}
	var evs []backend.Event
	adm.get(t, "/api/v1/admin/sessions/"+session+"/events", &evs)
	types := map[string]int{}
	for _, e := range evs {
		types[e.Type]++
	}
	for _, want := range []string{"consent.accepted", "session.started", "snapshot.taken", "room_scan.started", "room_scan.finished",
		"chat.reply", "warning.acknowledged", "session.finished"} {
		if types[want] == 0 {
			t.Errorf("no %s event stored; events: %v", want, types)
		}
	}
	if _, err := os.Stat(filepath.Join(spool, "session.json")); !os.IsNotExist(err) {
		t.Errorf("session file left after the finish: %v", err)
	}
	if receipt.ThisRun["camera"] == 0 || receipt.ThisRun["screen"] == 0 || receipt.ThisRun["stills"] < 2 {
		t.Errorf("uploaded %v; want camera, screen and stills", receipt.ThisRun)
	}

	// Without a link or a configured server the app asks for both.
	join := startApp(t, env, display, shots, dir, "--config", cfgFile)
	join.wait(client.ScreenJoin, "")
	join.do(ui.DriverRequest{Op: "type", Placeholder: ui.PlaceholderServer, Text: "https://proctor.example.edu"})
	join.do(ui.DriverRequest{Op: "type", Placeholder: ui.PlaceholderCode, Text: "PHYS1"})
	join.shot("01-join")
	join.tap("Quit")
	if code := join.exit(); code != exitOK {
		t.Errorf("join screen: exit %d, want 0", code)
	}

	// A malformed link shows its error screen; Quit exits 2.
	bad := startApp(t, env, display, shots, dir, "--config", cfgFile, "invigil://join?server=ftp%3A%2F%2Fexample.edu&code=PHYS1")
	bad.wait(client.ScreenError, "")
	bad.shot("12-error-bad-link")
	bad.tap("Quit")
	if code := bad.exit(); code != exitUsage {
		t.Errorf("bad link: exit %d, want %d", code, exitUsage)
	}

	// An exam that opens later says when, and waits.
	later := startApp(t, env, display, shots, dir, "--config", cfgFile, launch.JoinLink{Server: be.url(), Code: "CHEM2"}.String())
	later.wait(client.ScreenError, "retry_pending")
	later.shot("13-error-not-open")
	later.tap("Quit")
	if code := later.exit(); code != exitJoinRefused {
		t.Errorf("not open: exit %d, want %d", code, exitJoinRefused)
	}
	t.Logf("desktop app end to end in %s; screenshots in %s", time.Since(start).Round(time.Second), shots)

	if *updateScreenshots {
		copyShots(t, shots, "")
	}
}

// copyShots copies the screenshots in shots whose names start with prefix
// to docs/screenshots.
func copyShots(t *testing.T, shots, prefix string) {
	t.Helper()
	docs := filepath.Join("..", "..", "docs", "screenshots")
	if err := os.MkdirAll(docs, 0o755); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(shots)
	n := 0
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), prefix) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(shots, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(docs, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
		n++
	}
	fmt.Fprintf(os.Stderr, "copied %d screenshots to %s\n", n, docs)
}
