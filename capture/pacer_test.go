package capture

import (
	"image"
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

// readLog is a rawSource that notes when it is read.
type readLog struct{ at []time.Time }

func (r *readLog) Read() (image.Image, error) {
	r.at = append(r.at, time.Now())
	return image.NewGray(image.Rect(0, 0, 2, 2)), nil
}

func (r *readLog) Close() error { return nil }

// TestPacedSource: pacedSource reads the first frame at once and frame i
// no earlier than i periods after it (a schedule counted from the first
// frame, so one read late does not delay the next ones). Only lower bounds
// are timed: a loaded machine reads late, never early.
func TestPacedSource(t *testing.T) {
	// At one frame an hour, a first Read that waited would not return.
	slow := &readLog{}
	p := newPacedSource(slow, 1.0/3600)
	done := make(chan error, 1)
	go func() { _, err := p.Read(); done <- err }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("first Read waited for the schedule") // the goroutine is left asleep
	}
	if d := p.sched.next.Sub(slow.at[0]); d < time.Hour || d > time.Hour+10*time.Second {
		t.Errorf("next frame due %v after the first was read, want 1h", d)
	}

	const period = 100 * time.Millisecond
	fast := &readLog{}
	p = newPacedSource(fast, float64(time.Second/period))
	for i := 0; i < 4; i++ {
		if _, err := p.Read(); err != nil {
			t.Fatal(err)
		}
	}
	for i := 1; i < len(fast.at); i++ {
		if d := fast.at[i].Sub(fast.at[0]); d < time.Duration(i)*period {
			t.Errorf("read %d came %v after the first, want >= %v", i, d, time.Duration(i)*period)
		}
	}
	if err := p.Close(); err != nil {
		t.Error(err)
	}
}
