package backend

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/invigil/invigil/backend/accounts"
	"github.com/invigil/invigil/lockdown/policy"
)

// Retention (docs/dashboard.md "Retention"): an attempt's recordings,
// stills, events and commands are deleted once its exam's
// privacy.retention_days have passed since the attempt's last activity
// (its finish, or its last upload for one that never finished), unless a
// reviewer put it on legal hold. What is left is the session row (id,
// exam, times, digest, state) and the audit log, so that a receipt can
// still be matched to an attempt that existed.
//
// Crash safety: a purge is first recorded in the purges table (and an
// unfinished session is ended, so its client cannot upload into it), then
// the session's folder is removed, then its rows are deleted in one
// transaction that also marks the purge done. A crash anywhere leaves the
// purge row, and the next run finishes the job; every step can be done
// twice.

// RetentionActor is who the audit log names for retention's deletions.
var RetentionActor = accounts.Actor{ID: "retention", Name: "invigild retention"}

// RetentionReport says what one retention run did.
type RetentionReport struct {
	Purged []string `json:"purged"` // session ids deleted (or finished deleting)
	Held   []string `json:"held"`   // expired but on legal hold: kept
}

// purgedSessions is the set of sessions whose purge is done.
func (b *Backend) purgedSessions(ctx context.Context) (map[string]bool, error) {
	rows, err := b.db.QueryContext(ctx, `SELECT session_id FROM purges WHERE done_at IS NOT NULL`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out[id] = true
	}
	return out, rows.Err()
}

// retentionDays reads privacy.retention_days from an exam's signed policy.
func retentionDays(envelope []byte) (int, error) {
	var s policy.Signed
	if err := json.Unmarshal(envelope, &s); err != nil {
		return 0, fmt.Errorf("stored policy envelope: %w", err)
	}
	p, err := policy.Parse(s.Policy)
	if err != nil {
		return 0, err
	}
	return p.Privacy.RetentionDays, nil
}

// RunRetention deletes every expired attempt that is not on hold and
// finishes purges a crash interrupted. It is safe to run at any time and
// from several places (invigild serve runs it hourly; `invigild retention`
// runs it once).
func (b *Backend) RunRetention(ctx context.Context) (RetentionReport, error) {
	rep := RetentionReport{Purged: []string{}, Held: []string{}}
	now := b.cfg.Now()
	type cand struct {
		id, state string
		last      int64
		days      int
		hold      bool
	}
	rows, err := b.db.QueryContext(ctx, `SELECT s.id, s.state, COALESCE(s.finished_at, s.updated_at), e.policy, COALESCE(r.hold, 0)
		FROM sessions s JOIN exams e ON e.id = s.exam_id
		LEFT JOIN attempt_reviews r ON r.session_id = s.id
		LEFT JOIN purges p ON p.session_id = s.id
		WHERE p.done_at IS NULL`)
	if err != nil {
		return rep, err
	}
	var cands []cand
	daysOf := map[string]int{} // policy envelope → days, parsed once per exam
	for rows.Next() {
		var c cand
		var env []byte
		var hold int
		if err := rows.Scan(&c.id, &c.state, &c.last, &env, &hold); err != nil {
			rows.Close()
			return rep, err
		}
		c.hold = hold != 0
		d, ok := daysOf[string(env)]
		if !ok {
			if d, err = retentionDays(env); err != nil {
				b.log.Error("retention: exam policy unreadable; its attempts are kept", "session", c.id, "err", err)
				d = 0
			}
			daysOf[string(env)] = d
		}
		c.days = d
		cands = append(cands, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return rep, err
	}
	// Purges a crash interrupted come first, whatever their hold says now:
	// their files may be half gone already.
	pending := map[string]bool{}
	prow, err := b.db.QueryContext(ctx, `SELECT session_id FROM purges WHERE done_at IS NULL`)
	if err != nil {
		return rep, err
	}
	for prow.Next() {
		var id string
		prow.Scan(&id)
		pending[id] = true
	}
	prow.Close()
	for _, c := range cands {
		expired := c.days > 0 && now.Sub(time.UnixMicro(c.last)) > time.Duration(c.days)*24*time.Hour
		switch {
		case pending[c.id]:
		case !expired:
			continue
		case c.hold:
			rep.Held = append(rep.Held, c.id)
			continue
		}
		if err := b.purge(ctx, c.id, c.state, c.days); err != nil {
			return rep, fmt.Errorf("retention: purge %s: %w", c.id, err)
		}
		rep.Purged = append(rep.Purged, c.id)
	}
	return rep, nil
}

// purge deletes one attempt's data (see the file comment for the order).
func (b *Backend) purge(ctx context.Context, id, state string, days int) error {
	now := b.cfg.Now()
	acc := b.Accounts()
	reason := "retention_days " + strconv.Itoa(days)
	// 1. Record the purge and end the session, in one transaction.
	err := b.tx.do(ctx, func(tx *sql.Tx) error {
		if _, err := tx.Exec(`INSERT INTO purges(session_id, started_at, reason) VALUES (?,?,?) ON CONFLICT(session_id) DO NOTHING`, id, micros(now), reason); err != nil {
			return err
		}
		if state != stateFinished && state != stateEnded {
			if _, err := tx.Exec(`UPDATE sessions SET state = ?, end_requested = 1 WHERE id = ?`, stateEnded, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	// 2. The files: the session's folder (tracks, refused messages).
	dir := filepath.Join(b.cfg.DataDir, "sessions", id)
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove %s: %w", dir, err)
	}
	// 3. The rows, and the purge marked done.
	err = b.tx.do(ctx, func(tx *sql.Tx) error {
		for _, q := range []string{
			`DELETE FROM events WHERE session_id = ?`,
			`DELETE FROM tracks WHERE session_id = ?`,
			`DELETE FROM commands WHERE session_id = ?`,
			`DELETE FROM attempt_notes WHERE session_id = ?`,
		} {
			if _, err := tx.Exec(q, id); err != nil {
				return err
			}
		}
		_, err := tx.Exec(`UPDATE purges SET done_at = ? WHERE session_id = ?`, micros(b.cfg.Now()), id)
		return err
	})
	if err != nil {
		return err
	}
	b.log.Info("retention: attempt deleted", "session", id, "reason", reason)
	return acc.Audit(ctx, RetentionActor, "retention.purge", id, reason)
}

// RetentionLoop runs RunRetention now and then every interval until ctx
// ends (invigild serve runs it hourly).
func (b *Backend) RetentionLoop(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if rep, err := b.RunRetention(ctx); err != nil {
			if !errors.Is(err, context.Canceled) {
				b.log.Error("retention run failed; next try in "+interval.String(), "err", err)
			}
		} else if len(rep.Purged) > 0 {
			b.log.Info("retention run", "purged", len(rep.Purged), "held", len(rep.Held))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
