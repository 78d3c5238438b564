package backend

import (
	"context"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/websocket"

	"github.com/invigil/invigil/backend/accounts"
	"github.com/invigil/invigil/transport"
)

// The live page's API (docs/dashboard.md "Live"), under accounts.Prefix:
//
//	GET  exams/{exam}/live                   the exam's active sessions, for the grid (polled)
//	GET  sessions/{session}/live?track=[&start=key]  websocket: the track's video (audited session.view)
//	POST sessions/{session}/commands         chat, warn, pause, resume, end, snapshot (CSRF; audited command.<name>)
//	GET  sessions/{session}/snapshots/{seq}  the still a snapshot.taken event at seq announced (audited snapshot.view)
func (b *Backend) mountLive(mux *http.ServeMux, s *accounts.Store) {
	anyone := s.RequireRole()
	proctors := s.RequireRole(accounts.Administrator, accounts.Proctor)
	p := "GET " + accounts.Prefix
	mux.Handle(p+"exams/{exam}/live", anyone(s.RequireExam("exam", http.HandlerFunc(b.handleLiveExam))))
	mux.Handle(p+"sessions/{session}/live", proctors(b.requireSessionExam(s, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.handleLiveVideo(w, r, s)
	}))))
	mux.Handle(p+"sessions/{session}/snapshots/{seq}", anyone(b.requireSessionExam(s, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.handleLiveSnapshot(w, r, s)
	}))))
	mux.Handle("POST "+accounts.Prefix+"sessions/{session}/commands", proctors(s.RequireCSRF(b.requireSessionExam(s, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.handleLiveCommand(w, r, s)
	})))))
}

type ctxSessionExam struct{}

// requireSessionExam is RequireExam for routes that name a session: 404
// for an unknown session, 403 (audited exam.denied) when the user may not
// see its exam.
func (b *Backend) requireSessionExam(s *accounts.Store, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		id := r.PathValue("session")
		var exam string
		err := b.db.QueryRowContext(ctx, `SELECT exam_id FROM sessions WHERE id = ?`, id).Scan(&exam)
		if errors.Is(err, sql.ErrNoRows) {
			apiError(w, http.StatusNotFound, transport.CodeNotFound, "no such session")
			return
		}
		if err != nil {
			b.internalError(w, "dashboard: session's exam", err)
			return
		}
		u := accounts.UserFrom(ctx)
		ok, err := s.CanAccessExam(ctx, u, exam)
		if err != nil {
			b.internalError(w, "dashboard: exam access", err)
			return
		}
		if !ok {
			s.Audit(ctx, accounts.ActorOf(u, s.ClientIP(r)), "exam.denied", exam, r.Method+" "+r.URL.Path)
			apiError(w, http.StatusForbidden, "forbidden", "you are not assigned to this session's exam")
			return
		}
		h.ServeHTTP(w, r.WithContext(context.WithValue(ctx, ctxSessionExam{}, exam)))
	})
}

// LiveSession is one tile of the live grid.
type LiveSession struct {
	ID          string          `json:"session_id"`
	State       string          `json:"state"` // active, paused
	Ending      bool            `json:"ending"`
	Connected   bool            `json:"connected"`
	Connections int             `json:"connections"`
	Keyframes   bool            `json:"keyframes"` // the client answers keyframe requests
	Viewers     int             `json:"viewers"`
	JoinedAt    time.Time       `json:"joined_at"`
	LastHeard   time.Time       `json:"last_heard,omitzero"` // the last stored message
	LastSeq     uint64          `json:"last_seq"`
	Checkpoint  uint64          `json:"checkpoint_seq"` // the last seq the client said it has captured
	Backlog     uint64          `json:"backlog"`        // checkpoint_seq − last_seq: captured, not yet uploaded
	Integrity   string          `json:"integrity"`      // ok, mismatch
	Client      json.RawMessage `json:"client,omitempty"`
	Tracks      []LiveTrack     `json:"tracks"`
	Violations  []LiveViolation `json:"violations"` // open ones
	ViolCount   int             `json:"violation_count"`
	Chat        []LiveChat      `json:"chat"`
	Commands    []LiveCommand   `json:"commands"`
	Snapshots   []LiveSnapshot  `json:"snapshots"`
}

// LiveTrack is a video track's progress.
type LiveTrack struct {
	Name     string    `json:"name"`
	Messages int64     `json:"messages"`
	LastTime time.Time `json:"last_capture,omitzero"`
}

// LiveViolation is an open violation.
type LiveViolation struct {
	ID       string    `json:"id"`
	Code     string    `json:"code"`
	Severity string    `json:"severity"`
	Summary  string    `json:"summary"`
	At       time.Time `json:"at"`
}

// LiveChat is one chat line, the proctor's or the student's.
type LiveChat struct {
	From      string    `json:"from"` // proctor, student
	Text      string    `json:"text"`
	At        time.Time `json:"at"`
	CommandID string    `json:"command_id,omitempty"`
}

// LiveCommand is a proctor's command and how far it got.
type LiveCommand struct {
	ID        string    `json:"id"`
	Command   string    `json:"command"`
	Text      string    `json:"text,omitempty"`
	At        time.Time `json:"at"`
	State     string    `json:"state"` // queued, delivered, acked, acknowledged (a warning the student acknowledged), failed
	Delivered time.Time `json:"delivered_at,omitzero"`
	Acked     time.Time `json:"acked_at,omitzero"`
	// Answer: a warning's acknowledgement time, a snapshot's event seq.
	AnsweredAt time.Time `json:"answered_at,omitzero"`
	Snapshot   uint64    `json:"snapshot_seq,omitempty"`
	Error      string    `json:"error,omitempty"`
}

// LiveSnapshot is a still the client sent (a proctor's request, ID photo,
// room scan), by its snapshot.taken event.
type LiveSnapshot struct {
	Seq    uint64    `json:"seq"`
	Why    string    `json:"why"`
	Source string    `json:"source"`
	At     time.Time `json:"at"`
}

// liveEventTypes are the events the grid shows.
var liveEventTypes = []string{"violation.open", "violation.end", "chat.reply", "warning.acknowledged", "snapshot.taken", "snapshot.failed"}

func (b *Backend) handleLiveExam(w http.ResponseWriter, r *http.Request) {
	out, err := b.liveSessions(r.Context(), r.PathValue("exam"))
	if err != nil {
		b.internalError(w, "dashboard: live sessions", err)
		return
	}
	dashboardJSON(w, map[string]any{"now": b.cfg.Now().UTC(), "sessions": out})
}

// liveSessions lists an exam's active and paused sessions for the grid.
func (b *Backend) liveSessions(ctx context.Context, exam string) ([]LiveSession, error) {
	rows, err := b.db.QueryContext(ctx, `SELECT id, state, end_requested, created_at, updated_at, last_seq, connections, client
		FROM sessions WHERE exam_id = ? AND state IN ('active', 'paused') ORDER BY created_at, id`, exam)
	if err != nil {
		return nil, err
	}
	out := []LiveSession{}
	for rows.Next() {
		var s LiveSession
		var created, updated int64
		var client string
		if err := rows.Scan(&s.ID, &s.State, &s.Ending, &created, &updated, &s.LastSeq, &s.Connections, &client); err != nil {
			rows.Close()
			return nil, err
		}
		s.JoinedAt = time.UnixMicro(created).UTC()
		if s.LastSeq > 0 {
			s.LastHeard = time.UnixMicro(updated).UTC()
		}
		if json.Valid([]byte(client)) {
			s.Client = json.RawMessage(client)
		}
		out = append(out, s)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i := range out {
		if err := b.liveDetails(ctx, &out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (b *Backend) liveDetails(ctx context.Context, s *LiveSession) error {
	li := b.live.info(s.ID)
	s.Connected, s.Keyframes, s.Viewers = li.connected, li.keyframeOK, li.viewers
	var cp sql.NullInt64
	var mismatches int
	if err := b.db.QueryRowContext(ctx, `SELECT max(seq), count(CASE WHEN status = 'mismatch' THEN 1 END) FROM checkpoints WHERE session_id = ?`, s.ID).Scan(&cp, &mismatches); err != nil {
		return err
	}
	s.Checkpoint = uint64(cp.Int64)
	if s.Checkpoint > s.LastSeq {
		s.Backlog = s.Checkpoint - s.LastSeq
	}
	s.Integrity = "ok"
	if mismatches > 0 {
		s.Integrity = "mismatch"
	}
	s.Tracks = []LiveTrack{}
	trows, err := b.db.QueryContext(ctx, `SELECT track, messages, last_time FROM tracks WHERE session_id = ? AND track IN (?, ?) ORDER BY track`, s.ID, transport.TrackCamera, transport.TrackScreen)
	if err != nil {
		return err
	}
	for trows.Next() {
		var t LiveTrack
		var n uint8
		var last int64
		if err := trows.Scan(&n, &t.Messages, &last); err != nil {
			trows.Close()
			return err
		}
		t.Name = transport.TrackName(n)
		if lt, ok := jsonTime(last); ok {
			t.LastTime = lt
		}
		s.Tracks = append(s.Tracks, t)
	}
	trows.Close()
	if err := trows.Err(); err != nil {
		return err
	}

	// Commands (the keyframe requests are the relay's, not the proctor's).
	cmds := map[string]*LiveCommand{}
	s.Commands = []LiveCommand{}
	crows, err := b.db.QueryContext(ctx, `SELECT id, command, text, created_at, acked_at FROM commands WHERE session_id = ? AND command != ? ORDER BY created_at, id`, s.ID, transport.CommandKeyframe)
	if err != nil {
		return err
	}
	for crows.Next() {
		var c LiveCommand
		var at int64
		var acked sql.NullInt64
		if err := crows.Scan(&c.ID, &c.Command, &c.Text, &at, &acked); err != nil {
			crows.Close()
			return err
		}
		c.At = time.UnixMicro(at).UTC()
		c.State = "queued"
		if d, ok := li.delivered[c.ID]; ok {
			c.State, c.Delivered = "delivered", d.UTC()
		}
		if acked.Valid {
			c.State, c.Acked = "acked", time.UnixMicro(acked.Int64).UTC()
		}
		s.Commands = append(s.Commands, c)
	}
	crows.Close()
	if err := crows.Err(); err != nil {
		return err
	}
	for i := range s.Commands {
		c := &s.Commands[i]
		cmds[c.ID] = c
		if c.Command == transport.CommandChat {
			s.Chat = append(s.Chat, LiveChat{From: "proctor", Text: c.Text, At: c.At, CommandID: c.ID})
		}
	}

	// Events.
	q := `SELECT seq, time, type, body FROM events WHERE session_id = ? AND type IN (?` + strings.Repeat(",?", len(liveEventTypes)-1) + `) ORDER BY seq`
	args := []any{s.ID}
	for _, t := range liveEventTypes {
		args = append(args, t)
	}
	erows, err := b.db.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer erows.Close()
	open := map[string]LiveViolation{}
	var order []string
	for erows.Next() {
		var seq uint64
		var at int64
		var typ, body string
		if err := erows.Scan(&seq, &at, &typ, &body); err != nil {
			return err
		}
		t, _ := jsonTime(at)
		var ev struct {
			ID        string `json:"id"`
			Code      string `json:"code"`
			Severity  string `json:"severity"`
			Summary   string `json:"summary"`
			Text      string `json:"text"`
			CommandID string `json:"command_id"`
			Why       string `json:"why"`
			Source    string `json:"source"`
			Error     string `json:"error"`
		}
		json.Unmarshal([]byte(body), &ev) // a malformed body shows with empty fields
		switch typ {
		case "violation.open":
			s.ViolCount++
			if _, ok := open[ev.ID]; !ok {
				order = append(order, ev.ID)
			}
			open[ev.ID] = LiveViolation{ID: ev.ID, Code: ev.Code, Severity: ev.Severity, Summary: ev.Summary, At: t}
		case "violation.end":
			delete(open, ev.ID)
		case "chat.reply":
			s.Chat = append(s.Chat, LiveChat{From: "student", Text: ev.Text, At: t, CommandID: ev.CommandID})
		case "warning.acknowledged":
			if c, ok := cmds[ev.CommandID]; ok {
				c.State, c.AnsweredAt = "acknowledged", t
			}
		case "snapshot.taken":
			s.Snapshots = append(s.Snapshots, LiveSnapshot{Seq: seq, Why: ev.Why, Source: ev.Source, At: t})
			if c, ok := cmds[ev.Why]; ok {
				c.Snapshot, c.AnsweredAt = seq, t
			}
		case "snapshot.failed":
			if c, ok := cmds[ev.CommandID]; ok {
				c.State, c.Error = "failed", ev.Error
			}
		}
	}
	if err := erows.Err(); err != nil {
		return err
	}
	s.Violations = []LiveViolation{}
	for _, id := range order {
		if v, ok := open[id]; ok {
			s.Violations = append(s.Violations, v)
		}
	}
	if s.Chat == nil {
		s.Chat = []LiveChat{}
	}
	sortChat(s.Chat)
	if s.Snapshots == nil {
		s.Snapshots = []LiveSnapshot{}
	}
	return nil
}

func sortChat(c []LiveChat) {
	// Insertion sort: short lists, mostly in order already.
	for i := 1; i < len(c); i++ {
		for j := i; j > 0 && c[j].At.Before(c[j-1].At); j-- {
			c[j], c[j-1] = c[j-1], c[j]
		}
	}
}

// liveCommands are the commands the page may send.
var liveCommands = map[string]bool{
	transport.CommandChat: true, transport.CommandWarn: true, transport.CommandPause: true,
	transport.CommandResume: true, transport.CommandEnd: true, transport.CommandSnapshot: true,
}

func (b *Backend) handleLiveCommand(w http.ResponseWriter, r *http.Request, s *accounts.Store) {
	ctx := r.Context()
	if !isJSON(r) {
		apiError(w, http.StatusUnsupportedMediaType, CodeUnsupportedMediaType, "send the command as application/json")
		return
	}
	var req struct {
		Command string `json:"command"`
		Text    string `json:"text"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&req); err != nil {
		apiError(w, http.StatusBadRequest, transport.CodeBadRequest, "the body is not a command: "+err.Error())
		return
	}
	req.Text = strings.TrimSpace(req.Text)
	switch {
	case !liveCommands[req.Command]:
		apiError(w, http.StatusBadRequest, transport.CodeBadRequest, "unknown command "+strconv.Quote(req.Command))
		return
	case (req.Command == transport.CommandChat || req.Command == transport.CommandWarn || req.Command == transport.CommandEnd) && req.Text == "":
		apiError(w, http.StatusBadRequest, transport.CodeBadRequest, req.Command+" needs a text (the message, the warning, the reason)")
		return
	case len(req.Text) > 4000:
		apiError(w, http.StatusBadRequest, transport.CodeBadRequest, "the text is over 4000 bytes")
		return
	}
	if req.Command == transport.CommandResume || req.Command == transport.CommandSnapshot {
		req.Text = ""
	}
	session := r.PathValue("session")
	id, err := b.SendCommand(ctx, session, req.Command, req.Text)
	if err != nil {
		if errors.Is(err, ErrNoSession) {
			apiError(w, http.StatusNotFound, transport.CodeNotFound, "no such session")
			return
		}
		apiError(w, http.StatusConflict, transport.CodeConflict, err.Error())
		return
	}
	u := accounts.UserFrom(ctx)
	detail := id
	if req.Text != "" {
		detail += ": " + req.Text
	}
	if err := s.Audit(ctx, accounts.ActorOf(u, s.ClientIP(r)), "command."+req.Command, session, detail); err != nil {
		b.internalError(w, "dashboard: audit", err)
		return
	}
	dashboardJSON(w, map[string]string{"id": id})
}

func isJSON(r *http.Request) bool {
	ct := r.Header.Get("Content-Type")
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	return strings.EqualFold(strings.TrimSpace(ct), "application/json")
}

// handleLiveSnapshot serves the still announced by the snapshot.taken event
// at seq: the last message of the stills track before that event.
func (b *Backend) handleLiveSnapshot(w http.ResponseWriter, r *http.Request, s *accounts.Store) {
	ctx := r.Context()
	session := r.PathValue("session")
	seq, err := strconv.ParseUint(r.PathValue("seq"), 10, 64)
	if err != nil {
		apiError(w, http.StatusBadRequest, transport.CodeBadRequest, "seq is not a number")
		return
	}
	var typ string
	err = b.db.QueryRowContext(ctx, `SELECT type FROM events WHERE session_id = ? AND seq = ?`, session, seq).Scan(&typ)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && typ != "snapshot.taken") {
		apiError(w, http.StatusNotFound, transport.CodeNotFound, "no snapshot at that seq")
		return
	}
	if err != nil {
		b.internalError(w, "dashboard: snapshot event", err)
		return
	}
	var file string
	err = b.db.QueryRowContext(ctx, `SELECT file FROM tracks WHERE session_id = ? AND track = ?`, session, transport.TrackStills).Scan(&file)
	if errors.Is(err, sql.ErrNoRows) {
		apiError(w, http.StatusNotFound, transport.CodeNotFound, "the session has no stills")
		return
	}
	if err != nil {
		b.internalError(w, "dashboard: stills track", err)
		return
	}
	frames, err := ReadRawTrack(filepath.Join(b.cfg.DataDir, file))
	if err != nil {
		b.internalError(w, "dashboard: read stills", err)
		return
	}
	var still []byte
	for _, f := range frames {
		if f.Seq < seq {
			still = f.Payload
		}
	}
	if still == nil {
		apiError(w, http.StatusNotFound, transport.CodeNotFound, "the still has not arrived")
		return
	}
	u := accounts.UserFrom(ctx)
	if err := s.Audit(ctx, accounts.ActorOf(u, s.ClientIP(r)), "snapshot.view", session, strconv.FormatUint(seq, 10)); err != nil {
		b.internalError(w, "dashboard: audit", err)
		return
	}
	w.Header().Set("Content-Type", "image/jpeg")
	w.Write(still)
}

// A video message on the live websocket is binary: flags (1 byte, bit 0
// keyframe), seq (8), capture time in µs (8), then the Annex-B access unit.
const liveHeaderBytes = 17

func (b *Backend) handleLiveVideo(w http.ResponseWriter, r *http.Request, s *accounts.Store) {
	ctx := r.Context()
	session := r.PathValue("session")
	name := r.URL.Query().Get("track")
	track, ok := map[string]uint8{"camera": transport.TrackCamera, "screen": transport.TrackScreen}[name]
	if !ok {
		apiError(w, http.StatusBadRequest, transport.CodeBadRequest, "track must be camera or screen")
		return
	}
	if err := liveOrigin(r); err != nil {
		apiError(w, http.StatusForbidden, "csrf", err.Error())
		return
	}
	if !b.enter() {
		apiError(w, http.StatusServiceUnavailable, transport.CodeUnavailable, "the backend is shutting down")
		return
	}
	defer b.conns.Done()
	u := accounts.UserFrom(ctx)
	if b.live.firstView(u.ID+"|"+session+"|"+name, b.cfg.Now()) {
		if err := s.Audit(ctx, accounts.ActorOf(u, s.ClientIP(r)), "session.view", session, name); err != nil {
			b.live.forgetView(u.ID + "|" + session + "|" + name)
			b.internalError(w, "dashboard: audit", err)
			return
		}
	}
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }} // liveOrigin checked it
	conn, err := up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer conn.Close()
	v, cached, cancel := b.live.subscribe(session, track, r.URL.Query().Get("start") == "key")
	defer cancel()

	// One reader (it only notices the close), one writer (this goroutine,
	// which also pings).
	cctx, stop := context.WithCancel(b.ctx)
	defer stop()
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		defer stop()
		conn.SetReadLimit(4096)
		for {
			if _, _, err := conn.ReadMessage(); err != nil {
				return
			}
		}
	}()
	defer func() { conn.Close(); <-readDone }()
	write := func(typ int, p []byte) error {
		conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
		return conn.WriteMessage(typ, p)
	}
	hello, _ := json.Marshal(map[string]any{"type": "hello", "track": name, "cached": cached})
	if write(websocket.TextMessage, hello) != nil {
		return
	}
	ping := time.NewTicker(15 * time.Second)
	defer ping.Stop()
	buf := make([]byte, 0, 64<<10)
	for {
		select {
		case <-cctx.Done():
			conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, ""), time.Now().Add(time.Second))
			return
		case <-ping.C:
			if conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(10*time.Second)) != nil {
				return
			}
		case f := <-v.ch:
			v.taken(f)
			buf = buf[:0]
			var flags byte
			if f.key {
				flags = 1
			}
			buf = append(buf, flags)
			buf = binary.BigEndian.AppendUint64(buf, f.seq)
			buf = binary.BigEndian.AppendUint64(buf, uint64(f.time))
			buf = append(buf, f.data...)
			if write(websocket.BinaryMessage, buf) != nil {
				return
			}
		}
	}
}

// liveOrigin requires a browser's websocket to come from this server's own
// page: Origin must be present and name this host (a websocket is not
// bound by CORS, so without this any site the proctor visits could open
// one with their cookie... SameSite=Strict stops that too, and this
// check does not rely on it).
func liveOrigin(r *http.Request) error {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return errors.New("a live video socket needs an Origin header")
	}
	u, err := url.Parse(origin)
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if err != nil || !strings.EqualFold(u.Scheme, scheme) || !strings.EqualFold(u.Host, r.Host) {
		return errors.New("cross-origin live video socket from " + origin)
	}
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" {
		return errors.New("cross-site live video socket (Sec-Fetch-Site: " + site + ")")
	}
	return nil
}
