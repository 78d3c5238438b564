//go:build windows || (darwin && cgo)

package lockdown

import (
	"errors"
	"time"

	"github.com/kbinani/screenshot"
)

// screenshotReader asks kbinani/screenshot (EnumDisplayMonitors on Windows,
// CoreGraphics on macOS). screenshot reports failures as "0 displays", so 0
// is retried and then reported as an error.
type screenshotReader struct{}

func newDisplayReader() displayReader { return screenshotReader{} }

func (screenshotReader) close() {}

func (screenshotReader) read() ([]Display, error) {
	var n int
	for attempt := 0; attempt < 4; attempt++ {
		if n = screenshot.NumActiveDisplays(); n > 0 {
			break
		}
		time.Sleep(time.Duration(attempt+1) * 25 * time.Millisecond)
	}
	if n == 0 {
		return nil, errors.New("the system reported no displays")
	}
	ds := make([]Display, 0, n)
	for i := 0; i < n; i++ {
		b := screenshot.GetDisplayBounds(i)
		ds = append(ds, Display{Index: i, X: b.Min.X, Y: b.Min.Y, Width: b.Dx(), Height: b.Dy()})
	}
	return ds, nil
}
