package capture

import (
	"math"
	"testing"
	"time"
)

// simulate runs a model encoder that produces overshoot× its per-frame
// budget (keyframes 4× a P frame) through the corrector for d and returns
// the bitrate delivered over the second half.
func simulate(t *testing.T, overshoot float64, d time.Duration) (kbps float64, encKbps int) {
	t.Helper()
	const target, fps = 150_000, 15.0
	rc := newRateCorrector(2 * time.Second)
	t0 := time.Unix(0, 0)
	enc := rc.encoderBps(target, fps, fps)
	var bits float64
	n := int(d.Seconds() * fps)
	for i := 0; i < n; i++ {
		now := t0.Add(time.Duration(float64(i) / fps * float64(time.Second)))
		budget := float64(enc) / fps
		// 30-frame GOP, keyframe 4× a P frame, mean overshoot×budget:
		// 29·p + 4·p = 30 → p = 30/33.
		shape := 30.0 / 33.0
		if i%30 == 0 {
			shape *= 4
		}
		out := budget * overshoot * shape
		rc.add(now, int(out/8), budget)
		if rc.update(now) {
			enc = rc.encoderBps(target, fps, fps)
		}
		if i >= n/2 {
			bits += out
		}
	}
	return bits / (d.Seconds() / 2) / 1000, enc / 1000
}

func TestRateCorrectorConverges(t *testing.T) {
	for _, over := range []float64{1.0, 1.1, 1.3, 2.0} {
		kbps, enc := simulate(t, over, 40*time.Second)
		if math.Abs(kbps-150)/150 > 0.06 {
			t.Errorf("overshoot %.1f: delivered %.1f kbps in steady state, want 150±6%% (encoder asked %d)", over, kbps, enc)
		}
	}
}

func TestRateCorrectorNeverInflates(t *testing.T) {
	_, enc := simulate(t, 0.5, 30*time.Second)
	if enc != 150 {
		t.Errorf("undershooting encoder asked for %d kbps, want the 150 target", enc)
	}
}

func TestRateCorrectorScalesFrameRate(t *testing.T) {
	rc := newRateCorrector(2 * time.Second)
	if got := rc.encoderBps(150_000, 7.5, 15); got != 300_000 {
		t.Errorf("encoder built for 15 fps running at 7.5: asked %d, want 300000", got)
	}
}

func TestFrameDropperCapsBitrate(t *testing.T) {
	const target = 150_000
	capacity := dropperCapacity(target, 2*time.Second)
	var d frameDropper
	t0 := time.Unix(0, 0)
	sent := 0
	// A pathological source: 10 KB every frame at 15 fps (1.2 Mbps).
	for i := 0; i < 20*15; i++ {
		now := t0.Add(time.Duration(i) * time.Second / 15)
		if d.admit(now, target, capacity) {
			d.add(10_000)
			sent += 10_000
		}
	}
	kbps := float64(sent) * 8 / 20 / 1000
	// Long-run ceiling: the target plus one bucket and one frame over the
	// run (the bucket starts empty).
	ceiling := 150 + (capacity+80_000)/20/1000
	if kbps > ceiling || kbps < 150*0.9 {
		t.Errorf("dropper let through %.1f kbps of a 1.2 Mbps source, want 135..%.1f", kbps, ceiling)
	}
}
