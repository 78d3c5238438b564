//go:build windows && cgo

package capture

import (
	"github.com/pion/mediadevices/pkg/driver"
	// DirectShow cameras (cgo, C++).
	_ "github.com/pion/mediadevices/pkg/driver/camera"
)

// rescanCameras does nothing: the Windows driver enumerates at process
// start and its Initialize would register every camera a second time.
func rescanCameras() {}

// cameraNameBus returns the DirectShow friendly name.
func cameraNameBus(info driver.Info) (name, bus string) {
	if info.Name == "" {
		return info.Label, ""
	}
	return info.Name, ""
}
