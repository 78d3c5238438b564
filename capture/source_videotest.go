package capture

import (
	"fmt"

	"github.com/pion/mediadevices/pkg/driver"
	"github.com/pion/mediadevices/pkg/prop"
	// The videotest driver registers itself in mediadevices' global driver
	// manager at init. This package takes it out of the manager's hands at
	// its own init (testCamera below): Cameras never lists it and only
	// Config.Source "test" opens it.
	_ "github.com/pion/mediadevices/pkg/driver/videotest"
)

// testCamera is mediadevices' videotest driver, kept here because on Linux
// camera.Initialize (called to rescan for hot-plugged cameras) deletes
// every registered video driver, this one included.
var testCamera driver.Driver

const videotestLabel = "VideoTest"

func init() {
	for _, d := range driver.GetManager().Query(driver.FilterDeviceType(driver.Camera)) {
		if d.Info().Label == videotestLabel {
			testCamera = d
		}
	}
}

// isTestCamera reports whether d is the videotest driver.
func isTestCamera(d driver.Driver) bool {
	return d == testCamera || d.Info().Label == videotestLabel
}

// openTestCamera opens the videotest driver in its only mode (640×480 at
// 30 fps, whatever was asked: the stream paces it). It is one device per
// process: a second open while one is running fails with ErrCameraBusy.
func openTestCamera() (rawSource, error) {
	if testCamera == nil {
		return nil, fmt.Errorf("videotest driver not registered: %w", ErrNoCamera)
	}
	src, _, err := openDriverSource(testCamera, func(props []prop.Media) (prop.Media, error) {
		if len(props) == 0 {
			return prop.Media{}, fmt.Errorf("videotest driver has no mode: %w", ErrNoCamera)
		}
		return props[0], nil
	})
	if err != nil {
		return nil, cameraErr(err)
	}
	return src, nil
}
