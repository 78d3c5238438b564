package lockdown

import (
	"context"
	"fmt"
	"os"
)

// listHiddenWindows on Linux: an X11 client cannot keep its window out of
// a capture of the root window (which is what the screen track records),
// so there is nothing to look for. Wayland compositors can be configured
// to leave windows out of screencasts (e.g. window rules), and no protocol
// lets a client ask which: unknown.
func listHiddenWindows(_ context.Context, _ int32) (windowScan, error) {
	return linuxHiddenWindows(os.Getenv)
}

func linuxHiddenWindows(env func(string) string) (windowScan, error) {
	if env("WAYLAND_DISPLAY") != "" || env("XDG_SESSION_TYPE") == "wayland" {
		return windowScan{}, fmt.Errorf("a Wayland compositor can keep windows out of screencasts and cannot be asked which: %w", ErrUnsupported)
	}
	return windowScan{Why: "X11 gives no way for a window to hide from a capture of the screen"}, errNotApplicable
}
