//go:build linux && cgo

package capture

import (
	"context"
	"errors"
	"fmt"
	"image"
	"time"

	"github.com/pion/mediadevices/pkg/driver"
	"github.com/pion/mediadevices/pkg/prop"

	// X11/XShm screen driver (cgo, libX11 + libXext). It grabs the root
	// window of the default X screen: every monitor as one image.
	"github.com/pion/mediadevices/pkg/driver/screen"
)

// openScreenDevice registers the X11 screen driver afresh (its init ran
// before DISPLAY may have been set, e.g. by a test that starts Xvfb, and
// camera.Initialize may have deleted it), opens it at fps and, for a single
// display, crops to that display's rectangle from kbinani/screenshot.
func openScreenDevice(ctx context.Context, t screenTarget, fps float64) (rawSource, image.Rectangle, error) {
	var crop image.Rectangle
	if !t.all {
		displays, err := Displays()
		if err != nil {
			return nil, crop, err
		}
		if crop, err = displayRect(displays, t.index); err != nil {
			return nil, crop, err
		}
	}
	var lastErr error
	for attempt := 0; attempt < 4; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return nil, crop, ctx.Err()
			case <-time.After(time.Duration(attempt) * 100 * time.Millisecond):
			}
		}
		d, err := registerX11Screen()
		if err != nil {
			lastErr = err
			continue
		}
		src, _, err := openDriverSource(d, func(props []prop.Media) (prop.Media, error) {
			if len(props) == 0 {
				return prop.Media{}, errors.New("screen driver has no mode")
			}
			p := props[0]
			// The driver waits for its own ticker before each grab. A fast
			// one keeps that wait short; pacedSource sets the real rate
			// and grabs the first frame at once.
			p.FrameRate = float32(max(fps, 20))
			return p, nil
		})
		if err != nil {
			// XOpenDisplay / XShm setup failed; flaky under Xvfb.
			lastErr = err
			continue
		}
		return newPacedSource(src, fps), crop, nil
	}
	return nil, crop, fmt.Errorf("%w: %w", ErrNoDisplay, lastErr)
}

// registerX11Screen replaces the manager's screen drivers with a fresh
// registration and returns the default screen's driver.
func registerX11Screen() (driver.Driver, error) {
	driversMu.Lock()
	defer driversMu.Unlock()
	m := driver.GetManager()
	for _, d := range m.Query(driver.FilterDeviceType(driver.Screen)) {
		if d.Status() == driver.StateClosed {
			m.Delete(d.ID())
		}
	}
	screen.Initialize()
	for _, d := range m.Query(driver.FilterDeviceType(driver.Screen)) {
		if d.Status() == driver.StateClosed && d.Info().Label == "X11Screen0" {
			return d, nil
		}
	}
	return nil, errors.New("no X11 screen registered (cannot open $DISPLAY)")
}
