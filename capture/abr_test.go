package capture

import (
	"context"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestLadder(t *testing.T) {
	tests := []struct {
		base      Level
		floorKbps int
		floorFPS  float64
		want      []Level
	}{
		{Level{150, 15}, 60, 5, []Level{
			{150, 15}, {113, 15}, {84, 15}, {63, 15}, // bitrate first
			{42, 10}, {28, 20.0 / 3}, {21, 5}, // then frame rate, bits per frame kept
		}},
		{Level{80, 1}, 30, 0.25, []Level{
			{80, 1}, {60, 1}, {45, 1}, {34, 1}, {30, 1},
			{20, 2.0 / 3}, {13, 4.0 / 9}, {10, 8.0 / 27}, {10, 0.25}, // never below 10 kbps
		}},
		{Level{50, 10}, 60, 20, []Level{{50, 10}}}, // floors above base: nothing to shed
	}
	for _, tt := range tests {
		got := Ladder(tt.base, tt.floorKbps, tt.floorFPS)
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Ladder(%v, %d, %g) =\n %v\nwant\n %v", tt.base, tt.floorKbps, tt.floorFPS, got, tt.want)
		}
	}
}

type fakeTunable struct {
	mu   sync.Mutex
	kbps int
	fps  float64
}

func (f *fakeTunable) SetBitrate(k int)       { f.mu.Lock(); f.kbps = k; f.mu.Unlock() }
func (f *fakeTunable) SetFrameRate(v float64) { f.mu.Lock(); f.fps = v; f.mu.Unlock() }
func (f *fakeTunable) Bitrate() int           { f.mu.Lock(); defer f.mu.Unlock(); return f.kbps }
func (f *fakeTunable) FrameRate() float64     { f.mu.Lock(); defer f.mu.Unlock(); return f.fps }

// abrHarness drives step directly with a fake time line.
type abrHarness struct {
	t       *testing.T
	abr     *ABR
	cam     *fakeTunable
	scr     *fakeTunable
	backlog atomic.Int64
	now     time.Time
}

func newHarness(t *testing.T, cfg ABRConfig) *abrHarness {
	h := &abrHarness{t: t, cam: &fakeTunable{kbps: 150, fps: 15}, scr: &fakeTunable{kbps: 80, fps: 1}, now: time.Unix(1_000_000, 0)}
	h.abr = NewABR(h.backlog.Load, h.cam, h.scr, cfg, nil)
	return h
}

// run steps once a second for d with the backlog given by f(seconds).
func (h *abrHarness) run(d time.Duration, f func(sec int) int64) {
	for i := 0; i < int(d/time.Second); i++ {
		h.now = h.now.Add(time.Second)
		h.backlog.Store(f(i))
		h.abr.step(h.now)
	}
}

func (h *abrHarness) steps() (cam, scr int) {
	st := h.abr.State()
	return st.CameraStep, st.ScreenStep
}

func TestABRDegradesScreenBeforeCamera(t *testing.T) {
	h := newHarness(t, ABRConfig{})
	nScr, nCam := len(h.abr.scrL), len(h.abr.camL)
	growing := func(sec int) int64 { return int64(200_000 + 50_000*sec) } // ~7 s of 230 kbps and growing
	var order []string
	lastCam, lastScr := 0, 0
	for i := 0; i < 60; i++ {
		h.run(time.Second, func(int) int64 { return growing(i) })
		cam, scr := h.steps()
		if scr != lastScr {
			order = append(order, "screen")
		}
		if cam != lastCam {
			order = append(order, "camera")
			if scr != nScr-1 {
				t.Fatalf("camera stepped down (to %d) while screen at %d of %d", cam, scr, nScr-1)
			}
		}
		lastCam, lastScr = cam, scr
	}
	cam, scr := h.steps()
	if cam != nCam-1 || scr != nScr-1 {
		t.Fatalf("after a minute of growing backlog: camera step %d/%d, screen %d/%d; want both at the floor", cam, nCam-1, scr, nScr-1)
	}
	if len(order) != nCam-1+nScr-1 {
		t.Errorf("steps %v: want %d screen then %d camera", order, nScr-1, nCam-1)
	}
	// Applied to the streams.
	if h.cam.Bitrate() != h.abr.camL[nCam-1].Kbps || h.cam.FrameRate() != 5 || h.scr.Bitrate() != 10 {
		t.Errorf("floors applied: camera %d kbps %.2f fps, screen %d kbps", h.cam.Bitrate(), h.cam.FrameRate(), h.scr.Bitrate())
	}
}

func TestABRDownHold(t *testing.T) {
	h := newHarness(t, ABRConfig{DownHold: 5 * time.Second})
	h.run(10*time.Second, func(sec int) int64 { return int64(1_000_000 + 100_000*sec) })
	_, scr := h.steps()
	if scr != 2 { // at t=1 s and t=6 s
		t.Errorf("10 s of growing backlog with a 5 s down-hold: %d steps, want 2", scr)
	}
}

func TestABRIgnoresShrinkingBacklog(t *testing.T) {
	h := newHarness(t, ABRConfig{})
	// 230 kbps ≈ 28.75 kB/s: 150 kB is ~5 s (> High 3 s, < 3×High) but shrinking.
	h.run(20*time.Second, func(sec int) int64 { return int64(150_000 - 2_000*sec) })
	if cam, scr := h.steps(); cam != 0 || scr != 0 {
		t.Errorf("shrinking backlog stepped down: camera %d screen %d", cam, scr)
	}
	// In the band between Low and High nothing happens either way.
	h.run(30*time.Second, func(sec int) int64 { return 40_000 + int64(sec%2)*1000 })
	if cam, scr := h.steps(); cam != 0 || scr != 0 {
		t.Errorf("in-band backlog moved: camera %d screen %d", cam, scr)
	}
}

func TestABRRecoversCameraFirst(t *testing.T) {
	h := newHarness(t, ABRConfig{})
	h.run(60*time.Second, func(sec int) int64 { return int64(200_000 + 50_000*sec) })
	nScr, nCam := len(h.abr.scrL), len(h.abr.camL)
	// Drained: one rung up per UpHold (10 s), camera all the way first.
	var sawScreenUpEarly bool
	for i := 0; i < (nCam+nScr)*11; i++ {
		h.run(time.Second, func(int) int64 { return 0 })
		cam, scr := h.steps()
		if scr < nScr-1 && cam > 0 {
			sawScreenUpEarly = true
		}
	}
	if sawScreenUpEarly {
		t.Error("screen climbed before the camera was back at full quality")
	}
	if cam, scr := h.steps(); cam != 0 || scr != 0 {
		t.Errorf("after draining: camera step %d, screen %d; want 0, 0", cam, scr)
	}
	if h.cam.Bitrate() != 150 || h.cam.FrameRate() != 15 || h.scr.Bitrate() != 80 || h.scr.FrameRate() != 1 {
		t.Errorf("not back at base: camera %d/%g screen %d/%g", h.cam.Bitrate(), h.cam.FrameRate(), h.scr.Bitrate(), h.scr.FrameRate())
	}
}

func TestABRUpHoldBacksOff(t *testing.T) {
	h := newHarness(t, ABRConfig{UpHold: 10 * time.Second, MaxUpHold: 40 * time.Second})
	congested := func(sec int) int64 { return int64(500_000 + 50_000*sec) }
	drained := func(int) int64 { return 0 }
	h.run(3*time.Second, congested) // two steps down (down-hold 2 s: t=1, t=3)
	want := []time.Duration{20 * time.Second, 40 * time.Second, 40 * time.Second}
	for i, w := range want {
		h.run(h.abr.State().UpHold+2*time.Second, drained) // earns a step up
		h.run(2*time.Second, congested)                    // which fails at once
		if got := h.abr.State().UpHold; got != w {
			t.Fatalf("after %d failed step-ups up-hold = %v, want %v", i+1, got, w)
		}
	}
	// A step up that survives 2×UpHold forgives.
	_, before := h.steps()
	h.run(42*time.Second, drained)
	if _, scr := h.steps(); scr != before-1 {
		t.Fatalf("screen step %d after the up-hold, want %d", scr, before-1)
	}
	h.run(81*time.Second, func(int) int64 { return 40_000 })
	if got := h.abr.State().UpHold; got != 10*time.Second {
		t.Errorf("after a step up held for 2×80 s up-hold = %v, want 10s", got)
	}
}

func TestABRCameraOnly(t *testing.T) {
	cam := &fakeTunable{kbps: 150, fps: 15}
	var b atomic.Int64
	a := NewABR(b.Load, cam, nil, ABRConfig{}, nil)
	now := time.Unix(0, 0)
	for i := 0; i < 5; i++ {
		b.Store(int64(100_000 * (i + 1)))
		now = now.Add(2 * time.Second)
		a.step(now)
	}
	if cam.Bitrate() >= 150 {
		t.Errorf("camera-only controller did not step down: %d kbps", cam.Bitrate())
	}
	if st := a.State(); st.Screen != (Level{}) {
		t.Errorf("absent screen has a level: %+v", st.Screen)
	}
}

// fakeClock fires After channels when the test advances it.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []fakeWaiter
	added   chan struct{}
}

type fakeWaiter struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Unix(0, 0), added: make(chan struct{}, 100)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	c.waiters = append(c.waiters, fakeWaiter{at: c.now.Add(d), ch: ch})
	c.added <- struct{}{}
	return ch
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	keep := c.waiters[:0]
	for _, w := range c.waiters {
		if !w.at.After(c.now) {
			w.ch <- c.now
		} else {
			keep = append(keep, w)
		}
	}
	c.waiters = keep
}

func TestABRRunUsesInjectedClock(t *testing.T) {
	clock := newFakeClock()
	cam := &fakeTunable{kbps: 150, fps: 15}
	var b atomic.Int64
	b.Store(10_000_000) // far behind
	a := NewABR(b.Load, cam, nil, ABRConfig{Clock: clock}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- a.Run(ctx) }()
	for i := 0; i < 3; i++ {
		<-clock.added // Run is waiting
		clock.Advance(2 * time.Second)
	}
	<-clock.added
	if got := a.State().CameraStep; got != 3 {
		t.Errorf("after three 2 s ticks far behind: camera step %d, want 3", got)
	}
	cancel()
	if err := <-done; err != context.Canceled {
		t.Errorf("Run returned %v, want context.Canceled", err)
	}
}
