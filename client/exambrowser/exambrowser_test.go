//go:build linux

// The browser tests run Debian's Chromium under Xvfb and read /proc.

package exambrowser

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/cdproto/target"

	"github.com/invigil/invigil/capture/xvfb"
)

// TestMain doubles as the body of a "client" process that launches an
// exam browser and waits to be killed (TestCleanupAfterClientCrash).
func TestMain(m *testing.M) {
	if dir := os.Getenv("EXAMBROWSER_TEST_CLIENT"); dir != "" {
		os.Exit(fakeClient(dir, os.Getenv("EXAMBROWSER_TEST_URL")))
	}
	os.Exit(m.Run())
}

func fakeClient(dir, start string) int {
	b, err := Launch(context.Background(), Options{StartURL: start, Dir: dir})
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	pids, _ := json.Marshal(b.PIDs())
	fmt.Printf("ready %s\n", pids)
	select {}
}

// display starts a private Xvfb for the test's browser.
func display(t *testing.T) {
	t.Helper()
	s, err := xvfb.Start("1280x800x24")
	if err != nil {
		t.Fatal(err) // scripts/setup.sh installs Xvfb: a missing one is a broken setup
	}
	t.Cleanup(s.Close)
	t.Setenv("DISPLAY", s.Display())
}

// examSite is the exam's web site: /exam/ is allowed, /outside/ is not.
type examSite struct {
	*httptest.Server
	mu   sync.Mutex
	seen []string
}

func (s *examSite) saw(path string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.seen {
		if p == path {
			return true
		}
	}
	return false
}

const examPage = `<!doctype html><title>Exam</title>
<h1 id="h">Start</h1>
<a id="inside" href="/exam/page2">next</a>
<a id="outside" href="/outside/answers">answers</a>
<a id="blank" href="/exam/page3" target="_blank">new tab</a>
<a id="redirect" href="/exam/redirect">redirect</a>
<a id="data" href="data:text/html,hello">data</a>
<input id="file" type="file">`

func newExamSite(t *testing.T) *examSite {
	s := &examSite{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.seen = append(s.seen, r.URL.Path)
		s.mu.Unlock()
		switch r.URL.Path {
		case "/exam/start":
			fmt.Fprint(w, examPage)
		case "/exam/download":
			w.Header().Set("Content-Disposition", `attachment; filename="notes.txt"`)
			w.Header().Set("Content-Type", "application/octet-stream")
			fmt.Fprint(w, "cheat sheet")
		case "/exam/redirect":
			http.Redirect(w, r, "/outside/redirected", http.StatusFound)
		case "/favicon.ico":
			http.NotFound(w, r)
		default:
			fmt.Fprintf(w, "<!doctype html><title>%s</title><h1 id=h>%s</h1>", r.URL.Path, r.URL.Path)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

// recorder collects events.
type recorder struct {
	mu  sync.Mutex
	evs []recorded
}

type recorded struct {
	name   string
	detail map[string]any
}

func (r *recorder) add(name string, detail map[string]any) {
	r.mu.Lock()
	r.evs = append(r.evs, recorded{name, detail})
	r.mu.Unlock()
}

func (r *recorder) find(name string, match func(map[string]any) bool) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.evs {
		if e.name == name && (match == nil || match(e.detail)) {
			return true
		}
	}
	return false
}

func (r *recorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	for _, e := range r.evs {
		fmt.Fprintf(&b, "%s %v\n", e.name, e.detail)
	}
	return b.String()
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second) // a relaunch under -race on a loaded machine takes 20 s
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// eval runs JavaScript in the exam window, as a user gesture.
func eval(t *testing.T, b *Browser, expr string) string {
	t.Helper()
	b.mu.Lock()
	inst := b.inst
	b.mu.Unlock()
	if inst == nil {
		t.Fatal("no browser running")
	}
	ctx, cancel := context.WithTimeout(inst.ctx, 10*time.Second)
	defer cancel()
	res, err := cdp.Call(ctx, inst.tgt, runtime.Evaluate, runtime.EvaluateParams{
		Expression: expr, ReturnByValue: ptr(true), UserGesture: ptr(true), AwaitPromise: ptr(true),
	})
	if err != nil {
		t.Fatalf("eval %s: %v", expr, err)
	}
	if res.ExceptionDetails != nil {
		t.Fatalf("eval %s: %s", expr, res.ExceptionDetails.Text)
	}
	var s string
	json.Unmarshal(res.Result.Value, &s)
	return s
}

func location(t *testing.T, b *Browser) string {
	return eval(t, b, "location.href")
}

func pageTargets(t *testing.T, b *Browser) []*target.Info {
	t.Helper()
	b.mu.Lock()
	inst := b.inst
	b.mu.Unlock()
	ctx, cancel := context.WithTimeout(inst.ctx, 10*time.Second)
	defer cancel()
	res, err := cdp.Call(ctx, inst.brw, target.GetTargets, target.GetTargetsParams{})
	if err != nil {
		t.Fatal(err)
	}
	var out []*target.Info
	for _, ti := range res.TargetInfos {
		if ti.Type == "page" {
			out = append(out, ti)
		}
	}
	return out
}

func launch(t *testing.T, site *examSite, rec *recorder, dir string) *Browser {
	t.Helper()
	b, err := Launch(context.Background(), Options{
		StartURL: site.URL + "/exam/start",
		Allowed:  []string{site.URL + "/exam/"},
		Events:   rec.add,
		Dir:      dir,
		Exec:     "/usr/bin/chromium",
		Log:      slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// procsUsing lists the processes whose command line names dir, from /proc.
func procsUsing(t *testing.T, dir string) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err == nil && strings.Contains(string(b), dir) {
			out = append(out, pid)
		}
	}
	return out
}

// checkNothingLeft fails t if, after step, any of pids still runs, any
// process uses the profile folder dir, or dir holds anything.
func checkNothingLeft(t *testing.T, step, dir string, pids []int) {
	t.Helper()
	for _, pid := range pids {
		if running(pid) {
			t.Errorf("browser pid %d still runs after %s", pid, step)
		}
	}
	if left := procsUsing(t, dir); len(left) > 0 {
		t.Errorf("processes %v still use the profile folder after %s", left, step)
	}
	if left, _ := os.ReadDir(dir); len(left) > 0 {
		t.Errorf("%d entries left in the profile folder after %s", len(left), step)
	}
}

// running reports whether /proc shows pid as a live (not zombie) process.
func running(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

func TestExamBrowser(t *testing.T) {
	display(t)
	site := newExamSite(t)
	rec := &recorder{}
	dir := t.TempDir()
	b := launch(t, site, rec, dir)
	defer b.Close()
	start := site.URL + "/exam/start"
	// Everything the browser's processes connect to, sampled through the
	// test: only loopback.
	stopWatch := watchSockets(t, b)

	t.Run("opens the exam page", func(t *testing.T) {
		waitFor(t, "the start page", func() bool { return location(t, b) == start && eval(t, b, "document.title") == "Exam" })
		if !rec.find(EventStarted, func(d map[string]any) bool { return d["pid"].(int) > 0 }) {
			t.Errorf("no %s event:\n%s", EventStarted, rec)
		}
		if n := len(pageTargets(t, b)); n != 1 {
			t.Errorf("%d windows, want 1 (app mode, no extra about:blank)", n)
		}
		// An app window has no tab strip and no toolbar (~85 px): only
		// the --no-sandbox bar (as root) sits above the page.
		// (window.locationbar.visible is true in both.)
		chrome, _ := strconv.Atoi(eval(t, b, "String(window.outerHeight - window.innerHeight)"))
		t.Logf("browser chrome above the page: %d px", chrome)
		if chrome >= 80 {
			t.Errorf("%d px of browser chrome above the page: not an app window (tabs and address bar)", chrome)
		}
	})
	t.Run("a link inside the allowed prefixes opens", func(t *testing.T) {
		eval(t, b, "document.getElementById('inside').click(), ''")
		waitFor(t, "page2", func() bool { return location(t, b) == site.URL+"/exam/page2" })
		eval(t, b, "history.back(), ''")
		waitFor(t, "back on the start page", func() bool { return location(t, b) == start })
	})
	t.Run("a link outside is blocked and reported", func(t *testing.T) {
		eval(t, b, "document.getElementById('outside').click(), ''")
		want := site.URL + "/outside/answers"
		waitFor(t, "the blocked event", func() bool {
			return rec.find(EventNavigationBlocked, func(d map[string]any) bool { return d["url"] == want && d["frame"] == "main" })
		})
		time.Sleep(300 * time.Millisecond)
		if got := location(t, b); got != start {
			t.Errorf("location %s after the blocked link, want %s (the page stays)", got, start)
		}
		if site.saw("/outside/answers") {
			t.Error("the server got the blocked request")
		}
		waitFor(t, "the notice", func() bool {
			return strings.Contains(eval(t, b, "(document.getElementById('__invigil_notice')||{}).textContent||''"), "outside this exam")
		})
	})
	t.Run("a redirect to outside is blocked", func(t *testing.T) {
		eval(t, b, "document.getElementById('redirect').click(), ''")
		waitFor(t, "the blocked redirect", func() bool {
			return rec.find(EventNavigationBlocked, func(d map[string]any) bool { return d["url"] == site.URL+"/outside/redirected" })
		})
		if site.saw("/outside/redirected") {
			t.Error("the server got the redirected request")
		}
		time.Sleep(300 * time.Millisecond)
		if got := location(t, b); !strings.HasPrefix(got, site.URL+"/exam/") {
			t.Errorf("location %s, want a page inside /exam/", got)
		}
		if got := location(t, b); got != start {
			eval(t, b, fmt.Sprintf("location.href = %q, ''", start))
			waitFor(t, "the start page", func() bool { return location(t, b) == start })
		}
	})
	t.Run("window.open is blocked and reported", func(t *testing.T) {
		got := eval(t, b, "String(window.open('/exam/popup'))")
		if got != "null" {
			t.Errorf("window.open returned %s, want null", got)
		}
		waitFor(t, "the window event", func() bool {
			return rec.find(EventWindowBlocked, func(d map[string]any) bool {
				return d["url"] == site.URL+"/exam/popup" && d["how"] == "window.open"
			})
		})
		if n := len(pageTargets(t, b)); n != 1 {
			t.Errorf("%d windows after window.open, want 1", n)
		}
	})
	t.Run("a target=_blank link opens in the same window", func(t *testing.T) {
		eval(t, b, "document.getElementById('blank').click(), ''")
		waitFor(t, "page3", func() bool { return location(t, b) == site.URL+"/exam/page3" })
		if n := len(pageTargets(t, b)); n != 1 {
			t.Errorf("%d windows, want 1", n)
		}
		eval(t, b, "history.back(), ''")
		waitFor(t, "back on the start page", func() bool { return location(t, b) == start })
	})
	t.Run("a new window that gets past the page script is closed", func(t *testing.T) {
		b.mu.Lock()
		inst := b.inst
		b.mu.Unlock()
		ctx, cancel := context.WithTimeout(inst.ctx, 10*time.Second)
		defer cancel()
		if _, err := cdp.Call(ctx, inst.brw, target.CreateTarget, target.CreateTargetParams{URL: site.URL + "/exam/other", NewWindow: ptr(true)}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the new window closed", func() bool { return len(pageTargets(t, b)) == 1 })
		if !rec.find(EventWindowBlocked, func(d map[string]any) bool { return d["how"] == "new_window" }) {
			t.Errorf("no new_window event:\n%s", rec)
		}
	})
	t.Run("a page reached without a request goes back", func(t *testing.T) {
		b.mu.Lock()
		inst := b.inst
		b.mu.Unlock()
		ctx, cancel := context.WithTimeout(inst.ctx, 10*time.Second)
		defer cancel()
		// As if the student reached a data: page some other way.
		if _, err := cdp.Call(ctx, inst.tgt, page.Navigate, page.NavigateParams{URL: "data:text/html,<h1>notes</h1>"}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the event", func() bool {
			return rec.find(EventNavigationBlocked, func(d map[string]any) bool { return d["how"] == "without_request" })
		})
		waitFor(t, "back on the start page", func() bool { return location(t, b) == start })
	})
	t.Run("a frame outside is blocked, also from another site", func(t *testing.T) {
		other := strings.Replace(site.URL, "127.0.0.1", "localhost", 1) + "/outside/frame"
		eval(t, b, fmt.Sprintf("document.body.appendChild(Object.assign(document.createElement('iframe'), {src: %q})), ''", other))
		waitFor(t, "the blocked frame", func() bool {
			return rec.find(EventNavigationBlocked, func(d map[string]any) bool { return d["url"] == other && d["frame"] == "sub" })
		})
		if site.saw("/outside/frame") {
			t.Error("the server got the blocked frame's request")
		}
	})
	t.Run("a download is blocked and reported", func(t *testing.T) {
		eval(t, b, "location.href = '/exam/download', ''")
		waitFor(t, "the download event", func() bool {
			return rec.find(EventDownloadBlocked, func(d map[string]any) bool { return d["url"] == site.URL+"/exam/download" })
		})
		if got := location(t, b); got != start {
			t.Errorf("location %s after the download, want %s", got, start)
		}
	})
	t.Run("DevTools do not stay open", func(t *testing.T) {
		devtools(t, b, rec)
	})
	t.Run("the file picker is blocked and reported", func(t *testing.T) {
		eval(t, b, "document.getElementById('file').click(), ''")
		waitFor(t, "the file chooser event", func() bool { return rec.find(EventFileChooserBlocked, nil) })
	})
	t.Run("print is blocked and reported", func(t *testing.T) {
		eval(t, b, "window.print(), ''")
		waitFor(t, "the print event", func() bool { return rec.find(EventPrintBlocked, nil) })
	})

	if bad, n := stopWatch(); len(bad) > 0 {
		t.Errorf("the browser used sockets off loopback: %v", bad)
	} else {
		t.Logf("%d socket samples, all on loopback", n)
	}
	pids := b.PIDs()
	if len(pids) < 2 {
		t.Fatalf("PIDs() = %v, want the browser and its helpers", pids)
	}
	profiles, _ := filepath.Glob(filepath.Join(dir, profilePrefix+"*"))
	if len(profiles) != 1 {
		t.Fatalf("profile folders %v, want 1", profiles)
	}
	if fi, err := os.Stat(profiles[0]); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("profile folder mode %v (%v), want 0700", fi.Mode().Perm(), err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	checkNothingLeft(t, "Close", dir, pids)
	if b.PIDs() != nil {
		t.Error("PIDs after Close is not nil")
	}
}

// devtools presses the DevTools shortcuts and right-clicks (for
// "Inspect") in the exam window (xdotool): no second window may appear.
// (DevTools windows are not protocol targets, so the test counts X
// windows.)
func devtools(t *testing.T, b *Browser, rec *recorder) {
	t.Helper()
	b.mu.Lock()
	pid := b.inst.pid
	b.mu.Unlock()
	windows := func() []string {
		out, err := exec.Command("xdotool", "search", "--onlyvisible", "--pid", strconv.Itoa(pid)).Output()
		if err != nil && len(out) > 0 {
			t.Fatalf("xdotool search: %v (scripts/setup.sh installs xdotool)", err)
		}
		return strings.Fields(string(out))
	}
	var before []string
	waitFor(t, "the exam window", func() bool { before = windows(); return len(before) > 0 })
	win := before[0]
	for _, keys := range []string{"ctrl+shift+i", "F12", "ctrl+shift+j", "ctrl+shift+c", "ctrl+u"} {
		if err := exec.Command("xdotool", "windowfocus", "--sync", win, "key", "--window", win, keys).Run(); err != nil {
			t.Fatalf("xdotool key %s: %v", keys, err)
		}
	}
	waitFor(t, "the devtools event", func() bool { return rec.find(EventDevToolsBlocked, nil) })
	time.Sleep(2 * time.Second)
	if after := windows(); len(after) != len(before) {
		t.Errorf("windows %v after the DevTools shortcuts, want %v", after, before)
	}
}

// watchSockets samples the internet sockets of the browser's processes
// until the returned func is called, which returns those that were not on
// loopback (local and remote address) and how many sockets it saw.
func watchSockets(t *testing.T, b *Browser) func() ([]string, int) {
	t.Helper()
	stop := make(chan struct{})
	done := make(chan struct{})
	var bad []string
	seen := 0
	go func() {
		defer close(done)
		for {
			for _, e := range socketsOf(b.PIDs()) {
				seen++
				if !e.loopback() && !slices.Contains(bad, e.String()) {
					bad = append(bad, e.String())
				}
			}
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	return func() ([]string, int) { close(stop); <-done; return bad, seen }
}

type sockEntry struct {
	proto, local, remote string // hex addresses as /proc/net shows them
	state                string
}

func (e sockEntry) String() string {
	return fmt.Sprintf("%s %s -> %s (state %s)", e.proto, hexAddr(e.local), hexAddr(e.remote), e.state)
}

// loopback: both ends on 127.0.0.0/8 or ::1, or an unconnected socket
// (remote all zeros) bound to loopback.
func (e sockEntry) loopback() bool {
	ok := func(a string, zeroOK bool) bool {
		ip := hexAddr(a)
		return strings.HasPrefix(ip, "127.") || ip == "::1" || strings.HasPrefix(ip, "::ffff:127.") || (zeroOK && (ip == "0.0.0.0" || ip == "::"))
	}
	return ok(e.local, false) && ok(e.remote, true)
}

// hexAddr turns /proc/net's "0100007F:1F90" into "127.0.0.1".
func hexAddr(a string) string {
	h, _, _ := strings.Cut(a, ":")
	b, err := hex.DecodeString(h)
	if err != nil {
		return a
	}
	// Each 32-bit word is in host (little-endian) order.
	for i := 0; i+4 <= len(b); i += 4 {
		b[i], b[i+1], b[i+2], b[i+3] = b[i+3], b[i+2], b[i+1], b[i]
	}
	return net.IP(b).String()
}

// socketsOf lists the tcp/udp sockets the processes hold.
func socketsOf(pids []int) []sockEntry {
	inodes := map[string]bool{}
	for _, pid := range pids {
		fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		for _, fd := range fds {
			l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
			if err == nil && strings.HasPrefix(l, "socket:[") {
				inodes[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = true
			}
		}
	}
	var out []sockEntry
	for _, proto := range []string{"tcp", "tcp6", "udp", "udp6"} {
		b, err := os.ReadFile("/proc/net/" + proto)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) > 9 && inodes[f[9]] {
				out = append(out, sockEntry{proto: proto, local: f[1], remote: f[2], state: f[3]})
			}
		}
	}
	return out
}

func TestRelaunchAfterCrash(t *testing.T) {
	display(t)
	site := newExamSite(t)
	rec := &recorder{}
	dir := t.TempDir()
	b := launch(t, site, rec, dir)
	defer b.Close()
	start := site.URL + "/exam/start"
	waitFor(t, "the start page", func() bool { return location(t, b) == start })
	b.mu.Lock()
	first := b.inst.pid
	b.mu.Unlock()
	if err := syscall.Kill(first, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the relaunch", func() bool { return rec.find(EventRelaunched, nil) })
	if !rec.find(EventClosed, func(d map[string]any) bool { return d["reason"] == "crashed" && d["pid"] == first }) {
		t.Errorf("no crashed event for pid %d:\n%s", first, rec)
	}
	waitFor(t, "the start page again", func() bool { return location(t, b) == start })
	if profiles, _ := filepath.Glob(filepath.Join(dir, profilePrefix+"*")); len(profiles) != 1 {
		t.Errorf("profile folders %v after the relaunch, want 1 (the crashed one removed)", profiles)
	}
	// The window closed by the student: reported as such, and back.
	b.mu.Lock()
	inst := b.inst
	b.mu.Unlock()
	ctx, cancel := context.WithTimeout(inst.ctx, 10*time.Second)
	defer cancel()
	cdp.Call(ctx, inst.brw, target.CloseTarget, target.CloseTargetParams{TargetID: inst.main})
	waitFor(t, "the window_closed event", func() bool {
		return rec.find(EventClosed, func(d map[string]any) bool { return d["reason"] == "window_closed" })
	})
	waitFor(t, "the second relaunch", func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return b.inst != nil && b.inst != inst
	})
	waitFor(t, "the start page again", func() bool { return location(t, b) == start })
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	checkNothingLeft(t, "Close", dir, nil)
}

func TestCleanupAfterClientCrash(t *testing.T) {
	display(t)
	site := newExamSite(t)
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "EXAMBROWSER_TEST_CLIENT="+dir, "EXAMBROWSER_TEST_URL="+site.URL+"/exam/start")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "ready ") {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("fake client: %q %v", line, err)
	}
	var pids []int
	json.Unmarshal([]byte(strings.TrimPrefix(line, "ready ")), &pids)
	waitFor(t, "the exam page", func() bool { return site.saw("/exam/start") })

	// While the client runs, Cleanup leaves its browser alone.
	res, err := Cleanup(context.Background(), CleanupOptions{Dir: dir})
	if err != nil || len(res) != 1 || res[0].Outcome != "in_use" || !res[0].ClientRunning {
		t.Fatalf("Cleanup with the client running = %+v, %v; want one in_use", res, err)
	}
	if len(procsUsing(t, dir)) == 0 {
		t.Fatal("Cleanup killed the browser of a running client")
	}

	// kill -9 the client.
	cmd.Process.Kill()
	cmd.Wait()
	profiles, _ := filepath.Glob(filepath.Join(dir, profilePrefix+"*"))
	if len(profiles) != 1 {
		t.Fatalf("profile folders after the crash %v, want the leftover", profiles)
	}
	t.Logf("after the crash: %d processes still use the profile", len(procsUsing(t, dir)))

	res, err = Cleanup(context.Background(), CleanupOptions{Dir: dir})
	if err != nil || len(res) != 1 || res[0].Outcome != "removed" || res[0].ClientRunning {
		t.Fatalf("Cleanup = %+v, %v; want one removed", res, err)
	}
	checkNothingLeft(t, "Cleanup", dir, pids)
}

// TestCleanupKillsLeftoverBrowser: a browser that outlived its client (as
// on Windows and macOS, where nothing kills it) is killed by Cleanup.
func TestCleanupKillsLeftoverBrowser(t *testing.T) {
	dir := t.TempDir()
	profile := filepath.Join(dir, profilePrefix+"123")
	if err := os.MkdirAll(dataDir(profile), 0o700); err != nil {
		t.Fatal(err)
	}
	// A client that is gone: pid 1's start time never matches.
	if err := writeOwner(profile, owner{ClientPID: 1, ClientStarted: 1}); err != nil {
		t.Fatal(err)
	}
	// A stand-in browser process with the profile on its command line.
	leftover := exec.Command("sh", "-c", "sleep 600", "sh", "--user-data-dir="+dataDir(profile))
	if err := leftover.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { leftover.Wait(); close(exited) }()
	// Another profile's process, whose name starts the same, is not touched.
	other := exec.Command("sh", "-c", "sleep 600", "sh", "--user-data-dir="+dataDir(profile)+"4")
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { other.Process.Kill(); other.Wait() }()

	res, err := Cleanup(context.Background(), CleanupOptions{Dir: dir})
	if err != nil || len(res) != 1 || res[0].Outcome != "removed" || res[0].Killed != 1 {
		t.Fatalf("Cleanup = %+v, %v; want one removed with one process killed", res, err)
	}
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		t.Fatal("the leftover browser still runs")
	}
	if running(other.Process.Pid) == false {
		t.Error("Cleanup killed a process of another profile")
	}
	if _, err := os.Stat(profile); !os.IsNotExist(err) {
		t.Errorf("profile still there: %v", err)
	}
}

func TestLaunchRefusesOutsideStart(t *testing.T) {
	_, err := Launch(context.Background(), Options{StartURL: "https://evil.example/", Allowed: []string{"https://lms.example.edu/"}, Dir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "not inside the allowed prefixes") {
		t.Errorf("Launch = %v, want a refusal", err)
	}
	dir := t.TempDir()
	_, err = Launch(context.Background(), Options{StartURL: "https://lms.example.edu/", Exec: "/nonexistent/chromium", Dir: dir})
	if err == nil {
		t.Error("Launch with a missing browser succeeded")
	}
	if left, _ := os.ReadDir(dir); len(left) > 0 {
		t.Errorf("a failed Launch left %d entries", len(left))
	}
}
