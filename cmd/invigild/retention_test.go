package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/invigil/invigil/backend"
)

// `invigild retention` deletes an attempt past its exam's retention days
// (default 30) and reports it; a fresh one stays.
func TestRetentionCommand(t *testing.T) {
	dir, e, db := demoDataDB(t)
	old := time.Now().Add(-40 * 24 * time.Hour).UnixMicro()
	now := time.Now().UnixMicro()
	for _, s := range []struct {
		id string
		at int64
	}{{"s_old", old}, {"s_new", now}} {
		if _, err := db.Exec(`INSERT INTO sessions(id, exam_id, token_hash, spool_key, client, state, created_at, updated_at, finished_at, digest) VALUES (?, ?, ?, x'00', '{}', 'finished', ?, ?, ?, x'00')`,
			s.id, e.ID, []byte(s.id), s.at, s.at, s.at); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(dir, "sessions", s.id), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"retention", "--data", dir, "--json"}, &out, &errb); code != 0 {
		t.Fatalf("retention: exit %d: %s", code, errb.String())
	}
	var rep backend.RetentionReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil || len(rep.Purged) != 1 || rep.Purged[0] != "s_old" {
		t.Fatalf("report %q: %v", out.String(), err)
	}
	if _, err := os.Stat(filepath.Join(dir, "sessions", "s_old")); !os.IsNotExist(err) {
		t.Errorf("the expired attempt's folder: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "sessions", "s_new")); err != nil {
		t.Errorf("the fresh attempt's folder: %v", err)
	}
	if code := run(context.Background(), []string{"retention", "--data", filepath.Join(dir, "nope")}, &out, &errb); code == 0 {
		t.Error("retention on a missing data directory succeeded")
	}
}
