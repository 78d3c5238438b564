package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/invigil/invigil/backend"
)

// One session with a capture time in year 10000 used to make
// `invigild sessions --json` fail for every session.
func TestSessionsJSONSurvivesBadCaptureTime(t *testing.T) {
	dir, e, db := demoDataDB(t)
	now := time.Now().UnixMicro()
	y10k := time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO sessions(id, exam_id, token_hash, spool_key, client, state, created_at, updated_at, digest) VALUES ('s_good', ?, x'01', x'00', '{}', 'active', ?, ?, x'00')`, []any{e.ID, now, now}},
		{`INSERT INTO sessions(id, exam_id, token_hash, spool_key, client, state, created_at, updated_at, digest) VALUES ('s_bad', ?, x'02', x'00', '{}', 'active', ?, ?, x'00')`, []any{e.ID, now, now}},
		{`INSERT INTO tracks(session_id, track, kind, file, messages, bytes, first_seq, last_seq, first_time, last_time) VALUES ('s_bad', 1, 'event', '', 1, 10, 1, 1, ?, ?)`, []any{y10k, y10k}},
		{`INSERT INTO events(session_id, seq, time, type, body) VALUES ('s_bad', 1, ?, 'x', '{"type":"x"}')`, []any{y10k}},
	} {
		if _, err := db.Exec(q.sql, q.args...); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"sessions", "--data", dir, "--json"}, &out, &errb); code != 0 {
		t.Fatalf("sessions --json: exit %d: %s", code, errb.String())
	}
	var ss []backend.SessionInfo
	if err := json.Unmarshal(out.Bytes(), &ss); err != nil || len(ss) != 2 {
		t.Fatalf("sessions --json printed %q: %v", out.String(), err)
	}
	for _, s := range ss {
		if (s.ID == "s_bad") != (len(s.Warnings) > 0) {
			t.Errorf("session %s warnings %q", s.ID, s.Warnings)
		}
	}
	out.Reset()
	if code := run(context.Background(), []string{"events", "--data", dir, "--session", "s_bad", "--json"}, &out, &errb); code != 0 || !strings.Contains(out.String(), "out of range") {
		t.Fatalf("events --json: exit %d: %s %s", code, out.String(), errb.String())
	}
}

// demoDataDB makes a backend data directory with the demo exam and opens
// its database directly, for tests that plant rows the API cannot make.
func demoDataDB(t *testing.T) (dir string, e *backend.Exam, db *sql.DB) {
	t.Helper()
	dir = t.TempDir()
	b, err := backend.Open(backend.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	e, err = b.EnsureDemoExam(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	db, err = sql.Open("sqlite", "file:"+filepath.Join(dir, "invigil.db"))
	if err != nil {
		t.Fatal(err)
	}
	return dir, e, db
}
