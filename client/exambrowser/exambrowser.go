package exambrowser

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"

	"github.com/invigil/invigil/lockdown/policy"
)

// The events a Browser reports (Options.Events), with their details.
const (
	// EventStarted: the browser runs ("pid", "browser": the program's
	// file name, "version").
	EventStarted = "browser.started"
	// EventNavigationBlocked: a page outside the allowed prefixes was
	// not opened ("url"; "frame": "main" or "sub"; "how": "request" or,
	// for a page reached without a request, "without_request").
	EventNavigationBlocked = "browser.navigation_blocked"
	// EventWindowBlocked: a new window or tab was refused ("url", which
	// may be empty; "how": "window.open" or "new_window").
	EventWindowBlocked = "browser.window_blocked"
	// EventFileChooserBlocked: the page tried to open a file picker
	// ("mode": "selectSingle" or "selectMultiple").
	EventFileChooserBlocked = "browser.file_chooser_blocked"
	// EventDownloadBlocked: a download was refused ("url", "file").
	EventDownloadBlocked = "browser.download_blocked"
	// EventPrintBlocked: the page called window.print ("url").
	EventPrintBlocked = "browser.print_blocked"
	// EventDevToolsBlocked: a DevTools shortcut was pressed (and did
	// nothing), or a DevTools window appeared and was closed.
	EventDevToolsBlocked = "browser.devtools_blocked"
	// EventPageCrashed: the page crashed and is reloaded.
	EventPageCrashed = "browser.page_crashed"
	// EventClosed: the browser went away during the exam ("reason":
	// "window_closed" when its window was closed, "crashed" otherwise;
	// "pid"). It is launched again.
	EventClosed = "browser.closed"
	// EventRelaunched: the browser runs again ("pid", "attempt").
	EventRelaunched = "browser.relaunched"
	// EventFailed: launching it again failed ("error", "attempt"); it is
	// tried again later.
	EventFailed = "browser.failed"
)

// Options configure Launch.
type Options struct {
	// StartURL is the exam's page.
	StartURL string
	// Allowed are the URL prefixes the browser may visit
	// (policy.MatchURLPrefix); empty: the start URL's origin.
	Allowed []string
	// Events receives the browser's events (the Event* names), in order,
	// from one goroutine; it should not block for long. Nil: dropped.
	Events func(name string, detail map[string]any)
	// Exec is the browser program (default Find()).
	Exec string
	// Dir holds the profile folders (default DefaultDir()).
	Dir string
	// Log is for diagnostics; it never sees full URLs.
	Log *slog.Logger
	// LaunchTimeout bounds one start of the browser (default 30 s).
	LaunchTimeout time.Duration
	// Launching, when set, gets the Browser before its first start, so
	// that PIDs can name its processes while it starts: its window may
	// take the focus long before Launch returns.
	Launching func(*Browser)
}

// Browser is a running exam browser. Its methods are safe for concurrent
// use.
type Browser struct {
	opts   Options
	policy policy.ExamBrowser
	exec   string
	root   string
	log    *slog.Logger
	events *eventQueue

	life   context.Context
	cancel context.CancelFunc
	done   chan struct{} // closed when supervise has stopped the browser

	mu       sync.Mutex
	inst     *instance
	starting *instance // the instance start is bringing up (PIDs)

	closeOnce sync.Once
	closeErr  error
}

// Launch starts the exam browser on opts.StartURL and keeps it running
// until Close. ctx bounds the start only. It first cleans up after clients
// that crashed (Cleanup). Errors: ErrNoBrowser when none is installed, a
// start URL outside the allowed prefixes, a browser that did not start.
func Launch(ctx context.Context, opts Options) (*Browser, error) {
	pol := policy.ExamBrowser{StartURL: opts.StartURL, Allowed: opts.Allowed}
	if opts.StartURL == "" {
		return nil, errors.New("exam browser: no start URL")
	}
	if !pol.Allows(opts.StartURL) {
		return nil, fmt.Errorf("exam browser: the start URL %s is not inside the allowed prefixes", opts.StartURL)
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.LaunchTimeout <= 0 {
		opts.LaunchTimeout = 30 * time.Second
	}
	exe := opts.Exec
	if exe == "" {
		var err error
		if exe, err = Find(); err != nil {
			return nil, fmt.Errorf("exam browser: %w", err)
		}
	}
	root := opts.Dir
	if root == "" {
		var err error
		if root, err = DefaultDir(); err != nil {
			return nil, err
		}
	}
	if err := ensureRoot(root); err != nil {
		return nil, err
	}
	if res, err := Cleanup(ctx, CleanupOptions{Dir: root}); err != nil {
		opts.Log.Warn("exam browser: cleaning up earlier profiles", "err", err)
	} else {
		for _, r := range res {
			if r.Outcome != "in_use" {
				opts.Log.Info("exam browser: cleaned up after an earlier run", "dir", r.Dir, "outcome", r.Outcome, "killed", r.Killed, "err", r.Error)
			}
		}
	}
	b := &Browser{opts: opts, policy: pol, exec: exe, root: root, log: opts.Log, done: make(chan struct{})}
	b.life, b.cancel = context.WithCancel(context.Background())
	b.events = newEventQueue(opts.Events)
	if opts.Launching != nil {
		opts.Launching(b)
	}
	inst, err := b.start(ctx)
	if err != nil {
		b.cancel()
		b.events.close()
		return nil, err
	}
	b.inst = inst
	b.events.emit(EventStarted, map[string]any{"pid": inst.pid, "browser": filepath.Base(exe), "version": inst.version})
	go b.supervise(inst)
	return b, nil
}

// PIDs are the processes of the browser: its main process and every
// process it started (renderers, GPU, network, zygotes), also while it
// starts (or starts again): then the processes that use its profile.
// Nil once closed.
func (b *Browser) PIDs() []int {
	b.mu.Lock()
	inst := b.inst
	if inst == nil {
		inst = b.starting
	}
	b.mu.Unlock()
	if inst == nil {
		return nil
	}
	return treeOf(context.Background(), inst.pid, inst.data)
}

// Close stops the browser, waits until every one of its processes has
// exited and removes its profile folder. It is idempotent; every call
// returns the first call's result.
func (b *Browser) Close() error {
	b.closeOnce.Do(func() {
		b.cancel()
		<-b.done
		b.events.close()
	})
	return b.closeErr
}

// supervise waits for the browser to go away: on Close it stops it; on a
// crash or a closed window it reports that and launches it again.
func (b *Browser) supervise(inst *instance) {
	defer close(b.done)
	fails := 0
	for {
		select {
		case <-b.life.Done():
		case <-inst.ctx.Done():
		}
		if b.life.Err() != nil {
			b.setInst(nil)
			b.closeErr = b.stopInstance(inst)
			return
		}
		reason := "crashed"
		if inst.windowGone.Load() {
			reason = "window_closed"
		}
		b.log.Warn("exam browser went away", "reason", reason, "pid", inst.pid)
		b.events.emit(EventClosed, map[string]any{"reason": reason, "pid": inst.pid})
		b.setInst(nil)
		if err := b.stopInstance(inst); err != nil {
			b.log.Warn("exam browser: cleaning up", "err", err)
		}
		if time.Since(inst.started) > time.Minute {
			fails = 0
		}
		for attempt := 1; ; attempt++ {
			delay := min(500*time.Millisecond<<min(fails, 6), 30*time.Second)
			fails++
			t := time.NewTimer(delay)
			select {
			case <-b.life.Done():
				t.Stop()
				return
			case <-t.C:
			}
			ctx, cancel := context.WithTimeout(b.life, b.opts.LaunchTimeout)
			next, err := b.start(ctx)
			cancel()
			if err != nil {
				if b.life.Err() != nil {
					return
				}
				b.log.Warn("exam browser: launching again", "err", err, "attempt", attempt)
				b.events.emit(EventFailed, map[string]any{"error": err.Error(), "attempt": attempt})
				continue
			}
			inst = next
			b.setInst(inst)
			b.events.emit(EventRelaunched, map[string]any{"pid": inst.pid, "attempt": attempt})
			break
		}
	}
}

func (b *Browser) setInst(i *instance) {
	b.mu.Lock()
	b.inst = i
	b.mu.Unlock()
}

// instance is one run of the browser process.
type instance struct {
	b           *Browser
	profile     string // the profile folder (owner.json, data/)
	data        string // the user data directory
	allocCancel context.CancelFunc
	ctx         context.Context // the exam window's chromedp context
	ctxCancel   context.CancelFunc
	tgt         *chromedp.Target
	brw         *chromedp.Browser
	main        target.ID
	pid         int
	version     string
	started     time.Time

	windowGone  atomic.Bool
	lastAllowed atomic.Value // string: the last allowed page of the window
	calls       callGroup
}

// initialPage is the app window's page until the start URL loads.
const initialPage = "data:text/html,<title>Exam</title>"

// bindingName is the function the page script reports through.
const bindingName = "__invigilExamBrowser"

// flags are the browser's command-line switches besides --app,
// --user-data-dir, --remote-debugging-pipe and (as root) --no-sandbox,
// which chromedp adds.
var flags = map[string]any{
	"no-first-run":                  true,
	"no-default-browser-check":      true,
	"disable-gpu":                   true,
	"disable-background-networking": true,
	"disable-component-update":      true,
	"disable-extensions":            true,
	"disable-component-extensions-with-background-pages": true,
	"disable-default-apps":                               true,
	"disable-sync":                                       true,
	"disable-translate":                                  true,
	"disable-client-side-phishing-detection":             true,
	"disable-domain-reliability":                         true,
	"disable-breakpad":                                   true,
	"disable-crash-reporter":                             true,
	"disable-print-preview":                              true,
	"disable-notifications":                              true,
	"deny-permission-prompts":                            true,
	"no-pings":                                           true,
	"noerrdialogs":                                       true,
	"hide-crash-restore-bubble":                          true,
	"disable-session-crashed-bubble":                     true,
	"metrics-recording-only":                             true,
	"safebrowsing-disable-auto-update":                   true,
	"password-store":                                     "basic",
	"use-mock-keychain":                                  true,
	"start-maximized":                                    true,
	"disable-features":                                   "Translate,MediaRouter,DialMediaRouteProvider,OptimizationHints,AutofillServerCommunication,CertificateTransparencyComponentUpdater,InterestFeedContentSuggestions,DownloadBubble,GlobalMediaControls",
}

// start launches one browser process on a fresh profile, sets up the
// interception and opens the start URL.
func (b *Browser) start(ctx context.Context) (_ *instance, err error) {
	profile, err := newProfile(b.root)
	if err != nil {
		return nil, err
	}
	inst := &instance{b: b, profile: profile, data: dataDir(profile), started: time.Now()}
	b.mu.Lock()
	b.starting = inst
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		b.starting = nil
		b.mu.Unlock()
	}()
	defer func() { b.log.Debug("exam browser start", "took", time.Since(inst.started), "err", err) }()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(b.exec),
		chromedp.UserDataDir(inst.data),
		// An app window on an empty page of our own (--app=about:blank
		// gives a normal tabbed window); the start URL loads once the
		// interception is on.
		chromedp.Flag("app", initialPage),
		chromedp.ModifyCmdFunc(func(cmd *exec.Cmd) {
			// chromedp appends about:blank, which next to --app
			// would open a second window.
			if n := len(cmd.Args); n > 1 && cmd.Args[n-1] == "about:blank" {
				cmd.Args = cmd.Args[:n-1]
			}
			setProcAttr(cmd)
		}),
	}
	for name, v := range flags {
		opts = append(opts, chromedp.Flag(name, v))
	}
	allocCtx, allocCancel := chromedp.NewExecAllocator(context.Background(), opts...)
	logf := func(format string, args ...any) { b.log.Debug("chromedp: " + fmt.Sprintf(format, args...)) }
	cctx, ccancel := chromedp.NewContext(allocCtx, chromedp.WithLogf(logf), chromedp.WithErrorf(logf))
	inst.allocCancel, inst.ctx, inst.ctxCancel = allocCancel, cctx, ccancel
	defer func() {
		if err != nil {
			b.stopInstance(inst)
		}
	}()
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(cctx) }()
	select {
	case err = <-started:
	case <-ctx.Done():
		ccancel()
		<-started
		err = ctx.Err()
	}
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", filepath.Base(b.exec), err)
	}
	b.log.Debug("exam browser process up", "took", time.Since(inst.started))
	c := chromedp.FromContext(cctx)
	inst.brw, inst.tgt, inst.main = c.Browser, c.Target, c.Target.TargetID
	if p := c.Browser.Process(); p != nil {
		inst.pid = p.Pid
	}
	if o, err := readOwner(profile); err == nil {
		o.BrowserPID = inst.pid
		if err := writeOwner(profile, o); err != nil {
			return nil, err
		}
	}
	if err := inst.setup(ctx); err != nil {
		return nil, fmt.Errorf("set up the exam browser: %w", err)
	}
	return inst, nil
}

func ptr[T any](v T) *T { return &v }

// setup turns on the controls and opens the start URL.
func (i *instance) setup(ctx context.Context) error {
	ctx, cancel := mergeCancel(ctx, i.ctx)
	defer cancel()
	if v, err := cdp.Call(ctx, i.brw, browser.GetVersion, cdp.Empty{}); err == nil {
		i.version = v.Product
	}
	if err := chromedp.ListenBrowser(i.ctx, i.onBrowserEvent); err != nil {
		return err
	}
	if err := chromedp.Listen(i.ctx, i.onTargetEvent); err != nil {
		return err
	}
	if _, err := cdp.Call(ctx, i.brw, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorDeny, EventsEnabled: ptr(true),
	}); err != nil {
		return fmt.Errorf("deny downloads: %w", err)
	}
	if _, err := cdp.Call(ctx, i.tgt, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{
		{URLPattern: "*", ResourceType: network.ResourceTypeDocument, RequestStage: fetch.RequestStageRequest},
	}}); err != nil {
		return fmt.Errorf("intercept navigation: %w", err)
	}
	if _, err := cdp.Call(ctx, i.tgt, page.SetInterceptFileChooserDialog, page.SetInterceptFileChooserDialogParams{Enabled: true, Cancel: ptr(true)}); err != nil {
		return fmt.Errorf("intercept file pickers: %w", err)
	}
	if _, err := cdp.Call(ctx, i.tgt, runtime.AddBinding, runtime.AddBindingParams{Name: bindingName}); err != nil {
		return fmt.Errorf("add the page binding: %w", err)
	}
	if _, err := cdp.Call(ctx, i.tgt, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: pageScript}); err != nil {
		return fmt.Errorf("add the page script: %w", err)
	}
	if _, err := cdp.Call(ctx, i.tgt, page.Navigate, page.NavigateParams{URL: i.b.opts.StartURL}); err != nil {
		return fmt.Errorf("open %s: %w", hostOf(i.b.opts.StartURL), err)
	}
	return nil
}

// mergeCancel is ctx, also cancelled when other ends.
func mergeCancel(ctx, other context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(other, cancel)
	return ctx, func() { stop(); cancel() }
}

// call runs a command of the exam window in the background (listeners
// must not wait for replies).
func (i *instance) call(what string, f func(ctx context.Context) error) {
	i.calls.add(func() {
		ctx, cancel := context.WithTimeout(i.ctx, 10*time.Second)
		defer cancel()
		if err := f(ctx); err != nil && i.ctx.Err() == nil {
			i.b.log.Debug("exam browser command", "what", what, "err", err)
		}
	})
}

// onTargetEvent handles the events of the exam window. It runs on
// chromedp's reading goroutine: it must not block.
func (i *instance) onTargetEvent(ev any) {
	switch ev := ev.(type) {
	case *fetch.EventRequestPaused:
		i.onRequest(ev)
	case *page.EventFrameNavigated:
		if ev.Frame != nil && ev.Frame.ParentID == "" {
			i.onMainNavigated(ev.Frame)
		}
	case *page.EventFileChooserOpened:
		i.b.events.emit(EventFileChooserBlocked, map[string]any{"mode": string(ev.Mode)})
		i.notice("Files cannot be chosen or uploaded during this exam.")
	case *runtime.EventBindingCalled:
		if ev.Name == bindingName {
			i.onPageReport(ev.Payload)
		}
	}
}

func (i *instance) allows(u string) bool { return i.b.policy.Allows(u) }

func (i *instance) onRequest(ev *fetch.EventRequestPaused) {
	id, u := ev.RequestID, ""
	if ev.Request != nil {
		u = ev.Request.URL
	}
	if i.allows(u) {
		i.call("continue", func(ctx context.Context) error {
			_, err := cdp.Call(ctx, i.tgt, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: id})
			return err
		})
		return
	}
	frame := "sub"
	if string(ev.FrameID) == string(i.main) {
		frame = "main"
	}
	i.b.log.Info("exam browser: navigation blocked", "host", hostOf(u), "frame", frame)
	i.b.events.emit(EventNavigationBlocked, map[string]any{"url": clip(u), "frame": frame, "how": "request"})
	// 204 No Content: the navigation ends and the page stays.
	i.call("block", func(ctx context.Context) error {
		_, err := cdp.Call(ctx, i.tgt, fetch.FulfillRequest, fetch.FulfillRequestParams{RequestID: id, ResponseCode: 204})
		return err
	})
	if frame == "main" {
		i.notice("That page is outside this exam, so it was not opened.")
	}
}

// onMainNavigated catches pages reached without a request (data:, blob:,
// file: and the like): they go back to the last allowed page.
func (i *instance) onMainNavigated(f *cdp.Frame) {
	u := f.URL + f.URLFragment
	switch {
	case i.allows(u):
		i.lastAllowed.Store(u)
		return
	case f.UnreachableURL != "" && i.allows(f.UnreachableURL):
		return // the error page of an allowed page (offline, say)
	case i.lastAllowed.Load() == nil && (u == "about:blank" || strings.HasPrefix(u, "data:")):
		return // the window's own empty page, before the start URL loads
	}
	back, _ := i.lastAllowed.Load().(string)
	if back == "" {
		back = i.b.opts.StartURL
	}
	i.b.log.Info("exam browser: page without a request blocked", "scheme", schemeOf(u))
	i.b.events.emit(EventNavigationBlocked, map[string]any{"url": clip(u), "frame": "main", "how": "without_request"})
	i.call("back", func(ctx context.Context) error {
		_, err := cdp.Call(ctx, i.tgt, page.Navigate, page.NavigateParams{URL: back})
		return err
	})
	i.notice("That page is outside this exam, so it was not opened.")
}

// onPageReport handles what the page script reports.
func (i *instance) onPageReport(payload string) {
	r, ok := parsePageReport(payload)
	if !ok {
		return
	}
	switch r.Kind {
	case "window.open":
		i.b.events.emit(EventWindowBlocked, map[string]any{"url": clip(r.URL), "how": "window.open"})
		i.notice("New windows cannot be opened during this exam.")
	case "print":
		i.b.events.emit(EventPrintBlocked, map[string]any{"url": clip(r.URL)})
		i.notice("Printing is turned off during this exam.")
	case "devtools":
		i.b.events.emit(EventDevToolsBlocked, nil)
	}
}

// pageReport is what the page script sends through the binding. The page
// can call the binding too, so it is untrusted input.
type pageReport struct {
	Kind string `json:"kind"`
	URL  string `json:"url"`
}

func parsePageReport(payload string) (pageReport, bool) {
	var r pageReport
	if len(payload) > 16<<10 || json.Unmarshal([]byte(payload), &r) != nil {
		return pageReport{}, false
	}
	return r, true
}

// onBrowserEvent handles the browser's events (targets, downloads). It
// runs on chromedp's reading goroutine: it must not block.
func (i *instance) onBrowserEvent(ev any) {
	switch ev := ev.(type) {
	case *target.EventTargetCreated:
		i.onNewTarget(ev.TargetInfo)
	case *target.EventTargetDestroyed:
		if ev.TargetID == i.main {
			i.windowGone.Store(true)
		}
	case *target.EventTargetCrashed:
		if ev.TargetID == i.main {
			i.b.events.emit(EventPageCrashed, map[string]any{"status": ev.Status, "error_code": ev.ErrorCode})
			i.call("reload", func(ctx context.Context) error {
				_, err := cdp.Call(ctx, i.tgt, page.Reload, page.ReloadParams{})
				return err
			})
		}
	case *browser.EventDownloadWillBegin:
		i.b.events.emit(EventDownloadBlocked, map[string]any{"url": clip(ev.URL), "file": ev.SuggestedFilename})
		i.notice("Downloads are turned off during this exam.")
	}
}

// onNewTarget closes every window or tab but the exam window, and a
// DevTools or print preview that slipped through.
func (i *instance) onNewTarget(info *target.Info) {
	if info == nil || info.TargetID == i.main {
		return
	}
	devtools := strings.HasPrefix(info.URL, "devtools://")
	switch {
	case devtools:
		i.b.events.emit(EventDevToolsBlocked, nil)
	case info.Type == "page" && info.Subtype == "":
		i.b.events.emit(EventWindowBlocked, map[string]any{"url": clip(info.URL), "how": "new_window"})
		i.notice("New windows cannot be opened during this exam.")
	case info.Type == "other" && strings.HasPrefix(info.URL, "chrome://print"):
		i.b.events.emit(EventPrintBlocked, map[string]any{"url": ""})
	default:
		return
	}
	id := info.TargetID
	i.call("close target", func(ctx context.Context) error {
		_, err := cdp.Call(ctx, i.brw, target.CloseTarget, target.CloseTargetParams{TargetID: id})
		return err
	})
}

// notice shows msg on the exam page for a few seconds.
func (i *instance) notice(msg string) {
	m, _ := json.Marshal(msg)
	i.call("notice", func(ctx context.Context) error {
		_, err := cdp.Call(ctx, i.tgt, runtime.Evaluate, runtime.EvaluateParams{Expression: noticeScript + "(" + string(m) + ")"})
		return err
	})
}

// stopInstance ends one browser process and everything it started, and
// removes its profile.
func (b *Browser) stopInstance(i *instance) error {
	t0 := time.Now()
	defer func() { b.log.Debug("exam browser stopped", "pid", i.pid, "took", time.Since(t0)) }()
	var pids []int
	if i.pid > 0 {
		pids = treeOf(context.Background(), i.pid, i.data)
	}
	if i.brw != nil && i.ctx.Err() == nil {
		// Politely first: the browser closes its windows and
		// helpers itself.
		ctx, cancel := context.WithTimeout(i.ctx, 3*time.Second)
		chromedp.Cancel(ctx)
		cancel()
	}
	i.ctxCancel()
	i.allocCancel() // kills the main process if it still runs, and waits
	i.calls.close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	_, kerr := killUsing(ctx, i.data)
	killPIDs(pids)
	werr := waitGone(ctx, pids)
	rerr := removeAll(ctx, i.profile)
	return errors.Join(kerr, werr, rerr)
}

// clip cuts a URL for an event.
func clip(u string) string {
	if len(u) > 2048 {
		return u[:2048]
	}
	return u
}

// hostOf is what logs may say about a URL.
func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "?"
	}
	return u.Host
}

func schemeOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "?"
	}
	return u.Scheme
}

// pageScript runs in every document of the exam window before the page's
// own scripts: window.open and window.print report instead of acting,
// links and forms with a target open in the same window, the DevTools,
// print, save and open shortcuts and the context menu do nothing. (The
// DevTools window is not a target the protocol lists, so it could not be
// closed once open.)
const pageScript = `(() => {
  const report = globalThis.` + bindingName + `;
  if (typeof report !== 'function') return;
  try { delete globalThis.` + bindingName + `; } catch (e) {}
  const send = (kind, url) => { try { report(JSON.stringify({kind: kind, url: String(url)})); } catch (e) {} };
  const abs = (u) => { try { return new URL(String(u), location.href).href; } catch (e) { return String(u); } };
  const lock = (name, fn) => { try { Object.defineProperty(window, name, {value: fn, writable: false, configurable: false}); } catch (e) {} };
  lock('open', function (url) { send('window.open', url === undefined ? '' : abs(url)); return null; });
  lock('print', function () { send('print', location.href); });
  const same = (t) => !t || /^_(self|top|parent)$/i.test(t);
  // DevTools, view source, print, save and open are keyboard shortcuts the
  // page sees before the browser: cancelled here, they do nothing. The
  // context menu (with its "Inspect") is off.
  window.addEventListener('keydown', (ev) => {
    const mod = ev.ctrlKey || ev.metaKey, c = ev.code || '';
    const devtools = c === 'F12' || (mod && ev.shiftKey && /^Key[IJC]$/.test(c)) || (ev.metaKey && ev.altKey && /^Key[IJCU]$/.test(c)) || (mod && c === 'KeyU');
    const print = mod && c === 'KeyP';
    if (!devtools && !print && !(mod && (c === 'KeyS' || c === 'KeyO'))) return;
    ev.preventDefault();
    ev.stopImmediatePropagation();
    if (devtools) send('devtools', location.href);
    if (print) send('print', location.href);
  }, true);
  window.addEventListener('contextmenu', (ev) => { ev.preventDefault(); ev.stopImmediatePropagation(); }, true);
  document.addEventListener('click', (ev) => {
    const a = ev.target && ev.target.closest ? ev.target.closest('a[href], area[href]') : null;
    if (!a) return;
    if (!same(a.target)) a.target = '_self';
    if (ev.ctrlKey || ev.shiftKey || ev.metaKey) { ev.preventDefault(); location.assign(a.href); }
  }, true);
  document.addEventListener('auxclick', (ev) => {
    if (ev.target && ev.target.closest && ev.target.closest('a[href], area[href]')) ev.preventDefault();
  }, true);
  document.addEventListener('submit', (ev) => {
    const f = ev.target;
    if (f && !same(f.target)) f.target = '_self';
  }, true);
})();`

// noticeScript shows a short message at the top of the page.
const noticeScript = `((msg) => {
  const id = '__invigil_notice';
  let d = document.getElementById(id);
  if (!d) {
    d = document.createElement('div');
    d.id = id;
    d.setAttribute('role', 'alert');
    d.style.cssText = 'position:fixed;left:50%;top:16px;transform:translateX(-50%);z-index:2147483647;' +
      'background:#1f2937;color:#fff;font:15px/1.4 system-ui,sans-serif;padding:10px 16px;border-radius:8px;' +
      'box-shadow:0 4px 16px rgba(0,0,0,.3);max-width:80%;';
    (document.body || document.documentElement).appendChild(d);
  }
  d.textContent = msg;
  clearTimeout(d.__invigilTimer);
  d.__invigilTimer = setTimeout(() => d.remove(), 5000);
})`
