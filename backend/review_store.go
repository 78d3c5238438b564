package backend

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// The review tables: a reviewer's outcome and legal hold per attempt
// (session), their notes, and the retention job's crash-safe purge
// markers (retention.go).
const reviewSchema = `
CREATE TABLE IF NOT EXISTS attempt_reviews (
	session_id TEXT PRIMARY KEY REFERENCES sessions(id),
	outcome    TEXT NOT NULL DEFAULT '',  -- '', no_issue, suspicious, violation
	hold       INTEGER NOT NULL DEFAULT 0, -- legal hold: retention keeps the attempt
	hold_reason TEXT NOT NULL DEFAULT '',
	updated_at INTEGER NOT NULL,
	updated_by TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS attempt_notes (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	session_id TEXT NOT NULL REFERENCES sessions(id),
	author     TEXT NOT NULL,
	text       TEXT NOT NULL,
	created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS attempt_notes_session ON attempt_notes(session_id);
CREATE TABLE IF NOT EXISTS purges (
	session_id TEXT PRIMARY KEY,
	started_at INTEGER NOT NULL,
	reason     TEXT NOT NULL,
	done_at    INTEGER           -- NULL: interrupted, the next run finishes it
);
`

func migrateReview(ctx context.Context, db *sql.DB) error {
	if _, err := db.ExecContext(ctx, reviewSchema); err != nil {
		return fmt.Errorf("review tables: %w", err)
	}
	return nil
}

// Outcome is a reviewer's verdict on an attempt.
type Outcome string

const (
	OutcomeNone       Outcome = ""
	OutcomeNoIssue    Outcome = "no_issue"
	OutcomeSuspicious Outcome = "suspicious"
	OutcomeViolation  Outcome = "violation"
)

// ParseOutcome accepts the three verdicts and "" (not reviewed yet).
func ParseOutcome(s string) (Outcome, error) {
	switch o := Outcome(strings.TrimSpace(s)); o {
	case OutcomeNone, OutcomeNoIssue, OutcomeSuspicious, OutcomeViolation:
		return o, nil
	}
	return "", fmt.Errorf("unknown outcome %q: want no_issue, suspicious or violation", s)
}

// AttemptReview is an attempt's review state.
type AttemptReview struct {
	Outcome    Outcome   `json:"outcome"`
	Hold       bool      `json:"hold"`
	HoldReason string    `json:"hold_reason,omitempty"`
	UpdatedAt  time.Time `json:"updated_at,omitzero"`
	UpdatedBy  string    `json:"updated_by,omitempty"`
}

// Note is a reviewer's note on an attempt.
type Note struct {
	ID        int64     `json:"id"`
	Author    string    `json:"author"`
	Text      string    `json:"text"`
	CreatedAt time.Time `json:"created_at"`
}

// AttemptReviewOf returns an attempt's review state (zero if never set).
func (b *Backend) AttemptReviewOf(ctx context.Context, sessionID string) (AttemptReview, error) {
	var r AttemptReview
	var hold int
	var at int64
	err := b.db.QueryRowContext(ctx, `SELECT outcome, hold, hold_reason, updated_at, updated_by FROM attempt_reviews WHERE session_id = ?`, sessionID).
		Scan(&r.Outcome, &hold, &r.HoldReason, &at, &r.UpdatedBy)
	if errors.Is(err, sql.ErrNoRows) {
		return AttemptReview{}, nil
	}
	if err != nil {
		return r, err
	}
	r.Hold = hold != 0
	r.UpdatedAt = time.UnixMicro(at).UTC()
	return r, nil
}

// ReviewUpdate changes an attempt's outcome and/or hold; nil fields stay.
type ReviewUpdate struct {
	Outcome    *string `json:"outcome,omitempty"`
	Hold       *bool   `json:"hold,omitempty"`
	HoldReason *string `json:"hold_reason,omitempty"`
}

// SetAttemptReview applies u to an attempt's review state as by.
func (b *Backend) SetAttemptReview(ctx context.Context, sessionID, by string, u ReviewUpdate) (AttemptReview, error) {
	cur, err := b.AttemptReviewOf(ctx, sessionID)
	if err != nil {
		return cur, err
	}
	if u.Outcome != nil {
		o, err := ParseOutcome(*u.Outcome)
		if err != nil {
			return cur, err
		}
		cur.Outcome = o
	}
	if u.Hold != nil {
		cur.Hold = *u.Hold
		if !cur.Hold {
			cur.HoldReason = ""
		}
	}
	if u.HoldReason != nil {
		if len(*u.HoldReason) > 1000 {
			return cur, errors.New("a hold reason of at most 1000 characters")
		}
		cur.HoldReason = strings.TrimSpace(*u.HoldReason)
	}
	now := b.cfg.Now()
	hold := 0
	if cur.Hold {
		hold = 1
	}
	_, err = b.db.ExecContext(ctx, `INSERT INTO attempt_reviews(session_id, outcome, hold, hold_reason, updated_at, updated_by) VALUES (?,?,?,?,?,?)
		ON CONFLICT(session_id) DO UPDATE SET outcome = excluded.outcome, hold = excluded.hold, hold_reason = excluded.hold_reason, updated_at = excluded.updated_at, updated_by = excluded.updated_by`,
		sessionID, string(cur.Outcome), hold, cur.HoldReason, micros(now), by)
	cur.UpdatedAt, cur.UpdatedBy = now.UTC(), by
	return cur, err
}

// AddNote adds a note to an attempt.
func (b *Backend) AddNote(ctx context.Context, sessionID, author, text string) (Note, error) {
	text = strings.TrimSpace(text)
	if text == "" || len(text) > 10000 {
		return Note{}, errors.New("a note of 1 to 10000 characters")
	}
	now := b.cfg.Now()
	res, err := b.db.ExecContext(ctx, `INSERT INTO attempt_notes(session_id, author, text, created_at) VALUES (?,?,?,?)`, sessionID, author, text, micros(now))
	if err != nil {
		return Note{}, err
	}
	id, _ := res.LastInsertId()
	return Note{ID: id, Author: author, Text: text, CreatedAt: now.UTC()}, nil
}

// Notes lists an attempt's notes, oldest first.
func (b *Backend) Notes(ctx context.Context, sessionID string) ([]Note, error) {
	rows, err := b.db.QueryContext(ctx, `SELECT id, author, text, created_at FROM attempt_notes WHERE session_id = ? ORDER BY id`, sessionID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Note{}
	for rows.Next() {
		var n Note
		var at int64
		if err := rows.Scan(&n.ID, &n.Author, &n.Text, &at); err != nil {
			return nil, err
		}
		n.CreatedAt = time.UnixMicro(at).UTC()
		out = append(out, n)
	}
	return out, rows.Err()
}
