package capture

import (
	"math"
	"time"
)

// rateCorrector closes a slow loop around the encoder's own rate control.
//
// openh264 overshoots its target on noisy webcam content (its QP is capped
// at 42, and frame skipping is off, see encoder_openh264.go), so a stream
// asked for 150 kbps delivers 155–190. The corrector measures the encoder's overshoot ratio —
// bits produced per bit of budget the encoder believed it had, over the
// last few seconds — and asks the encoder for target/ratio. It only ever
// asks for less than the target: an undershoot (static content) is not
// compensated, so a quiet scene cannot wind the request up and burst later.
//
// Because it estimates a ratio rather than integrating an error, a change
// of target or frame rate takes effect at once and does not wind up.
type rateCorrector struct {
	window time.Duration // how much history the ratio is measured over
	every  time.Duration // minimum time between two estimates
	frames []rateFrame
	ratio  float64 // smoothed overshoot ratio, >= 1
	last   time.Time
}

type rateFrame struct {
	t      time.Time
	bits   float64
	budget float64 // bits the encoder's rate control allotted this frame
}

const (
	maxOvershoot = 3   // never ask for less than target/3
	ratioSmooth  = 0.5 // weight of a new estimate
)

func newRateCorrector(keyInt time.Duration) *rateCorrector {
	// Span at least two keyframe intervals (a keyframe is a large share of
	// a low bitrate) but react within tens of seconds.
	w := min(max(4*time.Second, 2*keyInt), 20*time.Second)
	return &rateCorrector{window: w, every: time.Second, ratio: 1}
}

// add records one frame handed to the encoder: its output size (0 when
// rate control skipped it) and the per-frame budget the encoder worked with
// (its bitrate divided by the frame rate it was built for).
func (c *rateCorrector) add(t time.Time, bytes int, budgetBits float64) {
	c.frames = append(c.frames, rateFrame{t: t, bits: float64(bytes) * 8, budget: budgetBits})
	cut := 0
	for cut < len(c.frames) && t.Sub(c.frames[cut].t) > c.window {
		cut++
	}
	if cut > 0 {
		c.frames = append(c.frames[:0], c.frames[cut:]...)
	}
}

// update re-estimates the overshoot ratio when enough time has passed and
// history has been collected, and reports whether it changed.
func (c *rateCorrector) update(now time.Time) bool {
	if now.Sub(c.last) < c.every || len(c.frames) < 2 {
		return false
	}
	if now.Sub(c.frames[0].t) < c.window/2 {
		return false
	}
	c.last = now
	var bits, budget float64
	for _, f := range c.frames {
		bits += f.bits
		budget += f.budget
	}
	if budget <= 0 {
		return false
	}
	est := min(max(bits/budget, 1), maxOvershoot)
	next := math.Exp((1-ratioSmooth)*math.Log(c.ratio) + ratioSmooth*math.Log(est))
	changed := math.Abs(next-c.ratio) > 0.005
	c.ratio = next
	return changed
}

// encoderBps is what to ask the encoder for so that the stream delivers
// targetBps at fps frames per second, given the frame rate encFPS the
// encoder's rate control was built for.
func (c *rateCorrector) encoderBps(targetBps int, fps, encFPS float64) int {
	return int(float64(targetBps) * encFPS / fps / c.ratio)
}

// frameDropper is a leaky bucket in front of the encoder, WebRTC's frame
// dropper in miniature: encoded bits fill it, the target bitrate drains
// it, and while it is over capacity raw frames are dropped before they
// reach the encoder. It makes the target a hard long-run ceiling whatever
// the content (the videotest driver's binary-noise patch costs ~10 KB a
// frame at openh264's lowest quality, so 150 kbps holds ~2 fps of it).
// Unused budget is not saved up: the level never goes below zero.
type frameDropper struct {
	level float64 // bits
	last  time.Time
}

// dropperCapacity is how far above the target the stream may run
// short-term: a fifth of a keyframe interval, between 1 s and 2 s of
// target. The bucket starts empty, so this is also the burst a fresh stream
// may make: at 5 s (an earlier value) an 80 kbps screen delivered 103 kbps
// over its first 20 s. A screen keyframe can be larger than the capacity;
// the frames after it are then dropped until the bucket drains, which at
// 1 fps costs a frame or two, not the bitrate.
func dropperCapacity(targetBps int, keyInt time.Duration) float64 {
	span := min(max(keyInt/5, time.Second), 2*time.Second)
	return float64(targetBps) * span.Seconds()
}

// admit drains the bucket up to now and reports whether a frame may be
// encoded.
func (d *frameDropper) admit(now time.Time, targetBps int, capacity float64) bool {
	if !d.last.IsZero() {
		d.level = max(0, d.level-float64(targetBps)*now.Sub(d.last).Seconds())
	}
	d.last = now
	return d.level <= capacity
}

// add accounts for an encoded frame.
func (d *frameDropper) add(bytes int) { d.level += float64(bytes) * 8 }
