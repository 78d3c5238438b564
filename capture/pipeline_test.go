package capture

import (
	"math"
	"testing"
	"time"
)

// encodeScene runs d of the synthetic webcam scene at 30 fps (paced to the
// config's rate) through an Encoder with synthetic capture times.
func encodeScene(t *testing.T, cfg Config, d time.Duration) ([]Frame, Stats) {
	t.Helper()
	e, err := NewEncoder(cfg, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	g := newSceneGen(640, 480, 30)
	t0 := time.Unix(1_700_000_000, 0)
	var frames []Frame
	for i := 0; time.Duration(i)*time.Second/30 < d; i++ {
		f, ok, err := e.Encode(g.frame(i), t0.Add(time.Duration(i)*time.Second/30))
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			frames = append(frames, f)
		}
	}
	return frames, e.Stats()
}

func TestEncoderRawFrames(t *testing.T) {
	needEncoder(t)
	t.Parallel()
	frames, st := encodeScene(t, Config{}, 20*time.Second)
	checkFrames(t, frames, 640, 480)
	kbps, fps := kbpsOf(frames), fpsOf(frames)
	t.Logf("20 s scene through Encoder: %d frames, %.2f fps, %.1f kbps, key gap %v, %+v", len(frames), fps, kbps, maxKeyGap(frames), st)
	if math.Abs(kbps-150)/150 > 0.1 {
		t.Errorf("bitrate %.1f, want 150 ±10%%", kbps)
	}
	if st.Paced < st.Captured/2-2 {
		t.Errorf("30 fps input not paced to 15: %+v", st)
	}
	if gap := maxKeyGap(frames); gap > 2*time.Second+70*time.Millisecond {
		t.Errorf("keyframe gap %v, want <= 2s", gap)
	}
	if n, _, _ := ffprobeFrames(t, frames); n != len(frames) {
		t.Errorf("ffprobe decoded %d of %d", n, len(frames))
	}
}
