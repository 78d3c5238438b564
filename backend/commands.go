package backend

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/invigil/invigil/transport"
)

// ErrNoSession reports an unknown session id.
var ErrNoSession = errors.New("no such session")

// SendCommand queues a proctor's command for a session. The live connection
// (or the next one) delivers it until the client acknowledges it. pause,
// resume and end also change the session's state.
func (b *Backend) SendCommand(ctx context.Context, sessionID, command, text string) (string, error) {
	if !transport.ValidCommand(command) {
		return "", fmt.Errorf("unknown command %q", command)
	}
	if len(text) > 4000 {
		return "", errors.New("command text over 4000 bytes")
	}
	id := "c_" + randomHex(8)
	now := b.cfg.Now()
	err := b.tx.do(ctx, func(tx *sql.Tx) error {
		var state string
		if err := tx.QueryRow(`SELECT state FROM sessions WHERE id = ?`, sessionID).Scan(&state); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return ErrNoSession
			}
			return err
		}
		if state == stateFinished || state == stateEnded {
			return fmt.Errorf("session %s is %s", sessionID, state)
		}
		if _, err := tx.Exec(`INSERT INTO commands(id, session_id, command, text, created_at) VALUES (?,?,?,?,?)`, id, sessionID, command, text, micros(now)); err != nil {
			return err
		}
		var upd string
		switch command {
		case transport.CommandPause:
			upd = `UPDATE sessions SET state = 'paused' WHERE id = ?`
		case transport.CommandResume:
			upd = `UPDATE sessions SET state = 'active' WHERE id = ?`
		case transport.CommandEnd:
			upd = `UPDATE sessions SET end_requested = 1 WHERE id = ?`
		}
		if upd != "" {
			if _, err := tx.Exec(upd, sessionID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	b.signalCommands(sessionID)
	return id, nil
}

// commandsChanged returns a channel closed at the session's next new command.
func (b *Backend) commandsChanged(sessionID string) <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	ch, ok := b.cmdCh[sessionID]
	if !ok {
		ch = make(chan struct{})
		b.cmdCh[sessionID] = ch
	}
	return ch
}

func (b *Backend) signalCommands(sessionID string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if ch, ok := b.cmdCh[sessionID]; ok {
		close(ch)
		delete(b.cmdCh, sessionID)
	}
}

func (b *Backend) pendingCommands(ctx context.Context, sessionID string) ([]transport.Control, error) {
	rows, err := b.db.QueryContext(ctx, `SELECT id, command, text, created_at FROM commands WHERE session_id = ? AND acked_at IS NULL ORDER BY created_at, id`, sessionID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []transport.Control
	for rows.Next() {
		var c transport.Control
		var at int64
		if err := rows.Scan(&c.ID, &c.Command, &c.Text, &at); err != nil {
			return nil, err
		}
		c.Type, c.At = transport.TypeCommand, time.UnixMicro(at).UTC()
		out = append(out, c)
	}
	return out, rows.Err()
}
