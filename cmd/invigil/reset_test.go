package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/invigil/invigil/lockdown"
)

func TestResetCommand(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "journal.jsonl")

	code, stdout, _ := run(t, "reset", "--journal", path)
	if code != exitOK || !strings.Contains(stdout, "nothing to undo") {
		t.Errorf("no journal: exit %d, %q", code, stdout)
	}

	// A journal of a running exam (this process): refused without --force.
	cfg := filepath.Join(dir, "kiosk.conf")
	os.WriteFile(cfg, []byte("normal"), 0o644)
	j, _, err := lockdown.OpenJournal(context.Background(), path, lockdown.JournalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := j.ReplaceFile(cfg, []byte("locked"), 0o644); err != nil {
		t.Fatal(err)
	}
	j.Record("process.close", "close AnyDesk (pid 4242)", nil)
	code, _, stderr := run(t, "reset", "--journal", path)
	if code != exitFailure || !strings.Contains(stderr, "an exam is running") {
		t.Errorf("live journal: exit %d, %q", code, stderr)
	}
	code, stdout, stderr = run(t, "reset", "--journal", path, "--force")
	if code != exitOK {
		t.Fatalf("forced reset: exit %d, %s", code, stderr)
	}
	for _, want := range []string{"undone", "file.restore", "replaced " + cfg, "nothing to undo", "close AnyDesk (pid 4242)", "Everything is undone"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("reset report lacks %q:\n%s", want, stdout)
		}
	}
	if b, _ := os.ReadFile(cfg); string(b) != "normal" {
		t.Errorf("file not restored: %q", b)
	}
	// Safe to run again.
	if code, stdout, _ := run(t, "reset", "--journal", path); code != exitOK || !strings.Contains(stdout, "nothing to undo") {
		t.Errorf("second reset: exit %d, %q", code, stdout)
	}
	j.Close(context.Background())
}
