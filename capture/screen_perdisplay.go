//go:build windows || (darwin && cgo)

package capture

import (
	"context"
	"errors"
	"fmt"
	"image"
	"strconv"

	"github.com/pion/mediadevices/pkg/driver"
	"github.com/pion/mediadevices/pkg/prop"

	// Per-display screen driver over kbinani/screenshot (pure Go on
	// Windows, cgo on macOS). One driver per display, labelled "0", "1", ...
	"github.com/pion/mediadevices/pkg/driver/screen"
)

// openScreenDevice opens display t.index (or the only display for "all":
// this driver cannot capture several monitors as one image).
func openScreenDevice(ctx context.Context, t screenTarget, fps float64) (rawSource, image.Rectangle, error) {
	idx := t.index
	if t.all {
		displays, err := Displays()
		if err != nil {
			return nil, image.Rectangle{}, err
		}
		if len(displays) > 1 {
			return nil, image.Rectangle{}, fmt.Errorf("all %d displays as one image: %w (open each display)", len(displays), ErrUnsupported)
		}
		idx = 0
	}
	d, err := registerDisplay(idx)
	if err != nil {
		return nil, image.Rectangle{}, err
	}
	src, _, err := openDriverSource(d, func(props []prop.Media) (prop.Media, error) {
		if len(props) == 0 {
			return prop.Media{}, errors.New("screen driver has no mode")
		}
		return props[0], nil
	})
	if err != nil {
		return nil, image.Rectangle{}, fmt.Errorf("%w: %w", ErrNoDisplay, err)
	}
	// This driver captures on every Read with no pacing of its own.
	return newPacedSource(src, fps), image.Rectangle{}, nil
}

// registerDisplay re-registers the per-display drivers (displays may have
// changed since init) and returns display idx's driver.
func registerDisplay(idx int) (driver.Driver, error) {
	driversMu.Lock()
	defer driversMu.Unlock()
	m := driver.GetManager()
	for _, d := range m.Query(driver.FilterDeviceType(driver.Screen)) {
		if d.Status() == driver.StateClosed {
			m.Delete(d.ID())
		}
	}
	screen.Initialize()
	want := strconv.Itoa(idx)
	for _, d := range m.Query(driver.FilterDeviceType(driver.Screen)) {
		if d.Status() == driver.StateClosed && d.Info().Label == want {
			return d, nil
		}
	}
	return nil, fmt.Errorf("display %d: %w", idx, ErrNoDisplay)
}
