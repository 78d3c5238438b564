package backend

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/invigil/invigil/assets"
	"github.com/invigil/invigil/backend/accounts"
	"github.com/invigil/invigil/lockdown/policy"
	"github.com/invigil/invigil/transport"
)

// Exams in the dashboard (docs/dashboard.md "Exams"): an administrator
// creates and edits them; everyone who may see an exam reads it with its
// policy and join link.

// ErrExamInUse refuses a policy change while attempts are running: their
// clients enforce the policy they joined with, and a changed policy's
// config key would lock them out of uploading what they recorded.
var ErrExamInUse = errors.New("attempts of this exam are still running")

// ExamDetail is an exam as the dashboard's exam page shows it.
type ExamDetail struct {
	Exam
	Policy       json.RawMessage `json:"policy"`         // the policy document (unsigned)
	JoinLink     string          `json:"join_link"`      // invigil://join?server=…&code=…
	OpenAttempts int             `json:"open_attempts"`  // active or paused sessions
	Assigned     []AssignedUser  `json:"assigned"`       // administrators only; nil for others
	Retention    int             `json:"retention_days"` // from the policy
}

// AssignedUser is a proctor or reviewer assigned to an exam.
type AssignedUser struct {
	ID   string        `json:"id"`
	Name string        `json:"name"`
	Role accounts.Role `json:"role"`
}

// examPolicy returns an exam's policy document (the signed envelope's
// payload).
func (b *Backend) examPolicy(ctx context.Context, id string) (json.RawMessage, error) {
	var env []byte
	err := b.db.QueryRowContext(ctx, `SELECT policy FROM exams WHERE id = ?`, id).Scan(&env)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNoExam
	}
	if err != nil {
		return nil, err
	}
	var s policy.Signed
	if err := json.Unmarshal(env, &s); err != nil {
		return nil, fmt.Errorf("stored policy envelope: %w", err)
	}
	return s.Policy, nil
}

func (b *Backend) openAttempts(ctx context.Context, examID string) (int, error) {
	var n int
	err := b.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM sessions WHERE exam_id = ? AND state IN (?, ?)`, examID, stateActive, statePaused).Scan(&n)
	return n, err
}

// UpdateExam changes an exam's name, join code, window and policy. The
// policy (and so the config key) may change only while no attempt runs.
func (b *Backend) UpdateExam(ctx context.Context, id string, spec ExamSpec) (*Exam, error) {
	cur, err := b.examByID(ctx, id)
	if err != nil {
		return nil, err
	}
	spec.Name = strings.TrimSpace(spec.Name)
	if spec.Name == "" || len(spec.Name) > 200 {
		return nil, errors.New("update exam: a name of 1 to 200 characters is required")
	}
	if spec.Code == "" {
		spec.Code = cur.Code
	}
	spec.Code = transport.NormalizeJoinCode(spec.Code)
	if !transport.ValidJoinCode(spec.Code) {
		return nil, fmt.Errorf("update exam: %q is not a join code (1-64 letters, digits, - or _)", spec.Code)
	}
	if !spec.OpensAt.IsZero() && !spec.ClosesAt.IsZero() && !spec.ClosesAt.After(spec.OpensAt) {
		return nil, errors.New("update exam: closes_at must be after opens_at")
	}
	env, ck := []byte(nil), cur.ConfigKey
	if len(spec.Policy) > 0 {
		old, err := b.examPolicy(ctx, id)
		if err != nil {
			return nil, err
		}
		oldCanon, _ := policy.Canonical(old)
		newCanon, err := policy.Canonical(spec.Policy)
		if err != nil {
			return nil, fmt.Errorf("update exam: %w", err)
		}
		if string(oldCanon) != string(newCanon) {
			if _, err := policy.Parse(spec.Policy); err != nil {
				return nil, fmt.Errorf("update exam: %w", err)
			}
			n, err := b.openAttempts(ctx, id)
			if err != nil {
				return nil, err
			}
			if n > 0 {
				return nil, fmt.Errorf("update exam: %w (%d): change the policy when they have finished", ErrExamInUse, n)
			}
			signed, err := policy.Sign(b.key, spec.Policy)
			if err != nil {
				return nil, fmt.Errorf("update exam: %w", err)
			}
			if ck, err = policy.ConfigKey(signed.Policy); err != nil {
				return nil, fmt.Errorf("update exam: %w", err)
			}
			env, _ = json.Marshal(signed)
		}
	}
	q := `UPDATE exams SET name = ?, code = ?, opens_at = ?, closes_at = ? WHERE id = ?`
	args := []any{spec.Name, spec.Code, nullMicros(spec.OpensAt), nullMicros(spec.ClosesAt), id}
	if env != nil {
		q = `UPDATE exams SET name = ?, code = ?, opens_at = ?, closes_at = ?, policy = ?, config_key = ? WHERE id = ?`
		args = []any{spec.Name, spec.Code, nullMicros(spec.OpensAt), nullMicros(spec.ClosesAt), env, ck, id}
	}
	if _, err := b.db.ExecContext(ctx, q, args...); err != nil {
		if isUniqueViolation(err) {
			return nil, fmt.Errorf("update exam: %w: %s", ErrCodeTaken, spec.Code)
		}
		return nil, fmt.Errorf("update exam: %w", err)
	}
	return b.examByID(ctx, id)
}

// joinLink is the invigil:// link students open for an exam on this
// server (as the request reached it).
func joinLink(r *http.Request, code string) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	q := url.Values{"server": {scheme + "://" + r.Host}, "code": {code}}
	return "invigil://join?" + q.Encode()
}

func (b *Backend) examDetail(r *http.Request, id string, admin bool, s *accounts.Store) (*ExamDetail, error) {
	ctx := r.Context()
	e, err := b.examByID(ctx, id)
	if err != nil {
		return nil, err
	}
	d := &ExamDetail{Exam: *e, JoinLink: joinLink(r, e.Code)}
	if d.Policy, err = b.examPolicy(ctx, id); err != nil {
		return nil, err
	}
	if p, err := policy.Parse(d.Policy); err == nil {
		d.Retention = p.Privacy.RetentionDays
	}
	if d.OpenAttempts, err = b.openAttempts(ctx, id); err != nil {
		return nil, err
	}
	if admin {
		d.Assigned = []AssignedUser{}
		users, err := s.ListUsers(ctx)
		if err != nil {
			return nil, err
		}
		for _, u := range users {
			exams, err := s.AssignedExams(ctx, u.ID)
			if err != nil {
				return nil, err
			}
			for _, x := range exams {
				if x == id {
					d.Assigned = append(d.Assigned, AssignedUser{ID: u.ID, Name: u.Name, Role: u.Role})
				}
			}
		}
	}
	return d, nil
}

// mountExams adds the exam routes.
func (b *Backend) mountExams(mux *http.ServeMux, s *accounts.Store) {
	p := accounts.Prefix
	anyone := s.RequireRole()
	admin := s.RequireRole(accounts.Administrator)
	mux.Handle("GET "+p+"exams/{exam}", anyone(s.RequireExam("exam", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u := accounts.UserFrom(r.Context())
		d, err := b.examDetail(r, r.PathValue("exam"), u.Role == accounts.Administrator, s)
		if errors.Is(err, ErrNoExam) {
			dashboardError(w, http.StatusNotFound, "not_found", "no such exam")
			return
		}
		if err != nil {
			b.internalError(w, "dashboard: exam", err)
			return
		}
		dashboardJSON(w, d)
	}))))
	mux.Handle("GET "+p+"policy/default", anyone(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(assets.DefaultPolicy)
	})))
	mux.Handle("POST "+p+"exams", admin(s.RequireCSRF(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.handleSaveExam(w, r, s, "")
	}))))
	mux.Handle("PUT "+p+"exams/{exam}", admin(s.RequireCSRF(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.handleSaveExam(w, r, s, r.PathValue("exam"))
	}))))
}

// examBody is what the exam form sends: times as RFC 3339 or empty.
type examBody struct {
	Name     string          `json:"name"`
	Code     string          `json:"code"`
	OpensAt  string          `json:"opens_at"`
	ClosesAt string          `json:"closes_at"`
	Policy   json.RawMessage `json:"policy"`
}

func parseFormTime(field, v string) (time.Time, error) {
	if strings.TrimSpace(v) == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s: %q is not a time (RFC 3339)", field, v)
	}
	return t, nil
}

func (b *Backend) handleSaveExam(w http.ResponseWriter, r *http.Request, s *accounts.Store, id string) {
	ctx := r.Context()
	u := accounts.UserFrom(ctx)
	var body examBody
	if !readDashboardBody(w, r, &body) {
		return
	}
	spec := ExamSpec{Name: body.Name, Code: body.Code, Policy: body.Policy}
	var err error
	if spec.OpensAt, err = parseFormTime("opens_at", body.OpensAt); err == nil {
		spec.ClosesAt, err = parseFormTime("closes_at", body.ClosesAt)
	}
	if err != nil {
		dashboardError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	if len(spec.Policy) > 0 && string(spec.Policy) != "null" {
		if _, err := policy.Parse(spec.Policy); err != nil {
			dashboardError(w, http.StatusBadRequest, "invalid_policy", err.Error())
			return
		}
	} else {
		spec.Policy = nil
	}
	var e *Exam
	action := "exam.update"
	if id == "" {
		action = "exam.create"
		e, err = b.CreateExam(ctx, spec)
	} else {
		e, err = b.UpdateExam(ctx, id, spec)
	}
	switch {
	case errors.Is(err, ErrNoExam):
		dashboardError(w, http.StatusNotFound, "not_found", "no such exam")
		return
	case errors.Is(err, ErrCodeTaken):
		dashboardError(w, http.StatusConflict, "code_taken", "another exam has this join code")
		return
	case errors.Is(err, ErrExamInUse):
		dashboardError(w, http.StatusConflict, "exam_in_use", err.Error())
		return
	case err != nil:
		dashboardError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	s.Audit(ctx, accounts.ActorOf(u, s.ClientIP(r)), action, e.ID, e.Name)
	d, err := b.examDetail(r, e.ID, true, s)
	if err != nil {
		b.internalError(w, "dashboard: exam", err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if id == "" {
		w.WriteHeader(http.StatusCreated)
	}
	json.NewEncoder(w).Encode(d)
}
