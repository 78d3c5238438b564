package accounts

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"time"
)

// Role is what a user may do in the dashboard.
type Role string

const (
	// Administrator manages users, exams and assignments, sees every exam
	// and reads the audit log.
	Administrator Role = "administrator"
	// Proctor watches and intervenes in the exams assigned to them.
	Proctor Role = "proctor"
	// Reviewer reviews the recordings of the exams assigned to them.
	Reviewer Role = "reviewer"
)

// ParseRole parses a role name.
func ParseRole(s string) (Role, error) {
	switch r := Role(strings.ToLower(strings.TrimSpace(s))); r {
	case Administrator, Proctor, Reviewer:
		return r, nil
	}
	return "", fmt.Errorf("unknown role %q: want administrator, proctor or reviewer", s)
}

// User is a dashboard account.
type User struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Role      Role      `json:"role"`
	Disabled  bool      `json:"disabled,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// Sentinel errors callers branch on.
var (
	ErrNoUser      = errors.New("no such user")
	ErrUserExists  = errors.New("a user with that name exists")
	ErrBadLogin    = errors.New("wrong name or password")
	ErrRateLimited = errors.New("too many login attempts")
	ErrNoSession   = errors.New("no valid login session")
)

const schemaVersion = 1

const schema = `
CREATE TABLE IF NOT EXISTS accounts_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS users (
	id         TEXT PRIMARY KEY,
	name       TEXT NOT NULL UNIQUE COLLATE NOCASE,
	role       TEXT NOT NULL CHECK (role IN ('administrator', 'proctor', 'reviewer')),
	password   TEXT NOT NULL,  -- argon2id PHC string
	disabled   INTEGER NOT NULL DEFAULT 0,
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS login_sessions (
	id_hash    BLOB PRIMARY KEY,   -- SHA-256 of the cookie value; the value itself is never stored
	user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	created_at INTEGER NOT NULL,   -- unix µs
	last_seen  INTEGER NOT NULL,
	expires_at INTEGER NOT NULL    -- absolute expiry
);
CREATE INDEX IF NOT EXISTS login_sessions_user ON login_sessions(user_id);
CREATE TABLE IF NOT EXISTS exam_assignments (
	user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	exam_id    TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	PRIMARY KEY (user_id, exam_id)
);
CREATE TABLE IF NOT EXISTS audit_log (
	id      INTEGER PRIMARY KEY AUTOINCREMENT,
	time    INTEGER NOT NULL,  -- unix µs
	actor   TEXT NOT NULL,     -- user id, or "cli" / "system"
	name    TEXT NOT NULL,     -- the actor's name at the time
	action  TEXT NOT NULL,
	target  TEXT NOT NULL,
	detail  TEXT NOT NULL,
	ip      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_log_time ON audit_log(time);
`

// Migrate creates the account tables in db (the backend's SQLite store) if
// they are missing and refuses a schema from a newer build. It is
// idempotent.
func Migrate(ctx context.Context, db *sql.DB) error {
	if _, err := db.ExecContext(ctx, schema); err != nil {
		return fmt.Errorf("accounts: migrate: %w", err)
	}
	var v int
	err := db.QueryRowContext(ctx, `SELECT CAST(value AS INTEGER) FROM accounts_meta WHERE key = 'schema'`).Scan(&v)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		_, err = db.ExecContext(ctx, `INSERT INTO accounts_meta(key, value) VALUES ('schema', ?)`, schemaVersion)
	case err == nil && v > schemaVersion:
		err = fmt.Errorf("accounts schema %d is newer than this invigild (%d)", v, schemaVersion)
	}
	if err != nil {
		return fmt.Errorf("accounts: migrate: %w", err)
	}
	return nil
}

// Config configures a Store. Zero values take the defaults.
type Config struct {
	Log *slog.Logger
	Now func() time.Time
	// Params are the argon2id parameters new hashes use; a login with a
	// hash made under other parameters rehashes it. Default DefaultParams.
	Params Params
	// IdleTimeout ends a login session unused this long (default 2 h);
	// SessionLifetime ends it this long after login whatever happens
	// (default 12 h, a long exam day).
	IdleTimeout     time.Duration
	SessionLifetime time.Duration
	// AssumeTLS says a TLS-terminating proxy sits in front: cookies are
	// Secure and __Host- prefixed even though r.TLS is nil.
	AssumeTLS bool
	// AccountLimit and IPLimit are the login rate limits (defaults in
	// limit.go).
	AccountLimit, IPLimit Rate
	// ExamExists, when set, is asked before an exam is assigned (the
	// exams live in the backend's tables).
	ExamExists func(ctx context.Context, examID string) (bool, error)
	// ClientIP, when set, names a request's client address (without port),
	// e.g. from X-Forwarded-For behind a trusted reverse proxy; by default
	// it is the connection's remote address.
	ClientIP func(r *http.Request) string
}

// Store keeps users, login sessions, exam assignments and the audit log in
// the backend's database. Its methods are safe for concurrent use.
type Store struct {
	db  *sql.DB
	cfg Config
	log *slog.Logger

	hashSem chan struct{} // bounds concurrent argon2 runs (memory)

	dummyOnce sync.Once
	dummy     string // a hash unknown names are checked against

	byAccount, byIP *limiter

	verify func(password, phc string, want Params) (bool, error) // VerifyPassword; tests count calls
}

// New returns a Store over db, on which Migrate has run.
func New(db *sql.DB, cfg Config) *Store {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Params == (Params{}) {
		cfg.Params = DefaultParams
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 2 * time.Hour
	}
	if cfg.SessionLifetime <= 0 {
		cfg.SessionLifetime = 12 * time.Hour
	}
	if cfg.AccountLimit == (Rate{}) {
		cfg.AccountLimit = DefaultAccountLimit
	}
	if cfg.IPLimit == (Rate{}) {
		cfg.IPLimit = DefaultIPLimit
	}
	return &Store{
		db: db, cfg: cfg, log: cfg.Log,
		hashSem:   make(chan struct{}, max(1, min(runtime.NumCPU(), 4))),
		byAccount: newLimiter(cfg.AccountLimit, maxLimiterKeys),
		byIP:      newLimiter(cfg.IPLimit, maxLimiterKeys),
		verify:    VerifyPassword,
	}
}

var namePattern = regexp.MustCompile(`^[\p{L}\p{N}._@-]{1,64}$`)

// ValidName reports whether name is a valid user name: 1-64 letters,
// digits, '.', '_', '@' or '-'. Names are unique regardless of case.
func ValidName(name string) bool { return namePattern.MatchString(name) }

// ValidatePassword checks a new password's length.
func ValidatePassword(pw string) error {
	switch n := len([]rune(pw)); {
	case n < MinPasswordLen:
		return fmt.Errorf("a password needs at least %d characters", MinPasswordLen)
	case len(pw) > MaxPasswordLen:
		return fmt.Errorf("a password has at most %d bytes", MaxPasswordLen)
	}
	return nil
}

// hash runs fn (an argon2 computation) when a slot is free.
func (s *Store) hash(ctx context.Context, fn func()) error {
	select {
	case s.hashSem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-s.hashSem }()
	fn()
	return nil
}

// AddUser creates a user. actor is recorded in the audit log.
func (s *Store) AddUser(ctx context.Context, actor Actor, name string, role Role, password string) (*User, error) {
	if !ValidName(name) {
		return nil, fmt.Errorf("user name %q: want 1-64 letters, digits, '.', '_', '@' or '-'", name)
	}
	if _, err := ParseRole(string(role)); err != nil {
		return nil, err
	}
	if err := ValidatePassword(password); err != nil {
		return nil, err
	}
	var phc string
	var herr error
	if err := s.hash(ctx, func() { phc, herr = HashPassword(password, s.cfg.Params) }); err != nil {
		return nil, err
	}
	if herr != nil {
		return nil, herr
	}
	now := s.cfg.Now()
	u := &User{ID: "u_" + randomHex(8), Name: name, Role: role, CreatedAt: now.UTC().Truncate(time.Microsecond)}
	var exists int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM users WHERE name = ?`, name).Scan(&exists); err != nil {
		return nil, fmt.Errorf("add user: %w", err)
	}
	if exists > 0 {
		return nil, fmt.Errorf("add user %q: %w", name, ErrUserExists)
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO users(id, name, role, password, created_at, updated_at) VALUES (?,?,?,?,?,?)`,
		u.ID, name, string(role), phc, now.UnixMicro(), now.UnixMicro())
	if err != nil {
		return nil, fmt.Errorf("add user: %w", err)
	}
	s.Audit(ctx, actor, "user.add", u.ID, fmt.Sprintf("name=%s role=%s", name, role))
	return u, nil
}

// ListUsers lists every user by name.
func (s *Store) ListUsers(ctx context.Context) ([]User, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, name, role, disabled, created_at FROM users ORDER BY name COLLATE NOCASE`)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	users := []User{}
	for rows.Next() {
		var u User
		var created int64
		if err := rows.Scan(&u.ID, &u.Name, &u.Role, &u.Disabled, &created); err != nil {
			return nil, fmt.Errorf("list users: %w", err)
		}
		u.CreatedAt = time.UnixMicro(created).UTC()
		users = append(users, u)
	}
	return users, rows.Err()
}

// UserByName finds a user by name (case-insensitively).
func (s *Store) UserByName(ctx context.Context, name string) (*User, error) {
	u, _, err := s.userWhere(ctx, `name = ?`, name)
	return u, err
}

func (s *Store) userWhere(ctx context.Context, cond string, arg any) (*User, string, error) {
	var u User
	var phc string
	var created int64
	err := s.db.QueryRowContext(ctx, `SELECT id, name, role, disabled, created_at, password FROM users WHERE `+cond, arg).
		Scan(&u.ID, &u.Name, &u.Role, &u.Disabled, &created, &phc)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, "", ErrNoUser
	}
	if err != nil {
		return nil, "", fmt.Errorf("find user: %w", err)
	}
	u.CreatedAt = time.UnixMicro(created).UTC()
	return &u, phc, nil
}

// SetDisabled disables or re-enables a user; disabling ends their login
// sessions.
func (s *Store) SetDisabled(ctx context.Context, actor Actor, userID string, disabled bool) error {
	res, err := s.db.ExecContext(ctx, `UPDATE users SET disabled = ?, updated_at = ? WHERE id = ?`, disabled, s.cfg.Now().UnixMicro(), userID)
	if err != nil {
		return fmt.Errorf("disable user: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNoUser
	}
	if disabled {
		if _, err := s.db.ExecContext(ctx, `DELETE FROM login_sessions WHERE user_id = ?`, userID); err != nil {
			return fmt.Errorf("disable user: %w", err)
		}
	}
	s.Audit(ctx, actor, map[bool]string{true: "user.disable", false: "user.enable"}[disabled], userID, "")
	return nil
}

// Assign gives a proctor or reviewer access to an exam; Unassign takes it
// away. The exam id is not checked here: the exams live in the backend's
// tables, and the caller checks them.
func (s *Store) Assign(ctx context.Context, actor Actor, userID, examID string) error {
	if _, _, err := s.userWhere(ctx, `id = ?`, userID); err != nil {
		return err
	}
	_, err := s.db.ExecContext(ctx, `INSERT OR IGNORE INTO exam_assignments(user_id, exam_id, created_at) VALUES (?,?,?)`,
		userID, examID, s.cfg.Now().UnixMicro())
	if err != nil {
		return fmt.Errorf("assign: %w", err)
	}
	s.Audit(ctx, actor, "exam.assign", examID, "user="+userID)
	return nil
}

// Unassign removes a user's access to an exam.
func (s *Store) Unassign(ctx context.Context, actor Actor, userID, examID string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM exam_assignments WHERE user_id = ? AND exam_id = ?`, userID, examID); err != nil {
		return fmt.Errorf("unassign: %w", err)
	}
	s.Audit(ctx, actor, "exam.unassign", examID, "user="+userID)
	return nil
}

// AssignedExams lists the ids of the exams assigned to a user.
func (s *Store) AssignedExams(ctx context.Context, userID string) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT exam_id FROM exam_assignments WHERE user_id = ? ORDER BY exam_id`, userID)
	if err != nil {
		return nil, fmt.Errorf("assigned exams: %w", err)
	}
	defer rows.Close()
	ids := []string{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// CanAccessExam reports whether u may see an exam: an administrator sees
// every exam; a proctor and a reviewer only the exams assigned to them
// (a reviewer reviews, say, one course's exams, not the whole
// institution's recordings).
func (s *Store) CanAccessExam(ctx context.Context, u *User, examID string) (bool, error) {
	if u == nil || u.Disabled {
		return false, nil
	}
	if u.Role == Administrator {
		return true, nil
	}
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM exam_assignments WHERE user_id = ? AND exam_id = ?`, u.ID, examID).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("check exam access: %w", err)
	}
	return n > 0, nil
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand: " + err.Error()) // never fails on supported platforms
	}
	return b
}

func randomHex(n int) string { return hex.EncodeToString(randomBytes(n)) }

func sha(b []byte) []byte {
	h := sha256.Sum256(b)
	return h[:]
}
