// Package exambrowser runs the exam browser: the browser window in which a
// student takes an exam that is a web page (an LMS quiz, a form), launched
// and controlled by the client through the Chrome DevTools Protocol
// (github.com/chromedp/chromedp).
//
// Launch finds Chromium, Chrome or Edge (Find: the first of them that is
// installed, in a fixed order per OS) and starts it in app mode (a window
// without tabs or address bar) on a fresh profile of its own, a folder with
// user-only permissions under Options.Dir (DefaultDir: the user's cache
// folder, invigil/exam-browser). The client talks to it over a pipe
// (--remote-debugging-pipe): no port is opened, and the student has no
// DevTools. Then:
//
//   - navigation: every document request (the window and its frames) is
//     intercepted (Fetch.enable, resource type Document); one outside the
//     allowed prefixes (policy.MatchURLPrefix) is answered with 204 No
//     Content, so the page stays where it was, a short notice says why, and
//     a browser.navigation_blocked event names the URL. A page that gets in
//     without a request (data:, blob:, file:) is reported the same way and
//     the window goes back to the last allowed page.
//   - new windows: window.open is replaced by a function that reports
//     browser.window_blocked and returns null; links with a target open in
//     the same window; any other new window or tab (Ctrl+N, a form with a
//     target) is closed at once and reported.
//   - file pickers are intercepted (Page.setInterceptFileChooserDialog) and
//     reported as browser.file_chooser_blocked; the browser's own file
//     dialogs are disabled (Local State select_file_dialogs.allowed).
//   - downloads are denied (Browser.setDownloadBehavior) and reported;
//     printing is off (the printing.enabled preference, --disable-print-
//     preview; window.print and Ctrl+P report browser.print_blocked);
//     DevTools: their shortcuts (F12, Ctrl+Shift+I/J/C, Ctrl+U) and the
//     context menu with its "Inspect" do nothing, and a DevTools window
//     that opens anyway is closed (browser.devtools_blocked). The
//     devtools.availability preference cannot be used: it also refuses the
//     client's own connection ("Not allowed"). Extensions, sync,
//     translation, background networking, first-run and default-browser
//     prompts are off.
//   - permission prompts are denied (--deny-permission-prompts): the exam
//     page cannot take the camera the recording uses.
//
// The browser is supervised: when its window is closed or it crashes, a
// browser.closed event says which, and it is launched again (after 0.5 s,
// doubling to at most 30 s while it keeps failing) with a browser.relaunched
// event; a crashed page is reloaded (browser.page_crashed). Close stops it,
// waits until every one of its processes has exited and removes the
// profile folder.
//
// After a crash of the client itself: on Linux the browser gets SIGKILL
// when the client dies (Pdeathsig); its helper processes and the profile
// folder can stay. Each profile folder holds owner.json (the client's pid
// and start time, the browser's pid); Cleanup (run by Launch and by
// `invigil reset`) kills every process that still uses a profile folder
// whose client is gone (found by the --user-data-dir= on their command
// line) and removes the folder.
//
// Events go to Options.Events, in order, from one goroutine of the Browser;
// the same *_blocked event for the same URL is sent at most once every 10 s
// (the next one carries "repeats"); the browser's starts, closes and crashes
// always are. URLs in events are cut at 2048 bytes; logs name
// only the host.
//
// Surprises met on the way: --app=about:blank opens a normal tabbed window
// with an address bar, not an app window, so the window starts on a small
// data: page and the start URL loads once the interception is on (not even
// the first load escapes it). chromedp's exec allocator appends about:blank
// to the command line, which next to --app would open a second window, so
// the command is rewritten (ModifyCmdFunc) and with it the Pdeathsig
// chromedp would set. Debian's /usr/bin/chromium is a shell script that
// execs the real binary, so its pid is the browser's. DevTools windows are
// not listed by Target.getTargets, though Target.targetCreated reports them.
package exambrowser
