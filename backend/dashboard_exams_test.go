package backend

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/invigil/invigil/assets"
)

func TestDashboardExams(t *testing.T) {
	d := newDashEnv(t)
	alice, paul := d.login(t, "alice"), d.login(t, "paul")
	body := map[string]any{"name": "Physics 1", "code": "phys1", "opens_at": "2026-12-01T09:00:00Z", "closes_at": "2026-12-01T11:00:00Z"}
	if code := paul.do("POST", "exams", body, nil); code != 403 {
		t.Errorf("a proctor creating an exam: %d, want 403", code)
	}
	if code := alice.do("POST", "exams", body, nil, true); code != 403 {
		t.Errorf("create without CSRF: %d, want 403", code)
	}
	var ex ExamDetail
	if code := alice.do("POST", "exams", body, &ex); code != 201 || ex.Code != "PHYS1" || ex.Retention != 30 || !strings.HasPrefix(ex.JoinLink, "invigil://join?") || !strings.Contains(ex.JoinLink, "code=PHYS1") {
		t.Fatalf("create: %d %+v", code, ex)
	}
	if code := alice.do("POST", "exams", body, nil); code != 409 {
		t.Errorf("a taken join code: %d, want 409", code)
	}
	// A policy the validator refuses: 400 with its message.
	var pol map[string]any
	json.Unmarshal(assets.DefaultPolicy, &pol)
	pol["displays"] = map[string]any{"max": 0, "action": "block"}
	bad, _ := json.Marshal(pol)
	body["policy"] = json.RawMessage(bad)
	if code := alice.do("PUT", "exams/"+ex.ID, body, nil); code != 400 {
		t.Errorf("invalid policy: %d, want 400", code)
	}
	pol["displays"] = map[string]any{"max": 2, "action": "flag"}
	pol["privacy"].(map[string]any)["retention_days"] = 90
	good, _ := json.Marshal(pol)
	body["policy"] = json.RawMessage(good)
	body["name"] = "Physics 1 (resit)"
	if code := alice.do("PUT", "exams/"+ex.ID, body, &ex); code != 200 || ex.Name != "Physics 1 (resit)" || ex.Retention != 90 {
		t.Fatalf("update: %d %+v", code, ex)
	}
	if code := paul.do("GET", "exams/"+ex.ID, nil, nil); code != 403 {
		t.Errorf("unassigned proctor reading the exam: %d, want 403", code)
	}
	var mine ExamDetail
	if code := paul.do("GET", "exams/"+d.mine.ID, nil, &mine); code != 200 || mine.Assigned != nil {
		t.Errorf("assigned proctor: %d, assigned list %v (administrators only)", code, mine.Assigned)
	}
	if code := alice.do("GET", "exams/"+d.mine.ID, nil, &mine); code != 200 || len(mine.Assigned) != 2 {
		t.Errorf("administrator: %d, assigned %v", code, mine.Assigned)
	}

	// While an attempt runs, its policy stays: the client enforces it.
	d.record(t, "MINE", true)
	pol["displays"] = map[string]any{"max": 3, "action": "flag"}
	changed, _ := json.Marshal(pol)
	if code := alice.do("PUT", "exams/"+d.mine.ID, map[string]any{"name": "Mine", "policy": json.RawMessage(changed)}, nil); code != 409 {
		t.Errorf("policy change during an attempt: %d, want 409", code)
	}
	if code := alice.do("PUT", "exams/"+d.mine.ID, map[string]any{"name": "Mine, renamed", "closes_at": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}, &mine); code != 200 || mine.Name != "Mine, renamed" {
		t.Errorf("rename during an attempt: %d %+v", code, mine)
	}
	audit, _ := d.acc.ListAudit(context.Background(), auditQuery("exam.update"))
	if len(audit) != 2 {
		t.Errorf("audit exam.update: %+v", audit)
	}
}
