package capture

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"sort"

	"github.com/pion/mediadevices/pkg/frame"
	"github.com/pion/mediadevices/pkg/prop"
)

// Cameras lists the cameras attached now, real devices only (never the
// videotest driver), each classified as virtual or not. It rescans where
// the OS driver allows it (Linux), so a camera plugged in after start
// shows up. An empty list is not an error.
func Cameras() ([]Device, error) {
	devs, err := listCameras()
	if err != nil {
		return nil, fmt.Errorf("list cameras: %w", err)
	}
	sort.SliceStable(devs, func(i, j int) bool { return devs[i].ID < devs[j].ID })
	return devs, nil
}

// newDevice fills in the virtual-camera classification.
func newDevice(id, name, bus string) Device {
	d := Device{ID: id, Name: name, Bus: bus}
	d.Virtual, d.VirtualReason = VirtualCamera(name + " " + bus)
	return d
}

// OpenCamera opens a camera and starts encoding it. cfg's zero fields take
// DefaultCameraConfig's values. Source "test" is mediadevices' videotest
// driver and "scene" a synthetic webcam scene; neither is ever used unless
// asked for. ctx bounds the opening only; Close ends the stream. Errors:
// ErrNoCamera, ErrCameraBusy, ErrUnsupported (wrapped).
func OpenCamera(ctx context.Context, cfg Config, log *slog.Logger) (*Stream, error) {
	cfg, err := cfg.withDefaults(DefaultCameraConfig())
	if err != nil {
		return nil, err
	}
	if cfg.Width == 0 || cfg.Height == 0 {
		return nil, fmt.Errorf("capture config: camera needs width and height, got %dx%d", cfg.Width, cfg.Height)
	}
	if !encoderAvailable {
		return nil, fmt.Errorf("open camera: %w", ErrUnsupported)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	spec := sourceSpec{kind: "camera"}
	switch cfg.Source {
	case "test":
		spec.src, err = openTestCamera()
	case "scene":
		g := newSceneGen(cfg.Width, cfg.Height, cfg.FPS)
		spec.src = newTickSource(cfg.FPS, g.frame)
	default:
		spec, err = openCameraDevice(cfg)
		spec.kind = "camera"
	}
	if err != nil {
		return nil, fmt.Errorf("open camera %q: %w", cfg.Source, err)
	}
	return newStream(cfg, spec, log), nil
}

// modeScore rates a camera mode against the wanted size and frame rate;
// lower is better, +Inf unusable.
func modeScore(p prop.Media, w, h int, fps float64) float64 {
	var fmtCost float64
	switch p.FrameFormat {
	case frame.FormatI420:
		fmtCost = 0
	case frame.FormatNV12, frame.FormatNV21:
		fmtCost = 0.1
	case frame.FormatYUYV, frame.FormatUYVY:
		fmtCost = 0.2
	case frame.FormatMJPEG:
		fmtCost = 1.5 // a JPEG decode per frame in Go
	default:
		return math.Inf(1) // depth (Z16) and formats frame cannot decode
	}
	if p.Width <= 0 || p.Height <= 0 {
		return math.Inf(1)
	}
	size := math.Abs(math.Log2(float64(p.Width)/float64(w))) + math.Abs(math.Log2(float64(p.Height)/float64(h)))
	if p.Width < w || p.Height < h {
		size *= 1.5 // upscaling nothing: a smaller picture is worse than a larger one
	}
	var rate float64
	switch fr := float64(p.FrameRate); {
	case fr == 0:
		rate = 0.5 // the camera does not say
	case fr < fps:
		rate = 10 * (fps - fr) / fps
	default:
		rate = (fr - fps) / fr // faster than needed: paced down, costs a little
	}
	return 10*size + rate + fmtCost
}

// chooseMode picks the best mode for w×h at fps.
func chooseMode(props []prop.Media, w, h int, fps float64) (prop.Media, error) {
	best, bestScore := -1, math.Inf(1)
	for i, p := range props {
		if s := modeScore(p, w, h, fps); s < bestScore {
			best, bestScore = i, s
		}
	}
	if best < 0 {
		return prop.Media{}, fmt.Errorf("no usable video mode among %d: %w", len(props), ErrNoCamera)
	}
	p := props[best]
	if p.FrameRate == 0 {
		p.FrameRate = float32(fps)
	}
	return p, nil
}
