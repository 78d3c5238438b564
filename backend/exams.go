package backend

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/invigil/invigil/assets"
	"github.com/invigil/invigil/lockdown/policy"
	"github.com/invigil/invigil/transport"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// ExamSpec describes an exam to create.
type ExamSpec struct {
	Name     string          `json:"name"`
	Code     string          `json:"code,omitempty"`   // join code; generated when empty
	Policy   json.RawMessage `json:"policy,omitempty"` // policy JSON; the default policy when empty
	OpensAt  time.Time       `json:"opens_at,omitzero"`
	ClosesAt time.Time       `json:"closes_at,omitzero"`
}

// Exam is an exam as stored.
type Exam struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Code      string    `json:"code"`
	ConfigKey string    `json:"config_key"`
	OpensAt   time.Time `json:"opens_at,omitzero"`
	ClosesAt  time.Time `json:"closes_at,omitzero"`
	CreatedAt time.Time `json:"created_at"`
}

// ErrCodeTaken reports a join code another exam already has.
var ErrCodeTaken = errors.New("join code already in use")

// DemoCode is the join code of the exam `invigild serve --demo` creates.
const DemoCode = "DEMO"

// CreateExam validates spec, signs its policy and stores the exam.
func (b *Backend) CreateExam(ctx context.Context, spec ExamSpec) (*Exam, error) {
	now := b.cfg.Now()
	spec.Name = strings.TrimSpace(spec.Name)
	if spec.Name == "" || len(spec.Name) > 200 {
		return nil, errors.New("create exam: a name of 1 to 200 characters is required")
	}
	if spec.Code == "" {
		spec.Code = newJoinCode()
	}
	spec.Code = transport.NormalizeJoinCode(spec.Code)
	if !transport.ValidJoinCode(spec.Code) {
		return nil, fmt.Errorf("create exam: %q is not a join code (1-64 letters, digits, - or _)", spec.Code)
	}
	if !spec.OpensAt.IsZero() && !spec.ClosesAt.IsZero() && !spec.ClosesAt.After(spec.OpensAt) {
		return nil, errors.New("create exam: closes_at must be after opens_at")
	}
	doc := []byte(spec.Policy)
	if len(doc) == 0 {
		doc = assets.DefaultPolicy
	}
	signed, err := policy.Sign(b.key, doc)
	if err != nil {
		return nil, fmt.Errorf("create exam: %w", err)
	}
	ck, err := policy.ConfigKey(signed.Policy)
	if err != nil {
		return nil, fmt.Errorf("create exam: %w", err)
	}
	env, _ := json.Marshal(signed)
	e := &Exam{ID: "e_" + randomHex(8), Name: spec.Name, Code: spec.Code, ConfigKey: ck,
		OpensAt: spec.OpensAt.UTC(), ClosesAt: spec.ClosesAt.UTC(), CreatedAt: now.UTC()}
	_, err = b.db.ExecContext(ctx, `INSERT INTO exams(id, name, code, policy, config_key, opens_at, closes_at, created_at) VALUES (?,?,?,?,?,?,?,?)`,
		e.ID, e.Name, e.Code, env, ck, nullMicros(e.OpensAt), nullMicros(e.ClosesAt), micros(now))
	if err != nil {
		if isUniqueViolation(err) { // code is the table's only UNIQUE column (id is its PRIMARY KEY)
			return nil, fmt.Errorf("create exam: %w: %s", ErrCodeTaken, spec.Code)
		}
		return nil, fmt.Errorf("create exam: %w", err)
	}
	return e, nil
}

// isUniqueViolation reports whether err is SQLite's "UNIQUE constraint
// failed" (extended result code SQLITE_CONSTRAINT_UNIQUE; a PRIMARY KEY
// violation has its own code).
func isUniqueViolation(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE
}

// EnsureDemoExam creates the demo exam (join code DEMO, default policy) if
// it does not exist yet.
func (b *Backend) EnsureDemoExam(ctx context.Context) (*Exam, error) {
	if e, err := b.examByCode(ctx, DemoCode); err == nil {
		return e, nil
	} else if !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	return b.CreateExam(ctx, ExamSpec{Name: "Demo exam", Code: DemoCode})
}

const examColumns = `id, name, code, config_key, opens_at, closes_at, created_at`

func scanExam(row interface{ Scan(...any) error }) (*Exam, error) {
	var e Exam
	var opens, closes sql.NullInt64
	var created int64
	if err := row.Scan(&e.ID, &e.Name, &e.Code, &e.ConfigKey, &opens, &closes, &created); err != nil {
		return nil, err
	}
	e.OpensAt, e.ClosesAt, e.CreatedAt = fromMicros(opens), fromMicros(closes), time.UnixMicro(created).UTC()
	return &e, nil
}

func (b *Backend) examByCode(ctx context.Context, code string) (*Exam, error) {
	return scanExam(b.db.QueryRowContext(ctx, `SELECT `+examColumns+` FROM exams WHERE code = ?`, transport.NormalizeJoinCode(code)))
}

// ListExams lists every exam, newest first.
func (b *Backend) ListExams(ctx context.Context) ([]Exam, error) {
	rows, err := b.db.QueryContext(ctx, `SELECT `+examColumns+` FROM exams ORDER BY created_at DESC`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Exam{}
	for rows.Next() {
		e, err := scanExam(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *e)
	}
	return out, rows.Err()
}

// newJoinCode is 8 characters without look-alikes (no 0/O, 1/I/L).
func newJoinCode() string {
	const alphabet = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
	b := randomBytes(8)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}
