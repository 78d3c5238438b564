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
// connection's reader and only queues the checkpoint in memory: it costs
// the reader no transaction. The storer writes it in the transaction of the
// next stored batch (checkpointRows), so a checkpoint is durable before
// any message received after it is acknowledged; Finish and the end of
// the connection write what is still queued.
func (s *liveSession) Checkpoint(ctx context.Context, seq uint64, digest [32]byte) error {
	if err := ensureCheckpoints(ctx, s.b.db); err != nil {
		return err
	}
	s.cpMu.Lock()
	defer s.cpMu.Unlock()
	if len(s.cpIn)+s.cpPending >= maxPendingCheckpoints {
		s.b.log.Warn("checkpoint dropped: too many pending", "session", s.id, "seq", seq)
		return nil
	}
	s.cpIn = append(s.cpIn, receivedCheckpoint{seq: seq, digest: digest, at: micros(s.b.cfg.Now())})
	return nil
}

// receivedCheckpoint is a checkpoint the reader queued for the storer.
type receivedCheckpoint struct {
	seq    uint64
	digest [32]byte
	at     int64 // unix µs
}

// storedChain is the backend's chain digest through the messages of the
// last stored batch (and the one before it), for the checkpoints that
// arrive while that batch is being stored.
type storedChain struct {
	base    uint64     // seq of the message before the batch (0: none)
	baseD   [32]byte   // digest through base
	digests [][32]byte // digests[i]: through base+1+i
}

// at returns the stored digest through seq if the chain holds it.
func (c *storedChain) at(seq uint64) ([32]byte, bool) {
	switch {
	case seq == c.base:
		return c.baseD, true
	case seq > c.base && seq-c.base <= uint64(len(c.digests)):
		return c.digests[seq-c.base-1], true
	}
	return [32]byte{}, false
}

// checkpointWrite is one row the storer's transaction writes.
type checkpointWrite struct {
	cp      receivedCheckpoint
	status  string // pending, ok, mismatch, late
	stored  []byte // the backend's digest, once checked
	resolve bool   // an earlier pending row is checked now (UPDATE)
}

// checkpointRows settles the queued checkpoints and the pending ones
// against chain, the stored digests through the batch about to commit
// (chain.base is the session's last stored seq before it, when the batch
// is empty). It runs on the storer; the rows go into the batch's
// transaction (writeCheckpoints).
func (s *liveSession) checkpointRows(chain storedChain) []checkpointWrite {
	s.cpMu.Lock()
	in := s.cpIn
	s.cpIn = nil
	s.cpMu.Unlock()
	var out []checkpointWrite
	last := chain.base + uint64(len(chain.digests))
	for seq, cp := range s.pendingCps {
		if seq > last {
			continue
		}
		delete(s.pendingCps, seq)
		d, ok := chain.at(seq)
		if !ok {
			// Stored before this connection saw it pending (a row an
			// older backend left): its digest is gone, it stays pending.
			continue
		}
		out = append(out, checkpointWrite{cp: cp, status: cpStatus(cp.digest, d), stored: d[:], resolve: true})
	}
	for _, cp := range in {
		w := checkpointWrite{cp: cp, status: "pending"}
		if d, ok := chain.at(cp.seq); ok {
			w.status, w.stored = cpStatus(cp.digest, d), d[:]
		} else if d, ok := s.prevChain.at(cp.seq); ok {
			// Its data was in the batch being stored when it arrived.
			w.status, w.stored = cpStatus(cp.digest, d), d[:]
		} else if cp.seq < chain.base {
			w.status = "late" // stored before it arrived, and that digest is gone
		} else if _, dup := s.pendingCps[cp.seq]; !dup {
			s.pendingCps[cp.seq] = cp
		}
		out = append(out, w)
	}
	s.cpMu.Lock()
	s.cpPending = len(s.pendingCps)
	s.cpMu.Unlock()
	s.prevChain = chain
	return out
}

func cpStatus(client, stored [32]byte) string {
	if client != stored {
		return "mismatch"
	}
	return "ok"
}

// writeCheckpoints writes rows in tx.
func (s *liveSession) writeCheckpoints(tx *sql.Tx, rows []checkpointWrite, now int64) error {
	for _, w := range rows {
		if w.resolve {
			// A row that became a mismatch (a repeated seq with another
			// digest) stays one.
			if _, err := s.b.tx.exec(tx, `UPDATE checkpoints SET status = CASE WHEN digest = ? THEN 'ok' ELSE 'mismatch' END, stored_digest = ?, checked_at = ?
				WHERE session_id = ? AND seq = ? AND status = 'pending'`, w.stored, w.stored, now, s.id, w.cp.seq); err != nil {
				return fmt.Errorf("check checkpoint: %w", err)
			}
			continue
		}
		var stored, checked any
		if w.stored != nil {
			stored, checked = w.stored, now
		}
		if _, err := s.b.tx.exec(tx, `INSERT INTO checkpoints(session_id, seq, digest, received_at, status, stored_digest, checked_at) VALUES (?,?,?,?,?,?,?)
			ON CONFLICT(session_id, seq) DO UPDATE SET
				status = CASE WHEN checkpoints.digest = excluded.digest THEN checkpoints.status ELSE 'mismatch' END`,
			s.id, w.cp.seq, w.cp.digest[:], w.cp.at, w.status, stored, checked); err != nil {
			return fmt.Errorf("record checkpoint: %w", err)
		}
	}
	return nil
}

// logMismatches logs the checkpoints rows found contradicted, once their
// transaction is committed.
func (s *liveSession) logMismatches(rows []checkpointWrite) {
	for _, w := range rows {
		if w.status == "mismatch" {
			s.b.log.Warn("checkpoint mismatch: stored data differs from what the client captured", "session", s.id, "seq", w.cp.seq)
		}
	}
}

// loadPendingCheckpoints reads, at hello, the session's checkpoints that
// wait for data: earlier connections recorded them.
func (s *liveSession) loadPendingCheckpoints(ctx context.Context) error {
	s.pendingCps = map[uint64]receivedCheckpoint{}
	if _, ok := checkpointTables.Load(s.b.db); !ok {
		var n int
		if err := s.b.db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'checkpoints'`).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return nil // no checkpoint was ever received
		}
		checkpointTables.Store(s.b.db, struct{}{})
	}
	rows, err := s.b.db.QueryContext(ctx, `SELECT seq, digest, received_at FROM checkpoints WHERE session_id = ? AND status = 'pending'`, s.id)
	if err != nil {
		return fmt.Errorf("load checkpoints: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var cp receivedCheckpoint
		var d []byte
		if err := rows.Scan(&cp.seq, &d, &cp.at); err != nil {
			return err
		}
		copy(cp.digest[:], d)
		s.pendingCps[cp.seq] = cp
	}
	s.cpMu.Lock()
	s.cpPending = len(s.pendingCps)
	s.cpMu.Unlock()
	return rows.Err()
}

// flushCheckpoints writes the checkpoints still queued when the connection
// ends without a further batch: they wait as pending for the next one.
func (s *liveSession) flushCheckpoints() {
	s.cpMu.Lock()
	n := len(s.cpIn)
	s.cpMu.Unlock()
	if n == 0 || s.pendingCps == nil {
		return
	}
	rows := s.checkpointRows(storedChain{base: s.lastSeq, baseD: s.digest})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	now := micros(s.b.cfg.Now())
	if err := s.b.tx.do(ctx, func(tx *sql.Tx) error { return s.writeCheckpoints(tx, rows, now) }); err != nil {
		s.b.log.Error("record checkpoints at the end of a connection", "session", s.id, "err", err)
		return
	}
	s.logMismatches(rows)
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
