package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestE2EClientOutdated: an exam whose policy asks for a newer client than
// this one refuses the join; the headless run exits 3 with the backend's
// "Update Invigil to x.y or later".
func TestE2EClientOutdated(t *testing.T) {
	b, err := os.ReadFile("testdata/quiet-policy.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	doc["min_client_version"] = "99.0"
	pol := filepath.Join(t.TempDir(), "policy.json")
	b, _ = json.Marshal(doc)
	if err := os.WriteFile(pol, b, 0o644); err != nil {
		t.Fatal(err)
	}
	be := startBackend(t, examData(t, "e2e", "E2E", pol), "127.0.0.1:0")
	r := runClient(t, "run", "--headless", "--server", be.url(), "--code", "e2e", "--accept-consent", "--duration", "1s",
		"--spool", t.TempDir(), "--journal", filepath.Join(t.TempDir(), "journal"), "--camera", "none", "--screen", "none")
	if r.exit != exitJoinRefused || !strings.Contains(r.stderr, "Update Invigil to 99.0 or later") {
		t.Fatalf("exit %d, stderr %q; want exit %d with the update message", r.exit, r.stderr, exitJoinRefused)
	}
}
