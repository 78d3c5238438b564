package backend

import "time"

// Per-session ingest budget. Every check and writer that ingest runs on a
// client's bytes is linear in them and bounded per message (see
// docs/protocol.md §2.2), so memory per session is bounded by transport's
// batch (ServerOptions.MaxBatchSize plus one frame) plus what the track
// writers copy, which tracks.go caps at writeChunkBytes per write. The time
// budget is the backstop for the CPU: the work a session's messages cost
// (checks and file writes; not the waits for fsync and the database) is
// paid from a token bucket. A session that runs it dry is slowed down, not
// cut off: its next batch waits until the bucket has refilled, so acks come
// later and the client's sending slows with them. Nothing is dropped and
// the client has nothing to retry.
const (
	// ingestCPURate is the processing time a session may use per second
	// of wall time, on average. Checking and writing a camera and a
	// screen stream takes well under 1 % of it; draining a spool after an
	// outage at network speed a few percent.
	ingestCPURate = 0.25
	// ingestCPUBurst is the credit a session starts with and may save up.
	ingestCPUBurst = 5 * time.Second
	// maxThrottle bounds one wait, so that a session that overdrew once
	// by a lot still hears acks (and so stays within its heartbeat).
	maxThrottle = 5 * time.Second
)

// timeBudget is a token bucket of processing time.
type timeBudget struct {
	rate   float64       // processing seconds earned per wall second
	burst  time.Duration // most credit held
	credit time.Duration // negative: in debt
	last   time.Time
}

func newTimeBudget(rate float64, burst time.Duration) *timeBudget {
	return &timeBudget{rate: rate, burst: burst, credit: burst}
}

func (b *timeBudget) refill(now time.Time) {
	if !b.last.IsZero() {
		if el := now.Sub(b.last); el > 0 {
			b.credit = min(b.burst, b.credit+time.Duration(float64(el)*b.rate))
		}
	}
	b.last = now
}

// wait is how long the next piece of work has to wait for the bucket to
// be out of debt (at most maxThrottle).
func (b *timeBudget) wait(now time.Time) time.Duration {
	b.refill(now)
	if b.credit >= 0 {
		return 0
	}
	return min(maxThrottle, time.Duration(float64(-b.credit)/b.rate))
}

// spend takes d of work from the bucket.
func (b *timeBudget) spend(d time.Duration, now time.Time) {
	b.refill(now)
	b.credit -= d
}
