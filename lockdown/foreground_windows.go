package lockdown

import (
	"errors"

	"golang.org/x/sys/windows"
)

func newForegroundSource(func(string) string) foregroundSource { return winForeground{} }

// winForeground asks Windows for the foreground window (the one that
// receives the keyboard) and its process.
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
	return rawForeground{window: uint64(hwnd), pid: int(pid), pidFrom: "os"}, nil
}
