package backend

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/invigil/invigil/backend/accounts"
	"github.com/invigil/invigil/backend/recording"
	"github.com/invigil/invigil/transport"
)

// The review side of the dashboard (docs/dashboard.md "Review"): the
// attempts of an exam with their violation counts, one attempt's
// recordings, timeline, stills, outcome, notes and legal hold, and the
// evidence bundle (evidence.go).

// AttemptSummary is one attempt (session) in an exam's review list.
type AttemptSummary struct {
	SessionInfo
	Client     string        `json:"client,omitempty"` // the client's app, version and platform
	Violations int           `json:"violations"`       // violation.open events
	Critical   int           `json:"critical"`         // of which severity critical
	Review     AttemptReview `json:"review"`
	Notes      int           `json:"notes"`
	Purged     bool          `json:"purged,omitempty"` // deleted by retention: only this row is left
}

// Attempts lists an exam's attempts, newest first, with their violation
// counts and review state.
func (b *Backend) Attempts(ctx context.Context, examID string) ([]AttemptSummary, error) {
	all, err := b.ListSessions(ctx)
	if err != nil {
		return nil, err
	}
	counts := map[string][2]int{}
	rows, err := b.db.QueryContext(ctx, `SELECT ev.session_id, COUNT(*), COALESCE(SUM(json_extract(ev.body, '$.severity') = 'critical'), 0)
		FROM events ev JOIN sessions s ON s.id = ev.session_id
		WHERE s.exam_id = ? AND ev.type = 'violation.open' AND json_valid(ev.body) GROUP BY ev.session_id`, examID)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var id string
		var n, crit int
		if err := rows.Scan(&id, &n, &crit); err != nil {
			rows.Close()
			return nil, err
		}
		counts[id] = [2]int{n, crit}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	notes := map[string]int{}
	rows, err = b.db.QueryContext(ctx, `SELECT n.session_id, COUNT(*) FROM attempt_notes n JOIN sessions s ON s.id = n.session_id WHERE s.exam_id = ? GROUP BY n.session_id`, examID)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			rows.Close()
			return nil, err
		}
		notes[id] = n
	}
	rows.Close()
	purged, err := b.purgedSessions(ctx)
	if err != nil {
		return nil, err
	}
	out := []AttemptSummary{}
	for _, si := range all {
		if si.ExamID != examID {
			continue
		}
		hideFiles(&si)
		a := AttemptSummary{SessionInfo: si, Violations: counts[si.ID][0], Critical: counts[si.ID][1], Notes: notes[si.ID], Purged: purged[si.ID]}
		if a.Review, err = b.AttemptReviewOf(ctx, si.ID); err != nil {
			return nil, err
		}
		a.Client = b.clientOf(ctx, si.ID)
		out = append(out, a)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].CreatedAt.After(out[j].CreatedAt) })
	return out, nil
}

// clientOf describes the client an attempt ran on ("invigil 1.2.0
// linux/amd64"), from what it said when it joined.
func (b *Backend) clientOf(ctx context.Context, sessionID string) string {
	var raw string
	if err := b.db.QueryRowContext(ctx, `SELECT client FROM sessions WHERE id = ?`, sessionID).Scan(&raw); err != nil {
		return ""
	}
	var ci transport.ClientInfo
	json.Unmarshal([]byte(raw), &ci)
	plat := ""
	if ci.OS != "" {
		plat = ci.OS + "/" + ci.Arch
	}
	return strings.Join(strings.Fields(ci.App+" "+ci.Version+" "+plat), " ")
}

// hideFiles drops server paths: they are not the browser's business.
func hideFiles(si *SessionInfo) {
	for i := range si.Tracks {
		si.Tracks[i].File = ""
	}
}

// filterAttempts keeps attempts with at least minViolations violations
// (and, with critical, at least one critical one), and with outcome when
// it is not "any".
func filterAttempts(in []AttemptSummary, minViolations int, critical bool, outcome string) []AttemptSummary {
	out := in[:0:0]
	for _, a := range in {
		if a.Violations < minViolations || (critical && a.Critical == 0) {
			continue
		}
		if outcome != "" && outcome != "any" && string(a.Review.Outcome) != strings.TrimPrefix(outcome, "none") {
			continue
		}
		out = append(out, a)
	}
	return out
}

// VideoTrack is what the review player needs of a recorded video track.
type VideoTrack struct {
	Name   string    `json:"name"`   // camera, screen
	URL    string    `json:"url"`    // the fragmented MP4 (committed part, range requests)
	Codec  string    `json:"codec"`  // RFC 6381, for MediaSource.isTypeSupported
	Start  time.Time `json:"start"`  // capture time of media time 0
	Frames int64     `json:"frames"` // samples in the file
	Width  int       `json:"width,omitempty"`
	Height int       `json:"height,omitempty"`
}

// Still is a JPEG the client sent on the stills track.
type Still struct {
	Index  int       `json:"index"`
	Seq    uint64    `json:"seq"`
	Time   time.Time `json:"time"`
	Why    string    `json:"why,omitempty"`    // id_photo, room_scan, a command id
	Source string    `json:"source,omitempty"` // camera, screen
	Bytes  int       `json:"bytes"`
	URL    string    `json:"url"`
}

// Gap is a stretch without recording: heartbeats stopped (the client was
// not running, or the machine slept). Network outages are not gaps: the
// client spools and uploads later.
type Gap struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
}

// CommandInfo is a proctor's command and whether the client acted on it.
type CommandInfo struct {
	ID        string    `json:"id"`
	Command   string    `json:"command"`
	Text      string    `json:"text,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	AckedAt   time.Time `json:"acked_at,omitzero"`
}

// AttemptDetail is everything the review page shows of one attempt.
type AttemptDetail struct {
	Session  SessionInfo   `json:"session"`
	Exam     *Exam         `json:"exam"`
	Client   string        `json:"client,omitempty"`
	Videos   []VideoTrack  `json:"videos"`
	Events   []Event       `json:"events"`
	Commands []CommandInfo `json:"commands"`
	Stills   []Still       `json:"stills"`
	Gaps     []Gap         `json:"gaps"`
	Review   AttemptReview `json:"review"`
	Notes    []Note        `json:"notes"`
	Purged   bool          `json:"purged,omitempty"`
}

// sessionByID is one session's listing.
func (b *Backend) sessionByID(ctx context.Context, id string) (SessionInfo, error) {
	all, err := b.ListSessions(ctx)
	if err != nil {
		return SessionInfo{}, err
	}
	for _, s := range all {
		if s.ID == id {
			return s, nil
		}
	}
	return SessionInfo{}, ErrNoSession
}

func (b *Backend) examByID(ctx context.Context, id string) (*Exam, error) {
	e, err := scanExam(b.db.QueryRowContext(ctx, `SELECT `+examColumns+` FROM exams WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNoExam
	}
	return e, err
}

// ErrNoExam reports an exam id the backend does not have.
var ErrNoExam = errors.New("no such exam")

// heartbeatGap is how long heartbeats may pause before the timeline shows
// a gap (the client sends one every few seconds).
const heartbeatGap = 30 * time.Second

// Attempt gathers one attempt for the review page.
func (b *Backend) Attempt(ctx context.Context, sessionID string) (*AttemptDetail, error) {
	si, err := b.sessionByID(ctx, sessionID)
	if err != nil {
		return nil, err
	}
	d := &AttemptDetail{Session: si, Videos: []VideoTrack{}, Stills: []Still{}, Gaps: []Gap{}}
	if d.Exam, err = b.examByID(ctx, si.ExamID); err != nil {
		return nil, err
	}
	d.Client = b.clientOf(ctx, si.ID)
	base := accounts.Prefix + "sessions/" + si.ID + "/"
	for _, t := range si.Tracks {
		switch t.Name {
		case "camera", "screen":
			_, st, err := b.videoState(ctx, si.ID, t.Track)
			if err != nil {
				return nil, err
			}
			if st.Committed == 0 || st.Start.IsZero() {
				continue // nothing playable yet
			}
			d.Videos = append(d.Videos, VideoTrack{Name: t.Name, URL: base + "tracks/" + t.Name, Codec: st.Codec,
				Start: st.Start.UTC(), Frames: st.Frames, Width: st.Width, Height: st.Height})
		case "heartbeat":
			if frames, err := b.committedFrames(ctx, si.ID, t.Name); err == nil {
				for i := 1; i < len(frames); i++ {
					a, z := frames[i-1].Time, frames[i].Time
					if z.Sub(a) > heartbeatGap {
						d.Gaps = append(d.Gaps, Gap{From: a.UTC(), To: z.UTC()})
					}
				}
			}
		}
	}
	if d.Events, err = b.ListEvents(ctx, si.ID); err != nil {
		return nil, err
	}
	if d.Commands, err = b.commandsOf(ctx, si.ID); err != nil {
		return nil, err
	}
	if d.Stills, err = b.stillsOf(ctx, si.ID, d.Events); err != nil {
		return nil, err
	}
	for i := range d.Stills {
		d.Stills[i].URL = base + "stills/" + strconv.Itoa(d.Stills[i].Index)
	}
	if d.Review, err = b.AttemptReviewOf(ctx, si.ID); err != nil {
		return nil, err
	}
	if d.Notes, err = b.Notes(ctx, si.ID); err != nil {
		return nil, err
	}
	purged, err := b.purgedSessions(ctx)
	if err != nil {
		return nil, err
	}
	d.Purged = purged[si.ID]
	hideFiles(&d.Session)
	return d, nil
}

// videoState is a video track's file (absolute) and recording state.
func (b *Backend) videoState(ctx context.Context, sessionID string, track uint8) (string, recording.State, error) {
	var file string
	var state []byte
	var st recording.State
	err := b.db.QueryRowContext(ctx, `SELECT file, state FROM tracks WHERE session_id = ? AND track = ?`, sessionID, track).Scan(&file, &state)
	if errors.Is(err, sql.ErrNoRows) {
		return "", st, ErrNoSession
	}
	if err != nil {
		return "", st, err
	}
	if len(state) > 0 {
		if err := json.Unmarshal(state, &st); err != nil {
			return "", st, fmt.Errorf("track state: %w", err)
		}
	}
	return file, st, nil
}

// committedFrames reads a raw track's committed records.
func (b *Backend) committedFrames(ctx context.Context, sessionID, name string) ([]transport.Frame, error) {
	path, size, _, err := b.committedTrack(ctx, sessionID, name)
	if err != nil {
		return nil, err
	}
	return readRawPrefix(path, size)
}

// readRawPrefix reads the records of a raw track file's first size bytes
// (a track still being written may have more, uncommitted, after them).
func readRawPrefix(path string, size int64) ([]transport.Frame, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readRawRecords(io.LimitReader(f, size), path, true)
}

func (b *Backend) commandsOf(ctx context.Context, sessionID string) ([]CommandInfo, error) {
	rows, err := b.db.QueryContext(ctx, `SELECT id, command, text, created_at, acked_at FROM commands WHERE session_id = ? ORDER BY created_at, id`, sessionID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []CommandInfo{}
	for rows.Next() {
		var c CommandInfo
		var created int64
		var acked sql.NullInt64
		if err := rows.Scan(&c.ID, &c.Command, &c.Text, &created, &acked); err != nil {
			return nil, err
		}
		c.CreatedAt, c.AckedAt = time.UnixMicro(created).UTC(), fromMicros(acked)
		out = append(out, c)
	}
	return out, rows.Err()
}

// stillsOf lists a session's stills; each is described by the
// snapshot.taken event the client sends right after it.
func (b *Backend) stillsOf(ctx context.Context, sessionID string, events []Event) ([]Still, error) {
	frames, err := b.committedFrames(ctx, sessionID, "stills")
	if errors.Is(err, ErrNoSession) {
		return []Still{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := make([]Still, 0, len(frames))
	for i, f := range frames {
		s := Still{Index: i, Seq: f.Seq, Time: f.Time.UTC(), Bytes: len(f.Payload)}
		for _, e := range events {
			if e.Seq > f.Seq && e.Type == "snapshot.taken" {
				var body struct{ Why, Source string }
				json.Unmarshal(e.Body, &body)
				s.Why, s.Source = body.Why, body.Source
				break
			}
		}
		out = append(out, s)
	}
	return out, nil
}

// still returns the JPEG of a session's still number i.
func (b *Backend) still(ctx context.Context, sessionID string, i int) ([]byte, error) {
	frames, err := b.committedFrames(ctx, sessionID, "stills")
	if err != nil {
		return nil, err
	}
	if i < 0 || i >= len(frames) {
		return nil, ErrNoSession
	}
	return frames[i].Payload, nil
}

// --- HTTP ---

func dashboardError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

// readDashboardBody decodes a small JSON body (the dashboard's requests).
func readDashboardBody(w http.ResponseWriter, r *http.Request, v any) bool {
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		dashboardError(w, http.StatusUnsupportedMediaType, "bad_request", "send JSON (Content-Type: application/json)")
		return false
	}
	r.Body = http.MaxBytesReader(w, r.Body, 256<<10)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		dashboardError(w, http.StatusBadRequest, "bad_request", "bad JSON body: "+err.Error())
		return false
	}
	return true
}

// mountReview adds the review routes (docs/dashboard.md "Review").
func (b *Backend) mountReview(mux *http.ServeMux, s *accounts.Store) {
	reviewers := s.RequireRole() // any role; exam access decides
	holders := s.RequireRole(accounts.Administrator, accounts.Reviewer)
	p := accounts.Prefix
	mux.Handle("GET "+p+"exams/{exam}/attempts", reviewers(s.RequireExam("exam", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.handleAttempts(w, r, s)
	}))))
	sess := func(h http.HandlerFunc) http.Handler { return reviewers(b.requireSessionExam(s, h)) }
	mux.Handle("GET "+p+"sessions/{session}/review", sess(func(w http.ResponseWriter, r *http.Request) {
		b.handleAttempt(w, r, s)
	}))
	mux.Handle("GET "+p+"sessions/{session}/tracks/{name}", sess(b.handleDashboardTrack))
	mux.Handle("GET "+p+"sessions/{session}/stills/{n}", sess(b.handleStill))
	mux.Handle("GET "+p+"sessions/{session}/evidence.zip", sess(func(w http.ResponseWriter, r *http.Request) {
		b.handleEvidence(w, r, s)
	}))
	mux.Handle("PUT "+p+"sessions/{session}/outcome", reviewers(s.RequireCSRF(b.requireSessionExam(s, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.handleSetReview(w, r, s, false)
	})))))
	mux.Handle("PUT "+p+"sessions/{session}/hold", holders(s.RequireCSRF(b.requireSessionExam(s, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.handleSetReview(w, r, s, true)
	})))))
	mux.Handle("POST "+p+"sessions/{session}/notes", reviewers(s.RequireCSRF(b.requireSessionExam(s, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.handleAddNote(w, r, s)
	})))))
}

func (b *Backend) handleAttempts(w http.ResponseWriter, r *http.Request, s *accounts.Store) {
	q := r.URL.Query()
	minV := 0
	if v := q.Get("min_violations"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			dashboardError(w, http.StatusBadRequest, "bad_request", "min_violations must be a number ≥ 0")
			return
		}
		minV = n
	}
	sev := q.Get("severity")
	if sev != "" && sev != "any" && sev != "critical" {
		dashboardError(w, http.StatusBadRequest, "bad_request", "severity must be any or critical")
		return
	}
	outcome := q.Get("outcome")
	if outcome != "" && outcome != "any" && outcome != "none" {
		if _, err := ParseOutcome(outcome); err != nil {
			dashboardError(w, http.StatusBadRequest, "bad_request", err.Error())
			return
		}
	}
	all, err := b.Attempts(r.Context(), r.PathValue("exam"))
	if err != nil {
		b.internalError(w, "dashboard: attempts", err)
		return
	}
	dashboardJSON(w, filterAttempts(all, minV, sev == "critical", outcome))
}

func (b *Backend) handleAttempt(w http.ResponseWriter, r *http.Request, s *accounts.Store) {
	ctx := r.Context()
	d, err := b.Attempt(ctx, r.PathValue("session"))
	if err != nil {
		b.internalError(w, "dashboard: attempt", err)
		return
	}
	u := accounts.UserFrom(ctx)
	if err := s.Audit(ctx, accounts.ActorOf(u, s.ClientIP(r)), "session.review", d.Session.ID, ""); err != nil {
		b.internalError(w, "dashboard: audit", err)
		return
	}
	dashboardJSON(w, d)
}

// handleDashboardTrack serves a camera or screen recording (committed
// part, range requests) for the review player.
func (b *Backend) handleDashboardTrack(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if name != "camera" && name != "screen" {
		dashboardError(w, http.StatusNotFound, "not_found", "no such recording")
		return
	}
	r.SetPathValue("id", r.PathValue("session"))
	b.handleTrackFile(w, r)
}

func (b *Backend) handleStill(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.Atoi(r.PathValue("n"))
	if err != nil {
		dashboardError(w, http.StatusNotFound, "not_found", "no such still")
		return
	}
	jpg, err := b.still(r.Context(), r.PathValue("session"), n)
	if errors.Is(err, ErrNoSession) {
		dashboardError(w, http.StatusNotFound, "not_found", "no such still")
		return
	}
	if err != nil {
		b.internalError(w, "dashboard: still", err)
		return
	}
	w.Header().Set("Content-Type", "image/jpeg")
	w.Header().Set("Content-Length", strconv.Itoa(len(jpg)))
	w.Write(jpg)
}

func (b *Backend) handleSetReview(w http.ResponseWriter, r *http.Request, s *accounts.Store, hold bool) {
	ctx := r.Context()
	u := accounts.UserFrom(ctx)
	var upd ReviewUpdate
	if !readDashboardBody(w, r, &upd) {
		return
	}
	action, detail := "attempt.outcome", ""
	if hold {
		if upd.Hold == nil || upd.Outcome != nil {
			dashboardError(w, http.StatusBadRequest, "bad_request", `send {"hold": true|false, "hold_reason": "..."}`)
			return
		}
		action, detail = "attempt.hold", strconv.FormatBool(*upd.Hold)
		if upd.HoldReason != nil {
			detail += ": " + *upd.HoldReason
		}
	} else {
		if upd.Outcome == nil || upd.Hold != nil || upd.HoldReason != nil {
			dashboardError(w, http.StatusBadRequest, "bad_request", `send {"outcome": "no_issue"|"suspicious"|"violation"|""}`)
			return
		}
		detail = *upd.Outcome
	}
	// Audit first: a change that cannot be recorded is not made.
	sid := r.PathValue("session")
	if err := s.Audit(ctx, accounts.ActorOf(u, s.ClientIP(r)), action, sid, detail); err != nil {
		b.internalError(w, "dashboard: audit", err)
		return
	}
	rv, err := b.SetAttemptReview(ctx, sid, u.Name, upd)
	if err != nil {
		dashboardError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	dashboardJSON(w, rv)
}

func (b *Backend) handleAddNote(w http.ResponseWriter, r *http.Request, s *accounts.Store) {
	ctx := r.Context()
	u := accounts.UserFrom(ctx)
	var body struct {
		Text string `json:"text"`
	}
	if !readDashboardBody(w, r, &body) {
		return
	}
	sid := r.PathValue("session")
	n, err := b.AddNote(ctx, sid, u.Name, body.Text)
	if err != nil {
		dashboardError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	s.Audit(ctx, accounts.ActorOf(u, s.ClientIP(r)), "attempt.note", sid, strconv.FormatInt(n.ID, 10))
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	json.NewEncoder(w).Encode(n)
}
