package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/invigil/invigil/lockdown/journal"
)

func TestResetCommand(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "journal.jsonl")
	// Lockdown changes files only under the user's home, configuration
	// and cache directories.
	t.Setenv("HOME", dir)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, ".config"))
	t.Setenv("XDG_CACHE_HOME", filepath.Join(dir, ".cache"))

	code, stdout, _ := run(t, "reset", "--journal", path)
	if code != exitOK || !strings.Contains(stdout, "nothing to undo") {
		t.Errorf("no journal: exit %d, %q", code, stdout)
	}

	// A journal of a running exam (this process): refused without --force.
	cfg := filepath.Join(dir, "kiosk.conf")
	os.WriteFile(cfg, []byte("normal"), 0o644)
	j, _, err := journal.Open(context.Background(), path, journal.Options{})
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

// A crafted journal naming a file outside the user's directories is
// refused whole: nothing is written or deleted.
func TestResetRefusesCraftedJournal(t *testing.T) {
	dir := t.TempDir()
	home := filepath.Join(dir, "home")
	os.Mkdir(home, 0o700)
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, ".config"))
	t.Setenv("XDG_CACHE_HOME", filepath.Join(home, ".cache"))
	victim := filepath.Join(dir, "victim.txt")
	os.WriteFile(victim, []byte("precious"), 0o600)
	path := filepath.Join(dir, "journal.jsonl")
	journal := `{"type":"header","version":1}
{"type":"change","change":{"seq":1,"kind":"file.restore","summary":"x","undo":{"path":"` + victim + `","content":null}}}
`
	os.WriteFile(path, []byte(journal), 0o600)
	code, _, stderr := run(t, "reset", "--journal", path)
	if code != exitFailure || !strings.Contains(stderr, "Nothing was undone") || !strings.Contains(stderr, "outside the places lockdown changes files") {
		t.Errorf("crafted journal: exit %d, %q", code, stderr)
	}
	if b, err := os.ReadFile(victim); err != nil || string(b) != "precious" {
		t.Errorf("victim: %q %v", b, err)
	}
}
