//go:build cgo && !((linux && (amd64 || arm64 || arm)) || (darwin && (amd64 || arm64)) || (windows && amd64))

package capture

import "fmt"

// encoderAvailable is false: mediadevices ships no openh264 library for
// this OS/architecture.
const encoderAvailable = false

func newPlatformEncoder(encoderParams) (videoEncoder, error) {
	return nil, fmt.Errorf("h264 encoder (no bundled openh264 for this platform): %w", ErrUnsupported)
}
