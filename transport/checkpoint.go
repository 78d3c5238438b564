package transport

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// Checkpoints make tampering after capture evident (docs/protocol.md
// section 5.1). The client tells the backend, on the websocket's control
// lane and ahead of any spooled data still waiting to go, the running chain
// digest of everything it has captured: {"type":"checkpoint","seq":N,
// "digest":"<hex d(N)>"}. The backend keeps it, and when it has stored
// message N it compares its own d(N): a spooled message changed between
// capture and upload (by someone holding the spool key) no longer matches.

// TypeCheckpoint is the checkpoint control message (client → backend).
const TypeCheckpoint = "checkpoint"

// DefaultCheckpointInterval is how often a backend that verifies
// checkpoints asks for one (welcome checkpoint_ms) while data is captured.
const DefaultCheckpointInterval = 2 * time.Second

// CheckpointRecorder is implemented by a ServerSession that verifies
// checkpoints. ServeConn then announces checkpoint_ms in its welcome and
// calls Checkpoint from the connection's reader, before it reads the next
// message, so a checkpoint is recorded before any message after it is
// stored.
type CheckpointRecorder interface {
	// Checkpoint records that the client's chain digest through seq is
	// digest. It must be durable before any message read after it is
	// acknowledged: at the latest when the next Store or Finish returns.
	// It runs on the connection's reader, which it should not keep
	// waiting. A mismatch with what is (or will be) stored is the
	// backend's to record, not an error.
	Checkpoint(ctx context.Context, seq uint64, digest [32]byte) error
}

// checkCheckpoint validates a checkpoint message for ParseControl.
func checkCheckpoint(c *Control) error {
	if c.Seq == 0 {
		return fmt.Errorf("%w: checkpoint without seq", ErrBadControl)
	}
	if b, err := hex.DecodeString(c.Digest); err != nil || len(b) != 32 {
		return fmt.Errorf("%w: checkpoint digest must be 64 hex digits", ErrBadControl)
	}
	return nil
}

// checkpointMS is the checkpoint interval a welcome announces: 0 when the
// session does not verify checkpoints (the client then sends none).
func checkpointMS(sess ServerSession, opts ServerOptions) int {
	if _, ok := sess.(CheckpointRecorder); !ok {
		return 0
	}
	d := opts.CheckpointInterval
	if d <= 0 {
		d = DefaultCheckpointInterval
	}
	return int(d / time.Millisecond)
}

// checkpoint hands a client's checkpoint to the session. A failure to record
// it is logged, not fatal: the connection and its data go on.
func (s *serverConn) checkpoint(ctx context.Context, c *Control) {
	rec, ok := s.sess.(CheckpointRecorder)
	if !ok {
		return
	}
	// A client sends one per interval, plus one per connection and one at
	// finish: a burst of 4 and one per half interval is plenty; the rest is
	// dropped rather than written to the backend's store.
	every := time.Duration(checkpointMS(s.sess, s.opts)) * time.Millisecond / 2
	if !s.cpBudget.take(time.Now(), every, 4) {
		s.log.Warn("checkpoint dropped: too many", "seq", c.Seq)
		return
	}
	var d [32]byte
	hex.Decode(d[:], []byte(c.Digest))
	if err := rec.Checkpoint(ctx, c.Seq, d); err != nil {
		s.log.Error("record checkpoint", "seq", c.Seq, "err", err)
	}
}

// checkpointer is the client writer's checkpoint schedule.
type checkpointer struct {
	every time.Duration // 0: the backend wants none
	last  time.Time
	seq   uint64 // the last one sent
}

// due returns a checkpoint message when one is due: the spool has captured
// more since the last one, and every has passed (or force). It syncs the
// spool first and vouches only for synced messages, so that a torn tail
// after a power cut never contradicts a checkpoint. It returns nil when there is nothing new or the
// spool's digest is unknown.
func (cp *checkpointer) due(sp *Spool, now time.Time, force bool) []byte {
	if cp.every <= 0 || (!force && now.Sub(cp.last) < cp.every) {
		return nil
	}
	st := sp.Status()
	if st.SyncedSeq < st.NextSeq-1 {
		// Vouch for everything captured so far: one fsync per checkpoint.
		sp.Sync()
		st = sp.Status()
	}
	last := st.SyncedSeq // only what a power cut cannot take back
	if last == 0 || last == cp.seq || st.SyncedDigest == "" {
		return nil
	}
	cp.last, cp.seq = now, last
	b, _ := json.Marshal(Control{Type: TypeCheckpoint, Seq: last, Digest: st.SyncedDigest})
	return b
}

// budget is a token bucket: up to burst tokens, one more every period.
type budget struct {
	tokens int
	last   time.Time
	init   bool
}

func (b *budget) take(now time.Time, period time.Duration, burst int) bool {
	if !b.init {
		b.tokens, b.last, b.init = burst, now, true
	}
	if period > 0 {
		if n := int(now.Sub(b.last) / period); n > 0 {
			b.tokens = min(burst, b.tokens+n)
			b.last = b.last.Add(time.Duration(n) * period)
		}
	}
	if b.tokens == 0 {
		return false
	}
	b.tokens--
	return true
}
