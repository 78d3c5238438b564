//go:build unix

package launch

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// (Windows: the ACL counterpart is TestConfigFileEveryoneWritable in
// config_windows_test.go, run under Wine.)

// A managed configuration anyone can write configures nothing anyone can
// trust; the machine one must also belong to root.
func TestConfigFileChecks(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "config.json")
	if err := os.WriteFile(p, []byte(`{"server": "https://proctor.example.edu"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, 0o666); err != nil {
		t.Fatal(err)
	}
	getenv := func(string) string { return "" }
	none := filepath.Join(dir, "none.json")
	if _, err := Load(Inputs{Path: p, MachinePath: none, Getenv: getenv}); err == nil || !strings.Contains(err.Error(), "writable by every user") {
		t.Errorf("world-writable --config: %v", err)
	}
	os.Chmod(p, 0o644)
	if _, err := Load(Inputs{Path: p, MachinePath: none, Getenv: getenv, Flags: Config{SpoolDir: "/s"}}); err != nil {
		t.Errorf("a user's own --config: %v", err)
	}
	// As the machine configuration: not owned by root (as root, give it
	// away), or in a directory anyone may write (/tmp), it is refused.
	if os.Getuid() == 0 {
		if err := os.Chown(p, 65534, 65534); err != nil {
			t.Fatal(err)
		}
	}
	_, err := Load(Inputs{MachinePath: p, Getenv: getenv})
	if err == nil || !(strings.Contains(err.Error(), "not root") || strings.Contains(err.Error(), "writable by every user")) {
		t.Errorf("machine configuration not owned by root: %v", err)
	}
}
