package backend

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/invigil/invigil/backend/accounts"
)

// TestDashboardExamAccess drives the mounted dashboard API: a proctor logs
// in, sees only the exam assigned to them and gets 403 for another; the
// views are in the audit log, which only the administrator reads.
func TestDashboardExamAccess(t *testing.T) {
	b, err := Open(Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(b.Handler())
	t.Cleanup(func() {
		srv.Close()
		b.Close()
	})
	ctx := context.Background()
	acc := b.Accounts()
	const pw = "a long enough password"
	if _, err := acc.AddUser(ctx, accounts.CLIActor, "alice", accounts.Administrator, pw); err != nil {
		t.Fatal(err)
	}
	paul, err := acc.AddUser(ctx, accounts.CLIActor, "paul", accounts.Proctor, pw)
	if err != nil {
		t.Fatal(err)
	}
	mine, err := b.CreateExam(ctx, ExamSpec{Name: "Mine"})
	if err != nil {
		t.Fatal(err)
	}
	other, err := b.CreateExam(ctx, ExamSpec{Name: "Other"})
	if err != nil {
		t.Fatal(err)
	}
	if err := acc.Assign(ctx, accounts.CLIActor, paul.ID, mine.ID); err != nil {
		t.Fatal(err)
	}

	login := func(name string) *http.Client {
		t.Helper()
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar}
		body, _ := json.Marshal(map[string]string{"name": name, "password": pw})
		resp, err := c.Post(srv.URL+accounts.Prefix+"login", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("login %s: %d", name, resp.StatusCode)
		}
		return c
	}
	get := func(c *http.Client, path string, v any) int {
		t.Helper()
		resp, err := c.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if v != nil && resp.StatusCode == 200 {
			json.NewDecoder(resp.Body).Decode(v)
		}
		return resp.StatusCode
	}

	p := login("paul")
	var exams []Exam
	if code := get(p, accounts.Prefix+"exams", &exams); code != 200 || len(exams) != 1 || exams[0].ID != mine.ID {
		t.Errorf("proctor's exams: %d %+v; want only %s", code, exams, mine.ID)
	}
	if code := get(p, accounts.Prefix+"exams/"+mine.ID+"/sessions", nil); code != 200 {
		t.Errorf("assigned exam's sessions: %d, want 200", code)
	}
	if code := get(p, accounts.Prefix+"exams/"+other.ID+"/sessions", nil); code != 403 {
		t.Errorf("unassigned exam's sessions: %d, want 403", code)
	}
	if code := get(p, accounts.Prefix+"audit", nil); code != 403 {
		t.Errorf("proctor reading the audit log: %d, want 403", code)
	}
	if code := get(http.DefaultClient, accounts.Prefix+"exams", nil); code != 401 {
		t.Errorf("anonymous exam list: %d, want 401", code)
	}
	a := login("alice")
	if code := get(a, accounts.Prefix+"exams", &exams); code != 200 || len(exams) != 2 {
		t.Errorf("administrator's exams: %d, %d exams; want 2", code, len(exams))
	}
	var audit struct{ Entries []accounts.AuditEntry }
	if code := get(a, accounts.Prefix+"audit?action=exam.sessions.view", &audit); code != 200 || len(audit.Entries) != 1 || audit.Entries[0].Name != "paul" || audit.Entries[0].Target != mine.ID {
		t.Errorf("audit of session views: %d %+v; want paul viewing %s", code, audit.Entries, mine.ID)
	}
	if code := get(a, accounts.Prefix+"audit?action=exam.denied", &audit); code != 200 || len(audit.Entries) != 1 || audit.Entries[0].Target != other.ID {
		t.Errorf("audit of refusals: %d %+v; want paul refused %s", code, audit.Entries, other.ID)
	}
	http.DefaultClient.CloseIdleConnections()
	p.CloseIdleConnections()
	a.CloseIdleConnections()
}

// Behind a trusted reverse proxy, the dashboard's login rate limit and
// audit log see the client's address from X-Forwarded-For, as join and
// resume do; from anyone else the header is ignored.
func TestDashboardClientBehindProxy(t *testing.T) {
	b, err := Open(Config{DataDir: t.TempDir(), TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(b.Handler())
	t.Cleanup(func() {
		srv.Close()
		b.Close()
	})
	ctx := context.Background()
	if _, err := b.Accounts().AddUser(ctx, accounts.CLIActor, "alice", accounts.Administrator, "a long enough password"); err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]string{"name": "alice", "password": "a long enough password"})
	req, _ := http.NewRequest(http.MethodPost, srv.URL+accounts.Prefix+"login", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-For", "198.51.100.7")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	got, err := b.Accounts().ListAudit(ctx, accounts.AuditQuery{Action: "login.ok"})
	if err != nil || len(got) != 1 || got[0].IP != "198.51.100.7" {
		t.Fatalf("audit %+v, %v: want one login from 198.51.100.7", got, err)
	}
}
