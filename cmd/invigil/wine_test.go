//go:build wine

package main

// The Windows stage (scripts/test.sh, or alone: scripts/test-windows.sh):
// invigil.exe, built by scripts/build-windows.sh exactly as it ships, runs
// under Wine (Debian's wine 8.0) on an Xvfb display against the Linux
// invigild. The harness keeps one Wine prefix per test binary run in a
// temporary directory, and adds to it the one thing Wine 8 lacks for Go
// programs: bcryptprimitives.dll!ProcessPrng, from a three-line DLL built
// with mingw from testdata/wine (the harness's own, never shipped).
//
// Build tag "wine": `go test ./...` leaves this stage out; it runs with
// `go test -tags wine -run '^TestWine' ./cmd/invigil`.

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/invigil/invigil/backend"
	"github.com/invigil/invigil/capture/xvfb"
	"github.com/invigil/invigil/client"
	"github.com/invigil/invigil/client/exam"
	"github.com/invigil/invigil/client/launch"
	"github.com/invigil/invigil/client/ui"
	"github.com/invigil/invigil/lockdown/lockdowntest"
)

// wineEnv is the Wine prefix, the display and the Windows programs of this
// test run.
type wineEnv struct {
	dir      string // scratch directory; the prefix is dir/prefix
	prefix   string
	env      []string // the environment of every Wine process
	display  string
	exe      string // invigil.exe
	listener string // testdata/wine/listener built for Windows
	console  string // testdata/wine/console built for Windows
	notepad  string // Wine's notepad.exe in the prefix
}

var wineSetup struct {
	once sync.Once
	w    *wineEnv
	err  error
}

// stageTimes are the setup steps' durations, logged by every test.
var stageTimes []string

// wine builds the Windows programs and makes the Wine prefix, once per test
// binary run; TestMain's afterTests stops Wine and Xvfb.
func wine(t *testing.T) *wineEnv {
	t.Helper()
	binaries(t) // invigild, and the run's scratch directory
	wineSetup.once.Do(func() { wineSetup.w, wineSetup.err = newWineEnv() })
	if wineSetup.err != nil {
		t.Fatal(wineSetup.err)
	}
	t.Logf("Windows stage setup: %s", strings.Join(stageTimes, ", "))
	return wineSetup.w
}

func timed(step string, f func() error) error {
	start := time.Now()
	err := f()
	stageTimes = append(stageTimes, fmt.Sprintf("%s %s", step, time.Since(start).Round(100*time.Millisecond)))
	return err
}

func newWineEnv() (*wineEnv, error) {
	for _, bin := range []string{"wine", "wineserver", "x86_64-w64-mingw32-gcc", "x86_64-w64-mingw32-objdump", "Xvfb"} {
		if _, err := exec.LookPath(bin); err != nil {
			return nil, fmt.Errorf("%s not installed: run scripts/setup.sh", bin)
		}
	}
	w := &wineEnv{dir: filepath.Join(bins.dir, "wine")}
	w.prefix = filepath.Join(w.dir, "prefix")
	w.exe = filepath.Join(w.dir, "invigil.exe")
	w.listener = filepath.Join(w.dir, "listener.exe")
	w.console = filepath.Join(w.dir, "console.exe")
	if err := os.MkdirAll(w.dir, 0o755); err != nil {
		return nil, err
	}
	run := func(cmd *exec.Cmd) error {
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, out)
		}
		return nil
	}
	if err := timed("build invigil.exe", func() error {
		// The tests drive the app through its test driver: a test build.
		b := exec.Command("../../scripts/build-windows.sh", "-o", w.exe)
		b.Env = append(os.Environ(), "INVIGIL_BUILD_TAGS=invigil_uitest")
		return run(b)
	}); err != nil {
		return nil, err
	}
	shim := filepath.Join(w.dir, "bcryptprimitives.dll")
	if err := timed("build the test programs and the ProcessPrng shim", func() error {
		for _, p := range []struct{ out, pkg string }{{w.listener, "./testdata/wine/listener"}, {w.console, "./testdata/wine/console"}} {
			gb := exec.Command("go", "build", "-o", p.out, p.pkg)
			gb.Env = append(os.Environ(), "GOOS=windows", "GOARCH=amd64", "CGO_ENABLED=0")
			if err := run(gb); err != nil {
				return err
			}
		}
		return run(exec.Command("x86_64-w64-mingw32-gcc", "-shared", "-O2", "-s", "-o", shim,
			"testdata/wine/processprng.c", "testdata/wine/processprng.def", "-ladvapi32"))
	}); err != nil {
		return nil, err
	}
	srv, err := xvfb.Start("1280x800x24")
	if err != nil {
		return nil, err
	}
	w.display = srv.Display()
	afterTests = append(afterTests, srv.Close)
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		k, _, _ := strings.Cut(kv, "=")
		return strings.HasPrefix(k, "WINE") || strings.HasPrefix(k, "INVIGIL_") ||
			slices.Contains([]string{"DISPLAY", "WAYLAND_DISPLAY", "DBUS_SESSION_BUS_ADDRESS", "LANG", "LC_ALL", "LANGUAGE"}, k)
	})
	// No Mono or Gecko install prompts; no Wine debug chatter on stderr.
	w.env = append(env, "WINEPREFIX="+w.prefix, "WINEDEBUG=-all", "WINEDLLOVERRIDES=mscoree,mshtml=",
		"DISPLAY="+w.display, "LANG=C.UTF-8", "LANGUAGE=en")
	// One persistent wineserver for the whole stage: started on demand,
	// a server (and the explorer.exe and services.exe it brings) would
	// hold the output pipes of whichever test's process started it.
	ws := exec.Command("wineserver", "-p")
	ws.Env = w.env
	if err := os.MkdirAll(w.prefix, 0o755); err != nil {
		return nil, err
	}
	if err := ws.Run(); err != nil { // it forks to the background; no output pipes for it to hold
		return nil, fmt.Errorf("wineserver -p: %v", err)
	}
	afterTests = append(afterTests, func() {
		c := exec.Command("wineserver", "-k")
		c.Env = w.env
		c.Run()
	})
	if err := timed("wineboot --init", func() error {
		log, err := os.Create(filepath.Join(w.dir, "wineboot.log"))
		if err != nil {
			return err
		}
		defer log.Close()
		c := exec.Command("wine", "wineboot", "--init")
		c.Env, c.Stdout, c.Stderr = w.env, log, log
		if err := c.Run(); err != nil {
			b, _ := os.ReadFile(log.Name())
			return fmt.Errorf("wineboot --init: %v\n%s", err, b)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	sys32 := filepath.Join(w.prefix, "drive_c", "windows", "system32")
	b, err := os.ReadFile(shim)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(sys32, "bcryptprimitives.dll"), b, 0o644); err != nil {
		return nil, err
	}
	w.notepad = filepath.Join(sys32, "notepad.exe")
	return w, nil
}

// drive is a directory on the prefix's C: drive, made for one test, as a
// Linux path.
func (w *wineEnv) drive(t *testing.T, name string) string {
	t.Helper()
	d := filepath.Join(w.prefix, "drive_c", "invigil-tests", strings.ReplaceAll(t.Name(), "/", "_"), name)
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}

// winPath is the Windows path of a Linux path: C:\... inside the prefix's
// C: drive, Z:\... (Wine's view of /) elsewhere.
func (w *wineEnv) winPath(p string) string {
	if rel, err := filepath.Rel(filepath.Join(w.prefix, "drive_c"), p); err == nil && !strings.HasPrefix(rel, "..") {
		return `C:\` + strings.ReplaceAll(rel, "/", `\`)
	}
	return "Z:" + strings.ReplaceAll(p, "/", `\`)
}

// command is `wine prog args...` in the prefix.
func (w *wineEnv) command(prog string, args ...string) *exec.Cmd {
	c := exec.Command("wine", append([]string{prog}, args...)...)
	c.Env = w.env
	// A Wine helper process that inherited the output pipes must not
	// hold Wait once the program itself has exited.
	c.WaitDelay = 10 * time.Second
	return c
}

// invigil runs invigil.exe to the end and returns its exit code, stdout and
// stderr.
func (w *wineEnv) invigil(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	c := w.command(w.exe, args...)
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	err := c.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("wine invigil.exe %v: %v", args, err)
	}
	return c.ProcessState.ExitCode(), out.String(), errb.String()
}

// copyProgram copies Wine's notepad.exe to path, with random bytes after
// the image when unique is set (Windows ignores them; the SHA-256 is then
// this copy's own), and returns its SHA-256.
func copyProgram(t *testing.T, w *wineEnv, path string, unique bool) string {
	t.Helper()
	b, err := os.ReadFile(w.notepad)
	if err != nil {
		t.Fatal(err)
	}
	if unique {
		b = append(b, []byte(rand.Text())...)
	}
	if err := os.WriteFile(path, b, 0o755); err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// startWine starts a Windows program and stops it at cleanup.
func startWine(t *testing.T, w *wineEnv, prog string, args ...string) *exec.Cmd {
	t.Helper()
	c := w.command(prog, args...)
	startCmd(t, c)
	return c
}

// systemDLLs are the DLLs every Windows 10 and 11 installation has. The
// client may import nothing else: a student's PC has no mingw runtime.
var systemDLLs = []string{
	"advapi32.dll", "bcrypt.dll", "comctl32.dll", "comdlg32.dll", "crypt32.dll", "dwmapi.dll", "gdi32.dll",
	"imm32.dll", "iphlpapi.dll", "kernel32.dll", "msvcrt.dll", "ntdll.dll", "ole32.dll", "oleaut32.dll",
	"opengl32.dll", "powrprof.dll", "psapi.dll", "secur32.dll", "setupapi.dll", "shell32.dll", "shlwapi.dll",
	"user32.dll", "userenv.dll", "uxtheme.dll", "version.dll", "winmm.dll", "ws2_32.dll", "wtsapi32.dll",
	"mfplat.dll", "mf.dll", "mfreadwrite.dll", "dxgi.dll", "d3d11.dll", "netapi32.dll", "winspool.drv",
	"quartz.dll", // DirectShow, the camera driver of pion/mediadevices
}

// TestWineExeImportsOnlySystemDLLs reads the import table of invigil.exe:
// every DLL it names must be part of Windows, and it is a GUI-subsystem
// program carrying its icon and version resources.
func TestWineExeImportsOnlySystemDLLs(t *testing.T) {
	w := wine(t)
	out, err := exec.Command("x86_64-w64-mingw32-objdump", "-p", w.exe).Output()
	if err != nil {
		t.Fatal(err)
	}
	var dlls []string
	for _, line := range strings.Split(string(out), "\n") {
		if name, ok := strings.CutPrefix(strings.TrimSpace(line), "DLL Name: "); ok {
			dlls = append(dlls, strings.ToLower(name))
		}
	}
	if len(dlls) == 0 {
		t.Fatalf("no imports found in objdump's output:\n%s", out)
	}
	for _, d := range dlls {
		if !slices.Contains(systemDLLs, d) {
			t.Errorf("invigil.exe imports %s, which Windows does not ship", d)
		}
	}
	t.Logf("imports: %s", strings.Join(dlls, " "))
	if !strings.Contains(string(out), "(Windows GUI)") {
		t.Error("invigil.exe is not a GUI-subsystem program: a console window would open beside the app")
	}
	// The resources: go-winres extracts them as files.
	res := t.TempDir()
	if b, err := exec.Command("go", "tool", "go-winres", "extract", "--dir", res, w.exe).CombinedOutput(); err != nil {
		t.Fatalf("go-winres extract: %v\n%s", err, b)
	}
	var found []string
	filepath.WalkDir(res, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			found = append(found, filepath.Base(p))
		}
		return nil
	})
	for _, want := range []string{".ico", "winres.json"} {
		if !slices.ContainsFunc(found, func(f string) bool { return strings.HasSuffix(f, want) }) {
			t.Errorf("no %s among the exe's resources %v", want, found)
		}
	}
	js, _ := os.ReadFile(filepath.Join(res, "winres.json"))
	if !bytes.Contains(js, []byte(`"ProductName": "Invigil"`)) || !bytes.Contains(js, []byte("0.1.0")) {
		t.Errorf("version resource lacks the product name or version:\n%s", js)
	}
}

// TestWineConsoleOutput: the GUI-subsystem exe still writes to the
// stdout and stderr it is given (files and pipes), and exits with its
// code.
func TestWineConsoleOutput(t *testing.T) {
	w := wine(t)
	code, out, _ := w.invigil(t, "version")
	if code != 0 || !strings.HasPrefix(out, "invigil 0.1.0 (windows/amd64, go") {
		t.Errorf("version: exit %d, stdout %q", code, out)
	}
	code, out, errs := w.invigil(t, "check", "--bogus")
	if code != exitUsage || out != "" || !strings.Contains(errs, "flag provided but not defined: -bogus") {
		t.Errorf("bad flag: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	// A shell redirect to a file, as an IT script does.
	f := filepath.Join(t.TempDir(), "out.txt")
	// sh's own output goes to a file too, not a pipe: a process Wine
	// starts on the side (conhost.exe) can inherit a pipe and hold it open
	// past the exit ("WaitDelay expired before I/O complete", seen in CI).
	shErr := filepath.Join(t.TempDir(), "sh.txt")
	sh := exec.Command("sh", "-c", `wine "$0" version > "$1" 2> "$2" < /dev/null`, w.exe, f, shErr)
	sh.Env, sh.WaitDelay = w.env, 10*time.Second
	if err := sh.Run(); err != nil {
		b, _ := os.ReadFile(shErr)
		t.Fatalf("%v: %s", err, b)
	}
	if b, _ := os.ReadFile(f); !strings.HasPrefix(string(b), "invigil 0.1.0") {
		t.Errorf("redirected stdout holds %q", b)
	}
	// Started from a console program as cmd.exe starts it (nothing
	// redirected), its output appears in that console. (Wine gives a GUI
	// child its parent's console by itself, so this passes under Wine
	// with or without attachConsole; on Windows only attachConsole does.)
	// Its output goes to a file: the conhost.exe Wine starts for the
	// console would hold a pipe open.
	conOut, err := os.Create(filepath.Join(t.TempDir(), "console.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer conOut.Close()
	start := time.Now()
	c := w.command(w.console, w.winPath(w.exe), "version")
	c.Stdout = conOut
	err = c.Run()
	b, _ := os.ReadFile(conOut.Name())
	if err != nil || !strings.Contains(string(b), "exit 0\ninvigil 0.1.0 (windows/amd64") {
		t.Errorf("in a console: %v\n%s", err, b)
	}
	t.Logf("in a console: %v", time.Since(start).Round(10*time.Millisecond))
}

// checkReport is what `invigil check --json` prints.
type checkReport struct {
	Policy policyInfo `json:"policy"`
	Report struct {
		Status string `json:"status"`
		Checks []struct {
			ID        string `json:"id"`
			Status    string `json:"status"`
			Summary   string `json:"summary"`
			Error     string `json:"error"`
			Processes []struct {
				PID     int32  `json:"pid"`
				Name    string `json:"name"`
				Exe     string `json:"exe"`
				RuleID  string `json:"rule_id"`
				Program string `json:"program"`
				Reason  string `json:"reason"`
				Port    int    `json:"port"`
			} `json:"processes"`
		} `json:"checks"`
	} `json:"report"`
}

// findings lists "program/reason/name" for every process the report
// names ("VNC/port/5900" for a listener: Wine 8 does not say which process
// owns a socket, real Windows does).
func (r checkReport) findings() []string {
	var out []string
	for _, c := range r.Report.Checks {
		for _, p := range c.Processes {
			name := p.Name
			if p.Reason == "port" {
				name = fmt.Sprint(p.Port)
			}
			out = append(out, fmt.Sprintf("%s/%s/%s", p.Program, p.Reason, name))
		}
	}
	return out
}

// TestWineCheck: `invigil.exe check --json`, its output redirected to a
// file, exits 6 and names a program running as C:\AnyDesk.exe (a copy of
// Wine's notepad), a renamed copy of a prohibited program found by its
// SHA-256, and a Windows process listening on a VNC port (by its port:
// under Wine 8 GetExtendedTcpTable gives no owning pid for a socket that
// wineserver holds).
func TestWineCheck(t *testing.T) {
	w := wine(t)
	dir := w.drive(t, "programs")
	anydesk := filepath.Join(w.prefix, "drive_c", "AnyDesk.exe")
	copyProgram(t, w, anydesk, false)
	tag := strings.ToLower(rand.Text()[:8])
	renamed := filepath.Join(dir, "homework-"+tag+".exe")
	sum := copyProgram(t, w, renamed, true)
	startWine(t, w, `C:\AnyDesk.exe`)
	startWine(t, w, w.winPath(renamed))
	lst := w.command(w.listener)
	port, err := lockdowntest.StartListener(lst)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lst.Process.Kill(); lst.Wait() })

	pol := fmt.Sprintf(`{"version": 1, "name": "wine check",
	  "processes": {"prohibited": [
	    {"id": "anydesk", "name": "AnyDesk", "category": "remote_access", "names": {"all": ["anydesk"], "windows": ["AnyDesk*.exe"]}},
	    {"id": "hashed", "name": "Hashed tool", "category": "remote_access", "names": {"all": ["never-%s"]}, "sha256": [%q]}
	  ], "allowed": []},
	  "remote_ports": [{"name": "VNC", "port": 5900, "to": 5909}],
	  "displays": {"max": 16, "action": "flag"}, "virtual_machine": "flag", "remote_session": "flag",
	  "virtual_camera": {"action": "flag"}}`, tag, sum)
	polFile := filepath.Join(dir, "policy.json")
	os.WriteFile(polFile, []byte(pol), 0o644)

	// Programs take a moment to appear under Wine: retry until all three
	// are seen, 20 s at most.
	var rep checkReport
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		outFile := filepath.Join(dir, "out.json")
		start := time.Now()
		sh := exec.Command("sh", "-c", `wine "$0" check --json --policy "$1" > "$2"`, w.exe, w.winPath(polFile), outFile)
		sh.Env, sh.WaitDelay = w.env, 10*time.Second
		var errb bytes.Buffer
		sh.Stderr = &errb
		err := sh.Run()
		code := sh.ProcessState.ExitCode()
		b, _ := os.ReadFile(outFile)
		rep = checkReport{}
		if jerr := json.Unmarshal(b, &rep); jerr != nil {
			t.Fatalf("check --json (exit %d, %v) wrote %q: %v\nstderr: %s", code, err, b, jerr, errb.String())
		}
		f := rep.findings()
		ok := slices.Contains(f, "AnyDesk/name/AnyDesk.exe") &&
			slices.Contains(f, fmt.Sprintf("Hashed tool/sha256/homework-%s.exe", tag)) &&
			slices.Contains(f, fmt.Sprintf("VNC/port/%d", port))
		if ok {
			if code != exitCheckFailed || rep.Report.Status != "fail" {
				t.Errorf("exit %d, status %s; want %d, fail", code, rep.Report.Status, exitCheckFailed)
			}
			t.Logf("check in %v found %v (listener on port %d)", time.Since(start).Round(10*time.Millisecond), f, port)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("check (exit %d) found %v; want AnyDesk.exe by name, homework-%s.exe by hash, a listener on port %d\n%s", code, f, tag, port, b)
		}
	}

	// The shipped default policy catches AnyDesk.exe as well.
	code, out, errs := w.invigil(t, "check", "--json")
	rep = checkReport{}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("check --json: %v\n%s\n%s", err, out, errs)
	}
	if code != exitCheckFailed || !slices.Contains(rep.findings(), "AnyDesk/name/AnyDesk.exe") || rep.Policy.Source != "default" {
		t.Errorf("default policy: exit %d, policy %+v, findings %v", code, rep.Policy, rep.findings())
	}
	// The camera check asked DirectShow for the cameras (Wine has none).
	for _, c := range rep.Report.Checks {
		if c.ID == "camera.virtual" {
			t.Logf("camera check: %s: %s (%s)", c.Status, c.Summary, c.Error)
			if c.Error == "no camera list from the capture layer" {
				t.Errorf("the check ran without the camera list")
			}
		}
	}
}

// startWineClient starts `invigil.exe args...` with its output in buffers
// and kills it at cleanup.
func startWineClient(t *testing.T, w *wineEnv, args ...string) (*exec.Cmd, *lockedBuffer, *lockedBuffer) {
	t.Helper()
	c := w.command(w.exe, args...)
	var stdout, stderr lockedBuffer
	c.Stdout, c.Stderr = &stdout, &stderr
	startCmd(t, c)
	return c, &stdout, &stderr
}

// wineClientArgs are clientArgs with the spool and journal on the prefix's
// C: drive, as Windows paths.
func wineClientArgs(t *testing.T, w *wineEnv, server string, d time.Duration, extra ...string) []string {
	t.Helper()
	return clientArgs(server, w.winPath(w.drive(t, "spool")), d, extra...)
}

// TestWineRecordingSurvivesBackendKill: `invigil.exe run --headless
// --camera scene --screen all --duration 20s` joins the Linux backend,
// records the synthetic camera and the screen through the Windows screen
// driver (GDI under Wine, showing a moving test pattern), survives a kill
// -9 of the backend with every message stored exactly once, and leaves
// MP4 files that ffprobe decodes, holding every frame the client sent.
func TestWineRecordingSurvivesBackendKill(t *testing.T) {
	w := wine(t)
	// A moving pattern in one window on a still desktop, as an exam's
	// screen is. A pattern over the whole screen makes every 1 fps frame
	// cost ~11 kB at the screen's quality floor (QP 35), more than its
	// 80 kbps allows: the bitrate ceiling drops frames, and once the ABR
	// steps down after the backend's kill, the gaps grow to seconds (CI
	// once recorded 11 frames that ended 8 s early).
	play := exec.Command("ffplay", "-loglevel", "quiet", "-nostats", "-an", "-noborder", "-left", "0", "-top", "0",
		"-f", "lavfi", "-i", "testsrc2=s=320x240:r=10")
	play.Env = append(os.Environ(), "DISPLAY="+w.display, "SDL_VIDEODRIVER=x11", "SDL_AUDIODRIVER=dummy")
	startCmd(t, play)
	data := recordingData(t)
	be := startBackend(t, data, "127.0.0.1:0")
	args := wineClientArgs(t, w, be.url(), 20*time.Second, "--heartbeat-rate", "1", "--log-level", "info")
	args[slices.Index(args, "--camera")+1] = "scene"
	args[slices.Index(args, "--screen")+1] = "all"
	start := time.Now()
	cmd, out, errb := startWineClient(t, w, args...)
	time.Sleep(8 * time.Second)
	be.kill()
	time.Sleep(1500 * time.Millisecond) // the client spools meanwhile
	be = startBackend(t, data, be.addr)
	r := waitClient(t, cmd, out, errb)
	be.kill()
	t.Logf("run took %v; summary %+v", time.Since(start).Round(100*time.Millisecond), r.summary)
	verifyExactlyOnce(t, data, r)
	if r.summary.Reconnects < 1 {
		t.Errorf("reconnects = %d, want >= 1 after the backend was killed", r.summary.Reconnects)
	}
	tracks := mediaTracks(t, data, r.summary.SessionID)
	for _, name := range []string{"camera", "screen"} {
		tr, ok := tracks[name]
		if !ok {
			t.Fatalf("no %s track stored; tracks %v\n%s", name, tracks, r.stderr)
		}
		p := ffprobe(t, tr.File)
		sent := r.summary.ThisRun[name]
		t.Logf("%s: sent %d frames; file %d frames, %.2f s, %dx%d, %d bytes", name, sent, p.Frames, p.Duration, p.Width, p.Height, p.Bytes)
		if p.Frames != sent || tr.Dropped != 0 || sent == 0 {
			t.Errorf("%s: %d frames in the file (%d dropped), %d sent", name, p.Frames, tr.Dropped, sent)
		}
		if p.Duration < 15 {
			// Which frames are missing, and whether the ABR stepped down.
			frames, _ := exec.Command("ffprobe", "-v", "error", "-select_streams", "v",
				"-show_entries", "frame=pts_time,pkt_size,key_frame", "-of", "csv=p=0", tr.File).Output()
			t.Errorf("%s: the file lasts %.2f s of a 20 s run; frames (key, time, bytes):\n%s\nclient's log:\n%s",
				name, p.Duration, frames, r.stderr)
		}
	}
	if p := ffprobe(t, tracks["screen"].File); p.Width != 1280 || p.Height != 800 {
		t.Errorf("screen recorded at %dx%d, the display is 1280x800", p.Width, p.Height)
	}
}

// widePolicy prohibits AnyDesk (by its Windows executable names) and
// clears the clipboard: a lockdown change the journal records.
const widePolicy = `{"version": 1, "name": "wine lockdown",
  "processes": {"prohibited": [
    {"id": "anydesk", "name": "AnyDesk", "category": "remote_access", "names": {"all": ["anydesk"], "windows": ["AnyDesk*.exe"]}}
  ], "allowed": []},
  "remote_ports": [{"name": "VNC", "port": 5900, "to": 5909}],
  "displays": {"max": 16, "action": "flag"}, "virtual_machine": "flag", "remote_session": "flag",
  "virtual_camera": {"action": "flag"}, "clipboard": "clear", "enforcement": {"terminate": "never"}}`

// TestWineViolationMidExam: a prohibited program started during a
// headless exam reaches the backend as a violation naming it.
func TestWineViolationMidExam(t *testing.T) {
	w := wine(t)
	dir := w.drive(t, "programs")
	polFile := filepath.Join(dir, "policy.json")
	os.WriteFile(polFile, []byte(widePolicy), 0o644)
	be := startBackend(t, examData(t, "wine lockdown", "WINE", polFile), "127.0.0.1:0")
	admin := newAdmin(t, be)
	args := wineClientArgs(t, w, be.url(), 2*time.Minute)
	args[slices.Index(args, "e2e")] = "WINE"
	cmd, out, errb := startWineClient(t, w, args...)
	session := admin.waitSession(t)
	time.Sleep(time.Second) // the monitor's first scan

	name := "AnyDesk-" + strings.ToLower(rand.Text()[:6]) + ".exe"
	prog := filepath.Join(dir, name)
	copyProgram(t, w, prog, false)
	t0 := time.Now()
	startWine(t, w, w.winPath(prog))
	d := admin.waitViolation(t, session, t0, func(v violationEvent) bool {
		return v.Code == "process.prohibited" && v.Evidence["name"] == name
	})
	t.Logf("%s: stored in the backend %v after wine started it", name, d.Round(time.Millisecond))
	admin.command(t, session, "end")
	r := waitClient(t, cmd, out, errb)
	if r.exit != exitEnded || r.summary.Violations < 1 {
		t.Fatalf("client: exit %d, summary %+v\n%s", r.exit, r.summary, r.stderr)
	}
}

// journalChange is a change line of a lockdown journal on disk.
type journalChange struct {
	Kind string `json:"kind"`
	Undo struct {
		Key     string `json:"key"`
		Name    string `json:"name"`
		Existed bool   `json:"existed"`
		Old     uint32 `json:"old"`
	} `json:"undo"`
}

// readJournal returns the pid that wrote the journal at path and the
// changes it recorded.
func readJournal(t *testing.T, path string) (int32, []journalChange) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var pid int32
	var out []journalChange
	for _, l := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		var j struct {
			Type   string         `json:"type"`
			PID    int32          `json:"pid"`
			Change *journalChange `json:"change"`
		}
		if err := json.Unmarshal(l, &j); err != nil {
			t.Fatalf("journal line %q: %v", l, err)
		}
		switch {
		case j.Type == "header":
			pid = j.PID
		case j.Type == "change" && j.Change != nil:
			out = append(out, *j.Change)
		}
	}
	return pid, out
}

// regValue reads a DWORD under HKEY_CURRENT_USER in the prefix; ok is
// false when it does not exist.
func (w *wineEnv) regValue(t *testing.T, key, name string) (v string, ok bool) {
	t.Helper()
	c := w.command("reg", "query", `HKCU\`+key, "/v", name)
	out, err := c.Output()
	if err != nil {
		return "", false
	}
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		if len(f) == 3 && strings.EqualFold(f[0], name) && f[1] == "REG_DWORD" {
			return f[2], true
		}
	}
	return "", false
}

// TestWineReset: invigil.exe killed during an exam leaves its lockdown
// journal; `invigil.exe reset` refuses while the exam runs, and once it is
// gone undoes every change the journal holds and removes it; run again, it
// finds nothing to undo. Registry values a crashed run left (written into a
// journal by the test, as the Windows lockdown records them) go back to
// what they were in Wine's registry.
func TestWineReset(t *testing.T) {
	w := wine(t)
	dir := w.drive(t, "programs")
	polFile := filepath.Join(dir, "policy.json")
	os.WriteFile(polFile, []byte(widePolicy), 0o644)
	be := startBackend(t, examData(t, "wine lockdown", "WINE", polFile), "127.0.0.1:0")
	admin := newAdmin(t, be)
	args := wineClientArgs(t, w, be.url(), 2*time.Minute)
	args[slices.Index(args, "e2e")] = "WINE"
	journal := args[slices.Index(args, "--journal")+1]
	journalLinux := filepath.Join(w.prefix, "drive_c", strings.ReplaceAll(strings.TrimPrefix(journal, `C:\`), `\`, "/"))
	cmd, _, errb := startWineClient(t, w, args...)
	admin.waitSession(t)
	// The clipboard policy's first clear is journaled as the exam starts.
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, ch := readJournal(t, journalLinux); len(ch) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the journal holds no change:\n%s", errb)
		}
		time.Sleep(100 * time.Millisecond)
	}

	code, out, errs := w.invigil(t, "reset", "--journal", journal)
	if code != exitFailure || !strings.Contains(errs, "an exam is running") {
		t.Errorf("reset during the exam: exit %d, stdout %q, stderr %q", code, out, errs)
	}

	cmd.Process.Kill() // kill -9: no finish, no undo
	cmd.Wait()
	owner, changes := readJournal(t, journalLinux)
	var kinds []string
	for _, l := range changes {
		kinds = append(kinds, l.Kind)
	}
	t.Logf("journal left by the killed client: %v", kinds)

	code, out, errs = w.invigil(t, "reset", "--journal", journal, "--json")
	var rep struct {
		Found        bool  `json:"found"`
		OwnerPID     int32 `json:"owner_pid"`
		OwnerRunning bool  `json:"owner_running"`
		Remaining    int   `json:"remaining"`
		Results      []struct {
			Outcome string `json:"outcome"`
			Error   string `json:"error"`
		} `json:"results"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("reset --json: exit %d, %v\n%s\n%s", code, err, out, errs)
	}
	if code != exitOK || !rep.Found || rep.OwnerRunning || rep.OwnerPID != owner || rep.Remaining != 0 || len(rep.Results) != len(changes) {
		t.Fatalf("reset: exit %d, report %+v (journal %d changes, owner %d)\n%s", code, rep, len(changes), owner, errs)
	}
	for _, r := range rep.Results {
		if r.Error != "" {
			t.Errorf("undo failed: %+v", r)
		}
	}
	if _, err := os.Stat(journalLinux); !os.IsNotExist(err) {
		t.Errorf("journal still there after reset: %v", err)
	}
	for _, l := range changes {
		if l.Kind != "registry.dword" {
			continue
		}
		v, ok := w.regValue(t, l.Undo.Key, l.Undo.Name)
		want := fmt.Sprintf("0x%x", l.Undo.Old)
		if ok != l.Undo.Existed || (ok && v != want) {
			t.Errorf(`HKCU\%s\%s after reset: %q (exists %v); before the exam: %s (exists %v)`, l.Undo.Key, l.Undo.Name, v, ok, want, l.Undo.Existed)
		}
	}
	code, out, _ = w.invigil(t, "reset", "--journal", journal)
	if code != exitOK || !strings.Contains(out, "nothing to undo") {
		t.Errorf("second reset: exit %d, %q", code, out)
	}

	// Registry values (the kind of change Windows kiosk settings are) left
	// by a crashed run: one that did not exist before and one that held 7.
	// reset deletes the first and puts 7 back in the second, in Wine's
	// registry.
	key := `Software\InvigilTest\` + strings.ToLower(rand.Text()[:6])
	for _, v := range []struct{ name, data string }{{"Added", "1"}, {"Changed", "1"}} {
		if b, err := w.command("reg", "add", `HKCU\`+key, "/v", v.name, "/t", "REG_DWORD", "/d", v.data, "/f").CombinedOutput(); err != nil {
			t.Fatalf("reg add: %v\n%s", err, b)
		}
	}
	now := time.Now().UTC().Format(time.RFC3339Nano)
	crashed := fmt.Sprintf(`{"type":"header","version":1,"pid":4000000,"started":%[1]q}
{"type":"change","change":{"seq":1,"time":%[1]q,"kind":"registry.dword","summary":"set Added","undo":{"key":%[2]q,"name":"Added","existed":false,"old":0}}}
{"type":"change","change":{"seq":2,"time":%[1]q,"kind":"registry.dword","summary":"set Changed","undo":{"key":%[2]q,"name":"Changed","existed":true,"old":7}}}
`, now, key)
	if err := os.WriteFile(journalLinux, []byte(crashed), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errs = w.invigil(t, "reset", "--journal", journal)
	if code != exitOK || !strings.Contains(out, "Everything is undone") {
		t.Errorf("reset of registry changes: exit %d\n%s\n%s", code, out, errs)
	}
	if v, ok := w.regValue(t, key, "Added"); ok {
		t.Errorf(`HKCU\%s\Added is %s after reset; it did not exist before`, key, v)
	}
	if v, ok := w.regValue(t, key, "Changed"); v != "0x7" {
		t.Errorf(`HKCU\%s\Changed is %q (exists %v) after reset, want 0x7`, key, v, ok)
	}
}

// startWineApp runs the desktop app, `invigil.exe run args...`, with the
// test driver on a loopback TCP port (Wine 8 has no AF_UNIX sockets) and
// connects to it.
func startWineApp(t *testing.T, w *wineEnv, shots string, args ...string) *uiApp {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	a := &uiApp{t: t, stderr: &lockedBuffer{}, display: w.display, shots: shots, env: w.env, exited: make(chan struct{})}
	a.cmd = w.command(w.exe, append([]string{"run", "--ui-test-control", "tcp:" + addr}, args...)...)
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
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			a.conn, a.rd = c, bufio.NewReader(c)
			return a
		}
		select {
		case <-a.exited:
			t.Fatalf("the app exited at start (%v):\n%s", a.cmd.ProcessState, tail(a.stderr.String(), 3000))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no test driver after 60 s:\n%s", tail(a.stderr.String(), 3000))
		}
	}
}

// TestWineDesktopApp walks the desktop app under Wine through join, check,
// consent, ID photo, room scan, exam, finish and receipt with the test
// driver, against the Linux backend, and saves a screenshot of every step
// (-update-screenshots copies them to docs/screenshots/windows-*.png).
func TestWineDesktopApp(t *testing.T) {
	w := wine(t)
	for _, tool := range []string{"import", "xdotool"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not installed: run scripts/setup.sh", tool)
		}
	}
	start := time.Now()
	shots := os.Getenv("INVIGIL_UI_SHOTS")
	if shots == "" {
		shots = filepath.Join(t.TempDir(), "shots")
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	runOut(t, "exam", "create", "--data", data, "--name", "Physics midterm", "--code", "PHYS1", "--policy", "testdata/ui-policy.json")
	be := startBackend(t, data, "127.0.0.1:0")
	adm := newAdmin(t, be)
	key := strings.TrimSpace(runOut(t, "key", "--data", data))

	// The managed configuration pins the backend's key; spool and journal
	// go on the prefix's C: drive.
	dir := w.drive(t, "app")
	cfgFile := filepath.Join(dir, "config.json")
	cfg, _ := json.Marshal(launch.ManagedConfig{ServerKey: key, SpoolDir: w.winPath(filepath.Join(dir, "spool")),
		JournalPath: w.winPath(filepath.Join(dir, "journal"))})
	if err := os.WriteFile(cfgFile, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	app := startWineApp(t, w, shots, "--config", w.winPath(cfgFile), "--camera", "scene", "--room-scan", "3s")

	app.wait(client.ScreenJoin, "")
	app.do(ui.DriverRequest{Op: "type", Placeholder: ui.PlaceholderServer, Text: be.url()})
	app.do(ui.DriverRequest{Op: "type", Placeholder: ui.PlaceholderCode, Text: "PHYS1"})
	app.shot("windows-01-join")
	app.tap("Join exam")

	app.wait(client.ScreenCheck, "check_ready")
	app.shot("windows-02-check")
	app.tap("Continue")
	app.wait(client.ScreenConsent, "")
	app.shot("windows-03-consent")
	app.tap("I agree")

	app.wait(client.ScreenIDPhoto, "photo_live")
	app.tap("Take photo")
	app.wait(client.ScreenIDPhoto, "photo_taken")
	app.shot("windows-04-id-photo")
	app.tap("Use this photo")
	app.wait(client.ScreenRoomScan, "")
	app.tap("Start room scan")
	app.wait(client.ScreenRoomScan, "scanning")
	app.shot("windows-05-room-scan")

	app.wait(client.ScreenExam, "")
	session := adm.waitSession(t)
	say(t, adm, session, "chat", "Hello from the proctor.")
	app.wait(client.ScreenExam, "message")
	app.shot("windows-06-exam")
	app.tap(ui.LabelFinish)
	app.wait(client.ScreenExam, "confirm")
	app.tap(ui.LabelConfirm)
	rep := app.wait(client.ScreenReceipt, "")
	app.shot("windows-07-receipt")
	var receipt exam.Receipt
	if err := json.Unmarshal([]byte(rep.Detail), &receipt); err != nil {
		t.Fatalf("receipt %q: %v", rep.Detail, err)
	}
	app.tap(ui.LabelClose)
	if code := app.exit(); code != exitOK {
		t.Fatalf("exit %d:\n%s", code, tail(app.stderr.String(), 3000))
	}

	var ss []backend.SessionInfo
	adm.get(t, "/api/v1/admin/sessions", &ss)
	i := slices.IndexFunc(ss, func(s backend.SessionInfo) bool { return s.ID == receipt.SessionID })
	if i < 0 || ss[i].State != "finished" || ss[i].Digest != receipt.ClientDigest || !receipt.Match || ss[i].LastAck != receipt.Messages {
		t.Fatalf("receipt %+v; backend sessions %+v", receipt, ss)
	}
	if receipt.ThisRun["camera"] == 0 || receipt.ThisRun["screen"] == 0 || receipt.ThisRun["stills"] < 2 {
		t.Errorf("uploaded %v; want camera, screen and stills", receipt.ThisRun)
	}
	t.Logf("desktop app under Wine end to end in %s; screenshots in %s", time.Since(start).Round(time.Second), shots)
	if *updateScreenshots {
		copyShots(t, shots, "windows-")
	}
}
