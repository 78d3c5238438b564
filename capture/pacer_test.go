package capture

import (
	"testing"
	"time"
)

// admitted feeds frames at srcFPS (with jitter of ±j) for d and counts
// what a pacer at fps lets through.
func admitted(fps, srcFPS float64, d, j time.Duration) int {
	p := newPacer(fps)
	t0 := time.Unix(1000, 0)
	period := time.Duration(float64(time.Second) / srcFPS)
	n := 0
	for i := 0; time.Duration(i)*period < d; i++ {
		jit := j
		if i%2 == 0 {
			jit = -j
		}
		if p.admit(t0.Add(time.Duration(i)*period + jit)) {
			n++
		}
	}
	return n
}

func TestPacer(t *testing.T) {
	tests := []struct {
		name        string
		fps, srcFPS float64
		jitter      time.Duration
		want        int // frames in 10 s
	}{
		{"30 to 15", 15, 30, 0, 150},
		{"30 to 15 with jitter", 15, 30, 4 * time.Millisecond, 150},
		{"30 to 10", 10, 30, 2 * time.Millisecond, 100},
		{"30 to 7.5", 7.5, 30, 0, 75},
		{"slower source passes", 15, 10, 3 * time.Millisecond, 100},
		{"equal rates", 15, 15, 5 * time.Millisecond, 150},
		{"1 fps from 2", 1, 2, 20 * time.Millisecond, 10},
	}
	for _, tt := range tests {
		got := admitted(tt.fps, tt.srcFPS, 10*time.Second, tt.jitter)
		if d := got - tt.want; d < -1 || d > 1 {
			t.Errorf("%s: admitted %d frames in 10 s, want %d±1", tt.name, got, tt.want)
		}
	}
}

func TestPacerStallDoesNotBurst(t *testing.T) {
	p := newPacer(10)
	t0 := time.Unix(0, 0)
	p.admit(t0)
	// Source stalls 2 s, then delivers at 30 fps: no catch-up burst.
	n := 0
	for i := 0; i < 30; i++ {
		if p.admit(t0.Add(2*time.Second + time.Duration(i)*time.Second/30)) {
			n++
		}
	}
	if n < 9 || n > 11 {
		t.Errorf("after a stall admitted %d of 30 frames in 1 s, want about 10", n)
	}
}
