package backend

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/invigil/invigil/transport"
)

// Session states as stored.
const (
	stateActive   = "active"
	statePaused   = "paused"
	stateFinished = "finished" // the student finished
	stateEnded    = "ended"    // a proctor ended the attempt
)

// liveSession is one connection's view of a session: it implements
// transport.ServerSession. A connection gets a fresh one, loaded from the
// store at hello, so that nothing a failed connection held in memory survives
// it.
type liveSession struct {
	b         *Backend
	id        string
	configKey string
	joined    time.Time // the join: capture times before it are suspect

	lastSeq    uint64
	digest     [32]byte
	tracks     map[uint8]*liveTrack
	dirReady   bool      // sessionDir ran for this connection (dir)
	refused    *rawTrack // the session's refused messages; nil until one
	refusedEnd int64     // its committed size at hello (0: none yet)
	budget     *timeBudget
	broken     error // a failed Store: this connection must end

	// Checkpoints (checkpoint.go). The reader queues them in cpIn; the
	// storer settles them against what it stores.
	cpMu       sync.Mutex
	cpIn       []receivedCheckpoint          // queued by the reader, not yet written
	cpPending  int                           // len(pendingCps), for the reader's bound
	pendingCps map[uint64]receivedCheckpoint // written as pending: waiting for their data (storer only)
	prevChain  storedChain                   // the digests of the last stored batch (storer only)
}

type liveTrack struct {
	track   uint8
	kind    transport.Kind
	file    string // relative to the data dir; "" for events
	w       trackWriter
	stats   trackStats
	touched bool
}

type trackStats struct {
	Messages  int64
	Bytes     int64
	FirstSeq  uint64
	LastSeq   uint64
	FirstTime int64
	LastTime  int64
}

func (b *Backend) newLiveSession(id string) *liveSession {
	return &liveSession{b: b, id: id, tracks: map[uint8]*liveTrack{}, budget: newTimeBudget(ingestCPURate, ingestCPUBurst)}
}

// Hello implements transport.ServerSession.
func (s *liveSession) Hello(ctx context.Context, h *transport.Control) (uint64, string, error) {
	if h.SessionID != s.id {
		return 0, "", &transport.RemoteError{Code: transport.CodeUnauthorized, Message: "the hello names another session than the token's"}
	}
	var state string
	var last, joined int64
	var digest []byte
	err := s.b.db.QueryRowContext(ctx, `SELECT s.state, s.last_seq, s.digest, s.created_at, e.config_key FROM sessions s JOIN exams e ON e.id = s.exam_id WHERE s.id = ?`, s.id).
		Scan(&state, &last, &digest, &joined, &s.configKey)
	if err != nil {
		return 0, "", fmt.Errorf("load session: %w", err)
	}
	if state == stateFinished || state == stateEnded {
		return 0, "", &transport.RemoteError{Code: transport.CodeSessionFinished, Message: "this session is " + state}
	}
	if h.ConfigKey != s.configKey {
		s.b.log.Warn("config key mismatch", "session", s.id)
		return 0, "", &transport.RemoteError{Code: transport.CodeConfigKeyMismatch, Message: "this client enforces another policy than the exam's (config key mismatch)"}
	}
	s.lastSeq = uint64(last)
	s.joined = time.UnixMicro(joined)
	copy(s.digest[:], digest)
	if err := s.loadTracks(ctx); err != nil {
		return 0, "", err
	}
	if err := s.loadRefused(ctx); err != nil {
		return 0, "", err
	}
	if err := s.loadPendingCheckpoints(ctx); err != nil {
		return 0, "", err
	}
	s.prevChain = storedChain{base: s.lastSeq, baseD: s.digest}
	// Counted through the committer (a write of its own would wait for
	// the committer's transaction, holding a pooled connection
	// meanwhile), and without waiting for the commit: requests commit in
	// queue order, so the count is in before this connection's first
	// ack, and the welcome does not wait for a batch of every other
	// session's stores (most of a second when a thousand clients
	// connect at once).
	counted, err := s.b.tx.queue(ctx, "", func(tx *sql.Tx) error {
		_, err := s.b.tx.exec(tx, `UPDATE sessions SET connections = connections + 1 WHERE id = ?`, s.id)
		return err
	})
	if err != nil {
		return 0, "", err
	}
	go func() {
		if err := <-counted; err != nil {
			s.b.log.Error("count connection", "session", s.id, "err", err)
		}
	}()
	if state != statePaused {
		state = transport.StateActive
	}
	return s.lastSeq, state, nil
}

// loadTracks reopens the session's track writers at their committed state.
func (s *liveSession) loadTracks(ctx context.Context) error {
	rows, err := s.b.db.QueryContext(ctx, `SELECT track, kind, file, messages, bytes, first_seq, last_seq, first_time, last_time, state FROM tracks WHERE session_id = ?`, s.id)
	if err != nil {
		return fmt.Errorf("load tracks: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var lt liveTrack
		var kind string
		var state []byte
		st := &lt.stats
		if err := rows.Scan(&lt.track, &kind, &lt.file, &st.Messages, &st.Bytes, &st.FirstSeq, &st.LastSeq, &st.FirstTime, &st.LastTime, &state); err != nil {
			return err
		}
		lt.kind, _ = transport.TrackKind(lt.track)
		if lt.file != "" {
			if lt.w, err = s.b.openTrack(lt.kind, filepath.Join(s.b.cfg.DataDir, lt.file), state); err != nil {
				return fmt.Errorf("reopen track %s: %w", lt.file, err)
			}
		}
		s.tracks[lt.track] = &lt
	}
	return rows.Err()
}

func (b *Backend) openTrack(kind transport.Kind, path string, state []byte) (trackWriter, error) {
	if kind == transport.KindMedia {
		return openMP4Track(path, state)
	}
	return openRawTrack(path, state)
}

// trackFile is where a track is stored, relative to the data dir: video as
// fragmented MP4, everything else as a raw record file.
func trackFile(sessionID string, track uint8) string {
	ext := ".ivr"
	if kind, _ := transport.TrackKind(track); kind == transport.KindMedia {
		ext = ".mp4"
	}
	return filepath.Join("sessions", sessionID, transport.TrackName(track)+ext)
}

func (s *liveSession) track(n uint8) (*liveTrack, error) {
	if t, ok := s.tracks[n]; ok {
		return t, nil
	}
	kind, _ := transport.TrackKind(n)
	t := &liveTrack{track: n, kind: kind}
	if kind != transport.KindEvent {
		t.file = trackFile(s.id, n)
		path := filepath.Join(s.b.cfg.DataDir, t.file)
		if err := s.dir(); err != nil {
			return nil, err
		}
		w, err := s.b.openTrack(kind, path, nil)
		if err != nil {
			return nil, err
		}
		t.w = w
	}
	s.tracks[n] = t
	return t, nil
}

// dir makes sure the session's folder exists, once per connection (the
// join created it; this checks its mode, in three system calls).
func (s *liveSession) dir() error {
	if s.dirReady {
		return nil
	}
	if err := s.b.sessionDir(s.id); err != nil {
		return err
	}
	s.dirReady = true
	return nil
}

type eventRow struct {
	seq  uint64
	time int64
	typ  string
	body string
}

// Store implements transport.ServerSession: files first (written and
// fsynced), then one SQLite transaction with the events, the tracks' new
// state and the session's last seq and digest. Only after that commit does
// transport ack. A session over its time budget waits first (budget.go).
func (s *liveSession) Store(ctx context.Context, frames []transport.Frame) error {
	if s.broken != nil {
		return s.broken
	}
	if d := s.budget.wait(time.Now()); d > 0 {
		s.b.log.Warn("session over its ingest time budget: slowing it down", "session", s.id, "wait", d)
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return context.Cause(ctx)
		}
	}
	err := s.store(ctx, frames)
	if err != nil {
		s.broken = err
		s.prevChain = storedChain{} // its digests were never committed
		s.closeTracks()
	}
	return err
}

func (s *liveSession) store(ctx context.Context, frames []transport.Frame) error {
	work := time.Now()
	var events []eventRow
	var refused []refusal
	perTrack := map[*liveTrack][]transport.Frame{}
	digest := s.digest
	now := s.b.cfg.Now()
	digests := make([][32]byte, 0, len(frames)) // for checkpoints: digests[i] is through frames[i]
	for _, f := range frames {
		// Every message received is in the digest, refused ones too:
		// they are stored, in the refused file.
		digest = transport.Chain(digest, f.Raw)
		digests = append(digests, digest)
		if r := s.check(f, now); r != nil {
			refused = append(refused, *r)
			continue
		}
		t, err := s.track(f.Track)
		if err != nil {
			return err
		}
		st := &t.stats
		if st.Messages == 0 {
			st.FirstSeq, st.FirstTime = f.Seq, f.Time.UnixMicro()
		}
		st.Messages++
		st.Bytes += int64(len(f.Payload))
		st.LastSeq, st.LastTime = f.Seq, f.Time.UnixMicro()
		t.touched = true
		if t.kind == transport.KindEvent {
			typ, body := eventBody(f.Payload)
			events = append(events, eventRow{seq: f.Seq, time: f.Time.UnixMicro(), typ: typ, body: body})
			continue
		}
		perTrack[t] = append(perTrack[t], f)
	}
	for t, fs := range perTrack {
		if err := t.w.Write(fs); err != nil {
			return fmt.Errorf("write %s: %w", t.file, err)
		}
	}
	if len(refused) > 0 {
		ev, err := s.keepRefused(refused, now)
		if err != nil {
			return err
		}
		events = append(events, ev...)
	}
	s.budget.spend(time.Since(work), time.Now())
	// The files must be durable before the transaction that records them
	// commits. Where one flush of the file system serves every session
	// (filesync.go), the committer runs it beside the batch's statements;
	// elsewhere each session syncs its own files first.
	files := make([]syncable, 0, len(perTrack)+1)
	for t := range perTrack {
		files = append(files, t.w)
	}
	if len(refused) > 0 {
		files = append(files, s.refused)
	}
	flush := ""
	if len(files) > 0 && canSyncFS() {
		flush = filepath.Join(s.b.cfg.DataDir, "sessions")
	} else if err := s.b.tx.files.sync("", files); err != nil {
		return fmt.Errorf("sync track files: %w", err)
	}
	// Everything the transaction writes is ready before it is queued: the
	// committer runs every session's statements in turn, so work done
	// here runs in parallel instead.
	rows, args, err := s.trackRows()
	if err != nil {
		return err
	}
	last := frames[len(frames)-1].Seq
	cps := s.checkpointRows(storedChain{base: s.lastSeq, baseD: s.digest, digests: digests})
	err = s.b.tx.doFlushed(ctx, flush, func(tx *sql.Tx) error {
		for _, e := range events {
			if _, err := s.b.tx.exec(tx, `INSERT INTO events(session_id, seq, time, type, body) VALUES (?,?,?,?,?)`, s.id, e.seq, e.time, e.typ, e.body); err != nil {
				return fmt.Errorf("insert event: %w", err)
			}
		}
		if rows > 0 {
			if _, err := s.b.tx.exec(tx, upsertTracks(rows), args...); err != nil {
				return fmt.Errorf("update tracks: %w", err)
			}
		}
		res, err := s.b.tx.exec(tx, `UPDATE sessions SET last_seq = ?, digest = ?, updated_at = ? WHERE id = ? AND last_seq = ?`, last, digest[:], micros(now), s.id, s.lastSeq)
		if err != nil {
			return fmt.Errorf("update session: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return errors.New("update session: another connection stored concurrently")
		}
		return s.writeCheckpoints(tx, cps, micros(now))
	})
	if err != nil {
		return err
	}
	s.logMismatches(cps)
	for _, t := range s.tracks {
		t.touched = false
	}
	s.lastSeq, s.digest = last, digest
	for t, fs := range perTrack {
		s.b.live.publish(s.id, t.track, fs) // durable now: relay to live viewers (live.go)
	}
	return nil
}

// trackRows returns the touched tracks' rows for upsertTracks: how many,
// and their arguments in order.
func (s *liveSession) trackRows() (int, []any, error) {
	var args []any
	n := 0
	for _, t := range s.tracks {
		if !t.touched {
			continue
		}
		var state []byte
		if t.w != nil {
			var err error
			if state, err = t.w.State(); err != nil {
				return 0, nil, err
			}
		}
		st := t.stats
		args = append(args, s.id, t.track, t.kind.String(), t.file, st.Messages, st.Bytes, st.FirstSeq, st.LastSeq, st.FirstTime, st.LastTime, state)
		n++
	}
	return n, args, nil
}

// upsertTracks is the statement that writes n tracks' rows at once (one
// statement per store, not one per track).
func upsertTracks(n int) string {
	if n < len(upsertTracksSQL) && upsertTracksSQL[n] != "" {
		return upsertTracksSQL[n]
	}
	return buildUpsertTracks(n)
}

var upsertTracksSQL = func() []string {
	q := make([]string, 8)
	for n := 1; n < len(q); n++ {
		q[n] = buildUpsertTracks(n)
	}
	return q
}()

func buildUpsertTracks(n int) string {
	var b strings.Builder
	b.WriteString(`INSERT INTO tracks(session_id, track, kind, file, messages, bytes, first_seq, last_seq, first_time, last_time, state) VALUES `)
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(?,?,?,?,?,?,?,?,?,?,?)")
	}
	b.WriteString(` ON CONFLICT(session_id, track) DO UPDATE SET messages=excluded.messages, bytes=excluded.bytes,
		last_seq=excluded.last_seq, last_time=excluded.last_time, state=excluded.state`)
	return b.String()
}

// eventBody extracts an event's type. A payload that is not a JSON object
// with a string "type" is still stored (nothing a client sent is dropped),
// wrapped as an "invalid" event; so is one whose type claims the backend's
// prefix "ingest.".
func eventBody(p []byte) (string, string) {
	var head struct {
		Type string `json:"type"`
	}
	if json.Unmarshal(p, &head) == nil && head.Type != "" && len(head.Type) <= 64 && !strings.HasPrefix(head.Type, backendEventPrefix) {
		return head.Type, string(p)
	}
	b, _ := json.Marshal(map[string]string{"type": "invalid", "raw_base64": base64.StdEncoding.EncodeToString(p)})
	return "invalid", string(b)
}

func (s *liveSession) closeTracks() {
	for _, t := range s.tracks {
		if t.w != nil {
			t.w.Close()
		}
	}
	s.tracks = map[uint8]*liveTrack{}
	if s.refused != nil {
		s.refused.Close()
		s.refused = nil
	}
}

// Commands implements transport.ServerSession.
func (s *liveSession) Commands() ([]transport.Control, <-chan struct{}) {
	ch := s.b.commandsChanged(s.id)
	cmds, err := s.b.pendingCommands(context.Background(), s.id)
	if err != nil {
		s.b.log.Error("load commands", "session", s.id, "err", err)
	}
	return cmds, ch
}

// AckCommand implements transport.ServerSession.
func (s *liveSession) AckCommand(id string) error {
	_, err := s.b.db.Exec(`UPDATE commands SET acked_at = ? WHERE id = ? AND session_id = ? AND acked_at IS NULL`, micros(s.b.cfg.Now()), id, s.id)
	return err
}

// Finish implements transport.ServerSession.
func (s *liveSession) Finish(ctx context.Context, lastSeq uint64) (string, error) {
	now := micros(s.b.cfg.Now())
	var cps []checkpointWrite
	if s.pendingCps != nil {
		cps = s.checkpointRows(storedChain{base: s.lastSeq, baseD: s.digest})
	}
	err := s.b.tx.do(ctx, func(tx *sql.Tx) error {
		if err := s.writeCheckpoints(tx, cps, now); err != nil {
			return err
		}
		_, err := tx.Exec(`UPDATE sessions SET state = CASE WHEN end_requested = 1 THEN 'ended' ELSE 'finished' END, finished_at = ?, updated_at = ? WHERE id = ?`, now, now, s.id)
		return err
	})
	if err != nil {
		return "", err
	}
	s.logMismatches(cps)
	s.closeTracks()
	return hex.EncodeToString(s.digest[:]), nil
}

// close records the checkpoints still queued and releases the session's
// files when its connection ends.
func (s *liveSession) close() {
	if s.broken == nil {
		s.flushCheckpoints()
	}
	s.closeTracks()
}

// sessionGate lets one connection per session store at a time; a newer
// connection replaces an older one.
type sessionGate struct {
	sem    chan struct{}
	cancel context.CancelCauseFunc
	users  int // connections holding or waiting for sem; under Backend.mu
}

// serveSession runs a connection for session id under its gate. The gate,
// and the channel that wakes the session's writer for a new command, live
// while a connection of the session does: a backend that serves exam
// after exam keeps them per connected session, not per session it ever
// served.
func (b *Backend) serveSession(ctx context.Context, id string, serve func(context.Context, *liveSession) error) error {
	b.mu.Lock()
	g, ok := b.gates[id]
	if !ok {
		g = &sessionGate{sem: make(chan struct{}, 1)}
		b.gates[id] = g
	}
	g.users++
	if g.cancel != nil {
		g.cancel(transport.ErrReplaced)
	}
	cctx, cancel := context.WithCancelCause(ctx)
	g.cancel = cancel
	b.mu.Unlock()
	defer cancel(nil)
	defer func() {
		b.mu.Lock()
		if g.users--; g.users == 0 {
			delete(b.gates, id)
			delete(b.cmdCh, id) // its only waiters were this session's connections
		}
		b.mu.Unlock()
	}()

	select {
	case g.sem <- struct{}{}:
	case <-cctx.Done():
		return context.Cause(cctx)
	case <-time.After(30 * time.Second):
		return errors.New("the previous connection of this session did not stop")
	}
	defer func() { <-g.sem }()
	live := b.newLiveSession(id)
	defer live.close()
	return serve(cctx, live)
}
