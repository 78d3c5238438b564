// Package browsertest starts Debian's headless Chromium under chromedp for
// the dashboard's browser tests. Test-only: only _test.go files import it
// (deps_test.go checks).
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"time"

	cdpruntime "github.com/chromedp/cdproto/runtime"

	"github.com/chromedp/chromedp"
)

// TB is the part of testing.TB New uses (the package does not import
// testing: deps_test.go keeps that out of non-test packages).
type TB interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	Logf(format string, args ...any)
	TempDir() string
	Cleanup(func())
}

// Find returns the Chromium binary, or "" when none is installed.
func Find() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// New starts a headless Chromium for t with a fresh profile and returns a
// tab's context; everything is closed when the test ends. A missing
// Chromium fails the test: scripts/setup.sh installs it.
//
// chromedp v0.23 has a generic API: chromedp.Run(ctx, action) returns the
// action's value, chromedp.Do(ctx, steps...) runs several; plain strings
// are DOM searches, chromedp.CSS("...") is a CSS selector. The browser
// lives as long as the context of the first Run: never put a timeout on
// that one (New starts the browser itself); bound single steps with a
// context derived from the returned one. timeout bounds the whole test's
// use of the browser.
func New(t TB, timeout time.Duration) context.Context {
	t.Helper()
	bin := Find()
	if bin == "" {
		t.Fatal("no chromium for the browser tests: scripts/setup.sh installs the Debian package chromium")
	}
	// chromedp's defaults (Puppeteer's: headless, no background
	// throttling of timers, renderers or occluded windows, which the live
	// grid's workers need), then ours.
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.WindowSize(1280, 900),
	)
	if os.Geteuid() == 0 {
		// Chromium's sandbox refuses to run as root (CI runs as root).
		opts = append(opts, chromedp.NoSandbox)
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx, chromedp.WithErrorf(t.Logf))
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
	})
	// Start the browser now, so that a failure to start is reported as such.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	// The page's exceptions and console errors go to the test's log.
	err := chromedp.Listen(ctx, func(ev any) {
		if ctx.Err() != nil {
			return
		}
		switch ev := ev.(type) {
		case *cdpruntime.EventExceptionThrown:
			t.Logf("browser exception: %s %+v", ev.ExceptionDetails.Text, ev.ExceptionDetails.Exception)
		case *cdpruntime.EventConsoleAPICalled:
			if ev.Type == cdpruntime.ConsoleAPICalledTypeError || ev.Type == cdpruntime.ConsoleAPICalledTypeWarning {
				var parts []string
				for _, a := range ev.Args {
					parts = append(parts, string(a.Value))
				}
				t.Logf("browser console %s: %s", ev.Type, strings.Join(parts, " "))
			}
		}
	})
	if err != nil {
		t.Fatalf("listen to chromium: %v", err)
	}
	tctx, cancel := context.WithTimeout(ctx, timeout)
	t.Cleanup(cancel)
	return tctx
}
