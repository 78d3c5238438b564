package backend

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/invigil/invigil/transport"
)

// A session token opens the websocket, resume and the network test while
// its session is writable (docs/protocol.md §1 "Token lifetime"):
//
//   - not after the session finished or was ended (410 session_finished);
//   - not after a proctor's end command plus UploadGrace, even if the client
//     ignored the end and never finished (410 session_finished);
//   - not after the exam's closes_at plus UploadGrace (403 exam_closed);
//   - for an exam without closes_at, not after the join plus TokenLifetime
//     (401 unauthorized, "expired").
//
// The grace lets a client whose network dropped at the end upload what it
// captured in time; it is the same for everyone and fixed by the backend.

// accessError is a refusal with its HTTP status.
type accessError struct {
	status int
	remote *transport.RemoteError
}

func (e *accessError) Error() string { return e.remote.Error() }
func (e *accessError) Unwrap() error { return e.remote }

func accessRefusal(status int, code, msg string) error {
	return &accessError{status: status, remote: &transport.RemoteError{Code: code, Message: msg}}
}

// authSession finds the session of token tok and checks that it may still
// write.
func (b *Backend) authSession(ctx context.Context, tok string) (string, error) {
	id, _, err := b.sessionByToken(ctx, tok)
	if err != nil {
		return "", err
	}
	if _, err := b.sessionAccess(ctx, id); err != nil {
		return "", err
	}
	return id, nil
}

const accessQuery = `SELECT s.state, s.created_at, e.closes_at,
	(SELECT MIN(c.created_at) FROM commands c WHERE c.session_id = s.id AND c.command = 'end')
	FROM sessions s JOIN exams e ON e.id = s.exam_id WHERE s.id = ?`

// sessionAccess checks the rules above for session id at the backend's now
// and returns until when the session stays writable (zero: no end yet).
func (b *Backend) sessionAccess(ctx context.Context, id string) (time.Time, error) {
	var state string
	var created int64
	var closes, ended sql.NullInt64
	err := b.accessStmt.QueryRowContext(ctx, id).Scan(&state, &created, &closes, &ended)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, ErrNoSession
	}
	if err != nil {
		return time.Time{}, err
	}
	now, grace := b.cfg.Now(), b.cfg.UploadGrace
	if state == stateFinished || state == stateEnded {
		return time.Time{}, accessRefusal(http.StatusGone, transport.CodeSessionFinished, "this session is "+state)
	}
	var until time.Time
	if ended.Valid {
		t := fromMicros(ended).Add(grace)
		if !now.Before(t) {
			return time.Time{}, accessRefusal(http.StatusGone, transport.CodeSessionFinished,
				fmt.Sprintf("a proctor ended this attempt; uploads were accepted until %s", t.Format(time.RFC1123)))
		}
		until = t
	}
	if closes.Valid {
		t := fromMicros(closes).Add(grace)
		if !now.Before(t) {
			return time.Time{}, accessRefusal(http.StatusForbidden, transport.CodeExamClosed,
				fmt.Sprintf("the exam closed at %s; uploads were accepted until %s", fromMicros(closes).Format(time.RFC1123), t.Format(time.RFC1123)))
		}
		if until.IsZero() || t.Before(until) {
			until = t
		}
	} else {
		t := time.UnixMicro(created).Add(b.cfg.TokenLifetime)
		if !now.Before(t) {
			return time.Time{}, accessRefusal(http.StatusUnauthorized, transport.CodeUnauthorized, "the session token expired")
		}
		if until.IsZero() || t.Before(until) {
			until = t
		}
	}
	return until, nil
}

// refuse answers a failed authSession.
func (b *Backend) refuse(w http.ResponseWriter, what string, err error) {
	var ae *accessError
	switch {
	case errors.Is(err, ErrNoSession):
		apiError(w, http.StatusUnauthorized, transport.CodeUnauthorized, "unknown session token")
	case errors.As(err, &ae):
		apiError(w, ae.status, ae.remote.Code, ae.remote.Message)
	default:
		b.internalError(w, what, err)
	}
}

// guardedSession enforces sessionAccess on a live connection: at hello, and
// again before storing once the session's deadline has passed (an end
// command moves it closer, so it is read again every accessRecheck).
type guardedSession struct {
	*liveSession
	until   time.Time // zero: not known yet
	checked time.Time
}

// accessRecheck: an end command or an exam's new closing time reaches a
// live connection within this (the upload grace after either is
// minutes). Every live connection queries once per interval: at a
// thousand sessions, once a second cost 4 % of the backend's CPU.
const accessRecheck = 5 * time.Second

func (b *Backend) guard(live *liveSession) transport.ServerSession {
	return &guardedSession{liveSession: live}
}

func (g *guardedSession) check(ctx context.Context) error {
	now := g.b.cfg.Now()
	if !g.checked.IsZero() && now.Sub(g.checked) < accessRecheck && now.Before(g.until) {
		return nil
	}
	until, err := g.b.sessionAccess(ctx, g.id)
	if err != nil {
		var ae *accessError
		if errors.As(err, &ae) {
			return ae.remote
		}
		if errors.Is(err, ErrNoSession) {
			return &transport.RemoteError{Code: transport.CodeUnauthorized, Message: "unknown session"}
		}
		return err
	}
	g.until, g.checked = until, now
	return nil
}

// Hello implements transport.ServerSession.
func (g *guardedSession) Hello(ctx context.Context, h *transport.Control) (uint64, string, error) {
	if err := g.check(ctx); err != nil {
		return 0, "", err
	}
	return g.liveSession.Hello(ctx, h)
}

// Store implements transport.ServerSession: nothing is stored once the
// session may no longer write.
func (g *guardedSession) Store(ctx context.Context, frames []transport.Frame) error {
	if err := g.check(ctx); err != nil {
		return err
	}
	return g.liveSession.Store(ctx, frames)
}
