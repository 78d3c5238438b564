package lockdown

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/windows"
)

type winAbove struct {
	placed map[uint64]bool
}

func newAboveImpl(func(string) string) aboveImpl { return &winAbove{placed: map[uint64]bool{}} }

func (*winAbove) close() {}

var procGetWindowRect = user32.NewProc("GetWindowRect")

const smCXScreen = 0

func (k *winAbove) keep(window uint64) error {
	flags := uintptr(swpNoSize | swpNoActivate | swpAsyncWindowPos)
	var x, y uintptr
	if k.placed[window] {
		flags |= swpNoMove
	} else {
		var r windows.Rect
		if ok, _, err := procGetWindowRect.Call(uintptr(window), uintptr(unsafe.Pointer(&r))); ok == 0 {
			return fmt.Errorf("indicator window %#x: %w", window, err)
		}
		screen, _, _ := procGetSystemMetrics.Call(smCXScreen)
		x = uintptr(max(0, int(screen)-int(r.Right-r.Left)-aboveMargin))
		y = aboveMargin
	}
	if ok, _, err := procSetWindowPos.Call(uintptr(window), hwndTopmost, x, y, 0, 0, flags); ok == 0 {
		return fmt.Errorf("keep window %#x on top: %w", window, err)
	}
	k.placed[window] = true
	return nil
}
