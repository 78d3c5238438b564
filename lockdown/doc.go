// Package lockdown enforces an exam policy on the student's machine: the
// detectors (processes, remote-access listeners, displays, virtual
// machines, remote sessions, virtual cameras, clipboard, hidden windows,
// focus, keys), the system check report, the Monitor that emits violations
// during the exam, closing prohibited programs. Every change it makes goes
// through the undo journal (package lockdown/journal) first.
// It never imports Fyne or transport: the client carries violations to the
// backend through the Sink it implements.
//
// # Use
//
//	r := lockdown.Check(ctx, pol, lockdown.CheckOptions{Cameras: cams})
//	// check screen: r.Checks (ID, Status, Summary, Fixes, Evidence);
//	// "Close these apps": lockdown.CloseProcesses(ctx, r.Closable(), grace)
//	j, recovered, err := journal.Open(ctx, path, journal.Options{}) // lockdown/journal
//	m, err := lockdown.NewMonitor(pol, lockdown.MonitorOptions{Sink: s, Journal: j, Ask: ask})
//	// UI hooks: m.FocusLost(t), m.FocusGained(t), m.ClipboardUsed(t, op), m.SetCameras(cams)
//	m.Close()           // ends open violations
//	j.Close(ctx)        // undoes every change, removes the journal
//
// `invigil reset` calls journal.Reset on the same journal path.
//
// # Detector families
//
// Each family of what lockdown looks for implements one interface,
// detector (detector.go): check, for the system check, and watch, which
// starts the family inside a Monitor. Check and NewMonitor walk the same
// list, detectors, so a family's rules (what counts, how severe it is, what
// the check tells the student, what the Monitor does about it) sit next to
// its detector, and a new family needs no change to either:
//
//   - prohibited.go: prohibited programs, by name or executable hash
//     (process.go) and by a listening remote-access port (ports.go); two
//     checks, one poll; closing blocked programs, or asking first.
//   - display.go: the display count (and DisplaySink changes).
//   - vm.go, remote.go: virtual machine; remote session (over the process
//     list the prohibited-programs family publishes).
//   - camera.go: virtual cameras, told by the client (SetCameras).
//   - clipboard.go: clearing at the exam's start and end; ClipboardUsed.
//   - hidden.go: windows hidden from screen capture.
//   - focus.go: focus loss (FocusLost, FocusGained; FocusLostTo in
//     foreground.go), its grace timed by the Monitor's heartbeat (the
//     process poll).
//   - kiosk.go: the desktop lockdown's key reports.
//
// monitor.go is what the families share: the lifecycle, reconciling a
// family's conditions into open and end events, and monitor_notify.go
// delivering them to the Sink in order, outside the Monitor's lock.
//
// # Design notes and surprises
//
//   - Polling cost on the test VM (Firecracker, paravirtualised; syscalls and
//     /proc reads are slow) drove the process detector's shape. Listing /proc
//     with gopsutil's Pids costs ~2 ms at ~380 processes and reading
//     /proc/net/tcp ~1 ms (the kernel walks every established-hash bucket);
//     at 10 polls a second either alone is 1-2 % of a core. So the scanner
//     reads the last allocated pid from /proc/loadavg (one pread of a kept
//     file descriptor) and, since pids are allocated in increasing order,
//     probes only the ids handed out since the last poll, listing /proc only
//     on a sweep (every 10 s, which also catches a late exec) or when more
//     than 256 ids went by. Ids allocated but not yet visible, to a probe or
//     to a listing (the first one, a sweep), are probed again on the next
//     polls. Listening sockets come from sock_diag netlink (only the
//     listening hash is walked, ~30 µs), with /proc/net/tcp as a fallback.
//     A bare 100 ms Go ticker alone costs 0.2 % of a core there.
//   - Thread ids are reachable as /proc/TID although /proc does not list
//     them; the probe tells them apart by exit_signal (-1 for non-leader
//     threads, field 38 of /proc/TID/stat).
//   - A process can be seen between fork and exec under its parent's name,
//     or be a launcher script that execs the real program: young processes
//     (under 2 s) are re-read at ages ~0.1, 0.2, 0.4, 0.8, 1.6 s; re-reading
//     them on every poll cost ~1 % of a core under a busy test run. The
//     first listing counts as young the processes whose start time is
//     within 3 s of it (Linux start times can be ~1 s off the wall clock),
//     so a program launched as the exam starts is not left to the sweep.
//   - kbinani/screenshot opens a new X connection for the display count and
//     one more per display, which at one poll a second cost ~1.2 % of a core.
//     On Linux the Monitor keeps one X connection and sends the same
//     Xinerama query itself (jezek/xgb, screenshot's own dependency);
//     Windows and macOS use screenshot. screenshot hides errors as "0
//     displays": lockdown reports unknown instead, and retries (Xvfb's
//     connection fails now and then with EOF/EAGAIN). kbinani/screenshot
//     needs cgo on macOS, so a CGO_ENABLED=0 darwin build reports unknown.
//     xgb logs "Could not get authority info" on stderr when there is no
//     ~/.Xauthority (Xvfb in tests); lockdown leaves xgb's global logger
//     alone.
//   - github.com/jezek/xgb imports the testing package in its non-test code;
//     the dependency test therefore checks only our own packages for it.
//   - This test machine is a Docker container on a VM: gopsutil says "docker
//     guest" and /proc/cpuinfo has the hypervisor flag, and there is no
//     /sys/class/dmi. The default policy flags VMs, so the check warns and
//     does not block here.
//   - On Windows gopsutil's Terminate is TerminateProcess, a hard kill; the
//     polite close is taskkill without /F (WM_CLOSE). gopsutil's
//     Virtualization is Linux-only; Windows reads the BIOS strings from the
//     registry, macOS sysctl kern.hv_vmm_present. gopsutil's net connections
//     run lsof on macOS, so ports are polled every 2 s there.
//   - Zombies (exited, not reaped) still have /proc entries; they count as
//     gone.
//   - Which program has the focus (foreground*.go, for policy
//     allowed_apps): on X11 the pid comes from the X-Resource extension
//     (XResQueryClientIds), which the server learnt from the client's
//     socket; _NET_WM_PID is set by each client for itself and any client
//     can set it on any window (xprop does, in the test), so it is only a
//     fallback. Without a window manager (Xvfb) the X focus is PointerRoot
//     until someone sets it: the keyboard then goes to the top-level
//     window under the pointer, and the reader says so. Under Wayland the
//     focused program cannot be told (ErrUnsupported); on Windows
//     GetForegroundWindow names it; elsewhere it is unknown. AboveKeeper
//     keeps the client's indicator on top: without a window manager X11
//     stacks each newly mapped window on top and nothing restacks, so it
//     raises the window on every call (every second).
//   - Clipboard clearing on Linux needs xsel, xclip or wl-copy, none of which
//     is installed by default; without them clearing is skipped and the check
//     warns. xclip forks a child that keeps the (empty) selection, so it is
//     run with no pipes.
//   - Without privileges, other users' executables cannot be hashed and
//     their sockets cannot be mapped to a pid; the check says so in its
//     evidence ("matched_by_name_only", "process not visible").
//
// # Desktop lockdown (kiosk) and hidden windows
//
// The Monitor also runs the policy's kiosk (Windows only) and polls for
// windows hidden from screen capture (hidden.go). The kiosk's key decisions
// are pure logic (keys.go: keyDecider, foregroundAllowed), table-tested on
// every OS; kiosk_windows.go feeds it from a WH_KEYBOARD_LL hook on a
// dedicated locked OS thread that pumps its own message queue, next to a
// foreground WinEvent hook (the guard that pushes other programs' windows
// back), a loop that keeps invigil's own top-level windows HWND_TOPMOST,
// SPI_SETFOREGROUNDLOCKTIMEOUT at its maximum and ToastEnabled = 0. Each
// change is journaled first (kinds kiosk.keyboard_hook, kiosk.topmost: die
// with the process; kiosk.foreground_lock_timeout and registry.dword: undone
// by the journal, crash recovery and `invigil reset`).
//
// Under Wine 8 (scripts/wine-gotest.sh ./lockdown: its own prefix, Xvfb, a
// test-only ProcessPrng shim; the TestWindows* tests):
//
//   - runs for real: the keyboard hook (installed in 0.5-1.7 ms, the whole
//     kiosk start 15-80 ms on a loaded 2-core machine); injected
//     PrintScreen, Windows key and Alt+Tab are swallowed (they never reach
//     the focused test window) and reported 0.2-8 ms after the key was sent,
//     while an ordinary key still arrives; after Close they arrive again.
//     HWND_TOPMOST is set on our window and cleared at Close (posted with
//     SWP_ASYNCWINDOWPOS: a synchronous SetWindowPos from the kiosk's
//     goroutine deadlocked Close while the window's thread waited in it).
//     SPI_SET/GETFOREGROUNDLOCKTIMEOUT and ToastEnabled change and the
//     journal puts them back; after a helper process "crashes" with the
//     kiosk on, Reset undoes its journal (TestWindowsKioskCrashReset).
//     Wine keeps the foreground lock timeout per process (Windows: per
//     session), so there only the registry value outlives the crash.
//     EnumWindows + GetWindowThreadProcessId + QueryFullProcessImageName
//     find a test window and name the test executable; one scan costs
//     ~30-49 µs a visible top-level window (1.8-1.9 ms for 40, 5.9 ms for
//     200). Creating those windows is what is slow under Wine and Xvfb
//     (~2 s each), so the test makes 40.
//   - Wine does not support it, so only the logic is tested: Wine's
//     SetWindowDisplayAffinity is a stub that fails and its
//     GetWindowDisplayAffinity always answers WDA_NONE, so the Wine test
//     injects the affinity value of its own window (everything else runs
//     for real); Wine sets no LLKHF_ALTDOWN flag on injected keys, so the
//     decider tracks Alt itself (real Windows sets the flag; both work).
//     Wine 8 sends no EVENT_SYSTEM_FOREGROUND WinEvent when another
//     process's window comes to the front, so the guard also polls the
//     foreground window every second: under Wine a helper process's window
//     that takes the front is minimised within ~1 s (SetForegroundWindow
//     does not give the exam window the foreground back there), and one
//     allowed by switch_to is left alone (TestWindowsForegroundGuard).
//     Quiet notifications are what Windows' own switch does; Wine has no
//     notification banners to check against.
//   - macOS hidden windows (hidden_darwin.go) call CoreGraphics through
//     purego, so they compile and vet without cgo or an SDK; they have never
//     run. Linux: under X11 a window cannot hide from a capture of the root
//     window, so the check passes with evidence "not_applicable"; under
//     Wayland it is unknown (ErrUnsupported), never a silent pass.
//
// # Non-Linux status
//
// Windows: processes, ports (GetExtendedTcpTable via gopsutil), displays
// (screenshot), VM (registry), remote session (SM_REMOTESESSION), clipboard
// (EmptyClipboard), polite close (taskkill), a registry undoer, the kiosk
// and the hidden-window scan are real; the kiosk and the hidden-window scan
// run under Wine (above), the rest is run by the Windows end-to-end tests. macOS: processes, ports (lsof),
// VM (sysctl), remote session (screensharingd) and clipboard (pbcopy) are
// real; displays need cgo. Other systems report unknown (ErrUnsupported).
package lockdown
