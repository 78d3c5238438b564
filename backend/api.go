package backend

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/invigil/invigil/lockdown/policy"
	"github.com/invigil/invigil/transport"
)

const maxBodyBytes = 64 << 10

// Wire error codes of the HTTP API that transport does not define
// (docs/protocol.md §1 "HTTP errors").
const (
	// CodeRateLimited answers 429: too many requests from this source or
	// for this join code or session; Retry-After says when to try again.
	CodeRateLimited = transport.CodeRateLimited
	// CodeUnsupportedMediaType answers 415: a JSON endpoint got a body
	// that is not declared application/json.
	CodeUnsupportedMediaType = "unsupported_media_type"
	// CodeTimeout answers 408: the request body did not arrive in time.
	CodeTimeout = "timeout"
)

// HTTPServer is an http.Server for h with the backend's connection limits:
// headers within 10 s, idle keep-alive connections closed after 2 min. The
// body's deadline is set per request by Handler (Config.BodyTimeout), so that
// websockets and long downloads are not cut.
func HTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
}

// Handler serves the backend's HTTP API (docs/protocol.md): join, resume,
// the websocket, the admin API and /healthz. Every answer carries the
// security headers of secureHeaders.
func (b *Backend) Handler() http.Handler {
	return b.secure(b.routes())
}

// secure sets the security headers on every answer and the body's read
// deadline on every request that has one.
func (b *Backend) secure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'; sandbox")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cache-Control", "no-store")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		if r.TLS != nil {
			h.Set("Strict-Transport-Security", "max-age=63072000")
		}
		if r.Body != nil && r.Body != http.NoBody && !isUpgrade(r) {
			d := b.cfg.BodyTimeout
			if r.URL.Path == "/api/v1/speedtest" {
				d *= 6
			}
			// Not every ResponseWriter can (a test recorder): the server's
			// own connections can.
			_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(d))
		}
		next.ServeHTTP(w, r)
	})
}

func isUpgrade(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

func (b *Backend) routes() http.Handler {
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
	b.mountDashboard(mux) // dashboard.go: accounts, login, exam views
	return mux
}

// writeJSON encodes v completely before it writes anything: a value that
// does not encode is a 500 with an error body, never a 200 with a torn or
// empty one.
func (b *Backend) writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		b.log.Error("encode answer", "err", err)
		apiError(w, http.StatusInternalServerError, transport.CodeInternal, "internal error: the answer could not be encoded")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)+1))
	w.WriteHeader(status)
	w.Write(append(body, '\n'))
}

func apiError(w http.ResponseWriter, status int, code, msg string) {
	transport.WriteAPIError(w, status, code, msg)
}

// readBody decodes a JSON body of at most maxBodyBytes into v. The body
// must be declared application/json: a web page can send text/plain and
// form bodies anywhere without asking, but not JSON.
func readBody(w http.ResponseWriter, r *http.Request, v any) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		apiError(w, http.StatusUnsupportedMediaType, CodeUnsupportedMediaType, "the body must be JSON, sent as Content-Type: application/json")
		return false
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			apiError(w, http.StatusRequestEntityTooLarge, transport.CodeTooLarge, "request body over 64 KiB")
		case errors.Is(err, os.ErrDeadlineExceeded):
			w.Header().Set("Connection", "close")
			apiError(w, http.StatusRequestTimeout, CodeTimeout, "the request body did not arrive in time")
		default:
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

// tooMany answers 429 rate_limited with Retry-After (whole seconds, at
// least 1).
func tooMany(w http.ResponseWriter, wait time.Duration) {
	secs := int(math.Ceil(wait.Seconds()))
	if secs < 1 {
		secs = 1
	}
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	// The body is not read: close at once rather than wait for it (the
	// server would read up to 256 KiB of it before closing).
	w.Header().Set("Connection", "close")
	_ = http.NewResponseController(w).SetReadDeadline(time.Now())
	apiError(w, http.StatusTooManyRequests, CodeRateLimited, fmt.Sprintf("too many requests; try again in %d s", secs))
}

// limit takes a token from each of the buckets (limiter, key) in order and
// answers 429 at the first empty one. With rate limits off it allows all.
func (b *Backend) limit(w http.ResponseWriter, checks ...limitCheck) bool {
	if b.limits.off {
		return true
	}
	for _, c := range checks {
		var ok bool
		var wait time.Duration
		if c.peek {
			ok, wait = c.l.check(c.key)
		} else {
			ok, wait = c.l.allow(c.key)
		}
		if !ok {
			tooMany(w, wait)
			return false
		}
	}
	return true
}

type limitCheck struct {
	l    *limiter
	key  string
	peek bool // only check: the token is taken later (failures)
}

// failed charges a refusal to the request's source.
func (b *Backend) failed(src string) {
	if !b.limits.off {
		b.limits.fails.take(src)
	}
}

// handleJoin admits a client to an exam. A guesser learns nothing from a
// wrong code but "no": unknown codes, and codes of exams not open or closed,
// cost the source one of its few refusals (RateLimits.FailPerSource), and
// no refusal names the exam. A student with a valid code before the exam
// opens is told when it opens, which is what they need to come back.
func (b *Backend) handleJoin(w http.ResponseWriter, r *http.Request) {
	src := sourceKey(r, b.cfg.TrustedProxies)
	if !b.limit(w, limitCheck{l: b.limits.fails, key: src, peek: true}, limitCheck{l: b.limits.joinSource, key: src}) {
		return
	}
	var req transport.JoinRequest
	if !readBody(w, r, &req) {
		return
	}
	if !transport.ValidJoinCode(strings.TrimSpace(req.Code)) {
		apiError(w, http.StatusBadRequest, transport.CodeBadRequest, "a join code is 1-64 letters, digits, - or _")
		return
	}
	code := transport.NormalizeJoinCode(req.Code)
	if !b.limit(w, limitCheck{l: b.limits.joinCode, key: code}) {
		return
	}
	ctx := r.Context()
	e, err := b.examByCode(ctx, code)
	if errors.Is(err, sql.ErrNoRows) {
		b.failed(src)
		apiError(w, http.StatusNotFound, transport.CodeUnknownCode, "no exam has the join code "+code)
		return
	}
	if err != nil {
		b.internalError(w, "join: find exam", err)
		return
	}
	now := b.cfg.Now()
	if !e.OpensAt.IsZero() && now.Before(e.OpensAt) {
		b.failed(src)
		var ae transport.APIError
		ae.Error.Code = transport.CodeExamNotOpen
		ae.Error.Message = "the exam opens at " + e.OpensAt.Format(time.RFC1123)
		ae.Error.OpensAt = e.OpensAt
		b.writeJSON(w, http.StatusForbidden, ae)
		return
	}
	if !e.ClosesAt.IsZero() && !now.Before(e.ClosesAt) {
		b.failed(src)
		apiError(w, http.StatusForbidden, transport.CodeExamClosed, "the exam closed at "+e.ClosesAt.Format(time.RFC1123))
		return
	}
	jp, err := b.examJoinPolicy(ctx, e.ID)
	if err != nil {
		b.internalError(w, "join: read policy", err)
		return
	}
	if min := jp.MinClientVersion; policy.ClientOutdated(min, req.Client.Version) {
		msg := "Update Invigil to " + min + " or later"
		if b.cfg.DownloadURL != "" {
			msg += ": " + b.cfg.DownloadURL
		} else {
			msg += " (ask your exam's organisers where to get it)"
		}
		b.log.Info("join refused: client outdated", "exam", e.ID, "client_version", req.Client.Version, "min_client_version", min)
		apiError(w, http.StatusUpgradeRequired, transport.CodeClientOutdated, msg)
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
	b.prepareSessionFiles(id, jp)
	b.log.Info("session joined", "session", id, "exam", e.ID, "client_app", req.Client.App, "client_version", req.Client.Version, "client_os", req.Client.OS, "client_arch", req.Client.Arch)
	resp, err := b.joinResponse(ctx, id, token)
	if err != nil {
		b.internalError(w, "join: answer", err)
		return
	}
	b.writeJSON(w, http.StatusOK, resp)
}

// handleResume answers a session's join response again, while its token
// is valid (sessionAccess).
func (b *Backend) handleResume(w http.ResponseWriter, r *http.Request) {
	src := sourceKey(r, b.cfg.TrustedProxies)
	if !b.limit(w, limitCheck{l: b.limits.fails, key: src, peek: true}, limitCheck{l: b.limits.resumeSource, key: src}) {
		return
	}
	tok := bearer(r)
	if !b.limit(w, limitCheck{l: b.limits.resumeSession, key: string(tokenHash(tok))}) {
		return
	}
	id, err := b.authSession(r.Context(), tok)
	if err != nil {
		if errors.Is(err, ErrNoSession) {
			b.failed(src)
		}
		b.refuse(w, "resume", err)
		return
	}
	resp, err := b.joinResponse(r.Context(), id, tok)
	if err != nil {
		b.internalError(w, "resume: answer", err)
		return
	}
	b.writeJSON(w, http.StatusOK, resp)
}

// joinPolicy is what a join reads of the exam's signed policy.
type joinPolicy struct {
	MinClientVersion string `json:"min_client_version"`
	Capture          struct {
		Camera struct {
			Enabled bool `json:"enabled"`
		} `json:"camera"`
		Screen struct {
			Enabled bool `json:"enabled"`
		} `json:"screen"`
	} `json:"capture"`
}

// examJoinPolicy reads the min_client_version and the recorded streams of
// the exam's signed policy (the envelope's "policy" object).
func (b *Backend) examJoinPolicy(ctx context.Context, examID string) (joinPolicy, error) {
	var env []byte
	if err := b.db.QueryRowContext(ctx, `SELECT policy FROM exams WHERE id = ?`, examID).Scan(&env); err != nil {
		return joinPolicy{}, err
	}
	var signed struct {
		Policy joinPolicy `json:"policy"`
	}
	if err := json.Unmarshal(env, &signed); err != nil {
		return joinPolicy{}, err
	}
	return signed.Policy, nil
}

// prepareSessionFiles creates a new session's folder and the empty files
// of the tracks its policy records: the heartbeat, the camera's and the
// screen's if enabled, and the stills if either is. On the disk measured
// in the README, creating a file took 0.3 ms and opening an existing one
// 0.02 ms; at an exam's start, 1,000 sessions otherwise created 4,000
// files in the seconds of their first uploads. Best effort: a file that
// is missing is created when its track's first message arrives, as before.
func (b *Backend) prepareSessionFiles(id string, p joinPolicy) {
	if err := b.sessionDir(id); err != nil {
		b.log.Warn("join: create the session's folder", "session", id, "err", err)
		return
	}
	tracks := []uint8{transport.TrackHeartbeat}
	if p.Capture.Camera.Enabled {
		tracks = append(tracks, transport.TrackCamera)
	}
	if p.Capture.Screen.Enabled {
		tracks = append(tracks, transport.TrackScreen)
	}
	if len(tracks) > 1 {
		tracks = append(tracks, transport.TrackStills)
	}
	for _, t := range tracks {
		f, err := os.OpenFile(filepath.Join(b.cfg.DataDir, trackFile(id, t)), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			b.log.Warn("join: create a track's file", "session", id, "err", err)
			return
		}
		f.Close()
	}
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
	src := sourceKey(r, b.cfg.TrustedProxies)
	if !b.limit(w, limitCheck{l: b.limits.fails, key: src, peek: true}) {
		return
	}
	id, err := b.authSession(r.Context(), bearer(r))
	if err != nil {
		if errors.Is(err, ErrNoSession) {
			b.failed(src)
		}
		b.refuse(w, "websocket: find session", err)
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
		w := b.live.watch(id, live) // the dashboard's view of this connection (live.go)
		defer w.done()
		return transport.ServeConn(ctx, conn, w, transport.ServerOptions{Heartbeat: b.cfg.Heartbeat, Log: b.log.With("session", id)})
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
	b.writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "public_key": b.PublicKey()})
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
		// Only the Authorization header: a token in the URL ends up in
		// logs, histories and Referer headers.
		if !equalSecret(bearer(r), b.admin) {
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
	b.writeJSON(w, http.StatusOK, exams)
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
	b.writeJSON(w, http.StatusCreated, e)
}

func (b *Backend) handleListSessions(w http.ResponseWriter, r *http.Request) {
	ss, err := b.ListSessions(r.Context())
	if err != nil {
		b.internalError(w, "list sessions", err)
		return
	}
	b.writeJSON(w, http.StatusOK, ss)
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
	b.writeJSON(w, http.StatusOK, evs)
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
	b.writeJSON(w, http.StatusCreated, map[string]string{"id": id})
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
	if _, err := b.authSession(r.Context(), bearer(r)); err != nil {
		b.refuse(w, "speed test", err)
		return
	}
	start := time.Now()
	n, err := io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, maxSpeedTestBytes))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		apiError(w, http.StatusRequestEntityTooLarge, transport.CodeTooLarge, "speed test upload over 8 MiB")
		return
	case errors.Is(err, os.ErrDeadlineExceeded):
		w.Header().Set("Connection", "close")
		apiError(w, http.StatusRequestTimeout, CodeTimeout, "the upload did not arrive in time")
		return
	case err != nil:
		apiError(w, http.StatusBadRequest, transport.CodeBadRequest, "reading the upload failed")
		return
	}
	b.writeJSON(w, http.StatusOK, transport.SpeedTestResult{Bytes: n, ServerMillis: time.Since(start).Milliseconds()})
}
