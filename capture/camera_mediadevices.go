//go:build cgo && (linux || windows || darwin)

package capture

import (
	"fmt"
	"strings"

	"github.com/pion/mediadevices/pkg/driver"
	"github.com/pion/mediadevices/pkg/frame"
	"github.com/pion/mediadevices/pkg/prop"
)

// cameraDrivers returns the registered camera drivers except videotest.
// Call with driversMu held.
func cameraDrivers() []driver.Driver {
	var out []driver.Driver
	for _, d := range driver.GetManager().Query(driver.FilterDeviceType(driver.Camera)) {
		if !isTestCamera(d) {
			out = append(out, d)
		}
	}
	return out
}

func listCameras() ([]Device, error) {
	driversMu.Lock()
	defer driversMu.Unlock()
	rescanCameras()
	var devs []Device
	for _, d := range cameraDrivers() {
		info := d.Info()
		if d.Status() == driver.StateClosed {
			// Skip nodes without a usable video mode (V4L2 exposes a
			// metadata node next to each UVC camera). A node that fails to
			// open is listed: it may be busy, and the open will say so.
			if err := d.Open(); err == nil {
				usable := false
				for _, p := range d.Properties() {
					if modeScore(p, 640, 480, 15) < 1e9 {
						usable = true
						break
					}
				}
				d.Close()
				if !usable {
					continue
				}
			}
		}
		name, bus := cameraNameBus(info)
		devs = append(devs, newDevice(info.Label, name, bus))
	}
	return devs, nil
}

// findCamera resolves Config.Source: "" picks the first real camera,
// preferring non-virtual ones; otherwise an exact ID, or a device node
// ("video0", "/dev/video0") matching the ID's last part.
func findCamera(source string) (driver.Driver, error) {
	driversMu.Lock()
	defer driversMu.Unlock()
	rescanCameras()
	drivers := cameraDrivers()
	if source == "" {
		var best driver.Driver
		var bestKey string
		for _, d := range drivers {
			name, bus := cameraNameBus(d.Info())
			v, _ := VirtualCamera(name + " " + bus)
			key := fmt.Sprintf("%t|%s", v, d.Info().Label) // real first, then by ID
			if best == nil || key < bestKey {
				best, bestKey = d, key
			}
		}
		if best == nil {
			return nil, ErrNoCamera
		}
		return best, nil
	}
	node := strings.TrimPrefix(source, "/dev/")
	for _, d := range drivers {
		label := d.Info().Label
		if label == source {
			return d, nil
		}
		if i := strings.LastIndex(label, ";"); i >= 0 && label[i+1:] == node {
			return d, nil
		}
	}
	return nil, fmt.Errorf("camera %q not found among %d: %w", source, len(drivers), ErrNoCamera)
}

func openCameraDevice(cfg Config) (sourceSpec, error) {
	d, err := findCamera(cfg.Source)
	if err != nil {
		return sourceSpec{}, err
	}
	if avail, err := driver.IsAvailable(d); !avail && err != nil {
		if mapped := cameraErr(err); mapped != err {
			return sourceSpec{}, mapped
		}
	}
	src, mode, err := openDriverSource(d, func(props []prop.Media) (prop.Media, error) {
		return chooseMode(props, cfg.Width, cfg.Height, cfg.FPS)
	})
	if err != nil {
		return sourceSpec{}, cameraErr(err)
	}
	return sourceSpec{src: src, fullRange: mode.FrameFormat == frame.FormatMJPEG}, nil
}
