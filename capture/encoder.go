package capture

import "image"

// videoEncoder turns I420 frames into H.264 access units. One encoder
// belongs to one stream goroutine; nothing here is safe for concurrent use.
type videoEncoder interface {
	// Encode encodes img (compact I420 of the size the encoder was built
	// for). forceKey asks for an IDR. The returned Annex-B buffer is owned
	// by the caller; it is empty when rate control skipped the frame.
	Encode(img *image.YCbCr, forceKey bool) ([]byte, error)
	// SetBitrate changes the encoder's target (bits per second) from the
	// next frame on.
	SetBitrate(bps int) error
	// Close frees the encoder.
	Close() error
}

// encoderParams builds an encoder.
type encoderParams struct {
	Width, Height int
	// FPS is the frame rate the encoder's rate control assumes; the stream
	// scales the bitrate it asks for when it runs at another rate.
	FPS        float64
	BitrateBps int
	// Screen selects openh264's screen-content tools.
	Screen bool
}

// newEncoder builds the H.264 encoder of this build: openh264 through
// mediadevices when cgo is on (encoder_openh264.go), otherwise a stub that
// returns ErrUnsupported (encoder_nocgo.go).
var newEncoder func(encoderParams) (videoEncoder, error) = newPlatformEncoder
