//go:build !cgo || !(linux || windows || darwin)

package capture

func listCameras() ([]Device, error) { return nil, ErrUnsupported }

func openCameraDevice(Config) (sourceSpec, error) { return sourceSpec{}, ErrUnsupported }
