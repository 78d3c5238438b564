//go:build linux

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/invigil/invigil/backend"
	"github.com/invigil/invigil/capture/xvfb"
)

// examSite is an exam's web page that walks itself: the start page follows
// a link inside the allowed prefix; that page calls window.open and follows
// a link outside.
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

func newExamSite(t *testing.T) *examSite {
	s := &examSite{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.seen = append(s.seen, r.URL.Path)
		s.mu.Unlock()
		switch r.URL.Path {
		case "/exam/start":
			fmt.Fprint(w, `<!doctype html><title>Exam</title><a id=next href="/exam/page2">next</a>
<script>setTimeout(() => document.getElementById('next').click(), 300)</script>`)
		case "/exam/page2":
			fmt.Fprint(w, `<!doctype html><title>Question 2</title><a id=out href="/outside/answers">answers</a>
<script>setTimeout(() => { window.open('/exam/popup'); document.getElementById('out').click(); }, 300)</script>`)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

// examBrowserData makes a backend data directory whose exam E2E opens the
// exam browser on site.
func examBrowserData(t *testing.T, site string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/quiet-policy.json")
	if err != nil {
		t.Fatal(err)
	}
	var p map[string]any
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	p["exam_browser"] = map[string]any{"start_url": site + "/exam/start", "allowed": []string{site + "/exam/"}}
	b, _ = json.Marshal(p)
	file := filepath.Join(t.TempDir(), "policy.json")
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return examData(t, "e2e", "E2E", file)
}

// browserEnv is a display and a cache folder (where the exam browser's
// profiles go) of the test's own.
func browserEnv(t *testing.T) (env []string, profiles string) {
	t.Helper()
	x, err := xvfb.Start("1280x800x24")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(x.Close)
	cache := filepath.Join(t.TempDir(), "cache")
	return []string{"DISPLAY=" + x.Display(), "XDG_CACHE_HOME=" + cache}, filepath.Join(cache, "invigil", "exam-browser")
}

// chromiumUsing lists the processes whose command line names dir.
func chromiumUsing(t *testing.T, dir string) []int {
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

func profileFolders(t *testing.T, root string) []string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(root, "profile-*"))
	return m
}

// TestE2EExamBrowser: the real client against the real backend opens the
// exam page in Chromium; the link inside opens, the one outside and
// window.open are blocked, and the backend stores the events; finishing
// leaves no Chromium process and no profile folder.
func TestE2EExamBrowser(t *testing.T) {
	site := newExamSite(t)
	be := startBackend(t, examBrowserData(t, site.URL), "127.0.0.1:0")
	env, profiles := browserEnv(t)
	spool := t.TempDir()
	cmd, out, errb := startClientEnv(t, env, clientArgs(be.url(), spool, 8*time.Second, "--heartbeat-rate", "5")...)
	r := waitClient(t, cmd, out, errb)
	if r.exit != 0 {
		t.Fatalf("client exit %d:\n%s", r.exit, r.stderr)
	}
	if !site.saw("/exam/start") || !site.saw("/exam/page2") {
		t.Errorf("the exam site served %v, want the start page and page 2", site.seen)
	}
	if site.saw("/outside/answers") || site.saw("/exam/popup") {
		t.Errorf("the exam site served %v: a blocked page got through", site.seen)
	}
	b, err := backend.Open(backend.Config{DataDir: be.data})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	evs, err := b.ListEvents(context.Background(), r.summary.SessionID)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"browser.started":            "",
		"browser.navigation_blocked": site.URL + "/outside/answers",
		"browser.window_blocked":     site.URL + "/exam/popup",
	}
	for _, e := range evs {
		var body struct {
			URL string `json:"url"`
		}
		json.Unmarshal(e.Body, &body)
		if u, ok := want[e.Type]; ok && u == body.URL {
			delete(want, e.Type)
		}
		if e.Type == "browser.closed" || e.Type == "browser.failed" {
			t.Errorf("event %s %s", e.Type, e.Body)
		}
	}
	for typ, u := range want {
		t.Errorf("no %s event with url %q stored", typ, u)
	}
	if left := chromiumUsing(t, profiles); len(left) > 0 {
		t.Errorf("processes %v still use the exam browser's profile after finish", left)
	}
	if left := profileFolders(t, profiles); len(left) > 0 {
		t.Errorf("profile folders %v left after finish", left)
	}
}

// TestE2EExamBrowserResetAfterCrash: kill -9 of the client while the exam
// browser runs; invigil reset ends what is left of the browser and removes
// its profile.
func TestE2EExamBrowserResetAfterCrash(t *testing.T) {
	site := newExamSite(t)
	be := startBackend(t, examBrowserData(t, site.URL), "127.0.0.1:0")
	env, profiles := browserEnv(t)
	spool := t.TempDir()
	cmd, _, errb := startClientEnv(t, env, clientArgs(be.url(), spool, time.Minute, "--heartbeat-rate", "5")...)
	deadline := time.Now().Add(60 * time.Second)
	for !site.saw("/exam/page2") {
		if time.Now().After(deadline) {
			t.Fatalf("the exam page did not open:\n%s", errb)
		}
		time.Sleep(100 * time.Millisecond)
	}
	cmd.Process.Kill()
	cmd.Wait()
	if len(profileFolders(t, profiles)) != 1 {
		t.Fatalf("profile folders after the crash: %v, want the leftover", profileFolders(t, profiles))
	}
	t.Logf("after kill -9: %d processes use the profile", len(chromiumUsing(t, profiles)))

	rc, rout, rerr := startClientEnv(t, env, "reset", "--journal", spool+".journal")
	rc.Wait()
	if code := rc.ProcessState.ExitCode(); code != 0 || !strings.Contains(rout.String(), "Exam browser profile") {
		t.Fatalf("reset: exit %d\n%s\n%s", code, rout, rerr)
	}
	if left := chromiumUsing(t, profiles); len(left) > 0 {
		t.Errorf("processes %v still use the profile after reset", left)
	}
	if left := profileFolders(t, profiles); len(left) > 0 {
		t.Errorf("profile folders %v left after reset", left)
	}
}
