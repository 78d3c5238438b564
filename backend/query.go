package backend

import (
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"path/filepath"
	"time"

	"github.com/invigil/invigil/transport"
)

// SessionInfo is a session as `invigild sessions --json` lists it.
type SessionInfo struct {
	ID          string      `json:"session_id"`
	ExamID      string      `json:"exam_id"`
	ExamName    string      `json:"exam_name"`
	State       string      `json:"state"`
	CreatedAt   time.Time   `json:"created_at"`
	UpdatedAt   time.Time   `json:"updated_at"`
	FinishedAt  time.Time   `json:"finished_at,omitzero"`
	LastAck     uint64      `json:"last_ack"` // the last stored (and acked) sequence number
	Messages    int64       `json:"messages"`
	Digest      string      `json:"digest"`
	Connections int         `json:"connections"`
	Tracks      []TrackInfo `json:"tracks"`
}

// TrackInfo is one track of a session.
type TrackInfo struct {
	Track    uint8         `json:"track"`
	Name     string        `json:"name"`
	Kind     string        `json:"kind"`
	File     string        `json:"file,omitempty"` // absolute path; none for events (they are in SQLite)
	Messages int64         `json:"messages"`
	Bytes    int64         `json:"bytes"`
	FirstSeq uint64        `json:"first_seq"`
	LastSeq  uint64        `json:"last_seq"`
	Start    time.Time     `json:"start"`
	Duration time.Duration `json:"duration_ns"`
	Seconds  float64       `json:"duration_s"`
}

// ListSessions lists every session, oldest first, with its tracks.
func (b *Backend) ListSessions(ctx context.Context) ([]SessionInfo, error) {
	rows, err := b.db.QueryContext(ctx, `SELECT s.id, s.exam_id, e.name, s.state, s.created_at, s.updated_at, s.finished_at, s.last_seq, s.digest, s.connections
		FROM sessions s JOIN exams e ON e.id = s.exam_id ORDER BY s.created_at, s.id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []SessionInfo{}
	index := map[string]int{}
	for rows.Next() {
		var s SessionInfo
		var created, updated int64
		var finished sql.NullInt64
		var digest []byte
		if err := rows.Scan(&s.ID, &s.ExamID, &s.ExamName, &s.State, &created, &updated, &finished, &s.LastAck, &digest, &s.Connections); err != nil {
			return nil, err
		}
		s.CreatedAt, s.UpdatedAt, s.FinishedAt = time.UnixMicro(created).UTC(), time.UnixMicro(updated).UTC(), fromMicros(finished)
		s.Digest = hex.EncodeToString(digest)
		s.Tracks = []TrackInfo{}
		index[s.ID] = len(out)
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	trows, err := b.db.QueryContext(ctx, `SELECT session_id, track, kind, file, messages, bytes, first_seq, last_seq, first_time, last_time FROM tracks ORDER BY session_id, track`)
	if err != nil {
		return nil, err
	}
	defer trows.Close()
	for trows.Next() {
		var id string
		var t TrackInfo
		var first, last int64
		if err := trows.Scan(&id, &t.Track, &t.Kind, &t.File, &t.Messages, &t.Bytes, &t.FirstSeq, &t.LastSeq, &first, &last); err != nil {
			return nil, err
		}
		t.Name = transport.TrackName(t.Track)
		if t.File != "" {
			t.File = filepath.Join(b.cfg.DataDir, t.File)
		}
		t.Start = time.UnixMicro(first).UTC()
		t.Duration = time.Duration(last-first) * time.Microsecond
		t.Seconds = t.Duration.Seconds()
		if i, ok := index[id]; ok {
			out[i].Tracks = append(out[i].Tracks, t)
			out[i].Messages += t.Messages
		}
	}
	return out, trows.Err()
}

// Event is a stored session event.
type Event struct {
	Seq  uint64          `json:"seq"`
	Time time.Time       `json:"time"`
	Type string          `json:"type"`
	Body json.RawMessage `json:"body"`
}

// ListEvents lists a session's events in sequence order.
func (b *Backend) ListEvents(ctx context.Context, sessionID string) ([]Event, error) {
	var one int
	if err := b.db.QueryRowContext(ctx, `SELECT 1 FROM sessions WHERE id = ?`, sessionID).Scan(&one); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, ErrNoSession
		}
		return nil, err
	}
	rows, err := b.db.QueryContext(ctx, `SELECT seq, time, type, body FROM events WHERE session_id = ? ORDER BY seq`, sessionID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Event{}
	for rows.Next() {
		var e Event
		var at int64
		var body string
		if err := rows.Scan(&e.Seq, &at, &e.Type, &body); err != nil {
			return nil, err
		}
		e.Time = time.UnixMicro(at).UTC()
		e.Body = json.RawMessage(body)
		out = append(out, e)
	}
	return out, rows.Err()
}
