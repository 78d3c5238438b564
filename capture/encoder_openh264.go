//go:build cgo && ((linux && (amd64 || arm64 || arm)) || (darwin && (amd64 || arm64)) || (windows && amd64))

package capture

import (
	"errors"
	"fmt"
	"image"

	"github.com/pion/mediadevices/pkg/codec"
	"github.com/pion/mediadevices/pkg/codec/openh264"
	"github.com/pion/mediadevices/pkg/frame"
	"github.com/pion/mediadevices/pkg/io/video"
	"github.com/pion/mediadevices/pkg/prop"
)

// encoderAvailable is true: mediadevices bundles static openh264 libraries
// for these platforms.
const encoderAvailable = true

// openh264Encoder drives mediadevices' openh264 codec synchronously: the
// codec pulls from a video.Reader, so Encode parks the frame in cur and
// calls Read, which reads it back once.
type openh264Encoder struct {
	rc  codec.ReadCloser
	kf  codec.KeyFrameController
	br  codec.BitRateController
	cur *image.YCbCr
}

// Tuning measured with bench/capture/encoder.sh --sweep on the synthetic
// webcam scene (640×480@15, 150 kbps, 20 s; figures in doc.go). Not
// exposed by mediadevices v0.10.0: complexity mode, QP range (openh264
// clamps it to 12–42 for camera and 26–35 for screen content) and scene
// change detection (it inserts an IDR every ~17 frames on noisy webcam
// content, whatever the intra period).
func openh264Params(p encoderParams) (openh264.Params, error) {
	params, err := openh264.NewParams()
	if err != nil {
		return params, err
	}
	params.BitRate = p.BitrateBps
	params.UsageType = openh264.CameraVideoRealTime
	if p.Screen {
		params.UsageType = openh264.ScreenContentRealTime
	}
	params.RCMode = openh264.RCBitrateMode
	// No frame skipping inside openh264: with it the encoder drops 5–15 %
	// of the frames at irregular places and still overshoots; without it
	// every frame is encoded and the stream's own rate corrector and frame
	// dropper (ratectl.go) hold the target, dropping only when the content
	// is beyond any bitrate (the videotest noise patch).
	params.EnableFrameSkip = false
	// 0: no periodic IDR from the encoder; the stream forces keyframes on
	// capture time, which stays right when the frame rate changes.
	params.IntraPeriod = 0
	// One thread: the machine is shared with the exam; automatic threading
	// costs ~60 % more CPU for the same output at 640×480.
	params.MultipleThreadIdc = 1
	// One slice per frame: mediadevices' default (size-limited slices of
	// 12.8 kB) costs bits and makes the rate control skip more.
	params.SliceMode = openh264.SMSingleSlice
	params.SliceNum = 1
	return params, nil
}

func newPlatformEncoder(p encoderParams) (videoEncoder, error) {
	params, err := openh264Params(p)
	if err != nil {
		return nil, fmt.Errorf("openh264 params: %w", err)
	}
	e := &openh264Encoder{}
	src := video.ReaderFunc(func() (image.Image, func(), error) {
		if e.cur == nil {
			return nil, func() {}, errors.New("openh264: no frame queued")
		}
		img := e.cur
		e.cur = nil
		return img, func() {}, nil
	})
	rc, err := params.BuildVideoEncoder(src, prop.Media{Video: prop.Video{
		Width: p.Width, Height: p.Height, FrameRate: float32(p.FPS), FrameFormat: frame.FormatI420,
	}})
	if err != nil {
		return nil, fmt.Errorf("openh264: %w", err)
	}
	e.rc = rc
	ctl := rc.Controller()
	var ok bool
	if e.kf, ok = ctl.(codec.KeyFrameController); !ok {
		rc.Close()
		return nil, errors.New("openh264: encoder cannot force keyframes")
	}
	if e.br, ok = ctl.(codec.BitRateController); !ok {
		rc.Close()
		return nil, errors.New("openh264: encoder cannot change bitrate")
	}
	return e, nil
}

func (e *openh264Encoder) Encode(img *image.YCbCr, forceKey bool) ([]byte, error) {
	if forceKey {
		if err := e.kf.ForceKeyFrame(); err != nil {
			return nil, fmt.Errorf("openh264: force keyframe: %w", err)
		}
	}
	e.cur = img
	// The codec returns a fresh C.GoBytes copy each call, so the buffer is
	// the caller's; release is a no-op for openh264.
	data, release, err := e.rc.Read()
	release()
	if err != nil {
		return nil, fmt.Errorf("openh264: %w", err)
	}
	return data, nil
}

func (e *openh264Encoder) SetBitrate(bps int) error { return e.br.SetBitRate(bps) }

func (e *openh264Encoder) Close() error { return e.rc.Close() }
