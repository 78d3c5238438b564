package exam

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"github.com/invigil/invigil/transport"
)

// Session is a joined exam session while it runs: the spool, the transport
// client and what was produced. Producers (lockdown's monitor, capture's
// streams, the UI) hand it messages; it publishes commands and status.
type Session struct {
	j     *Joined
	log   *slog.Logger
	now   func() time.Time
	spool *transport.Spool
	tc    *transport.Client

	commands chan transport.Command

	mu       sync.Mutex
	produced map[uint8]int // messages this run, per track
	bytes    int64
	sendErr  error // the first Send failure (spool or disk full)
}

// SessionOptions tunes a Session.
type SessionOptions struct {
	Log *slog.Logger
	Now func() time.Time
	// OnStatus is called on connection and backlog changes; it must not block.
	OnStatus func(transport.Status)
	// Spool overrides the spool's size cap and sync settings.
	Spool transport.SpoolOptions
	// MinBackoff and MaxBackoff override the reconnect backoff (tests).
	MinBackoff, MaxBackoff time.Duration
}

// Start opens the spool and starts delivery. Nothing is captured yet: the
// caller starts producers after consent.
func Start(j *Joined, opts SessionOptions) (*Session, error) {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	spool, err := transport.OpenSpool(j.SpoolDir, j.Resp.SpoolKey, opts.Spool)
	if err != nil {
		return nil, err
	}
	s := &Session{j: j, log: opts.Log, now: opts.Now, spool: spool,
		commands: make(chan transport.Command, 32), produced: map[uint8]int{}}
	s.tc, err = transport.NewClient(transport.ClientConfig{
		URL: j.Resp.WSURL, Token: j.Resp.Token, SessionID: j.Resp.SessionID, ConfigKey: j.ConfigKey,
		Info:     transport.ClientInfo{App: "invigil", Version: Version, OS: runtime.GOOS, Arch: runtime.GOARCH},
		Spool:    spool,
		Handler:  commandSink{s},
		OnStatus: opts.OnStatus, Log: opts.Log,
		MinBackoff: opts.MinBackoff, MaxBackoff: opts.MaxBackoff,
	})
	if err != nil {
		spool.Close()
		return nil, err
	}
	s.tc.Start()
	if a := j.SetAside; a != nil {
		// The proctor learns that recording of an earlier session on this
		// computer could not be delivered.
		if err := s.Event("spool.set_aside", map[string]any{"segments": a.Segments, "why": a.Why}); err != nil {
			s.log.Warn("could not record the set-aside spool", "err", err)
		}
	}
	if typ, fields, ok := keptEvent(j); ok {
		if err := s.Event(typ, fields); err != nil {
			s.log.Warn("could not record the kept sessions", "err", err)
		}
	}
	return s, nil
}

// keptEvent is what the proctor learns of other exams' unfinished sessions
// kept on this computer (Joined.Kept): that they exist, how much recording
// waits in them and whether they belong to this server, but not which
// exams they are (another exam's business).
func keptEvent(j *Joined) (string, map[string]any, bool) {
	if len(j.Kept) == 0 {
		return "", nil, false
	}
	segs, same := 0, 0
	for _, k := range j.Kept {
		segs += k.Segments
		if k.SameServer {
			same++
		}
	}
	return "spool.other_session_kept", map[string]any{"sessions": len(j.Kept), "segments": segs, "same_server": same}, true
}

// Damaged returns an error wrapping transport.ErrSpoolDamaged when part of
// the recording was lost from the local spool (damaged or deleted files), or
// an earlier session's spool had to be set aside undelivered; nil otherwise.
// The proctor has an event for each; the session goes on.
func (s *Session) Damaged() error {
	d := s.spool.Status().Damage
	switch {
	case d.Lost > 0:
		return fmt.Errorf("%w: %d messages (seq %d to %d) could not be read; the damaged files are kept in %s",
			transport.ErrSpoolDamaged, d.Lost, d.LostFrom, d.LostTo, d.Aside)
	case s.j.SetAside != nil:
		return fmt.Errorf("%w: an earlier session's recording could not be resumed (%s) and was moved to %s",
			transport.ErrSpoolDamaged, s.j.SetAside.Why, s.j.SetAside.Dir)
	}
	return nil
}

// commandSink hands the backend's commands to whoever reads Commands.
type commandSink struct{ s *Session }

func (c commandSink) Command(ctx context.Context, cmd transport.Command) {
	select {
	case c.s.commands <- cmd:
	case <-ctx.Done():
	}
}

// Joined is the joined session.
func (s *Session) Joined() *Joined { return s.j }

// Commands delivers the backend's commands (chat, warn, pause, resume, end,
// snapshot) in order. Read it: the transport waits while it is full.
func (s *Session) Commands() <-chan transport.Command { return s.commands }

// Send spools m for delivery. After the first failure (spool or disk full)
// every Send fails: the caller stops capture and tells the student, and
// everything spooled so far is still delivered.
func (s *Session) Send(m transport.Message) error {
	_, err := s.SendSeq(m)
	return err
}

// SendSeq is Send that also returns the message's sequence number, so a
// caller can follow its upload (Acked).
func (s *Session) SendSeq(m transport.Message) (uint64, error) {
	if m.Time.IsZero() {
		m.Time = s.now()
	}
	seq, err := s.spool.Append(m)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		if s.sendErr == nil {
			s.sendErr = err
			s.log.Error("cannot spool more data; capture must stop", "err", err)
		}
		return 0, err
	}
	s.produced[m.Track]++
	s.bytes += int64(len(m.Payload))
	return seq, nil
}

// Acked is the highest sequence number the backend has acknowledged: every
// message up to it is stored.
func (s *Session) Acked() uint64 { return s.spool.Status().Acked }

// SpeedTest measures the upload rate to the backend in bytes per second
// with an n-byte upload (the check screen's network test).
func (s *Session) SpeedTest(ctx context.Context, n int) (float64, error) {
	return transport.SpeedTest(ctx, nil, s.j.Server, s.j.Resp.Token, n)
}

// Event sends an event message of type typ with fields.
func (s *Session) Event(typ string, fields map[string]any) error {
	_, err := s.EventSeq(typ, fields)
	return err
}

// EventSeq is Event that also returns the event's sequence number: once
// Acked reaches it, the backend has it.
func (s *Session) EventSeq(typ string, fields map[string]any) (uint64, error) {
	body := map[string]any{"type": typ}
	for k, v := range fields {
		if k != "type" {
			body[k] = v
		}
	}
	b, err := json.Marshal(body)
	if err != nil {
		return 0, fmt.Errorf("event %s: %w", typ, err)
	}
	return s.SendSeq(transport.Message{Kind: transport.KindEvent, Track: transport.TrackEvents, Payload: b})
}

// SendStill sends jpg on the stills track and a snapshot.taken event saying
// where it comes from ("camera", "screen") and why ("id_photo",
// "room_scan", a proctor's request), and returns the event's sequence
// number: once Acked reaches it, the backend has both.
func (s *Session) SendStill(jpg []byte, source, why string) (uint64, error) {
	if _, err := s.SendSeq(transport.Message{Kind: transport.KindStill, Track: transport.TrackStills, Payload: jpg}); err != nil {
		return 0, err
	}
	return s.EventSeq("snapshot.taken", map[string]any{"source": source, "why": why, "bytes": len(jpg)})
}

// SendErr is the failure that stopped Send, if any.
func (s *Session) SendErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sendErr
}

// Status is the transport's status.
func (s *Session) Status() transport.Status { return s.tc.Status() }

// Backlog is the number of bytes not yet acknowledged (for adaptive bitrate).
func (s *Session) Backlog() int64 { return s.tc.Backlog() }

// Stopped is closed when delivery stops for good: finished, closed, or a
// permanent error (Err).
func (s *Session) Stopped() <-chan struct{} { return s.tc.Done() }

// Err is the permanent error that stopped delivery, if any.
func (s *Session) Err() error { return s.tc.Err() }

// Receipt is what the student is shown at the end, and what the proctor side
// can match: the session, how much was uploaded and the digest over it.
type Receipt struct {
	SessionID    string         `json:"session_id"`
	Exam         string         `json:"exam"`
	Messages     uint64         `json:"messages"`          // messages of the whole session, all runs
	ThisRun      map[string]int `json:"messages_this_run"` // by track name
	Bytes        int64          `json:"bytes_this_run"`
	ClientDigest string         `json:"digest"`
	ServerDigest string         `json:"server_digest,omitempty"`
	Match        bool           `json:"digest_match"`
	// Lost counts messages lost from the local spool (damaged files); the
	// proctor has a spool.corrupt event for them.
	Lost       int       `json:"lost,omitempty"`
	FinishedAt time.Time `json:"finished_at"`
}

// Finish ends the session: a session.finished event, then it waits until the
// backend has acknowledged everything, confirms with it, wipes the spool and
// forgets the session. If ctx ends first, the spool stays for a later run.
func (s *Session) Finish(ctx context.Context, reason string) (*Receipt, error) {
	if s.SendErr() == nil {
		if err := s.Event("session.finished", map[string]any{"reason": reason}); err != nil {
			s.log.Warn("could not record the finish event", "err", err)
		}
	}
	res, err := s.tc.Finish(ctx)
	if err != nil {
		return nil, err
	}
	r := s.receipt()
	r.Messages = res.LastSeq
	r.ClientDigest, r.ServerDigest = res.ClientDigest, res.ServerDigest
	r.Match = res.ServerDigest != "" && res.ServerDigest == res.ClientDigest
	r.Lost = s.spool.Status().Damage.Lost
	s.tc.Close()
	if err := s.spool.Wipe(); err != nil {
		return &r, fmt.Errorf("finished, but wiping the local spool failed: %w", err)
	}
	if err := ForgetSession(s.j.SpoolDir); err != nil {
		return &r, fmt.Errorf("finished, but removing the session file failed: %w", err)
	}
	return &r, nil
}

func (s *Session) receipt() Receipt {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := Receipt{SessionID: s.j.Resp.SessionID, Exam: s.j.Resp.Exam.Name, ThisRun: map[string]int{}, Bytes: s.bytes, FinishedAt: s.now().UTC()}
	for t, n := range s.produced {
		r.ThisRun[transport.TrackName(t)] = n
	}
	return r
}

// Close stops delivery without finishing; the spool keeps whatever is not yet
// acknowledged, and the next run resumes it. Close is idempotent.
func (s *Session) Close() error {
	err := s.tc.Close()
	if cerr := s.spool.Close(); err == nil && !errors.Is(cerr, transport.ErrSpoolClosed) {
		err = cerr
	}
	return err
}
