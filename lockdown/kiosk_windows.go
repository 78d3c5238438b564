package lockdown

import (
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/invigil/invigil/lockdown/journal"
	"github.com/invigil/invigil/lockdown/policy"
	"golang.org/x/sys/windows"
)

var (
	procSetWindowsHookExW   = user32.NewProc("SetWindowsHookExW")
	procUnhookWindowsHookEx = user32.NewProc("UnhookWindowsHookEx")
	procCallNextHookEx      = user32.NewProc("CallNextHookEx")
	procSetWinEventHook     = user32.NewProc("SetWinEventHook")
	procUnhookWinEvent      = user32.NewProc("UnhookWinEvent")
	procGetMessageW         = user32.NewProc("GetMessageW")
	procTranslateMessage    = user32.NewProc("TranslateMessage")
	procDispatchMessageW    = user32.NewProc("DispatchMessageW")
	procPostThreadMessageW  = user32.NewProc("PostThreadMessageW")
	procSetWindowPos        = user32.NewProc("SetWindowPos")
	procSetForegroundWindow = user32.NewProc("SetForegroundWindow")
	procShowWindowAsync     = user32.NewProc("ShowWindowAsync")
	procGetWindow           = user32.NewProc("GetWindow")
	procPeekMessageW        = user32.NewProc("PeekMessageW")
)

const (
	whKeyboardLL = 13
	wmQuit       = 0x0012
	wmKeyUp      = 0x0101
	wmSysKeyUp   = 0x0105
	llkhfAltDown = 0x20

	eventSystemForeground = 0x0003
	winEventOutOfContext  = 0x0000
	winEventSkipOwnProc   = 0x0002

	swpNoSize     = 0x0001
	swpNoMove     = 0x0002
	swpNoActivate = 0x0010
	// swpAsyncWindowPos posts the request to the window's own thread
	// instead of waiting for it: Close never blocks on the UI thread.
	swpAsyncWindowPos = 0x4000
	gwOwner           = 4
	swMinimize        = 6

	// foregroundLockMax is the foreground lock timeout during the exam:
	// no program may take the foreground from the exam window, however
	// long ago the student last typed.
	foregroundLockMax = 0x7fffffff
)

var (
	hwndTopmost   = ^uintptr(0) // HWND_TOPMOST (-1)
	hwndNoTopmost = ^uintptr(1) // HWND_NOTOPMOST (-2)
)

// pushNotificationsKey holds ToastEnabled, the "show notifications" switch
// of Windows' notification settings.
const pushNotificationsKey = `Software\Microsoft\Windows\CurrentVersion\PushNotifications`

// kbdllhookstruct is KBDLLHOOKSTRUCT.
type kbdllhookstruct struct {
	VkCode, ScanCode, Flags, Time uint32
	ExtraInfo                     uintptr
}

// msg is MSG.
type msg struct {
	Hwnd    windows.HWND
	Message uint32
	WParam  uintptr
	LParam  uintptr
	Time    uint32
	Pt      struct{ X, Y int32 }
	Private uint32
}

// winKiosk is the running kiosk. At most one runs (the hook callbacks find
// it through activeKiosk).
type winKiosk struct {
	cfg      kioskConfig
	decider  *keyDecider // hook thread only
	switchTo []string

	tid  uint32 // the hook thread
	done chan struct{}

	exam       atomic.Uintptr // our top-level window, once found
	lastReturn atomic.Int64   // unix ns of the last time the guard acted
	// events and acted count foreground WinEvents and guard actions (for
	// the tests).
	events, acted atomic.Int64

	stop      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
	// installed is how long installing the hooks took (for the tests'
	// report).
	installed time.Duration
}

var activeKiosk atomic.Pointer[winKiosk]

// The callbacks are made once: syscall.NewCallback slots are never freed.
var (
	keyboardCB = sync.OnceValue(func() uintptr { return syscall.NewCallback(keyboardProc) })
	winEventCB = sync.OnceValue(func() uintptr { return syscall.NewCallback(winEventProc) })
)

// foregroundLockTimeout is the current foreground lock timeout (ms).
func foregroundLockTimeout() (uint32, error) { return journal.ForegroundLockTimeout() }

// startKiosk applies the policy's kiosk on Windows. Every change is
// recorded in the journal before it is made.
func startKiosk(cfg kioskConfig) (kioskHandle, error) {
	k := &winKiosk{
		cfg: cfg, decider: newKeyDecider(cfg.policy, "windows"), switchTo: cfg.policy.SwitchTo.For("windows"),
		done: make(chan struct{}), stop: make(chan struct{}),
	}
	if !activeKiosk.CompareAndSwap(nil, k) {
		return nil, errors.New("desktop lockdown: already running")
	}
	p := cfg.policy
	if p.QuietNotifications {
		k.quietNotifications()
	}
	needHook := p.WindowsKey != policy.Allow || p.PrintScreen != policy.Allow || p.AppSwitch != policy.Allow
	if needHook {
		if _, err := cfg.journal.Record("kiosk.keyboard_hook", "installed the keyboard and foreground hooks (Windows key, PrintScreen, app switching)", nil); err != nil {
			activeKiosk.Store(nil)
			return nil, err
		}
		if err := k.startHooks(); err != nil {
			activeKiosk.Store(nil)
			return nil, err
		}
	} else {
		close(k.done)
	}
	k.wg.Go(k.windowLoop)
	return k, nil
}

// quietNotifications turns notification banners off and stops programs
// from taking the foreground. Failures are logged: the exam goes on.
func (k *winKiosk) quietNotifications() {
	j, log := k.cfg.journal, k.cfg.log
	if err := j.SetUserDWORD(pushNotificationsKey, "ToastEnabled", 0); err != nil {
		log.Warn("notification banners not turned off", "err", err)
	}
	if err := j.SetForegroundLockTimeout(foregroundLockMax); err != nil {
		log.Warn("foreground lock not set", "err", err)
	}
}

// startHooks starts the hook thread: a locked OS thread that installs the
// low-level keyboard hook and the foreground WinEvent hook and pumps its
// message queue (both hooks are called through it).
func (k *winKiosk) startHooks() error {
	type started struct {
		tid uint32
		err error
	}
	ready := make(chan started, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		defer close(k.done)
		t0 := time.Now()
		tid := windows.GetCurrentThreadId()
		var mod windows.Handle
		if err := windows.GetModuleHandleEx(0, nil, &mod); err != nil {
			ready <- started{err: fmt.Errorf("GetModuleHandleEx: %w", err)}
			return
		}
		hook, _, err := procSetWindowsHookExW.Call(whKeyboardLL, keyboardCB(), uintptr(mod), 0)
		if hook == 0 {
			ready <- started{err: fmt.Errorf("SetWindowsHookEx(WH_KEYBOARD_LL): %w", err)}
			return
		}
		defer procUnhookWindowsHookEx.Call(hook)
		if k.cfg.policy.AppSwitch == policy.Block {
			ev, _, err := procSetWinEventHook.Call(eventSystemForeground, eventSystemForeground, 0, winEventCB(), 0, 0,
				winEventOutOfContext|winEventSkipOwnProc)
			if ev == 0 {
				k.cfg.log.Warn("foreground guard not installed", "err", err)
			} else {
				defer procUnhookWinEvent.Call(ev)
			}
		}
		var m msg
		// Make sure the thread has its message queue before anyone posts
		// WM_QUIT to it.
		procPeekMessageW.Call(uintptr(unsafe.Pointer(&m)), 0, 0, 0, 0)
		k.installed = time.Since(t0)
		ready <- started{tid: tid}
		for {
			r, _, _ := procGetMessageW.Call(uintptr(unsafe.Pointer(&m)), 0, 0, 0)
			if int32(r) <= 0 { // WM_QUIT or an error
				return
			}
			procTranslateMessage.Call(uintptr(unsafe.Pointer(&m)))
			procDispatchMessageW.Call(uintptr(unsafe.Pointer(&m)))
		}
	}()
	s := <-ready
	if s.err != nil {
		<-k.done
		return s.err
	}
	k.tid = s.tid
	return nil
}

// keyboardProc is the WH_KEYBOARD_LL hook. It runs on the hook thread and
// must return quickly (Windows drops a hook that takes longer than
// LowLevelHooksTimeout, ~1 s).
func keyboardProc(code, wparam, lparam uintptr) uintptr {
	k := activeKiosk.Load()
	if int32(code) >= 0 && k != nil && k.decider != nil {
		kb := *(**kbdllhookstruct)(unsafe.Pointer(&lparam))
		up := wparam == wmKeyUp || wparam == wmSysKeyUp
		v := k.decider.decide(keyEvent{VK: kb.VkCode, Up: up, Alt: kb.Flags&llkhfAltDown != 0})
		if v.Report != "" && k.cfg.report != nil {
			k.cfg.report(keyReport{Keys: v.Report, Action: v.Action})
		}
		if v.Swallow {
			return 1
		}
	}
	r, _, _ := procCallNextHookEx.Call(0, code, wparam, lparam)
	return r
}

// winEventProc is the foreground WinEvent hook: a window of a program not
// allowed by kiosk.switch_to came to the front.
func winEventProc(_, event, hwnd, _, _, _, _ uintptr) uintptr {
	k := activeKiosk.Load()
	if k == nil || event != eventSystemForeground || hwnd == 0 {
		return 0
	}
	k.events.Add(1)
	k.guard(windows.HWND(hwnd))
	return 0
}

// guard brings the exam window back in front of a window that is not
// allowed there, at most four times a second; when Windows refuses to
// give the exam window the foreground, the intruder is minimised. The
// foreground WinEvent calls it at once; windowLoop also calls it every
// second, in case an event is missed (Wine 8 sends none for a window of
// another process coming to the front).
func (k *winKiosk) guard(fg windows.HWND) {
	exam := k.exam.Load()
	if exam == 0 || fg == 0 || uintptr(fg) == exam {
		return
	}
	var pid uint32
	if _, err := windows.GetWindowThreadProcessId(fg, &pid); err != nil {
		return
	}
	exe, _ := processExe(pid)
	if foregroundAllowed(k.cfg.self, int32(pid), filepath.Base(exe), k.switchTo) {
		return
	}
	now := time.Now().UnixNano()
	if now-k.lastReturn.Load() < int64(250*time.Millisecond) {
		return
	}
	k.lastReturn.Store(now)
	k.acted.Add(1)
	if r, _, _ := procSetForegroundWindow.Call(exam); r == 0 || uintptr(windows.GetForegroundWindow()) != exam {
		procShowWindowAsync.Call(uintptr(fg), swMinimize)
	}
}

// ownWindows lists the visible, unowned top-level windows of this process.
func ownWindows(self int32) []windows.HWND {
	ws, err := topWindows()
	if err != nil {
		return nil
	}
	var out []windows.HWND
	for _, w := range ws {
		if int32(w.pid) != self {
			continue
		}
		if owner, _, _ := procGetWindow.Call(uintptr(w.hwnd), gwOwner); owner != 0 {
			continue
		}
		out = append(out, w.hwnd)
	}
	return out
}

// windowLoop finds the exam window (it may appear after the kiosk starts)
// and, with kiosk.topmost, keeps it on top: every second it puts it back at
// the top of the topmost band, above another program's topmost window.
func (k *winKiosk) windowLoop() {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var top []windows.HWND
	recorded := false
	for {
		ws := ownWindows(k.cfg.self)
		if len(ws) > 0 {
			k.exam.Store(uintptr(ws[0]))
		}
		if k.cfg.policy.AppSwitch == policy.Block {
			k.guard(windows.GetForegroundWindow())
		}
		if k.cfg.policy.Topmost && len(ws) > 0 {
			if !recorded {
				if _, err := k.cfg.journal.Record("kiosk.topmost", "kept the exam window on top", nil); err != nil {
					k.cfg.log.Error("journal topmost", "err", err)
				} else {
					recorded = true
				}
			}
			if recorded {
				for _, w := range ws {
					procSetWindowPos.Call(uintptr(w), hwndTopmost, 0, 0, 0, 0, swpNoMove|swpNoSize|swpNoActivate|swpAsyncWindowPos)
				}
				top = ws
			}
		}
		select {
		case <-k.stop:
			for _, w := range top {
				procSetWindowPos.Call(uintptr(w), hwndNoTopmost, 0, 0, 0, 0, swpNoMove|swpNoSize|swpNoActivate|swpAsyncWindowPos)
			}
			return
		case <-t.C:
		}
	}
}

// Close removes the hooks, takes the exam window off the top and waits.
func (k *winKiosk) Close() error {
	k.closeOnce.Do(func() {
		close(k.stop)
		if k.tid != 0 {
			procPostThreadMessageW.Call(uintptr(k.tid), wmQuit, 0, 0)
		}
		<-k.done
		k.wg.Wait()
		activeKiosk.CompareAndSwap(k, nil)
	})
	return nil
}
