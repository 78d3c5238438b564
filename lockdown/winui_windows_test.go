package lockdown

import (
	"fmt"
	"runtime"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"

	"github.com/invigil/invigil/internal/winetest"
)

// Test-only user32 calls: windows to find, keys to send.
var (
	procCreateWindowExW          = user32.NewProc("CreateWindowExW")
	procDestroyWindow            = user32.NewProc("DestroyWindow")
	procSetWindowDisplayAffinity = user32.NewProc("SetWindowDisplayAffinity")
	procGetWindowLongPtrW        = user32.NewProc("GetWindowLongPtrW")
	procKeybdEvent               = user32.NewProc("keybd_event")
	procSetFocus                 = user32.NewProc("SetFocus")
	procGetForegroundWindow      = user32.NewProc("GetForegroundWindow")
	procIsIconic                 = user32.NewProc("IsIconic")
)

const (
	wsOverlappedWindow = 0x00CF0000
	wsVisible          = 0x10000000
	wsExTopmost        = 0x00000008
	gwlExStyle         = ^uintptr(19) // -20
	wmKeyDown          = 0x0100
	wmSysKeyDown       = 0x0104
	keyeventfKeyUp     = 0x0002
	pmRemove           = 0x0001
)

// createWindow makes a visible top-level window owned by the calling
// thread, which must be locked to its OS thread.
func createWindow(title string) (windows.HWND, error) {
	cls, _ := windows.UTF16PtrFromString("STATIC")
	t, _ := windows.UTF16PtrFromString(title)
	h, _, err := procCreateWindowExW.Call(0, uintptr(unsafe.Pointer(cls)), uintptr(unsafe.Pointer(t)),
		wsOverlappedWindow|wsVisible, 100, 100, 300, 200, 0, 0, 0, 0)
	if h == 0 {
		return 0, fmt.Errorf("CreateWindowEx: %w", err)
	}
	return windows.HWND(h), nil
}

func destroyWindow(h windows.HWND) { procDestroyWindow.Call(uintptr(h)) }

func exStyle(h windows.HWND) uintptr {
	r, _, _ := procGetWindowLongPtrW.Call(uintptr(h), gwlExStyle)
	return r
}

// sendKey injects a key press or release.
func sendKey(vk byte, up bool) {
	var f uintptr
	if up {
		f = keyeventfKeyUp
	}
	procKeybdEvent.Call(uintptr(vk), 0, f, 0)
}

// keyMsg is a keyboard message our thread's queue received.
type keyMsg struct {
	msg uint32
	vk  uintptr
}

// pumpKeys drains the calling thread's queue for d and returns the key
// down messages it held.
func pumpKeys(d time.Duration) []keyMsg {
	var out []keyMsg
	var m msg
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		for {
			r, _, _ := procPeekMessageW.Call(uintptr(unsafe.Pointer(&m)), 0, 0, 0, pmRemove)
			if r == 0 {
				break
			}
			if m.Message == wmKeyDown || m.Message == wmSysKeyDown {
				out = append(out, keyMsg{m.Message, m.WParam})
			}
			procTranslateMessage.Call(uintptr(unsafe.Pointer(&m)))
			procDispatchMessageW.Call(uintptr(unsafe.Pointer(&m)))
		}
		time.Sleep(5 * time.Millisecond)
	}
	return out
}

func lockThread() func() {
	runtime.LockOSThread()
	return runtime.UnlockOSThread
}

// isWine reports whether the test runs under Wine (ntdll exports
// wine_get_version there).
func isWine() bool {
	return windows.NewLazySystemDLL("ntdll.dll").NewProc("wine_get_version").Find() == nil
}

// tempDir is t.TempDir for tests that also run under Wine 8, where
// t.TempDir's cleanup failed ("unlinkat …: Invalid function"): a directory
// left behind is logged, not an error (scripts/wine-gotest.sh deletes
// the whole Wine prefix).
func tempDir(t *testing.T) string { return winetest.TempDir(t, "invigil-lockdown-test-") }
