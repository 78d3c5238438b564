package capture

import (
	"context"
	"log/slog"
	"math"
	"sync"
	"time"
)

// Tunable is a stream the adaptive-bitrate controller adjusts. *Stream
// implements it.
type Tunable interface {
	// SetBitrate sets the target bitrate in kbps.
	SetBitrate(kbps int)
	// SetFrameRate sets the target frame rate.
	SetFrameRate(fps float64)
	// Bitrate returns the current target bitrate in kbps.
	Bitrate() int
	// FrameRate returns the current target frame rate.
	FrameRate() float64
}

// Clock is the time source of the controller; tests inject a fake one.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time                         { return time.Now() }
func (systemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Level is one rung of a degradation ladder.
type Level struct {
	Kbps int
	FPS  float64
}

// Ladder returns the rungs from base down: first the bitrate, a quarter
// less per rung, down to floorKbps at the base frame rate; then the frame
// rate, a third less per rung, down to floorFPS, the bitrate falling with it
// so each frame keeps its share of bits. Rung 0 is base. Floors are
// clamped to base and to the limits of Config.
func Ladder(base Level, floorKbps int, floorFPS float64) []Level {
	floorKbps = max(min(floorKbps, base.Kbps), minKbps)
	floorFPS = max(min(floorFPS, base.FPS), minFPS)
	out := []Level{base}
	k := float64(base.Kbps)
	for k*0.75 >= float64(floorKbps) {
		k *= 0.75
		out = append(out, Level{Kbps: int(math.Round(k)), FPS: base.FPS})
	}
	if k > float64(floorKbps)*1.1 {
		out = append(out, Level{Kbps: floorKbps, FPS: base.FPS})
	}
	low := out[len(out)-1].Kbps // lowest bitrate at the base frame rate
	f := base.FPS
	for f*2/3 >= floorFPS {
		f = f * 2 / 3
		out = append(out, Level{Kbps: scaledKbps(low, f/base.FPS), FPS: f})
	}
	if f > floorFPS*1.1 {
		out = append(out, Level{Kbps: scaledKbps(low, floorFPS/base.FPS), FPS: floorFPS})
	}
	return out
}

// scaledKbps scales a rate, never below the streams' own minimum.
func scaledKbps(kbps int, ratio float64) int {
	return max(int(math.Round(float64(kbps)*ratio)), minKbps)
}

// ABRConfig tunes the controller. Zero fields take the defaults in
// parentheses.
type ABRConfig struct {
	// Interval between two looks at the backlog (1 s).
	Interval time.Duration
	// High: a backlog worth more than this much media at the current total
	// bitrate, and growing, steps down (3 s). Above 3×High it steps down
	// even if the backlog is shrinking.
	High time.Duration
	// Low: a backlog worth less than this counts as drained (500 ms).
	Low time.Duration
	// DownHold is the minimum time between two step-downs, so the effect
	// of one is seen before the next (2 s).
	DownHold time.Duration
	// UpHold is how long the backlog must stay drained before a step up
	// (10 s). A step up that has to be undone within 2×UpHold doubles it,
	// up to MaxUpHold (2 min); one that survives 2×UpHold resets it.
	UpHold, MaxUpHold time.Duration
	// Floors of the ladders (camera 60 kbps and 5 fps; screen 30 kbps and
	// a quarter of its base frame rate).
	CameraMinKbps, ScreenMinKbps int
	CameraMinFPS, ScreenMinFPS   float64
	// Clock defaults to the system clock.
	Clock Clock
}

func (c ABRConfig) withDefaults() ABRConfig {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.Interval, time.Second)
	def(&c.High, 3*time.Second)
	def(&c.Low, 500*time.Millisecond)
	def(&c.DownHold, 2*time.Second)
	def(&c.UpHold, 10*time.Second)
	def(&c.MaxUpHold, 2*time.Minute)
	if c.CameraMinKbps <= 0 {
		c.CameraMinKbps = 60
	}
	if c.ScreenMinKbps <= 0 {
		c.ScreenMinKbps = 30
	}
	if c.CameraMinFPS <= 0 {
		c.CameraMinFPS = 5
	}
	if c.Clock == nil {
		c.Clock = systemClock{}
	}
	return c
}

// ABRState is the controller's position, for logs and the UI.
type ABRState struct {
	Camera, Screen Level // current targets (zero for an absent stream)
	// CameraStep, ScreenStep: rungs below base (0 = full quality).
	CameraStep, ScreenStep int
	UpHold                 time.Duration
}

// ABR adapts the camera and screen streams to the upload backlog: when
// bytes pile up unacknowledged it lowers the screen's bitrate, then the
// screen's frame rate, then the camera's bitrate, then the camera's frame
// rate; when the backlog drains it climbs back in the reverse order
// (camera first). It calls backlog (bytes sent or spooled but not yet
// acknowledged by the server) and never imports the transport.
//
// The controller has no goroutine of its own: the caller runs Run.
type ABR struct {
	cfg     ABRConfig
	log     *slog.Logger
	backlog func() int64
	camera  Tunable
	screen  Tunable
	camL    []Level
	scrL    []Level

	mu       sync.Mutex
	camI     int
	scrI     int
	upHold   time.Duration
	prev     int64
	havePrev bool
	lastDown time.Time
	lastUp   time.Time
	lastMove time.Time
	lowSince time.Time
}

// NewABR builds a controller over camera and screen (either may be nil).
// Their current bitrate and frame rate are the top of their ladders.
func NewABR(backlog func() int64, camera, screen Tunable, cfg ABRConfig, log *slog.Logger) *ABR {
	cfg = cfg.withDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &ABR{cfg: cfg, log: log, backlog: backlog, camera: camera, screen: screen, upHold: cfg.UpHold}
	if camera != nil {
		a.camL = Ladder(Level{Kbps: camera.Bitrate(), FPS: camera.FrameRate()}, cfg.CameraMinKbps, cfg.CameraMinFPS)
	}
	if screen != nil {
		base := Level{Kbps: screen.Bitrate(), FPS: screen.FrameRate()}
		minFPS := cfg.ScreenMinFPS
		if minFPS <= 0 {
			minFPS = base.FPS / 4
		}
		a.scrL = Ladder(base, cfg.ScreenMinKbps, minFPS)
	}
	return a
}

// Run adjusts the streams every Interval until ctx ends; it returns
// ctx.Err(). The streams keep the level they had when Run returned.
func (a *ABR) Run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-a.cfg.Clock.After(a.cfg.Interval):
			a.step(a.cfg.Clock.Now())
		}
	}
}

// State returns the current position.
func (a *ABR) State() ABRState {
	a.mu.Lock()
	defer a.mu.Unlock()
	st := ABRState{CameraStep: a.camI, ScreenStep: a.scrI, UpHold: a.upHold}
	if a.camL != nil {
		st.Camera = a.camL[a.camI]
	}
	if a.scrL != nil {
		st.Screen = a.scrL[a.scrI]
	}
	return st
}

func (a *ABR) totalKbps() int {
	k := 0
	if a.camL != nil {
		k += a.camL[a.camI].Kbps
	}
	if a.scrL != nil {
		k += a.scrL[a.scrI].Kbps
	}
	return k
}

// step looks at the backlog once, at time now.
func (a *ABR) step(now time.Time) {
	b := max(a.backlog(), 0)
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.lastMove.IsZero() {
		a.lastMove = now
	}
	growing := a.havePrev && b > a.prev
	a.prev, a.havePrev = b, true

	bytesPerSec := float64(a.totalKbps()) * 1000 / 8
	var delay time.Duration
	if bytesPerSec > 0 {
		delay = time.Duration(float64(b) / bytesPerSec * float64(time.Second))
	}

	// A step up that survived its probation earns back the base up-hold.
	if !a.lastUp.IsZero() && a.lastUp.After(a.lastDown) && now.Sub(a.lastUp) >= 2*a.upHold {
		a.upHold = a.cfg.UpHold
	}

	switch {
	case delay > a.cfg.High && (growing || delay > 3*a.cfg.High):
		a.lowSince = time.Time{}
		if !a.lastDown.IsZero() && now.Sub(a.lastDown) < a.cfg.DownHold {
			return
		}
		if !a.down() {
			return // at the floor
		}
		if !a.lastUp.IsZero() && now.Sub(a.lastUp) < 2*a.upHold {
			a.upHold = min(2*a.upHold, a.cfg.MaxUpHold)
		}
		a.lastDown, a.lastMove = now, now
		a.apply("abr step down", b, delay)
	case delay < a.cfg.Low:
		if a.lowSince.IsZero() {
			a.lowSince = now
		}
		if now.Sub(a.lowSince) < a.upHold || now.Sub(a.lastMove) < a.upHold {
			return
		}
		if !a.up() {
			return // at full quality
		}
		a.lowSince = now
		a.lastUp, a.lastMove = now, now
		a.apply("abr step up", b, delay)
	default:
		a.lowSince = time.Time{}
	}
}

// down moves one rung down: screen first. It reports whether it moved.
func (a *ABR) down() bool {
	switch {
	case a.scrI < len(a.scrL)-1:
		a.scrI++
	case a.camI < len(a.camL)-1:
		a.camI++
	default:
		return false
	}
	return true
}

// up moves one rung up: camera first.
func (a *ABR) up() bool {
	switch {
	case a.camI > 0:
		a.camI--
	case a.scrI > 0:
		a.scrI--
	default:
		return false
	}
	return true
}

// apply pushes the current rungs to the streams. Call with mu held.
func (a *ABR) apply(msg string, backlog int64, delay time.Duration) {
	attrs := []any{"backlog_bytes", backlog, "backlog_delay", delay.Round(time.Millisecond), "up_hold", a.upHold}
	if a.camera != nil {
		l := a.camL[a.camI]
		a.camera.SetBitrate(l.Kbps)
		a.camera.SetFrameRate(l.FPS)
		attrs = append(attrs, "camera_kbps", l.Kbps, "camera_fps", l.FPS)
	}
	if a.screen != nil {
		l := a.scrL[a.scrI]
		a.screen.SetBitrate(l.Kbps)
		a.screen.SetFrameRate(l.FPS)
		attrs = append(attrs, "screen_kbps", l.Kbps, "screen_fps", l.FPS)
	}
	a.log.Info(msg, attrs...)
}
