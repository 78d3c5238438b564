package lockdown

import (
	"slices"
	"testing"
	"time"
)

// TestRereadSchedule: a young process is re-read at ages of about 0.1,
// 0.2, 0.4, 0.8 and 1.6 s with 100 ms polls, early or late by a few
// milliseconds, and not again once it is youngFor old. A process found by
// the first listing (zero seen) is never re-read before the sweep.
func TestRereadSchedule(t *testing.T) {
	ms := func(ds ...int) []time.Duration {
		var out []time.Duration
		for _, d := range ds {
			out = append(out, time.Duration(d)*time.Millisecond)
		}
		return out
	}
	for _, tt := range []struct {
		name   string
		poll   time.Duration
		jitter func(i int) time.Duration
		want   []time.Duration
	}{
		{"100 ms polls", 100 * time.Millisecond, nil, ms(100, 200, 400, 800, 1600)},
		{"100 ms polls, jitter", 100 * time.Millisecond, func(i int) time.Duration {
			return time.Duration(3-6*(i%2)) * time.Millisecond // odd polls 3 ms early, even ones 3 ms late
		}, ms(100, 200, 400, 800, 1600)},
		{"150 ms polls (the default)", 150 * time.Millisecond, nil, ms(150, 300, 600, 1200)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			seen := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
			e := &procEntry{seen: seen, readAt: seen}
			var got []time.Duration
			for i := 1; time.Duration(i)*tt.poll <= 3*youngFor; i++ {
				now := seen.Add(time.Duration(i) * tt.poll)
				if tt.jitter != nil {
					now = now.Add(tt.jitter(i))
				}
				if e.due(now) {
					got = append(got, now.Sub(seen).Round(10*time.Millisecond))
					e.readAt = now
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("re-read at ages %v, want %v", got, tt.want)
			}
		})
	}

	old := &procEntry{readAt: time.Now()}
	for _, d := range []time.Duration{100 * time.Millisecond, time.Second, 5 * time.Second} {
		if old.due(old.readAt.Add(d)) {
			t.Errorf("process of the first listing due %v after its read", d)
		}
	}
}
