//go:build linux || windows || (darwin && cgo)

package lockdown

import (
	"errors"
	"os"
	"runtime"
	"time"

	"github.com/kbinani/screenshot"
)

// readDisplays asks kbinani/screenshot (Xinerama on X11, EnumDisplayMonitors
// on Windows, CoreGraphics on macOS). Under Xvfb opening the display fails
// now and then (EOF, EAGAIN), and screenshot hides the error as "0
// displays", so 0 is retried and then reported as an error.
func readDisplays() ([]Display, error) {
	if runtime.GOOS == "linux" && os.Getenv("DISPLAY") == "" {
		return nil, errNoDisplay
	}
	var n int
	for attempt := 0; attempt < 4; attempt++ {
		if n = screenshot.NumActiveDisplays(); n > 0 {
			break
		}
		time.Sleep(time.Duration(attempt+1) * 25 * time.Millisecond)
	}
	if n == 0 {
		if runtime.GOOS == "linux" {
			return nil, errors.New("the X server on DISPLAY=" + os.Getenv("DISPLAY") + " reported no displays (could not connect, or no Xinerama)")
		}
		return nil, errors.New("the system reported no displays")
	}
	ds := make([]Display, 0, n)
	for i := 0; i < n; i++ {
		b := screenshot.GetDisplayBounds(i)
		ds = append(ds, Display{Index: i, X: b.Min.X, Y: b.Min.Y, Width: b.Dx(), Height: b.Dy()})
	}
	return ds, nil
}
