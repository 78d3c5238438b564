package backend

import (
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/invigil/invigil/backend/recording"
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
	// Integrity is the checkpoints' verdict (checkpoint.go).
	Integrity IntegrityInfo `json:"integrity"`
	// Warnings name stored values the listing could not show as they are,
	// such as a capture time outside years 1-9999 (shown as zero).
	Warnings []string `json:"warnings,omitempty"`
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
	Duration time.Duration `json:"duration_ns"` // video: media time in the file; others: first to last capture time
	Seconds  float64       `json:"duration_s"`
	// Video tracks: what the MP4 file holds (committed fragments).
	Frames  int64  `json:"frames,omitempty"`
	Dropped int64  `json:"dropped,omitempty"` // received but not decodable (before the first keyframe)
	Width   int    `json:"width,omitempty"`
	Height  int    `json:"height,omitempty"`
	Codec   string `json:"codec,omitempty"`
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
		s.CreatedAt = s.storedTime("created_at", created)
		s.UpdatedAt = s.storedTime("updated_at", updated)
		if finished.Valid {
			s.FinishedAt = s.storedTime("finished_at", finished.Int64)
		}
		s.Digest = hex.EncodeToString(digest)
		s.Tracks = []TrackInfo{}
		index[s.ID] = len(out)
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	trows, err := b.db.QueryContext(ctx, `SELECT session_id, track, kind, file, messages, bytes, first_seq, last_seq, first_time, last_time, state FROM tracks ORDER BY session_id, track`)
	if err != nil {
		return nil, err
	}
	defer trows.Close()
	for trows.Next() {
		var id string
		var t TrackInfo
		var first, last int64
		var state []byte
		if err := trows.Scan(&id, &t.Track, &t.Kind, &t.File, &t.Messages, &t.Bytes, &t.FirstSeq, &t.LastSeq, &first, &last, &state); err != nil {
			return nil, err
		}
		t.Name = transport.TrackName(t.Track)
		if t.File != "" {
			t.File = filepath.Join(b.cfg.DataDir, t.File)
		}
		var sess *SessionInfo
		if i, ok := index[id]; ok {
			sess = &out[i]
		} else {
			sess = &SessionInfo{}
		}
		t.Start = sess.storedTime("track "+t.Name+" first capture time", first)
		end := sess.storedTime("track "+t.Name+" last capture time", last)
		if !t.Start.IsZero() && !end.IsZero() {
			t.Duration = end.Sub(t.Start)
		}
		if t.Kind == transport.KindMedia.String() && len(state) > 0 {
			var rs recording.State
			if err := json.Unmarshal(state, &rs); err == nil {
				t.Duration, t.Frames, t.Dropped = rs.Duration(), rs.Frames, rs.Dropped
				t.Width, t.Height, t.Codec = rs.Width, rs.Height, rs.Codec
			}
		}
		t.Seconds = t.Duration.Seconds()
		sess.Tracks = append(sess.Tracks, t)
		sess.Messages += t.Messages
	}
	if err := trows.Err(); err != nil {
		return nil, err
	}
	return out, b.addIntegrity(ctx, out)
}

// storedTime is a stored time (unix µs) for a JSON listing: a time JSON
// cannot carry (outside years 1-9999, such as a client's capture time in
// year 10000) is shown as zero and named in the session's warnings, so that
// one bad row does not break the listing of every session.
func (s *SessionInfo) storedTime(what string, us int64) time.Time {
	t, ok := jsonTime(us)
	if !ok {
		s.Warnings = append(s.Warnings, fmt.Sprintf("%s out of range (%d µs since 1970), shown as zero", what, us))
	}
	return t
}

// jsonTime is the time of us (unix µs) if encoding/json can carry it.
func jsonTime(us int64) (time.Time, bool) {
	t := time.UnixMicro(us).UTC()
	if y := t.Year(); y < 1 || y > 9999 {
		return time.Time{}, false
	}
	return t, true
}

// Event is a stored session event.
type Event struct {
	Seq  uint64          `json:"seq"`
	Time time.Time       `json:"time"`
	Type string          `json:"type"`
	Body json.RawMessage `json:"body"`
	// Warning says why Time is zero: the stored capture time is outside
	// what JSON carries (years 1-9999).
	Warning string `json:"warning,omitempty"`
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
		var ok bool
		if e.Time, ok = jsonTime(at); !ok {
			e.Warning = fmt.Sprintf("capture time out of range (%d µs since 1970), shown as zero", at)
		}
		e.Body = json.RawMessage(body)
		if !json.Valid(e.Body) {
			e.Body, _ = json.Marshal(map[string]string{"type": "invalid", "raw": body})
			e.Warning = "stored body is not JSON"
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// committedTrack finds the file of a session's track (by name: "camera",
// "screen", "heartbeat"...) and the size of its committed prefix.
func (b *Backend) committedTrack(ctx context.Context, sessionID, name string) (string, int64, time.Time, error) {
	name = strings.TrimSuffix(strings.TrimSuffix(name, ".mp4"), ".ivr")
	var file string
	var state []byte
	var updated int64
	track := -1
	for n := 0; n < 256; n++ {
		if transport.TrackName(uint8(n)) == name {
			track = n
			break
		}
	}
	if track < 0 {
		return "", 0, time.Time{}, ErrNoSession
	}
	err := b.db.QueryRowContext(ctx, `SELECT t.file, t.state, s.updated_at FROM tracks t JOIN sessions s ON s.id = t.session_id WHERE t.session_id = ? AND t.track = ?`, sessionID, track).Scan(&file, &state, &updated)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && file == "") {
		return "", 0, time.Time{}, ErrNoSession
	}
	if err != nil {
		return "", 0, time.Time{}, err
	}
	var size int64
	if strings.HasSuffix(file, ".mp4") {
		var rs recording.State
		if err := json.Unmarshal(state, &rs); err != nil {
			return "", 0, time.Time{}, err
		}
		size = rs.Committed
	} else {
		var raw rawState
		if err := json.Unmarshal(state, &raw); err != nil {
			return "", 0, time.Time{}, err
		}
		size = raw.Offset
	}
	return filepath.Join(b.cfg.DataDir, file), size, time.UnixMicro(updated), nil
}
