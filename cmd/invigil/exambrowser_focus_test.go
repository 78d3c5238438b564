package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/invigil/invigil/backend"
	"github.com/invigil/invigil/capture/xvfb/xvfbtest"
	"github.com/invigil/invigil/client"
	"github.com/invigil/invigil/client/ui"
	"github.com/invigil/invigil/lockdown/lockdowntest"
)

// TestExamBrowserFocusXvfb is issue 10's journey with an exam page: the
// desktop app under Xvfb against a real backend and Debian's Chromium.
// The exam opens the exam browser on a local exam page; the focus moving
// to it is no violation (focus.allowed, kind exam_browser) and the
// indicator is on screen while it has the focus; another program taking
// the focus is a violation naming it; finishing closes the browser and
// leaves no Chromium process and no profile folder.
func TestExamBrowserFocusXvfb(t *testing.T) {
	if _, err := os.Stat("/usr/bin/xmessage"); err != nil {
		t.Fatal("xmessage not installed: run scripts/setup.sh (x11-utils)")
	}
	binaries(t)
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/exam/start" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, `<!doctype html><title>Invigil exam page</title><h1>Question 1</h1><textarea></textarea>`)
	}))
	defer site.Close()
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
	pol["exam_browser"] = map[string]any{"start_url": site.URL + "/exam/start", "allowed": []string{site.URL + "/exam/"}}
	pol["focus_loss"] = map[string]any{"action": "flag", "grace_ms": 0}
	b, _ = json.Marshal(pol)
	polFile := filepath.Join(dir, "policy.json")
	if err := os.WriteFile(polFile, b, 0o644); err != nil {
		t.Fatal(err)
	}
	runOut(t, "exam", "create", "--data", data, "--name", "Web quiz", "--code", "QUIZ1", "--policy", polFile)
	be := startBackend(t, data, "127.0.0.1:0")
	adm := newAdmin(t, be)
	key := strings.TrimSpace(runOut(t, "key", "--data", data))
	cfgFile := filepath.Join(dir, "config.json")
	cfg, _ := json.Marshal(client.ManagedConfig{ServerKey: key, SpoolDir: filepath.Join(dir, "spool"), JournalPath: filepath.Join(dir, "journal")})
	if err := os.WriteFile(cfgFile, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	env := uiEnv(t, display, dir)
	profiles := filepath.Join(dir, "cache", "invigil", "exam-browser") // under uiEnv's XDG_CACHE_HOME
	link := client.JoinLink{Server: be.url(), Code: "QUIZ1"}.String()
	app := startApp(t, env, display, filepath.Join(dir, "shots"), dir, "--config", cfgFile, "--camera", "none", "--screen", "none", link)
	app.wait(client.ScreenCheck, "check_ready")
	app.tap("Continue")
	app.wait(client.ScreenConsent, "")
	app.tap("I agree")
	app.wait(client.ScreenExam, "")
	session := adm.waitSession(t)

	// The exam browser opens on the exam page.
	waitEvent(t, adm, session, "browser.started", func(map[string]any) bool { return true })
	page := waitWindow(t, app, "Invigil exam page", true)
	if len(chromiumUsing(t, profiles)) == 0 {
		t.Fatal("no Chromium process uses the exam browser's profile folder")
	}
	invigil := app.window()
	app.xdotool("windowfocus", "--sync", invigil)
	time.Sleep(300 * time.Millisecond)

	// Focus to the exam browser: no violation, the indicator shows.
	app.xdotool("windowfocus", "--sync", page)
	waitEvent(t, adm, session, "focus.allowed", func(body map[string]any) bool { return body["kind"] == "exam_browser" })
	waitWindow(t, app, "^"+ui.IndicatorTitle+"$", true)
	time.Sleep(500 * time.Millisecond) // grace 0: a violation would be there by now
	if n := countViolations(t, adm, session, "focus.lost"); n != 0 {
		t.Fatalf("%d focus.lost violations while the exam browser has the focus; events:\n%s", n, eventLines(t, adm, session))
	}

	// Another program: a violation naming it.
	evil, err := lockdowntest.StartXWindow(display, dir, "evilhelper", 300, 500)
	if err != nil {
		t.Fatal(err)
	}
	defer evil.Close()
	app.xdotool("windowfocus", "--sync", strconv.Itoa(int(evil.ID)))
	adm.waitViolation(t, session, time.Now(), func(v violationEvent) bool {
		return v.Code == "focus.lost" && v.Evidence["name"] == "evilhelper"
	})
	evil.Close()

	// Finishing closes the browser and wipes its profile.
	app.xdotool("windowfocus", "--sync", invigil)
	app.tap(ui.LabelFinish)
	app.wait(client.ScreenExam, "confirm")
	app.tap(ui.LabelConfirm)
	app.wait(client.ScreenReceipt, "")
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		procs, folders := chromiumUsing(t, profiles), profileFolders(t, profiles)
		if len(procs) == 0 && len(folders) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after finishing: Chromium processes %v, profile folders %v", procs, folders)
		}
	}
}

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
