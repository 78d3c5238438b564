package backend

import (
	"context"
	"database/sql"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"github.com/invigil/invigil/transport"
)

// Checkpoints (docs/protocol.md section 5.1): a client's chain digest through
// seq N, received ahead of the data. When the backend has stored message N
// its own chain digest at N must be the checkpoint's; a mismatch means a
// message was changed between capture and upload, and is recorded as a
// violation of the session (IntegrityInfo in the session listing).

const checkpointSchema = `
CREATE TABLE IF NOT EXISTS checkpoints (
	session_id    TEXT NOT NULL REFERENCES sessions(id),
	seq           INTEGER NOT NULL,
	digest        BLOB NOT NULL,     -- the client's chain digest through seq
	received_at   INTEGER NOT NULL,  -- unix µs
	status        TEXT NOT NULL,     -- pending, ok, mismatch
	stored_digest BLOB,              -- the backend's, once checked
	checked_at    INTEGER,
	PRIMARY KEY (session_id, seq)
);
CREATE INDEX IF NOT EXISTS checkpoints_status ON checkpoints(session_id, status);
`

// maxPendingCheckpoints bounds the checkpoints a session may have waiting
// for data (one per 2 s: over 5 hours of capture not yet uploaded).
const maxPendingCheckpoints = 10000

// checkpointTables remembers the databases whose checkpoint table exists.
var checkpointTables sync.Map // *sql.DB → struct{}

func ensureCheckpoints(ctx context.Context, db *sql.DB) error {
	if _, ok := checkpointTables.Load(db); ok {
		return nil
	}
	if _, err := db.ExecContext(ctx, checkpointSchema); err != nil {
		return fmt.Errorf("checkpoint table: %w", err)
	}
	checkpointTables.Store(db, struct{}{})
	return nil
}

// Checkpoint implements transport.CheckpointRecorder. It runs on the
// connection's reader while Store runs on its storer; both go through the
// committer, so either the checkpoint is pending when the Store that reaches
// seq commits, or it is checked here against what is stored.
func (s *liveSession) Checkpoint(ctx context.Context, seq uint64, digest [32]byte) error {
	if err := ensureCheckpoints(ctx, s.b.db); err != nil {
		return err
	}
	now := micros(s.b.cfg.Now())
	var mismatch bool
	err := s.b.tx.do(ctx, func(tx *sql.Tx) error {
		mismatch = false
		var last int64
		var stored []byte
		if err := s.b.tx.queryRow(tx, `SELECT last_seq, digest FROM sessions WHERE id = ?`, s.id).Scan(&last, &stored); err != nil {
			return err
		}
		var pending int
		if err := s.b.tx.queryRow(tx, `SELECT count(*) FROM checkpoints WHERE session_id = ? AND status = 'pending'`, s.id).Scan(&pending); err != nil {
			return err
		}
		if pending >= maxPendingCheckpoints && seq > uint64(last) {
			s.b.log.Warn("checkpoint dropped: too many pending", "session", s.id, "seq", seq)
			return nil
		}
		status := "pending"
		var storedDigest any
		var checked any
		switch {
		case seq == uint64(last):
			status, storedDigest, checked = "ok", stored, now
			if string(stored) != string(digest[:]) {
				status, mismatch = "mismatch", true
			}
		case seq < uint64(last):
			// The data went ahead of its checkpoint; the chain at seq is no
			// longer at hand. Kept, unverified.
			status = "late"
		}
		_, err := s.b.tx.exec(tx, `INSERT INTO checkpoints(session_id, seq, digest, received_at, status, stored_digest, checked_at) VALUES (?,?,?,?,?,?,?)
			ON CONFLICT(session_id, seq) DO UPDATE SET
				status = CASE WHEN checkpoints.digest = excluded.digest THEN checkpoints.status ELSE 'mismatch' END`,
			s.id, seq, digest[:], now, status, storedDigest, checked)
		return err
	})
	if err == nil && mismatch {
		s.b.log.Warn("checkpoint mismatch: stored data differs from what the client captured", "session", s.id, "seq", seq)
	}
	return err
}

// verifyCheckpoints checks the pending checkpoints that the frames being
// stored reach. digests[i] is the chain digest through frame first+i. It
// runs inside Store's transaction.
func (s *liveSession) verifyCheckpoints(tx *sql.Tx, first uint64, digests [][32]byte) error {
	if len(digests) == 0 {
		return nil
	}
	if _, ok := checkpointTables.Load(s.b.db); !ok {
		var n int
		if err := tx.QueryRow(`SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'checkpoints'`).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return nil // no checkpoint was ever received
		}
		checkpointTables.Store(s.b.db, struct{}{})
	}
	last := first + uint64(len(digests)) - 1
	rows, err := s.b.tx.query(tx, `SELECT seq, digest FROM checkpoints WHERE session_id = ? AND status = 'pending' AND seq >= ? AND seq <= ?`, s.id, first, last)
	if err != nil {
		return fmt.Errorf("load checkpoints: %w", err)
	}
	type check struct {
		seq    uint64
		digest []byte
	}
	var checks []check
	for rows.Next() {
		var c check
		if err := rows.Scan(&c.seq, &c.digest); err != nil {
			rows.Close()
			return err
		}
		checks = append(checks, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	now := micros(s.b.cfg.Now())
	for _, c := range checks {
		stored := digests[c.seq-first]
		status := "ok"
		if string(c.digest) != string(stored[:]) {
			status = "mismatch"
			s.b.log.Warn("checkpoint mismatch: stored data differs from what the client captured", "session", s.id, "seq", c.seq)
		}
		if _, err := s.b.tx.exec(tx, `UPDATE checkpoints SET status = ?, stored_digest = ?, checked_at = ? WHERE session_id = ? AND seq = ?`,
			status, stored[:], now, s.id, c.seq); err != nil {
			return fmt.Errorf("check checkpoint: %w", err)
		}
	}
	return nil
}

// IntegrityInfo is what a session's checkpoints say about its data.
type IntegrityInfo struct {
	// Status: "verified" (every checked checkpoint matched), "mismatch"
	// (stored data differs from what the client captured: a violation),
	// or "unchecked" (no checkpoint reached).
	Status     string               `json:"status"`
	Verified   int                  `json:"checkpoints_verified"`
	Pending    int                  `json:"checkpoints_pending"`
	Mismatches []CheckpointMismatch `json:"mismatches,omitempty"`
}

// CheckpointMismatch is one checkpoint the stored data contradicts.
type CheckpointMismatch struct {
	Seq          uint64    `json:"seq"`
	ClientDigest string    `json:"client_digest"`
	StoredDigest string    `json:"stored_digest"`
	At           time.Time `json:"checked_at"`
}

// Integrity returns the checkpoint verdict of session id.
func (b *Backend) Integrity(ctx context.Context, id string) (IntegrityInfo, error) {
	info := IntegrityInfo{Status: "unchecked"}
	if err := ensureCheckpoints(ctx, b.db); err != nil {
		return info, err
	}
	rows, err := b.db.QueryContext(ctx, `SELECT seq, digest, status, stored_digest, checked_at FROM checkpoints WHERE session_id = ? ORDER BY seq`, id)
	if err != nil {
		return info, err
	}
	defer rows.Close()
	for rows.Next() {
		var seq uint64
		var digest, stored []byte
		var status string
		var checked sql.NullInt64
		if err := rows.Scan(&seq, &digest, &status, &stored, &checked); err != nil {
			return info, err
		}
		switch status {
		case "ok":
			info.Verified++
		case "pending":
			info.Pending++
		case "mismatch":
			info.Mismatches = append(info.Mismatches, CheckpointMismatch{Seq: seq, ClientDigest: hex.EncodeToString(digest),
				StoredDigest: hex.EncodeToString(stored), At: fromMicros(checked)})
		}
	}
	switch {
	case len(info.Mismatches) > 0:
		info.Status = "mismatch"
	case info.Verified > 0:
		info.Status = "verified"
	}
	return info, rows.Err()
}

// addIntegrity fills in the sessions' checkpoint verdicts.
func (b *Backend) addIntegrity(ctx context.Context, sessions []SessionInfo) error {
	for i := range sessions {
		in, err := b.Integrity(ctx, sessions[i].ID)
		if err != nil {
			return fmt.Errorf("session integrity: %w", err)
		}
		sessions[i].Integrity = in
	}
	return nil
}

var _ transport.CheckpointRecorder = (*liveSession)(nil)
