//go:build darwin && cgo

package capture

import (
	"github.com/pion/mediadevices/pkg/driver"
	// AVFoundation cameras (cgo, Objective-C); the driver tracks hot-plug
	// itself once camera.SetupObserver runs (the client may call it).
	_ "github.com/pion/mediadevices/pkg/driver/camera"
)

// rescanCameras does nothing: Initialize would register every camera a
// second time.
func rescanCameras() {}

// cameraNameBus returns the AVFoundation localized name.
func cameraNameBus(info driver.Info) (name, bus string) {
	if info.Name == "" {
		return info.Label, ""
	}
	return info.Name, ""
}
