package backend

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/invigil/invigil/transport"
)

const maxBodyBytes = 64 << 10

// Handler serves the backend's HTTP API (docs/protocol.md): join, resume,
// the websocket, the admin API and /healthz.
func (b *Backend) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/join", b.handleJoin)
	mux.HandleFunc("POST /api/v1/resume", b.handleResume)
	mux.HandleFunc("GET /api/v1/ws", b.handleWS)
	mux.HandleFunc("POST /api/v1/speedtest", b.handleSpeedTest)
	mux.HandleFunc("GET /healthz", b.handleHealth)
	mux.HandleFunc("GET /api/v1/admin/exams", b.adminOnly(b.handleListExams))
	mux.HandleFunc("POST /api/v1/admin/exams", b.adminOnly(b.handleCreateExam))
	mux.HandleFunc("GET /api/v1/admin/sessions", b.adminOnly(b.handleListSessions))
	mux.HandleFunc("GET /api/v1/admin/sessions/{id}/events", b.adminOnly(b.handleListEvents))
	mux.HandleFunc("POST /api/v1/admin/sessions/{id}/commands", b.adminOnly(b.handleCommand))
	mux.HandleFunc("GET /api/v1/admin/sessions/{id}/tracks/{name}", b.adminOnly(b.handleTrackFile))
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func apiError(w http.ResponseWriter, status int, code, msg string) {
	transport.WriteAPIError(w, status, code, msg)
}

// readBody decodes a JSON body of at most maxBodyBytes into v.
func readBody(w http.ResponseWriter, r *http.Request, v any) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			apiError(w, http.StatusRequestEntityTooLarge, transport.CodeTooLarge, "request body over 64 KiB")
		} else {
			apiError(w, http.StatusBadRequest, transport.CodeBadRequest, "malformed JSON body: "+err.Error())
		}
		return false
	}
	return true
}

func bearer(r *http.Request) string {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return ""
	}
	return strings.TrimSpace(tok)
}

func tokenHash(tok string) []byte {
	h := sha256.Sum256([]byte(tok))
	return h[:]
}

func (b *Backend) handleJoin(w http.ResponseWriter, r *http.Request) {
	var req transport.JoinRequest
	if !readBody(w, r, &req) {
		return
	}
	if !transport.ValidJoinCode(strings.TrimSpace(req.Code)) {
		apiError(w, http.StatusBadRequest, transport.CodeBadRequest, "a join code is 1-64 letters, digits, - or _")
		return
	}
	ctx := r.Context()
	e, err := b.examByCode(ctx, req.Code)
	if errors.Is(err, sql.ErrNoRows) {
		apiError(w, http.StatusNotFound, transport.CodeUnknownCode, "no exam has the join code "+transport.NormalizeJoinCode(req.Code))
		return
	}
	if err != nil {
		b.internalError(w, "join: find exam", err)
		return
	}
	now := b.cfg.Now()
	if !e.OpensAt.IsZero() && now.Before(e.OpensAt) {
		var ae transport.APIError
		ae.Error.Code = transport.CodeExamNotOpen
		ae.Error.Message = fmt.Sprintf("%s opens at %s", e.Name, e.OpensAt.Format(time.RFC1123))
		ae.Error.OpensAt = e.OpensAt
		writeJSON(w, http.StatusForbidden, ae)
		return
	}
	if !e.ClosesAt.IsZero() && !now.Before(e.ClosesAt) {
		apiError(w, http.StatusForbidden, transport.CodeExamClosed, fmt.Sprintf("%s closed at %s", e.Name, e.ClosesAt.Format(time.RFC1123)))
		return
	}
	client, _ := json.Marshal(req.Client)
	id := "s_" + randomHex(8)
	token := transport.NewToken()
	spoolKey := randomBytes(32)
	_, err = b.db.ExecContext(ctx, `INSERT INTO sessions(id, exam_id, token_hash, spool_key, client, state, created_at, updated_at, digest) VALUES (?,?,?,?,?,?,?,?,?)`,
		id, e.ID, tokenHash(token), spoolKey, string(client), stateActive, micros(now), micros(now), make([]byte, 32))
	if err != nil {
		b.internalError(w, "join: create session", err)
		return
	}
	b.log.Info("session joined", "session", id, "exam", e.ID)
	resp, err := b.joinResponse(ctx, id, token)
	if err != nil {
		b.internalError(w, "join: answer", err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (b *Backend) handleResume(w http.ResponseWriter, r *http.Request) {
	tok := bearer(r)
	id, state, err := b.sessionByToken(r.Context(), tok)
	if errors.Is(err, ErrNoSession) {
		apiError(w, http.StatusUnauthorized, transport.CodeUnauthorized, "unknown session token")
		return
	}
	if err != nil {
		b.internalError(w, "resume", err)
		return
	}
	if state == stateFinished || state == stateEnded {
		apiError(w, http.StatusGone, transport.CodeSessionFinished, "this session is "+state)
		return
	}
	resp, err := b.joinResponse(r.Context(), id, tok)
	if err != nil {
		b.internalError(w, "resume: answer", err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (b *Backend) sessionByToken(ctx context.Context, tok string) (id, state string, err error) {
	if tok == "" {
		return "", "", ErrNoSession
	}
	err = b.db.QueryRowContext(ctx, `SELECT id, state FROM sessions WHERE token_hash = ?`, tokenHash(tok)).Scan(&id, &state)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", ErrNoSession
	}
	return id, state, err
}

func (b *Backend) joinResponse(ctx context.Context, id, token string) (*transport.JoinResponse, error) {
	var r transport.JoinResponse
	var env []byte
	var opens, closes sql.NullInt64
	err := b.db.QueryRowContext(ctx, `SELECT s.spool_key, e.id, e.name, e.opens_at, e.closes_at, e.policy FROM sessions s JOIN exams e ON e.id = s.exam_id WHERE s.id = ?`, id).
		Scan(&r.SpoolKey, &r.Exam.ID, &r.Exam.Name, &opens, &closes, &env)
	if err != nil {
		return nil, err
	}
	r.SessionID, r.Token = id, token
	r.Exam.OpensAt, r.Exam.ClosesAt = fromMicros(opens), fromMicros(closes)
	r.Policy = env
	r.ServerKey = b.PublicKey()
	r.WSURL = "/api/v1/ws"
	r.Limits = transport.Limits{MaxFrameBytes: transport.MaxFrameBytes, MaxControlBytes: transport.MaxControlBytes, HeartbeatMS: int(b.cfg.Heartbeat / time.Millisecond)}
	return &r, nil
}

func (b *Backend) handleWS(w http.ResponseWriter, r *http.Request) {
	id, _, err := b.sessionByToken(r.Context(), bearer(r))
	if errors.Is(err, ErrNoSession) {
		apiError(w, http.StatusUnauthorized, transport.CodeUnauthorized, "unknown session token")
		return
	}
	if err != nil {
		b.internalError(w, "websocket: find session", err)
		return
	}
	if !b.enter() {
		apiError(w, http.StatusServiceUnavailable, transport.CodeUnavailable, "the backend is shutting down")
		return
	}
	defer b.conns.Done()
	conn, err := transport.Upgrade(w, r)
	if err != nil {
		return
	}
	// The connection outlives the request's context: it ends when the
	// client leaves, the session is replaced or the backend closes.
	err = b.serveSession(b.ctx, id, func(ctx context.Context, live *liveSession) error {
		return transport.ServeConn(ctx, conn, live, transport.ServerOptions{Heartbeat: b.cfg.Heartbeat, Log: b.log.With("session", id)})
	})
	conn.Close()
	if err != nil && !errors.Is(err, transport.ErrReplaced) && !errors.Is(err, context.Canceled) {
		b.log.Info("connection ended", "session", id, "err", err)
	}
}

func (b *Backend) handleHealth(w http.ResponseWriter, r *http.Request) {
	if err := b.db.PingContext(r.Context()); err != nil {
		apiError(w, http.StatusServiceUnavailable, transport.CodeUnavailable, "database unavailable")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "public_key": b.PublicKey()})
}

func (b *Backend) internalError(w http.ResponseWriter, what string, err error) {
	if errors.Is(err, context.Canceled) {
		// The client hung up while we worked for it: not our failure.
		b.log.Debug(what, "err", err)
	} else {
		b.log.Error(what, "err", err)
	}
	apiError(w, http.StatusInternalServerError, transport.CodeInternal, "internal error; try again")
}

// adminOnly guards a handler with the admin bearer token.
func (b *Backend) adminOnly(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok := bearer(r)
		if tok == "" && r.Method == http.MethodGet {
			// A <video src> cannot send headers: GETs may carry the token
			// as ?token=.
			tok = r.URL.Query().Get("token")
		}
		if !equalSecret(tok, b.admin) {
			apiError(w, http.StatusUnauthorized, transport.CodeUnauthorized, "admin token required")
			return
		}
		h(w, r)
	}
}

func (b *Backend) handleListExams(w http.ResponseWriter, r *http.Request) {
	exams, err := b.ListExams(r.Context())
	if err != nil {
		b.internalError(w, "list exams", err)
		return
	}
	writeJSON(w, http.StatusOK, exams)
}

func (b *Backend) handleCreateExam(w http.ResponseWriter, r *http.Request) {
	var spec ExamSpec
	if !readBody(w, r, &spec) {
		return
	}
	e, err := b.CreateExam(r.Context(), spec)
	if errors.Is(err, ErrCodeTaken) {
		apiError(w, http.StatusConflict, transport.CodeConflict, err.Error())
		return
	}
	if err != nil {
		apiError(w, http.StatusBadRequest, transport.CodeBadRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusCreated, e)
}

func (b *Backend) handleListSessions(w http.ResponseWriter, r *http.Request) {
	ss, err := b.ListSessions(r.Context())
	if err != nil {
		b.internalError(w, "list sessions", err)
		return
	}
	writeJSON(w, http.StatusOK, ss)
}

func (b *Backend) handleListEvents(w http.ResponseWriter, r *http.Request) {
	evs, err := b.ListEvents(r.Context(), r.PathValue("id"))
	if errors.Is(err, ErrNoSession) {
		apiError(w, http.StatusNotFound, transport.CodeNotFound, "no such session")
		return
	}
	if err != nil {
		b.internalError(w, "list events", err)
		return
	}
	writeJSON(w, http.StatusOK, evs)
}

func (b *Backend) handleCommand(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Command string `json:"command"`
		Text    string `json:"text"`
	}
	if !readBody(w, r, &req) {
		return
	}
	id, err := b.SendCommand(r.Context(), r.PathValue("id"), req.Command, req.Text)
	if errors.Is(err, ErrNoSession) {
		apiError(w, http.StatusNotFound, transport.CodeNotFound, "no such session")
		return
	}
	if err != nil {
		apiError(w, http.StatusBadRequest, transport.CodeBadRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"id": id})
}

// handleTrackFile serves a track's file for review, also while the session
// is still recording: only the committed prefix is served (whole MP4
// fragments), with range requests, so a browser can play and seek it.
func (b *Backend) handleTrackFile(w http.ResponseWriter, r *http.Request) {
	path, size, modTime, err := b.committedTrack(r.Context(), r.PathValue("id"), r.PathValue("name"))
	if errors.Is(err, ErrNoSession) {
		apiError(w, http.StatusNotFound, transport.CodeNotFound, "no such session or track")
		return
	}
	if err != nil {
		b.internalError(w, "serve track", err)
		return
	}
	f, err := os.Open(path)
	if err != nil {
		b.internalError(w, "serve track", err)
		return
	}
	defer f.Close()
	if strings.HasSuffix(path, ".mp4") {
		w.Header().Set("Content-Type", "video/mp4")
	} else {
		w.Header().Set("Content-Type", "application/octet-stream")
	}
	w.Header().Set("Cache-Control", "no-store") // it grows while the exam runs
	http.ServeContent(w, r, filepath.Base(path), modTime, io.NewSectionReader(f, 0, size))
}

// maxSpeedTestBytes bounds a network test's upload.
const maxSpeedTestBytes = 8 << 20

// handleSpeedTest reads and discards an upload of at most 8 MiB from a
// session's client and says how long reading it took: the check screen's
// network test.
func (b *Backend) handleSpeedTest(w http.ResponseWriter, r *http.Request) {
	if _, _, err := b.sessionByToken(r.Context(), bearer(r)); err != nil {
		apiError(w, http.StatusUnauthorized, transport.CodeUnauthorized, "unknown session token")
		return
	}
	start := time.Now()
	n, err := io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, maxSpeedTestBytes))
	if err != nil {
		apiError(w, http.StatusRequestEntityTooLarge, transport.CodeTooLarge, "speed test upload over 8 MiB")
		return
	}
	writeJSON(w, http.StatusOK, transport.SpeedTestResult{Bytes: n, ServerMillis: time.Since(start).Milliseconds()})
}
