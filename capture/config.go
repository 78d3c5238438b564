package capture

import (
	"fmt"
	"time"
)

// Config describes one capture stream. Zero fields take the defaults of
// DefaultCameraConfig or DefaultScreenConfig when the stream is opened.
type Config struct {
	// Source selects the device.
	//   camera: "" (first real camera, non-virtual preferred), a Device.ID,
	//           a device node such as "video0" or "/dev/video0", "test"
	//           (mediadevices' videotest driver) or "scene" (a synthetic
	//           webcam-like scene generated in Go, for tests and benchmarks).
	//   screen: "all" (every monitor as one image), "0", "1", ... (one
	//           display, as numbered by Displays) or "test" (synthetic
	//           moving content).
	Source string
	// Width and Height: wanted camera resolution (the closest mode the
	// camera offers is used; Frame carries the real size). Ignored for
	// screens, which are captured at full resolution.
	Width, Height int
	// FPS is the encoded frame rate. Sources faster than this are paced
	// down by dropping frames; it can be lowered at runtime (SetFrameRate).
	FPS float64
	// BitrateKbps is the target H.264 bitrate in kilobits per second.
	BitrateKbps int
	// KeyframeInterval is the maximum capture-time distance between two
	// keyframes. The encoder may insert more (openh264 does on scene cuts).
	KeyframeInterval time.Duration
}

// DefaultCameraConfig is 640×480 at 15 fps, 150 kbps, a keyframe every 2 s.
func DefaultCameraConfig() Config {
	return Config{Width: 640, Height: 480, FPS: 15, BitrateKbps: 150, KeyframeInterval: 2 * time.Second}
}

// DefaultScreenConfig is full resolution at 1 fps, 80 kbps, a keyframe
// every 10 s.
func DefaultScreenConfig() Config {
	return Config{Source: "all", FPS: 1, BitrateKbps: 80, KeyframeInterval: 10 * time.Second}
}

// Limits enforced by validate. They bound what a misconfigured policy can
// ask of a student's machine.
const (
	minFPS     = 0.1
	maxFPS     = 60
	minKbps    = 10
	maxKbps    = 20000
	maxSide    = 8192
	minKeyInt  = 100 * time.Millisecond
	maxKeyInt  = 10 * time.Minute
	defaultKey = 2 * time.Second
)

// withDefaults fills zero fields from def and validates the result.
func (c Config) withDefaults(def Config) (Config, error) {
	if c.Source == "" {
		c.Source = def.Source
	}
	if c.Width == 0 && c.Height == 0 {
		c.Width, c.Height = def.Width, def.Height
	}
	if c.FPS == 0 {
		c.FPS = def.FPS
	}
	if c.BitrateKbps == 0 {
		c.BitrateKbps = def.BitrateKbps
	}
	if c.KeyframeInterval == 0 {
		c.KeyframeInterval = def.KeyframeInterval
	}
	if c.KeyframeInterval == 0 {
		c.KeyframeInterval = defaultKey
	}
	return c, c.validate()
}

func (c Config) validate() error {
	switch {
	case c.Width < 0 || c.Height < 0 || c.Width > maxSide || c.Height > maxSide:
		return fmt.Errorf("capture config: size %dx%d out of range", c.Width, c.Height)
	case c.FPS < minFPS || c.FPS > maxFPS:
		return fmt.Errorf("capture config: fps %g out of range [%g, %g]", c.FPS, float64(minFPS), float64(maxFPS))
	case c.BitrateKbps < minKbps || c.BitrateKbps > maxKbps:
		return fmt.Errorf("capture config: bitrate %d kbps out of range [%d, %d]", c.BitrateKbps, minKbps, maxKbps)
	case c.KeyframeInterval < minKeyInt || c.KeyframeInterval > maxKeyInt:
		return fmt.Errorf("capture config: keyframe interval %v out of range [%v, %v]", c.KeyframeInterval, minKeyInt, maxKeyInt)
	}
	return nil
}
