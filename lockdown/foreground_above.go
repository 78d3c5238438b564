package lockdown

import (
	"os"
	"sync"
)

// AboveKeeper keeps a small window of this process (the client's
// indicator) in the top-right corner of the screen, above every other
// window, without taking the focus: X11 sets _NET_WM_STATE_ABOVE (a
// window manager honours it) and raises the window on every Keep (without
// a window manager nothing else keeps it on top: a window raised later
// covers it until the next Keep); Windows uses SetWindowPos(HWND_TOPMOST)
// as the kiosk does for the exam window. Elsewhere Keep returns an error
// wrapping ErrUnsupported. Safe for concurrent use.
type AboveKeeper struct {
	mu   sync.Mutex
	impl aboveImpl
}

type aboveImpl interface {
	keep(window uint64) error
	close()
}

// aboveMargin is the gap between the window and the screen's edges, in
// pixels.
const aboveMargin = 16

// NewAboveKeeper makes a keeper; getenv reads DISPLAY (nil: os.Getenv).
func NewAboveKeeper(getenv func(string) string) *AboveKeeper {
	if getenv == nil {
		getenv = os.Getenv
	}
	return &AboveKeeper{impl: newAboveImpl(getenv)}
}

// Keep puts the window (an X11 window id or HWND) on top, in the
// top-right corner of the screen (again on every call on X11, where its
// size may have changed). Call it again now and then (every second) while
// the window shows.
func (k *AboveKeeper) Keep(window uint64) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.impl.keep(window)
}

// Close releases the connection to the display server.
func (k *AboveKeeper) Close() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.impl.close()
}
