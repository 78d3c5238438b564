package accounts

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Actor is who did something, for the audit log.
type Actor struct {
	ID   string // user id, or "cli" / "system"
	Name string
	IP   string
}

// CLIActor is the operator running invigild's subcommands on the server.
var CLIActor = Actor{ID: "cli", Name: "invigild (command line)"}

// ActorOf is u acting from ip.
func ActorOf(u *User, ip string) Actor { return Actor{ID: u.ID, Name: u.Name, IP: ip} }

// AuditEntry is one row of the audit log.
type AuditEntry struct {
	ID     int64     `json:"id"`
	Time   time.Time `json:"time"`
	Actor  string    `json:"actor"`
	Name   string    `json:"actor_name"`
	Action string    `json:"action"`
	Target string    `json:"target"`
	Detail string    `json:"detail,omitempty"`
	IP     string    `json:"ip,omitempty"`
}

// Audit appends to the audit log. action is a dotted name
// ("login.ok", "session.view", "command.warn", "recording.download"...),
// target what it was done to (a user, exam or session id). An error is
// also logged: callers that must not proceed without a record check it.
func (s *Store) Audit(ctx context.Context, actor Actor, action, target, detail string) error {
	_, err := s.db.ExecContext(context.WithoutCancel(ctx), `INSERT INTO audit_log(time, actor, name, action, target, detail, ip) VALUES (?,?,?,?,?,?,?)`,
		s.cfg.Now().UnixMicro(), actor.ID, actor.Name, action, target, detail, actor.IP)
	if err != nil {
		s.log.Error("audit log write failed", "action", action, "err", err)
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}

// AuditQuery selects audit entries, newest first.
type AuditQuery struct {
	Before int64  // only entries with a smaller id (paging); 0: from the newest
	Limit  int    // default 100, at most 1000
	Actor  string // only this actor id
	Action string // only this action
	Target string // only this target
}

// ListAudit returns audit entries, newest first.
func (s *Store) ListAudit(ctx context.Context, q AuditQuery) ([]AuditEntry, error) {
	if q.Limit <= 0 {
		q.Limit = 100
	}
	q.Limit = min(q.Limit, 1000)
	query := `SELECT id, time, actor, name, action, target, detail, ip FROM audit_log WHERE 1=1`
	var args []any
	if q.Before > 0 {
		query += ` AND id < ?`
		args = append(args, q.Before)
	}
	for _, f := range []struct{ col, v string }{{"actor", q.Actor}, {"action", q.Action}, {"target", q.Target}} {
		if f.v != "" {
			query += ` AND ` + f.col + ` = ?`
			args = append(args, f.v)
		}
	}
	query += ` ORDER BY id DESC LIMIT ?`
	args = append(args, q.Limit)
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list audit: %w", err)
	}
	defer rows.Close()
	out := []AuditEntry{}
	for rows.Next() {
		var e AuditEntry
		var t int64
		var ip sql.NullString
		if err := rows.Scan(&e.ID, &t, &e.Actor, &e.Name, &e.Action, &e.Target, &e.Detail, &ip); err != nil {
			return nil, fmt.Errorf("list audit: %w", err)
		}
		e.Time, e.IP = time.UnixMicro(t).UTC(), ip.String
		out = append(out, e)
	}
	return out, rows.Err()
}
