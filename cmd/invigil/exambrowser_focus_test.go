//go:build linux

package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

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
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/exam/start" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, `<!doctype html><title>Invigil exam page</title><h1>Question 1</h1><textarea></textarea>`)
	}))
	defer site.Close()
	d := startDesktopExam(t, func(pol map[string]any) {
		pol["exam_browser"] = map[string]any{"start_url": site.URL + "/exam/start", "allowed": []string{site.URL + "/exam/"}}
	})
	app, adm, session, display, dir := d.app, d.adm, d.session, d.display, d.dir
	profiles := filepath.Join(dir, "cache", "invigil", "exam-browser") // under uiEnv's XDG_CACHE_HOME

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
