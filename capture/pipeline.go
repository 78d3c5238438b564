package capture

import (
	"fmt"
	"image"
	"log/slog"
	"time"
)

// pipeline is what happens to one raw frame: pacing, conversion to I420
// (with the crop), the bitrate ceiling, keyframe timing, encoding, rate
// correction. Streams drive it from their goroutine; Encoder exposes it
// for raw frames from elsewhere (benchmarks, tools). It is not safe for
// concurrent use.
type pipeline struct {
	cfg   Config
	spec  sourceSpec
	log   *slog.Logger
	stats *streamStats

	kbps   int
	fps    float64
	pace   *pacer
	rc     *rateCorrector
	bucket frameDropper

	enc      videoEncoder
	encW     int
	encH     int
	encFPS   float64 // frame rate the current encoder was built for
	encBps   int     // what the current encoder was last asked for
	spare    *image.YCbCr
	lastKey  time.Time
	forceKey bool
	reported bool
}

func newPipeline(cfg Config, spec sourceSpec, log *slog.Logger, stats *streamStats) *pipeline {
	return &pipeline{
		cfg: cfg, spec: spec, log: log, stats: stats,
		kbps: cfg.BitrateKbps, fps: cfg.FPS,
		pace: newPacer(cfg.FPS), rc: newRateCorrector(cfg.KeyframeInterval),
	}
}

func (p *pipeline) setBitrate(kbps int) {
	if kbps != p.kbps {
		p.kbps = kbps
		p.applyRate()
	}
}

func (p *pipeline) setFrameRate(fps float64) {
	if fps != p.fps {
		p.fps = fps
		p.pace.setFPS(fps)
		p.applyRate()
	}
}

func (p *pipeline) forceKeyframe() { p.forceKey = true }

// applyRate asks the encoder for what delivers p.kbps at p.fps.
func (p *pipeline) applyRate() {
	if p.enc == nil {
		return
	}
	bps := max(p.rc.encoderBps(p.kbps*1000, p.fps, p.encFPS), minKbps*1000)
	if bps == p.encBps {
		return
	}
	if err := p.enc.SetBitrate(bps); err != nil {
		p.log.Warn("capture set bitrate failed", "err", err)
		return
	}
	p.encBps = bps
	p.stats.encoderKbps.Store(int64(bps / 1000))
}

// process handles one raw frame captured at now. publish (may be nil)
// receives the converted frame before it is encoded and returns a buffer
// to convert the next frame into; full (may be nil) reports a reader that
// fell behind. It returns the encoded frame and true, or false when the
// frame was dropped (pacing, backpressure, bitrate ceiling, or the
// encoder's rate control skipped it).
func (p *pipeline) process(img image.Image, now time.Time, publish func(*image.YCbCr) *image.YCbCr, full func() bool) (Frame, bool, error) {
	p.stats.captured.Add(1)
	if !p.pace.admit(now) {
		p.stats.paced.Add(1)
		return Frame{}, false, nil
	}
	crop := p.spec.crop
	if crop.Empty() {
		crop = img.Bounds()
	}
	crop = evenRect(crop.Intersect(img.Bounds()))
	if crop.Dx() < 2 || crop.Dy() < 2 {
		return Frame{}, false, fmt.Errorf("%s: frame %v does not cover capture area %v: %w", p.spec.kind, img.Bounds(), p.spec.crop, ErrSourceLost)
	}
	frame := toI420(p.spare, img, crop, p.spec.fullRange)
	if publish != nil {
		p.spare = publish(frame)
	} else {
		p.spare = frame // encoded synchronously below, free again after
	}

	if full != nil && full() {
		p.stats.backpressure.Add(1)
		return Frame{}, false, nil
	}
	if !p.bucket.admit(now, p.kbps*1000, dropperCapacity(p.kbps*1000, p.cfg.KeyframeInterval)) {
		p.stats.overBudget.Add(1)
		return Frame{}, false, nil
	}

	w, h := crop.Dx(), crop.Dy()
	if p.enc == nil || w != p.encW || h != p.encH {
		if p.enc != nil {
			p.log.Info("capture frame size changed", "width", w, "height", h)
			p.enc.Close()
			p.enc = nil
		}
		e, err := newEncoder(encoderParams{Width: w, Height: h, FPS: p.fps, BitrateBps: p.kbps * 1000, Screen: p.spec.screen})
		if err != nil {
			return Frame{}, false, fmt.Errorf("%s: %w", p.spec.kind, err)
		}
		p.enc, p.encW, p.encH, p.encFPS, p.encBps = e, w, h, p.fps, 0
		p.lastKey = time.Time{}
		p.applyRate()
		if !p.reported {
			p.reported = true
			p.log.Info("capture stream started", "width", w, "height", h, "fps", p.fps, "kbps", p.kbps,
				"keyframe_interval", p.cfg.KeyframeInterval)
		}
	}

	key := p.forceKey || p.lastKey.IsZero() || now.Sub(p.lastKey) >= p.cfg.KeyframeInterval
	p.forceKey = false
	data, err := p.enc.Encode(frame, key)
	if err != nil {
		return Frame{}, false, fmt.Errorf("%s: encode: %w", p.spec.kind, err)
	}
	p.rc.add(now, len(data), float64(p.encBps)/p.encFPS)
	if p.rc.update(now) {
		p.applyRate()
	}
	if len(data) == 0 {
		p.stats.skipped.Add(1)
		p.forceKey = p.forceKey || key // ask again on the next frame
		return Frame{}, false, nil
	}
	p.bucket.add(len(data))
	kf := isIDR(data)
	if kf {
		p.lastKey = now
		p.stats.keyframes.Add(1)
	}
	p.stats.encoded.Add(1)
	p.stats.bytes.Add(int64(len(data)))
	return Frame{Data: data, Keyframe: kf, Time: now, Width: w, Height: h}, true, nil
}

func (p *pipeline) close() error {
	if p.enc == nil {
		return nil
	}
	err := p.enc.Close()
	p.enc = nil
	return err
}

// Encoder is a stream's pipeline without a source: it takes raw frames
// with their capture times and returns H.264 frames, through exactly the
// code a Stream runs (pacing to the frame rate, bitrate ceiling, keyframe
// timing, rate correction, openh264). Benchmarks and tools use it to feed
// recorded or generated frames faster than real time. It is not safe for
// concurrent use.
type Encoder struct {
	p     *pipeline
	stats streamStats
}

// NewEncoder builds an encoder for camera-like content (screen false) or
// screen content, with cfg's zero fields from the matching default config.
// Width and Height are taken from the frames.
func NewEncoder(cfg Config, screen bool, log *slog.Logger) (*Encoder, error) {
	def := DefaultCameraConfig()
	kind := "camera"
	if screen {
		def, kind = DefaultScreenConfig(), "screen"
	}
	cfg, err := cfg.withDefaults(def)
	if err != nil {
		return nil, err
	}
	if !encoderAvailable {
		return nil, fmt.Errorf("new encoder: %w", ErrUnsupported)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := &Encoder{}
	e.p = newPipeline(cfg, sourceSpec{kind: kind, screen: screen}, log.With("kind", kind), &e.stats)
	return e, nil
}

// Encode processes one raw frame captured at t (times must increase). It
// returns the encoded frame and true, or false when the frame was dropped
// (see Stats for why). Frame.Data is the caller's.
func (e *Encoder) Encode(img image.Image, t time.Time) (Frame, bool, error) {
	return e.p.process(img, t, nil, nil)
}

// SetBitrate, SetFrameRate and ForceKeyframe act as on a Stream, from the
// next frame on.
func (e *Encoder) SetBitrate(kbps int) { e.p.setBitrate(min(max(kbps, minKbps), maxKbps)) }

// SetFrameRate changes the frame rate the pipeline paces to.
func (e *Encoder) SetFrameRate(fps float64) { e.p.setFrameRate(min(max(fps, minFPS), maxFPS)) }

// ForceKeyframe makes the next encoded frame a keyframe.
func (e *Encoder) ForceKeyframe() { e.p.forceKeyframe() }

// Stats returns counters since the encoder was built.
func (e *Encoder) Stats() Stats { return e.stats.snapshot() }

// Close frees the encoder.
func (e *Encoder) Close() error { return e.p.close() }
