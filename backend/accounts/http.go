package accounts

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Cookie names. Over TLS the session cookie is __Host-invigil_session:
// browsers accept a __Host- cookie only with Secure, Path=/ and no Domain,
// so no other host or plain-http page can set or shadow it. A cookie set
// over plain http cannot be Secure (browsers drop it), so a backend
// reached over http (loopback, a lab network without certificates) uses
// invigil_session, HttpOnly and SameSite=Strict but not Secure: anyone on
// that network path can read it (docs/dashboard.md).
const (
	CookieTLS     = "__Host-invigil_session"
	CookiePlain   = "invigil_session"
	CSRFHeader    = "X-CSRF-Token"
	maxLoginBytes = 8 << 10
)

// Prefix is where Handler's routes live.
const Prefix = "/api/v1/dashboard/"

type ctxKey struct{}

type authInfo struct {
	user  *User
	token string
}

// UserFrom returns the user RequireRole authenticated, or nil.
func UserFrom(ctx context.Context) *User {
	if a, ok := ctx.Value(ctxKey{}).(*authInfo); ok {
		return a.user
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// writeError writes the API's error body ({"error": {"code", "message"}},
// as the client API does).
func writeError(w http.ResponseWriter, status int, code, msg string) {
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	body.Error.Code, body.Error.Message = code, msg
	writeJSON(w, status, body)
}

func (s *Store) internalError(w http.ResponseWriter, what string, err error) {
	s.log.Error("dashboard request failed", "what", what, "err", err)
	writeError(w, http.StatusInternalServerError, "internal", "internal error")
}

// secure reports whether r arrived over TLS (or through a TLS proxy the
// config vouches for).
func (s *Store) secure(r *http.Request) bool { return r.TLS != nil || s.cfg.AssumeTLS }

func (s *Store) cookieName(r *http.Request) string {
	if s.secure(r) {
		return CookieTLS
	}
	return CookiePlain
}

// sessionToken is the login session cookie of r: only the name that
// matches the request's scheme counts.
func (s *Store) sessionToken(r *http.Request) string {
	c, err := r.Cookie(s.cookieName(r))
	if err != nil {
		return ""
	}
	return c.Value
}

func (s *Store) setCookie(w http.ResponseWriter, r *http.Request, value string, maxAge int) {
	// No Max-Age on login: the cookie ends with the browser (shared lab
	// computers); the server ends the session earlier when idle.
	http.SetCookie(w, &http.Cookie{
		Name: s.cookieName(r), Value: value, Path: "/", MaxAge: maxAge,
		Secure: s.secure(r), HttpOnly: true, SameSite: http.SameSiteStrictMode,
	})
}

// ClientIP is the address of r's client, as the login rate limit and the
// audit log see it: Config.ClientIP's answer, by default the remote IP
// without the port.
func (s *Store) ClientIP(r *http.Request) string {
	if s.cfg.ClientIP != nil {
		return s.cfg.ClientIP(r)
	}
	return hostOf(r.RemoteAddr)
}

func hostOf(remoteAddr string) string {
	if ap, err := netip.ParseAddrPort(remoteAddr); err == nil {
		return ap.Addr().Unmap().String()
	}
	return remoteAddr
}

// sameOrigin checks the browser's own statements about where a request
// comes from: Sec-Fetch-Site must be same-origin when sent, and Origin,
// when sent, must be this server's origin. Clients that send neither
// (curl, scripts) pass this check; the CSRF token then protects.
func (s *Store) sameOrigin(r *http.Request) error {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" {
		return fmt.Errorf("cross-site request (Sec-Fetch-Site: %s)", site)
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return nil
	}
	u, err := url.Parse(origin)
	scheme := "http"
	if s.secure(r) {
		scheme = "https"
	}
	if err != nil || origin == "null" || !strings.EqualFold(u.Scheme, scheme) || !strings.EqualFold(u.Host, r.Host) {
		return fmt.Errorf("cross-origin request from %s", origin)
	}
	return nil
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// RequireCSRF refuses a state-changing request (any method but GET, HEAD
// and OPTIONS) that fails the Origin / Sec-Fetch-Site check or does not
// carry the login session's CSRF token in the X-CSRF-Token header.
func (s *Store) RequireCSRF(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if safeMethod(r.Method) {
			h.ServeHTTP(w, r)
			return
		}
		if err := s.sameOrigin(r); err != nil {
			writeError(w, http.StatusForbidden, "csrf", err.Error())
			return
		}
		tok := s.sessionToken(r)
		got := r.Header.Get(CSRFHeader)
		if tok == "" || got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(CSRFToken(tok))) != 1 {
			writeError(w, http.StatusForbidden, "csrf", "missing or wrong "+CSRFHeader+" header (GET "+Prefix+"me returns the token)")
			return
		}
		h.ServeHTTP(w, r)
	})
}

// RequireRole authenticates the request by its login session cookie (401
// without a valid one) and lets it through only if the user has one of
// roles (403 otherwise; no roles: any role). UserFrom gives handlers the
// user. It does not check CSRF: wrap state-changing handlers in
// RequireCSRF too.
func (s *Store) RequireRole(roles ...Role) func(http.Handler) http.Handler {
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Cache-Control", "no-store")
			tok := s.sessionToken(r)
			u, err := s.Session(r.Context(), tok)
			if errors.Is(err, ErrNoSession) {
				writeError(w, http.StatusUnauthorized, "unauthorized", "log in first")
				return
			}
			if err != nil {
				s.internalError(w, "authenticate", err)
				return
			}
			if len(roles) > 0 && !hasRole(u.Role, roles) {
				writeError(w, http.StatusForbidden, "forbidden", "your role ("+string(u.Role)+") may not do this")
				return
			}
			ctx := context.WithValue(r.Context(), ctxKey{}, &authInfo{user: u, token: tok})
			h.ServeHTTP(w, r.WithContext(ctx))
		})
	}
}

func hasRole(r Role, roles []Role) bool {
	for _, x := range roles {
		if r == x {
			return true
		}
	}
	return false
}

// RequireExam lets a request through only if its user (RequireRole runs
// first) may access the exam named by the path wildcard param; a refusal
// is 403 and is audited.
func (s *Store) RequireExam(param string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u := UserFrom(r.Context())
		exam := r.PathValue(param)
		ok, err := s.CanAccessExam(r.Context(), u, exam)
		if err != nil {
			s.internalError(w, "exam access", err)
			return
		}
		if !ok {
			if u != nil {
				s.Audit(r.Context(), ActorOf(u, s.ClientIP(r)), "exam.denied", exam, r.Method+" "+r.URL.Path)
			}
			writeError(w, http.StatusForbidden, "forbidden", "you are not assigned to this exam")
			return
		}
		h.ServeHTTP(w, r)
	})
}

// Handler serves the account endpoints under Prefix (docs/dashboard.md):
//
//	POST   login                       {name, password} → user, csrf_token; sets the cookie
//	POST   logout                      (CSRF)
//	GET    me                          user, csrf_token, assigned exams
//	GET    audit                       administrator: ?limit, before, actor, action, target
//	GET    users                       administrator
//	PUT    users/{user}/exams/{exam}   administrator (CSRF): assign
//	DELETE users/{user}/exams/{exam}   administrator (CSRF): unassign
func (s *Store) Handler() http.Handler {
	mux := http.NewServeMux()
	admin := s.RequireRole(Administrator)
	anyone := s.RequireRole()
	mux.HandleFunc("POST "+Prefix+"login", s.handleLogin)
	mux.Handle("POST "+Prefix+"logout", s.RequireCSRF(http.HandlerFunc(s.handleLogout)))
	mux.Handle("GET "+Prefix+"me", anyone(http.HandlerFunc(s.handleMe)))
	mux.Handle("GET "+Prefix+"audit", admin(http.HandlerFunc(s.handleAudit)))
	mux.Handle("GET "+Prefix+"users", admin(http.HandlerFunc(s.handleUsers)))
	mux.Handle("PUT "+Prefix+"users/{user}/exams/{exam}", admin(s.RequireCSRF(http.HandlerFunc(s.handleAssign))))
	mux.Handle("DELETE "+Prefix+"users/{user}/exams/{exam}", admin(s.RequireCSRF(http.HandlerFunc(s.handleAssign))))
	return mux
}

type meResponse struct {
	User      *User    `json:"user"`
	CSRFToken string   `json:"csrf_token"`
	Exams     []string `json:"exams"` // assigned exam ids; administrators see all
}

func (s *Store) handleLogin(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	// Login CSRF: a form on another site cannot send application/json
	// without a CORS preflight this server never answers.
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		writeError(w, http.StatusUnsupportedMediaType, "bad_request", "login wants Content-Type: application/json")
		return
	}
	if err := s.sameOrigin(r); err != nil {
		writeError(w, http.StatusForbidden, "csrf", err.Error())
		return
	}
	var req struct {
		Name     string `json:"name"`
		Password string `json:"password"`
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginBytes)
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", "malformed JSON body")
		return
	}
	if req.Name == "" || req.Password == "" {
		writeError(w, http.StatusBadRequest, "bad_request", "name and password are required")
		return
	}
	u, tok, err := s.Login(r.Context(), req.Name, req.Password, s.ClientIP(r))
	var rl *RateLimitError
	switch {
	case errors.As(err, &rl):
		w.Header().Set("Retry-After", strconv.Itoa(int((rl.RetryAfter+time.Second-1)/time.Second)))
		writeError(w, http.StatusTooManyRequests, "rate_limited", rl.Error())
		return
	case errors.Is(err, ErrBadLogin):
		writeError(w, http.StatusUnauthorized, "bad_login", "wrong name or password")
		return
	case err != nil:
		s.internalError(w, "login", err)
		return
	}
	// A previous session of this browser ends: no session fixation.
	if old := s.sessionToken(r); old != "" {
		s.Logout(r.Context(), old)
	}
	s.setCookie(w, r, tok, 0)
	writeJSON(w, http.StatusOK, meResponse{User: u, CSRFToken: CSRFToken(tok), Exams: s.examsOf(r.Context(), u)})
}

func (s *Store) examsOf(ctx context.Context, u *User) []string {
	if u.Role == Administrator {
		return nil
	}
	ids, err := s.AssignedExams(ctx, u.ID)
	if err != nil {
		s.log.Error("list assigned exams", "err", err)
		return []string{}
	}
	return ids
}

func (s *Store) handleLogout(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	tok := s.sessionToken(r)
	if u, err := s.Session(r.Context(), tok); err == nil {
		s.Audit(r.Context(), ActorOf(u, s.ClientIP(r)), "logout", u.ID, "")
	}
	if err := s.Logout(r.Context(), tok); err != nil {
		s.internalError(w, "logout", err)
		return
	}
	s.setCookie(w, r, "", -1)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Store) handleMe(w http.ResponseWriter, r *http.Request) {
	a := r.Context().Value(ctxKey{}).(*authInfo)
	writeJSON(w, http.StatusOK, meResponse{User: a.user, CSRFToken: CSRFToken(a.token), Exams: s.examsOf(r.Context(), a.user)})
}

func (s *Store) handleAudit(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	q := AuditQuery{Actor: v.Get("actor"), Action: v.Get("action"), Target: v.Get("target")}
	for _, f := range []struct {
		name string
		dst  *int64
	}{{"before", &q.Before}, {"limit", new(int64)}} {
		if s := v.Get(f.name); s != "" {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil || n < 0 {
				writeError(w, http.StatusBadRequest, "bad_request", f.name+" wants a non-negative integer")
				return
			}
			*f.dst = n
			if f.name == "limit" {
				q.Limit = int(min(n, 1000))
			}
		}
	}
	entries, err := s.ListAudit(r.Context(), q)
	if err != nil {
		s.internalError(w, "audit", err)
		return
	}
	resp := struct {
		Entries []AuditEntry `json:"entries"`
		Before  int64        `json:"next_before,omitempty"` // pass as ?before= for the next page
	}{Entries: entries}
	if len(entries) > 0 {
		resp.Before = entries[len(entries)-1].ID
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Store) handleUsers(w http.ResponseWriter, r *http.Request) {
	users, err := s.ListUsers(r.Context())
	if err != nil {
		s.internalError(w, "list users", err)
		return
	}
	writeJSON(w, http.StatusOK, users)
}

func (s *Store) handleAssign(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	actor := ActorOf(UserFrom(ctx), s.ClientIP(r))
	userID, exam := r.PathValue("user"), r.PathValue("exam")
	if r.Method == http.MethodDelete {
		if err := s.Unassign(ctx, actor, userID, exam); err != nil {
			s.internalError(w, "unassign", err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if s.cfg.ExamExists != nil {
		ok, err := s.cfg.ExamExists(ctx, exam)
		if err != nil {
			s.internalError(w, "assign: find exam", err)
			return
		}
		if !ok {
			writeError(w, http.StatusNotFound, "not_found", "no exam "+exam)
			return
		}
	}
	err := s.Assign(ctx, actor, userID, exam)
	if errors.Is(err, ErrNoUser) {
		writeError(w, http.StatusNotFound, "not_found", "no user "+userID)
		return
	}
	if err != nil {
		s.internalError(w, "assign", err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
