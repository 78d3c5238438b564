package backend

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"image/jpeg"
	"os"
	"path/filepath"
	"time"

	"github.com/invigil/invigil/backend/recording"
	"github.com/invigil/invigil/transport"
)

// What ingest refuses (docs/protocol.md §2.2). A refused message is not
// dropped: it is acked like any other, kept verbatim in the session's
// refused file (sessions/<id>/refused.ivr, the raw track format) and counts
// in the session digest, but it goes into no track and no event list, and
// nothing parses it further. The backend records an ingest.refused event
// at its seq, timed by the backend's clock, that says why and where the
// message is kept. Closing the connection instead would not help: the
// client keeps unacked messages and would send the same one again forever.
const (
	// A capture time more than maxCaptureBehindJoin before the session's
	// join or more than maxCaptureAhead after the backend's clock is
	// implausible. 24 hours covers a client clock kept in local time
	// instead of UTC anywhere on Earth (UTC−12 to UTC+14), the commonest
	// large error of an honest machine.
	maxCaptureBehindJoin = 24 * time.Hour
	maxCaptureAhead      = 24 * time.Hour

	// A still's declared picture: at most maxStillSide pixels a side and
	// maxStillPixels in all (two 4K screens side by side fit). A JPEG's
	// header can announce 65535×65535 in a few hundred bytes: whoever
	// decodes it (the proctor's browser) would need 16 GiB.
	maxStillSide   = 16384
	maxStillPixels = 64 << 20

	// backendEventPrefix starts the types of events the backend writes; a
	// client's event with such a type is stored as "invalid".
	backendEventPrefix = "ingest."
	eventRefused       = "ingest.refused"
)

// Reasons of a refusal, as in the ingest.refused event.
const (
	reasonCaptureTime = "capture_time"
	reasonMedia       = "media"
	reasonStill       = "still"
)

// refusal is a message ingest keeps out of the session's tracks and events.
type refusal struct {
	frame  transport.Frame
	reason string
	detail string
}

// refusedEvent is the body of an ingest.refused event.
type refusedEvent struct {
	Type        string `json:"type"`
	Seq         uint64 `json:"seq"`
	Track       string `json:"track"`
	Kind        string `json:"kind"`
	Reason      string `json:"reason"`
	Detail      string `json:"detail"`
	CaptureTime int64  `json:"capture_time_us"` // as sent; the event's own time is the backend's
	Bytes       int    `json:"bytes"`           // the whole frame
	File        string `json:"file"`            // relative to the data directory
	Offset      int64  `json:"offset"`          // of the frame's record in File
}

func refusedFile(sessionID string) string {
	return filepath.Join("sessions", sessionID, "refused.ivr")
}

// check decides whether ingest takes f. Every check is bounded and linear
// in the message.
func (s *liveSession) check(f transport.Frame, now time.Time) *refusal {
	if lo, hi := s.joined.Add(-maxCaptureBehindJoin), now.Add(maxCaptureAhead); f.Time.Before(lo) || f.Time.After(hi) {
		return &refusal{frame: f, reason: reasonCaptureTime, detail: fmt.Sprintf(
			"capture time %s is outside %s – %s (the join minus %v to the backend's clock plus %v)",
			f.Time.UTC().Format(time.RFC3339), lo.UTC().Format(time.RFC3339), hi.UTC().Format(time.RFC3339), maxCaptureBehindJoin, maxCaptureAhead)}
	}
	switch f.Kind {
	case transport.KindMedia:
		if err := recording.CheckAccessUnit(f.Payload); err != nil {
			return &refusal{frame: f, reason: reasonMedia, detail: err.Error()}
		}
	case transport.KindStill:
		if err := checkStill(f.Payload); err != nil {
			return &refusal{frame: f, reason: reasonStill, detail: err.Error()}
		}
	}
	return nil
}

// checkStill checks that p is a JPEG whose header announces a picture
// within the bounds. It reads the header only (image/jpeg's DecodeConfig
// stops at the frame header); nothing on the backend decodes stills.
func checkStill(p []byte) error {
	c, err := jpeg.DecodeConfig(bytes.NewReader(p))
	if err != nil {
		return fmt.Errorf("not a JPEG: %w", err)
	}
	if c.Width <= 0 || c.Height <= 0 || c.Width > maxStillSide || c.Height > maxStillSide || c.Width*c.Height > maxStillPixels {
		return fmt.Errorf("JPEG of %d×%d pixels (limits %d a side, %d in all)", c.Width, c.Height, maxStillSide, maxStillPixels)
	}
	return nil
}

// keepRefused appends the refused messages to the session's refused file
// (written, not yet synced) and returns their events.
func (s *liveSession) keepRefused(refused []refusal, now time.Time) ([]eventRow, error) {
	if s.refused == nil {
		if err := s.dir(); err != nil {
			return nil, err
		}
		st, _ := json.Marshal(rawState{Offset: s.refusedEnd})
		t, err := openRawTrack(filepath.Join(s.b.cfg.DataDir, refusedFile(s.id)), st)
		if err != nil {
			return nil, fmt.Errorf("open refused messages: %w", err)
		}
		s.refused = t
	}
	rows := make([]eventRow, 0, len(refused))
	counts := map[string]int{}
	for _, r := range refused {
		off := s.refused.off
		if err := s.refused.Write([]transport.Frame{r.frame}); err != nil {
			return nil, fmt.Errorf("write refused message: %w", err)
		}
		body, err := json.Marshal(refusedEvent{
			Type: eventRefused, Seq: r.frame.Seq, Track: transport.TrackName(r.frame.Track), Kind: r.frame.Kind.String(),
			Reason: r.reason, Detail: r.detail, CaptureTime: r.frame.Time.UnixMicro(),
			Bytes: len(r.frame.Raw), File: refusedFile(s.id), Offset: off,
		})
		if err != nil {
			return nil, err
		}
		rows = append(rows, eventRow{seq: r.frame.Seq, time: micros(now), typ: eventRefused, body: string(body)})
		counts[r.reason]++
	}
	for reason, n := range counts {
		s.b.log.Warn("messages refused", "session", s.id, "reason", reason, "count", n)
	}
	return rows, nil
}

// loadRefused finds the committed end of the session's refused file: the
// end of the record its last ingest.refused event points to.
func (s *liveSession) loadRefused(ctx context.Context) error {
	var body string
	err := s.b.db.QueryRowContext(ctx, `SELECT body FROM events WHERE session_id = ? AND type = ? ORDER BY seq DESC LIMIT 1`, s.id, eventRefused).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		s.refusedEnd = 0
		return nil
	}
	if err != nil {
		return fmt.Errorf("load refused messages: %w", err)
	}
	var ev refusedEvent
	if err := json.Unmarshal([]byte(body), &ev); err != nil || ev.Offset < int64(len(rawMagic)) || ev.Bytes <= 0 {
		return fmt.Errorf("load refused messages: bad %s event %q", eventRefused, body)
	}
	s.refusedEnd = ev.Offset + 4 + int64(ev.Bytes)
	return nil
}

// sessionDir creates a session's directory, 0700 like its parent (also
// when an older build left them more open).
func (b *Backend) sessionDir(id string) error {
	sessions := filepath.Join(b.cfg.DataDir, "sessions")
	dir := filepath.Join(sessions, id)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for _, d := range []string{sessions, dir} {
		if err := os.Chmod(d, 0o700); err != nil {
			return err
		}
	}
	return nil
}
