package accounts

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"time"
)

// RateLimitError is returned by Login when a bucket is empty; it wraps
// ErrRateLimited.
type RateLimitError struct{ RetryAfter time.Duration }

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("too many login attempts: try again in %s", e.RetryAfter.Round(time.Second))
}
func (e *RateLimitError) Unwrap() error { return ErrRateLimited }

// dummyHash is the hash a login for an unknown or disabled user is
// checked against, so that it takes as long as a real one.
func (s *Store) dummyHash() string {
	s.dummyOnce.Do(func() {
		var err error
		if s.dummy, err = HashPassword(randomHex(16), s.cfg.Params); err != nil {
			panic(err) // crypto/rand failed
		}
	})
	return s.dummy
}

// Login checks name and password, subject to the rate limits, and opens a
// login session. It returns the user and the session token (the cookie
// value, 256 random bits; only its SHA-256 is stored). Unknown names and
// disabled users cost the same argon2 run as a wrong password and give the
// same ErrBadLogin. remoteAddr is the client's address, with or without
// a port.
func (s *Store) Login(ctx context.Context, name, password, remoteAddr string) (*User, string, error) {
	now := s.cfg.Now()
	ip := hostOf(remoteAddr) // for the audit log
	if ok, wait := s.byIP.allow(ipKey(remoteAddr), now); !ok {
		s.Audit(ctx, Actor{ID: "anonymous", Name: name, IP: ip}, "login.limited", "ip", "")
		return nil, "", &RateLimitError{RetryAfter: wait}
	}
	if ok, wait := s.byAccount.allow(accountKey(name), now); !ok {
		s.Audit(ctx, Actor{ID: "anonymous", Name: name, IP: ip}, "login.limited", "account", "")
		return nil, "", &RateLimitError{RetryAfter: wait}
	}
	// No stored password is longer than MaxPasswordLen: a longer one fails
	// like a wrong one, after hashing as much as the limit allows.
	tooLong := len(password) > MaxPasswordLen
	if tooLong {
		password = password[:MaxPasswordLen]
	}
	u, phc, err := s.userWhere(ctx, `name = ?`, name)
	if err != nil && !errors.Is(err, ErrNoUser) {
		return nil, "", err
	}
	known := err == nil && !u.Disabled && !tooLong
	if !known {
		phc = s.dummyHash()
	}
	var rehash bool
	var verr error
	if err := s.hash(ctx, func() { rehash, verr = s.verify(password, phc, s.cfg.Params) }); err != nil {
		return nil, "", err
	}
	if !known || verr != nil {
		if verr != nil && !errors.Is(verr, ErrMismatch) {
			s.log.Error("stored password hash unreadable", "user", u.ID, "err", verr)
		}
		actor := Actor{ID: "anonymous", Name: name, IP: ip}
		if u != nil {
			actor.ID = u.ID
		}
		s.Audit(ctx, actor, "login.fail", "", "")
		return nil, "", ErrBadLogin
	}
	if rehash {
		if err := s.setPassword(ctx, u.ID, password); err != nil {
			s.log.Warn("rehash on login failed", "user", u.ID, "err", err)
		}
	}
	tok := base64.RawURLEncoding.EncodeToString(randomBytes(32))
	_, err = s.db.ExecContext(ctx, `INSERT INTO login_sessions(id_hash, user_id, created_at, last_seen, expires_at) VALUES (?,?,?,?,?)`,
		sha([]byte(tok)), u.ID, now.UnixMicro(), now.UnixMicro(), now.Add(s.cfg.SessionLifetime).UnixMicro())
	if err != nil {
		return nil, "", fmt.Errorf("login: %w", err)
	}
	// Housekeeping: forget expired sessions.
	s.db.ExecContext(ctx, `DELETE FROM login_sessions WHERE expires_at <= ? OR last_seen <= ?`,
		now.UnixMicro(), now.Add(-s.cfg.IdleTimeout).UnixMicro())
	s.Audit(ctx, ActorOf(u, ip), "login.ok", u.ID, "")
	return u, tok, nil
}

// SetPassword replaces a user's password and ends their login sessions.
func (s *Store) SetPassword(ctx context.Context, actor Actor, userID, password string) error {
	if err := ValidatePassword(password); err != nil {
		return err
	}
	if err := s.setPassword(ctx, userID, password); err != nil {
		return err
	}
	if _, err := s.db.ExecContext(ctx, `DELETE FROM login_sessions WHERE user_id = ?`, userID); err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	s.Audit(ctx, actor, "user.password", userID, "")
	return nil
}

func (s *Store) setPassword(ctx context.Context, userID, password string) error {
	var phc string
	var herr error
	if err := s.hash(ctx, func() { phc, herr = HashPassword(password, s.cfg.Params) }); err != nil {
		return err
	}
	if herr != nil {
		return herr
	}
	res, err := s.db.ExecContext(ctx, `UPDATE users SET password = ?, updated_at = ? WHERE id = ?`, phc, s.cfg.Now().UnixMicro(), userID)
	if err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNoUser
	}
	return nil
}

// lastSeenGranularity: a session's last_seen is written at most this
// often, not on every request.
const lastSeenGranularity = time.Minute

// Session returns the user of a login session token, or ErrNoSession when
// it is unknown, expired (idle or absolute) or its user is disabled.
func (s *Store) Session(ctx context.Context, tok string) (*User, error) {
	if tok == "" || len(tok) > 128 {
		return nil, ErrNoSession
	}
	h := sha([]byte(tok))
	var u User
	var created, lastSeen, expires int64
	err := s.db.QueryRowContext(ctx, `SELECT u.id, u.name, u.role, u.disabled, u.created_at, s.last_seen, s.expires_at
		FROM login_sessions s JOIN users u ON u.id = s.user_id WHERE s.id_hash = ?`, h).
		Scan(&u.ID, &u.Name, &u.Role, &u.Disabled, &created, &lastSeen, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNoSession
	}
	if err != nil {
		return nil, fmt.Errorf("session: %w", err)
	}
	now := s.cfg.Now()
	if u.Disabled || now.UnixMicro() >= expires || now.Sub(time.UnixMicro(lastSeen)) >= s.cfg.IdleTimeout {
		s.db.ExecContext(ctx, `DELETE FROM login_sessions WHERE id_hash = ?`, h)
		return nil, ErrNoSession
	}
	if now.Sub(time.UnixMicro(lastSeen)) >= lastSeenGranularity {
		s.db.ExecContext(ctx, `UPDATE login_sessions SET last_seen = ? WHERE id_hash = ?`, now.UnixMicro(), h)
	}
	u.CreatedAt = time.UnixMicro(created).UTC()
	return &u, nil
}

// Logout ends a login session.
func (s *Store) Logout(ctx context.Context, tok string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM login_sessions WHERE id_hash = ?`, sha([]byte(tok))); err != nil {
		return fmt.Errorf("logout: %w", err)
	}
	return nil
}

// CSRFToken is the synchronizer token of a login session: an HMAC of a
// fixed label keyed with the session token. It is bound to the session
// (a new login gets a new one), needs no storage, and cannot be computed
// without the cookie, which page scripts of other origins never see.
func CSRFToken(sessionToken string) string {
	m := hmac.New(sha256.New, []byte(sessionToken))
	m.Write([]byte("invigil dashboard csrf v1"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}
