package capture

import "time"

// pacer drops raw frames so that the admitted ones follow a target rate.
// Drivers deliver at their own rate (videotest: always 30 fps; cameras: the
// mode's rate), whatever the constraints asked for, so every stream paces
// on its own rather than trusting the source.
//
// It keeps a schedule instead of measuring from the last admitted frame, so
// the long-run rate is exact when the source is faster than the target,
// and it admits a frame up to a quarter period early to absorb jitter.
type pacer struct {
	period time.Duration
	next   time.Time // zero: admit the next frame
}

func newPacer(fps float64) *pacer {
	p := &pacer{}
	p.setFPS(fps)
	return p
}

func (p *pacer) setFPS(fps float64) {
	p.period = time.Duration(float64(time.Second) / fps)
	p.next = time.Time{}
}

// admit reports whether a frame captured at now should be encoded.
func (p *pacer) admit(now time.Time) bool {
	if !p.next.IsZero() && now.Before(p.next.Add(-p.period/4)) {
		return false
	}
	if p.next.IsZero() || now.Sub(p.next) > p.period {
		// First frame, or the source stalled for more than a period:
		// restart the schedule here instead of bursting to catch up.
		p.next = now.Add(p.period)
		return true
	}
	p.next = p.next.Add(p.period)
	return true
}
