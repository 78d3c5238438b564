package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shirou/gopsutil/v4/process"
)

// TestResetExamBrowser: reset removes the exam-browser profile a crashed
// client left, and leaves alone that of a client that still runs unless
// --force.
func TestResetExamBrowser(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("HOME", dir)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, ".config"))
	t.Setenv("XDG_CACHE_HOME", filepath.Join(dir, ".cache"))
	root := filepath.Join(dir, ".cache", "invigil", "exam-browser")
	profile := func(name string, pid int, started int64) string {
		p := filepath.Join(root, "profile-"+name)
		if err := os.MkdirAll(filepath.Join(p, "data", "Default"), 0o700); err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(map[string]any{"client_pid": pid, "client_started_ms": started})
		if err := os.WriteFile(filepath.Join(p, "owner.json"), b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	crashed := profile("1", 1, 1) // pid 1 never started at 1 ms
	started, err := (&process.Process{Pid: int32(os.Getpid())}).CreateTime()
	if err != nil {
		t.Fatal(err)
	}
	running := profile("2", os.Getpid(), started)
	journal := filepath.Join(dir, "journal.jsonl")

	code, stdout, _ := run(t, "reset", "--journal", journal)
	if code != exitOK || !strings.Contains(stdout, "Exam browser profile "+crashed+": removed") ||
		!strings.Contains(stdout, fmt.Sprintf("Exam browser profile %s: left alone, its exam is still running (invigil pid %d)", running, os.Getpid())) {
		t.Errorf("reset: exit %d\n%s", code, stdout)
	}
	if _, err := os.Stat(crashed); !os.IsNotExist(err) {
		t.Errorf("the crashed client's profile is still there (%v)", err)
	}
	if _, err := os.Stat(running); err != nil {
		t.Errorf("the running client's profile was removed: %v", err)
	}

	code, stdout, stderr := run(t, "reset", "--journal", journal, "--force", "--json")
	if code != exitOK || !json.Valid([]byte(stdout)) || !strings.Contains(stderr, "Exam browser profile "+running+": removed") {
		t.Errorf("reset --force --json: exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
	if _, err := os.Stat(running); !os.IsNotExist(err) {
		t.Errorf("--force left the profile (%v)", err)
	}
}
