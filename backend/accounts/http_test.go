package accounts

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "modernc.org/sqlite"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func openTestDB(t *testing.T) *sql.DB {
	t.Helper()
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "foreign_keys(1)")
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "t.db")+"?"+q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := Migrate(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	if err := Migrate(context.Background(), db); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	return db
}

type fixture struct {
	t     *testing.T
	store *Store
	clk   *clock
	srv   *httptest.Server
	users map[string]*User
}

const testPassword = "a long enough password"

func newFixture(t *testing.T, cfg Config, useTLS bool) *fixture {
	t.Helper()
	clk := &clock{t: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
	cfg.Now = clk.Now
	if cfg.Params == (Params{}) {
		cfg.Params = fastParams
	}
	s := New(openTestDB(t), cfg)
	mux := http.NewServeMux()
	mux.Handle(Prefix, s.Handler())
	// A route shaped like the backend's exam routes.
	mux.Handle("GET /api/v1/dashboard/exams/{exam}/sessions", s.RequireRole()(s.RequireExam("exam", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "sessions of "+r.PathValue("exam"))
	}))))
	mux.Handle("POST /api/v1/dashboard/exams/{exam}/commands", s.RequireRole(Administrator, Proctor)(s.RequireCSRF(s.RequireExam("exam", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusAccepted)
	})))))
	var srv *httptest.Server
	if useTLS {
		srv = httptest.NewTLSServer(mux)
	} else {
		srv = httptest.NewServer(mux)
	}
	t.Cleanup(srv.Close)
	f := &fixture{t: t, store: s, clk: clk, srv: srv, users: map[string]*User{}}
	for _, u := range []struct {
		name string
		role Role
	}{{"alice", Administrator}, {"paul", Proctor}, {"rita", Reviewer}} {
		nu, err := s.AddUser(context.Background(), CLIActor, u.name, u.role, testPassword)
		if err != nil {
			t.Fatal(err)
		}
		f.users[u.name] = nu
	}
	return f
}

// browser is an HTTP client with a cookie jar and the CSRF token.
type browser struct {
	f    *fixture
	c    *http.Client
	csrf string
}

func (f *fixture) browser() *browser {
	jar, _ := cookiejar.New(nil)
	c := *f.srv.Client() // a copy: srv.Client() is shared
	c.Jar = jar
	return &browser{f: f, c: &c}
}

func (b *browser) do(method, path string, body any, hdr map[string]string) (*http.Response, []byte) {
	b.f.t.Helper()
	var rd io.Reader
	if body != nil {
		j, _ := json.Marshal(body)
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, b.f.srv.URL+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.f.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp, data
}

func (b *browser) login(name, pw string) (*http.Response, []byte) {
	b.f.t.Helper()
	resp, data := b.do("POST", Prefix+"login", map[string]string{"name": name, "password": pw}, nil)
	if resp.StatusCode == http.StatusOK {
		var me meResponse
		json.Unmarshal(data, &me)
		b.csrf = me.CSRFToken
	}
	return resp, data
}

func (b *browser) mustLogin(name string) {
	b.f.t.Helper()
	if resp, data := b.login(name, testPassword); resp.StatusCode != http.StatusOK {
		b.f.t.Fatalf("login %s: %d %s", name, resp.StatusCode, data)
	}
}

func TestLogin(t *testing.T) {
	f := newFixture(t, Config{}, false)
	for _, tc := range []struct {
		name, user, pw string
		want           int
	}{
		{"ok", "alice", testPassword, 200},
		{"case-insensitive name", "ALICE", testPassword, 200},
		{"bad password", "alice", testPassword + "x", 401},
		{"unknown user", "mallory", testPassword, 401},
		{"empty password", "alice", "", 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := f.browser()
			resp, data := b.login(tc.user, tc.pw)
			if resp.StatusCode != tc.want {
				t.Fatalf("login: got %d %s, want %d", resp.StatusCode, data, tc.want)
			}
			resp, data = b.do("GET", Prefix+"me", nil, nil)
			wantMe := http.StatusUnauthorized
			if tc.want == 200 {
				wantMe = 200
			}
			if resp.StatusCode != wantMe {
				t.Fatalf("me: got %d %s, want %d", resp.StatusCode, data, wantMe)
			}
			if wantMe == 200 {
				var me meResponse
				json.Unmarshal(data, &me)
				if me.User.Name != "alice" || me.User.Role != Administrator || me.CSRFToken != b.csrf || me.CSRFToken == "" {
					t.Errorf("me = %+v, csrf %q; want alice, administrator, the login's csrf token", me.User, me.CSRFToken)
				}
			}
		})
	}
	// Content type is required.
	b := f.browser()
	resp, _ := b.do("POST", Prefix+"login", map[string]string{"name": "alice", "password": testPassword}, map[string]string{"Content-Type": "text/plain"})
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("login as text/plain: got %d, want 415", resp.StatusCode)
	}
}

func TestCookieAttributes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tls    bool
		cookie string
	}{{"tls", true, CookieTLS}, {"plain http", false, CookiePlain}} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, Config{}, tc.tls)
			resp, data := f.browser().login("alice", testPassword)
			if resp.StatusCode != 200 {
				t.Fatalf("login: %d %s", resp.StatusCode, data)
			}
			sc := resp.Header.Values("Set-Cookie")
			if len(sc) != 1 {
				t.Fatalf("Set-Cookie: %q; want one", sc)
			}
			c := sc[0]
			for _, want := range []string{tc.cookie + "=", "Path=/", "HttpOnly", "SameSite=Strict"} {
				if !strings.Contains(c, want) {
					t.Errorf("Set-Cookie %q lacks %q", c, want)
				}
			}
			if got := strings.Contains(c, "Secure"); got != tc.tls {
				t.Errorf("Set-Cookie %q: Secure %v, want %v", c, got, tc.tls)
			}
			for _, bad := range []string{"Domain=", "Max-Age", "Expires"} {
				if strings.Contains(c, bad) {
					t.Errorf("Set-Cookie %q has %s", c, bad)
				}
			}
			if resp.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("login response Cache-Control %q, want no-store", resp.Header.Get("Cache-Control"))
			}
			// The session id is stored hashed only.
			val := strings.SplitN(strings.SplitN(c, ";", 2)[0], "=", 2)[1]
			var n int
			f.store.db.QueryRow(`SELECT COUNT(*) FROM login_sessions WHERE id_hash = ?`, sha([]byte(val))).Scan(&n)
			if n != 1 || len(val) < 43 {
				t.Errorf("session %q (len %d): %d rows by its hash; want 1 and 256 bits", val, len(val), n)
			}
		})
	}
}

func TestCSRF(t *testing.T) {
	f := newFixture(t, Config{}, false)
	if err := f.store.Assign(context.Background(), CLIActor, f.users["paul"].ID, "e_1"); err != nil {
		t.Fatal(err)
	}
	b := f.browser()
	b.mustLogin("paul")
	path := "/api/v1/dashboard/exams/e_1/commands"
	// The token with its first character changed ("x" unless it is one:
	// a fixed "x" left a token starting with x unchanged, 1 run in 64).
	wrong := "x" + b.csrf[1:]
	if b.csrf[0] == 'x' {
		wrong = "y" + b.csrf[1:]
	}
	for _, tc := range []struct {
		name string
		hdr  map[string]string
		want int
	}{
		{"no token", nil, 403},
		{"wrong token", map[string]string{CSRFHeader: wrong}, 403},
		{"token of another session", map[string]string{CSRFHeader: CSRFToken("other")}, 403},
		{"wrong origin", map[string]string{CSRFHeader: b.csrf, "Origin": "http://evil.example"}, 403},
		{"null origin", map[string]string{CSRFHeader: b.csrf, "Origin": "null"}, 403},
		{"cross-site fetch", map[string]string{CSRFHeader: b.csrf, "Sec-Fetch-Site": "cross-site"}, 403},
		{"same-site (sibling subdomain)", map[string]string{CSRFHeader: b.csrf, "Sec-Fetch-Site": "same-site"}, 403},
		{"token", map[string]string{CSRFHeader: b.csrf}, 202},
		{"token, own origin, same-origin fetch", map[string]string{CSRFHeader: b.csrf, "Origin": f.srv.URL, "Sec-Fetch-Site": "same-origin"}, 202},
	} {
		resp, data := b.do("POST", path, map[string]string{}, tc.hdr)
		if resp.StatusCode != tc.want {
			t.Errorf("%s: got %d %s, want %d", tc.name, resp.StatusCode, data, tc.want)
		}
	}
	// Login from another origin is refused too (login CSRF).
	resp, _ := f.browser().do("POST", Prefix+"login", map[string]string{"name": "alice", "password": testPassword}, map[string]string{"Origin": "http://evil.example"})
	if resp.StatusCode != 403 {
		t.Errorf("cross-origin login: got %d, want 403", resp.StatusCode)
	}
	// Logout needs the token, and ends the session.
	if resp, _ := b.do("POST", Prefix+"logout", nil, nil); resp.StatusCode != 403 {
		t.Errorf("logout without token: got %d, want 403", resp.StatusCode)
	}
	if resp, _ := b.do("POST", Prefix+"logout", nil, map[string]string{CSRFHeader: b.csrf}); resp.StatusCode != 204 {
		t.Errorf("logout: got %d, want 204", resp.StatusCode)
	}
	if resp, _ := b.do("GET", Prefix+"me", nil, nil); resp.StatusCode != 401 {
		t.Errorf("me after logout: got %d, want 401", resp.StatusCode)
	}
}

func TestExamAccess(t *testing.T) {
	f := newFixture(t, Config{}, false)
	ctx := context.Background()
	f.store.Assign(ctx, CLIActor, f.users["paul"].ID, "e_mine")
	f.store.Assign(ctx, CLIActor, f.users["rita"].ID, "e_mine")
	for _, tc := range []struct {
		user, exam string
		want       int
	}{
		{"paul", "e_mine", 200},
		{"paul", "e_other", 403},
		{"rita", "e_mine", 200},
		{"rita", "e_other", 403},
		{"alice", "e_other", 200},
	} {
		b := f.browser()
		b.mustLogin(tc.user)
		resp, data := b.do("GET", "/api/v1/dashboard/exams/"+tc.exam+"/sessions", nil, nil)
		if resp.StatusCode != tc.want {
			t.Errorf("%s GET exam %s: got %d %s, want %d", tc.user, tc.exam, resp.StatusCode, data, tc.want)
		}
	}
	// A reviewer may not send commands even to an assigned exam.
	b := f.browser()
	b.mustLogin("rita")
	if resp, _ := b.do("POST", "/api/v1/dashboard/exams/e_mine/commands", map[string]string{}, map[string]string{CSRFHeader: b.csrf}); resp.StatusCode != 403 {
		t.Errorf("reviewer command: got %d, want 403", resp.StatusCode)
	}
	// Without a session: 401.
	if resp, _ := f.browser().do("GET", "/api/v1/dashboard/exams/e_mine/sessions", nil, nil); resp.StatusCode != 401 {
		t.Errorf("anonymous: got %d, want 401", resp.StatusCode)
	}
	// The refusal is audited.
	entries, err := f.store.ListAudit(ctx, AuditQuery{Action: "exam.denied"})
	if err != nil || len(entries) != 2 || entries[0].Target != "e_other" {
		t.Errorf("exam.denied audit entries %+v, %v; want 2 for e_other", entries, err)
	}
}

func TestAssignHTTP(t *testing.T) {
	exams := map[string]bool{"e_1": true}
	f := newFixture(t, Config{ExamExists: func(_ context.Context, id string) (bool, error) { return exams[id], nil }}, false)
	admin := f.browser()
	admin.mustLogin("alice")
	paul := f.browser()
	paul.mustLogin("paul")
	path := Prefix + "users/" + f.users["paul"].ID + "/exams/e_1"
	if resp, _ := paul.do("PUT", path, nil, map[string]string{CSRFHeader: paul.csrf}); resp.StatusCode != 403 {
		t.Errorf("proctor assigning himself: got %d, want 403", resp.StatusCode)
	}
	if resp, _ := admin.do("PUT", path, nil, nil); resp.StatusCode != 403 {
		t.Errorf("assign without CSRF token: got %d, want 403", resp.StatusCode)
	}
	if resp, _ := admin.do("PUT", Prefix+"users/"+f.users["paul"].ID+"/exams/e_nope", nil, map[string]string{CSRFHeader: admin.csrf}); resp.StatusCode != 404 {
		t.Errorf("assign unknown exam: got %d, want 404", resp.StatusCode)
	}
	if resp, _ := admin.do("PUT", path, nil, map[string]string{CSRFHeader: admin.csrf}); resp.StatusCode != 204 {
		t.Errorf("assign: got %d, want 204", resp.StatusCode)
	}
	if resp, _ := paul.do("GET", "/api/v1/dashboard/exams/e_1/sessions", nil, nil); resp.StatusCode != 200 {
		t.Errorf("assigned proctor: got %d, want 200", resp.StatusCode)
	}
	if resp, _ := admin.do("DELETE", path, nil, map[string]string{CSRFHeader: admin.csrf}); resp.StatusCode != 204 {
		t.Errorf("unassign: got %d, want 204", resp.StatusCode)
	}
	if resp, _ := paul.do("GET", "/api/v1/dashboard/exams/e_1/sessions", nil, nil); resp.StatusCode != 403 {
		t.Errorf("unassigned proctor: got %d, want 403", resp.StatusCode)
	}
}

func TestAudit(t *testing.T) {
	f := newFixture(t, Config{}, false)
	admin := f.browser()
	admin.mustLogin("alice")
	f.browser().login("alice", "wrong password!")
	paul := f.browser()
	paul.mustLogin("paul")
	if err := f.store.Audit(context.Background(), ActorOf(f.users["paul"], "127.0.0.1"), "session.view", "s_1", "camera"); err != nil {
		t.Fatal(err)
	}
	for _, u := range []*browser{paul, f.browser()} {
		if resp, _ := u.do("GET", Prefix+"audit", nil, nil); resp.StatusCode != 403 && resp.StatusCode != 401 {
			t.Errorf("non-admin audit read: got %d, want 403/401", resp.StatusCode)
		}
	}
	resp, data := admin.do("GET", Prefix+"audit", nil, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("admin audit read: %d %s", resp.StatusCode, data)
	}
	var page struct {
		Entries []AuditEntry `json:"entries"`
		Next    int64        `json:"next_before"`
	}
	json.Unmarshal(data, &page)
	var got []string
	for _, e := range page.Entries {
		got = append(got, e.Action+":"+e.Name)
	}
	want := []string{"session.view:paul", "login.ok:paul", "login.fail:alice", "login.ok:alice", "user.add:invigild (command line)", "user.add:invigild (command line)", "user.add:invigild (command line)"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("audit log:\n got %v\nwant %v", got, want)
	}
	if page.Entries[0].IP != "127.0.0.1" || page.Entries[1].IP != "127.0.0.1" {
		t.Errorf("audit entries lack the address: %+v", page.Entries[:2])
	}
	// Paging and filters.
	resp, data = admin.do("GET", Prefix+"audit?limit=2", nil, nil)
	json.Unmarshal(data, &page)
	if len(page.Entries) != 2 || page.Next != page.Entries[1].ID {
		t.Fatalf("limit=2: %s", data)
	}
	_, data = admin.do("GET", Prefix+"audit?limit=100&action=user.add&before="+itoa(page.Next), nil, nil)
	json.Unmarshal(data, &page)
	if len(page.Entries) != 3 {
		t.Errorf("action=user.add page: %d entries, want 3", len(page.Entries))
	}
	if resp, _ := admin.do("GET", Prefix+"audit?limit=-1", nil, nil); resp.StatusCode != 400 {
		t.Errorf("limit=-1: got %d, want 400", resp.StatusCode)
	}
}

func itoa(n int64) string { return strings.TrimSpace(string(must(json.Marshal(n)))) }

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestRateLimit(t *testing.T) {
	f := newFixture(t, Config{AccountLimit: Rate{Burst: 3, Every: time.Minute}, IPLimit: Rate{Burst: 6, Every: time.Minute}}, false)
	b := f.browser()
	for i := range 3 {
		if resp, _ := b.login("alice", "wrong password!"); resp.StatusCode != 401 {
			t.Fatalf("attempt %d: got %d, want 401", i, resp.StatusCode)
		}
	}
	// The account is limited now, even with the right password.
	resp, data := b.login("alice", testPassword)
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("4th attempt: got %d %s (Retry-After %q), want 429 with Retry-After", resp.StatusCode, data, resp.Header.Get("Retry-After"))
	}
	// Another account from the same address still works until the
	// address's bucket is empty too.
	b.mustLogin("paul")
	b.mustLogin("paul")
	if resp, _ := b.login("paul", testPassword); resp.StatusCode != 429 {
		t.Errorf("7th attempt from one address: got %d, want 429", resp.StatusCode)
	}
	// Time refills both.
	f.clk.add(2 * time.Minute)
	b.mustLogin("alice")
	if n, err := f.store.ListAudit(context.Background(), AuditQuery{Action: "login.limited"}); err != nil || len(n) != 2 {
		t.Errorf("login.limited audit rows: %d, %v; want 2", len(n), err)
	}
}

func TestLimiterBoundedMemory(t *testing.T) {
	l := newLimiter(Rate{Burst: 2, Every: time.Minute}, 100)
	now := time.Unix(0, 0)
	for i := range 1000 {
		l.allow(itoa(int64(i)), now)
		l.allow(itoa(int64(i)), now)
	}
	if n := l.len(); n > 100 {
		t.Errorf("limiter holds %d keys, want ≤ 100", n)
	}
	// A key still limited is remembered while newer keys come in.
	l.allow("victim", now)
	l.allow("victim", now)
	if ok, _ := l.allow("victim", now); ok {
		t.Fatal("third attempt allowed")
	}
	if ok, wait := l.allow("victim", now.Add(20*time.Second)); ok || wait <= 0 || wait > 40*time.Second {
		t.Errorf("after 20 s: allowed %v, wait %v; want refused, ≤ 40 s", ok, wait)
	}
}

func TestIPKey(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:5000":             "127.0.0.1",
		"[::ffff:10.0.0.1]:1":        "10.0.0.1",
		"[2001:db8:1:2:3:4:5:6]:443": "2001:db8:1:2::/64",
		"[2001:db8:1:2:ff::1]:443":   "2001:db8:1:2::/64",
		"garbage":                    "garbage",
	} {
		if got := ipKey(in); got != want {
			t.Errorf("ipKey(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSessionExpiry(t *testing.T) {
	f := newFixture(t, Config{IdleTimeout: 30 * time.Minute, SessionLifetime: 2 * time.Hour}, false)
	ctx := context.Background()
	_, tok, err := f.store.Login(ctx, "paul", testPassword, "127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	// Activity every 20 minutes keeps it alive until the absolute limit.
	for range 5 {
		f.clk.add(20 * time.Minute)
		if _, err := f.store.Session(ctx, tok); err != nil {
			t.Fatalf("at %v: %v", f.clk.Now(), err)
		}
	}
	f.clk.add(20 * time.Minute) // 2 h after login
	if _, err := f.store.Session(ctx, tok); !errors.Is(err, ErrNoSession) {
		t.Errorf("after the absolute lifetime: %v, want ErrNoSession", err)
	}
	_, tok, _ = f.store.Login(ctx, "paul", testPassword, "127.0.0.1:1")
	f.clk.add(31 * time.Minute)
	if _, err := f.store.Session(ctx, tok); !errors.Is(err, ErrNoSession) {
		t.Errorf("after 31 idle minutes: %v, want ErrNoSession", err)
	}
	// Disabling a user ends their sessions.
	_, tok, _ = f.store.Login(ctx, "paul", testPassword, "127.0.0.1:1")
	f.store.SetDisabled(ctx, CLIActor, f.users["paul"].ID, true)
	if _, err := f.store.Session(ctx, tok); !errors.Is(err, ErrNoSession) {
		t.Errorf("disabled user's session: %v, want ErrNoSession", err)
	}
	if _, _, err := f.store.Login(ctx, "paul", testPassword, "127.0.0.1:1"); !errors.Is(err, ErrBadLogin) {
		t.Errorf("disabled user's login: %v, want ErrBadLogin", err)
	}
}

func TestRehashOnLogin(t *testing.T) {
	f := newFixture(t, Config{}, false)
	ctx := context.Background()
	// paul's hash was made with fastParams; the server now wants more.
	s2 := New(f.store.db, Config{Now: f.clk.Now, Params: Params{Memory: 128, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}})
	if _, _, err := s2.Login(ctx, "paul", testPassword, "127.0.0.1:1"); err != nil {
		t.Fatal(err)
	}
	var phc string
	f.store.db.QueryRow(`SELECT password FROM users WHERE name = 'paul'`).Scan(&phc)
	if !strings.Contains(phc, "$m=128,t=2,p=1$") {
		t.Errorf("after login the hash is %q; want it rehashed with m=128,t=2", phc)
	}
	if _, _, err := s2.Login(ctx, "paul", testPassword, "127.0.0.1:1"); err != nil {
		t.Errorf("login after rehash: %v", err)
	}
}

func TestUnknownUserCostsAHash(t *testing.T) {
	// Unknown and disabled names run argon2 against the dummy hash, so
	// their timing matches a wrong password's.
	f := newFixture(t, Config{}, false)
	ctx := context.Background()
	var mu sync.Mutex
	var hashed []string
	f.store.verify = func(pw, phc string, p Params) (bool, error) {
		mu.Lock()
		hashed = append(hashed, phc)
		mu.Unlock()
		return VerifyPassword(pw, phc, p)
	}
	f.store.SetDisabled(ctx, CLIActor, f.users["rita"].ID, true)
	for _, name := range []string{"nobody", "rita", "alice"} {
		if _, _, err := f.store.Login(ctx, name, "wrong password!", "127.0.0.1:1"); !errors.Is(err, ErrBadLogin) {
			t.Errorf("login %s: %v, want ErrBadLogin", name, err)
		}
	}
	if len(hashed) != 3 || hashed[0] != f.store.dummyHash() || hashed[1] != f.store.dummyHash() || hashed[2] == f.store.dummyHash() {
		t.Errorf("argon2 ran against %d hashes %q; want the dummy for nobody and disabled rita, alice's own", len(hashed), hashed)
	}
}

func TestAddUserValidation(t *testing.T) {
	f := newFixture(t, Config{}, false)
	ctx := context.Background()
	for _, tc := range []struct {
		name, user string
		role       Role
		pw         string
		want       error
	}{
		{"duplicate", "Alice", Proctor, testPassword, ErrUserExists},
		{"short password", "bob", Proctor, "short", nil},
		{"bad name", "bob smith", Proctor, testPassword, nil},
		{"bad role", "bob", Role("root"), testPassword, nil},
	} {
		_, err := f.store.AddUser(ctx, CLIActor, tc.user, tc.role, tc.pw)
		if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("%s: AddUser = %v, want an error (%v)", tc.name, err, tc.want)
		}
	}
}

func TestOverlongPasswordFails(t *testing.T) {
	f := newFixture(t, Config{}, false)
	ctx := context.Background()
	long := strings.Repeat("p", MaxPasswordLen)
	u, err := f.store.AddUser(ctx, CLIActor, "max", Proctor, long)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.store.Login(ctx, "max", long, "127.0.0.1:1"); err != nil {
		t.Fatalf("login with a %d-byte password: %v", len(long), err)
	}
	if _, _, err := f.store.Login(ctx, "max", long+"extra", "127.0.0.1:1"); !errors.Is(err, ErrBadLogin) {
		t.Errorf("login with the password plus more: %v, want ErrBadLogin (user %s)", err, u.ID)
	}
}

func TestClientIPHook(t *testing.T) {
	// Behind a trusted proxy the backend names the client; the rate limit
	// and the audit log use that address.
	f := newFixture(t, Config{
		IPLimit:  Rate{Burst: 2, Every: time.Hour},
		ClientIP: func(r *http.Request) string { return r.Header.Get("X-Test-Client") },
	}, false)
	b := f.browser()
	from := func(ip string) map[string]string { return map[string]string{"X-Test-Client": ip} }
	body := map[string]string{"name": "paul", "password": testPassword}
	for i, tc := range []struct {
		ip   string
		want int
	}{{"10.0.0.1", 200}, {"10.0.0.1", 200}, {"10.0.0.1", 429}, {"10.0.0.2", 200}} {
		if resp, data := b.do("POST", Prefix+"login", body, from(tc.ip)); resp.StatusCode != tc.want {
			t.Errorf("login %d from %s: got %d %s, want %d", i, tc.ip, resp.StatusCode, data, tc.want)
		}
	}
	e, err := f.store.ListAudit(context.Background(), AuditQuery{Limit: 1})
	if err != nil || len(e) != 1 || e[0].Action != "login.ok" || e[0].IP != "10.0.0.2" {
		t.Errorf("last audit entry %+v, %v; want login.ok from 10.0.0.2", e, err)
	}
}
