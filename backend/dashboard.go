package backend

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/invigil/invigil/backend/accounts"
	"github.com/invigil/invigil/backend/web"
)

// Accounts returns the dashboard's account store (users, login sessions,
// exam assignments, audit log) over the backend's database. Each call
// makes a new Store with its own login rate limits: call it once per
// server (Handler does) or per CLI command.
func (b *Backend) Accounts() *accounts.Store {
	return accounts.New(b.db, accounts.Config{Log: b.log, Now: b.cfg.Now, ExamExists: b.examExists,
		// The login rate limit and the audit log see the client behind a
		// trusted reverse proxy, as join and resume do.
		ClientIP: func(r *http.Request) string {
			if a := clientAddr(r, b.cfg.TrustedProxies); a.IsValid() {
				return a.String()
			}
			return r.RemoteAddr
		}})
}

func (b *Backend) examExists(ctx context.Context, id string) (bool, error) {
	var one int
	err := b.db.QueryRowContext(ctx, `SELECT 1 FROM exams WHERE id = ?`, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// mountDashboard adds the dashboard API (docs/dashboard.md) to mux:
// accounts' endpoints under /api/v1/dashboard/ and the exam views, which
// show a proctor or reviewer only the exams assigned to them.
func (b *Backend) mountDashboard(mux *http.ServeMux) {
	s := b.Accounts()
	anyone := s.RequireRole()
	mux.Handle(accounts.Prefix, s.Handler())
	b.mountReview(mux, s)  // review.go: attempts, player, outcome, notes, hold, evidence
	b.mountExams(mux, s)   // dashboard_exams.go: create, edit, read with policy and join link
	pages := web.Handler() // the pages and their assets (backend/web)
	for _, p := range web.Patterns() {
		mux.Handle(p, pages)
	}
	mux.Handle("GET "+accounts.Prefix+"exams", anyone(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.handleDashboardExams(w, r, s)
	})))
	mux.Handle("GET "+accounts.Prefix+"exams/{exam}/sessions", anyone(s.RequireExam("exam", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.handleDashboardSessions(w, r, s)
	}))))
	b.mountLive(mux, s) // live grid and commands (live_api.go)
}

// handleDashboardExams lists the exams the user may see.
func (b *Backend) handleDashboardExams(w http.ResponseWriter, r *http.Request, s *accounts.Store) {
	ctx := r.Context()
	u := accounts.UserFrom(ctx)
	exams, err := b.ListExams(ctx)
	if err != nil {
		b.internalError(w, "dashboard: list exams", err)
		return
	}
	out := []Exam{}
	for _, e := range exams {
		ok, err := s.CanAccessExam(ctx, u, e.ID)
		if err != nil {
			b.internalError(w, "dashboard: exam access", err)
			return
		}
		if ok {
			out = append(out, e)
		}
	}
	dashboardJSON(w, out)
}

// handleDashboardSessions lists one exam's sessions (RequireExam checked
// access); the view is audited.
func (b *Backend) handleDashboardSessions(w http.ResponseWriter, r *http.Request, s *accounts.Store) {
	ctx := r.Context()
	exam := r.PathValue("exam")
	all, err := b.ListSessions(ctx)
	if err != nil {
		b.internalError(w, "dashboard: list sessions", err)
		return
	}
	out := []SessionInfo{}
	for _, si := range all {
		if si.ExamID != exam {
			continue
		}
		for i := range si.Tracks {
			si.Tracks[i].File = "" // server paths are not the browser's business
		}
		out = append(out, si)
	}
	u := accounts.UserFrom(ctx)
	if err := s.Audit(ctx, accounts.ActorOf(u, s.ClientIP(r)), "exam.sessions.view", exam, ""); err != nil {
		b.internalError(w, "dashboard: audit", err)
		return
	}
	dashboardJSON(w, out)
}

func dashboardJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}
