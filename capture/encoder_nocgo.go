//go:build !cgo

package capture

import "fmt"

// encoderAvailable is false: openh264 needs cgo.
const encoderAvailable = false

func newPlatformEncoder(encoderParams) (videoEncoder, error) {
	return nil, fmt.Errorf("h264 encoder (openh264 needs cgo): %w", ErrUnsupported)
}
