//go:build linux && cgo

package capture

import (
	"strings"

	"github.com/pion/mediadevices/pkg/driver"
	// V4L2 cameras (cgo for linux/videodev2.h).
	"github.com/pion/mediadevices/pkg/driver/camera"
)

// rescanCameras re-runs V4L2 discovery. camera.Initialize deletes every
// registered video driver first (screens and videotest too); this package
// keeps its own references to those. Call with driversMu held.
func rescanCameras() { camera.Initialize() }

// cameraNameBus splits the driver's "card;bus_info" name.
func cameraNameBus(info driver.Info) (name, bus string) {
	name, bus, _ = strings.Cut(info.Name, camera.LabelSeparator)
	if name == "" {
		name = info.Label
	}
	return name, bus
}
