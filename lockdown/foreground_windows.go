package lockdown

import (
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/windows"
)

func newForegroundSource(func(string) string) foregroundSource { return winForeground{} }

// winForeground asks Windows for the foreground window (the one that
// receives the keyboard) and its process. A UWP app's window (Calculator
// on Windows 10 and 11) belongs to ApplicationFrameHost.exe, which hosts
// the app's own window as a child: the child's process is the program.
type winForeground struct{}

func (winForeground) close() {}

func (winForeground) read() (rawForeground, error) {
	hwnd := windows.GetForegroundWindow()
	if hwnd == 0 {
		// The desktop, or the foreground is changing hands.
		return rawForeground{nobody: true}, nil
	}
	var pid uint32
	if _, err := windows.GetWindowThreadProcessId(hwnd, &pid); err != nil {
		return rawForeground{}, err
	}
	if pid == 0 {
		return rawForeground{}, errors.New("the foreground window has no process")
	}
	if exe, err := processExe(pid); err == nil && strings.EqualFold(filepath.Base(exe), "ApplicationFrameHost.exe") {
		if child := hostedPID(hwnd, pid); child != 0 {
			pid = child
		}
	}
	return rawForeground{window: uint64(hwnd), pid: int(pid), pidFrom: "os"}, nil
}

// childState carries EnumChildWindows' answer out of its callback, made
// once (callback slots are never freed); childMu serialises.
var (
	childMu   sync.Mutex
	childHost uint32
	childPID  uint32
	childCB   = sync.OnceValue(func() uintptr {
		return syscall.NewCallback(func(hwnd windows.HWND, _ uintptr) uintptr {
			var pid uint32
			if _, err := windows.GetWindowThreadProcessId(hwnd, &pid); err == nil && pid != 0 && pid != childHost {
				childPID = pid
				return 0 // found: stop
			}
			return 1
		})
	})
)

// hostedPID is the process of the first child window of hwnd that
// another process than host owns; 0 if none.
func hostedPID(hwnd windows.HWND, host uint32) uint32 {
	cb := childCB()
	childMu.Lock()
	defer childMu.Unlock()
	childHost, childPID = host, 0
	windows.EnumChildWindows(hwnd, cb, nil)
	return childPID
}
