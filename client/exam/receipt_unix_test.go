//go:build !windows && !darwin

package exam

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestDocumentsDir: XDG_DOCUMENTS_DIR from user-dirs.dirs (through
// xdg-user-dir), else ~/Documents, else the home folder.
func TestDocumentsDir(t *testing.T) {
	if _, err := exec.LookPath("xdg-user-dir"); err != nil {
		t.Fatal("xdg-user-dir is missing (Debian package xdg-user-dirs): the XDG case cannot be tested")
	}
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, ".config"))
	t.Setenv("XDG_DOCUMENTS_DIR", "")
	check := func(want string) {
		t.Helper()
		got, err := DocumentsDir()
		if err != nil || got != want {
			t.Fatalf("DocumentsDir() = %q, %v; want %q", got, err, want)
		}
	}
	check(home)
	docs := filepath.Join(home, "Documents")
	if err := os.Mkdir(docs, 0o755); err != nil {
		t.Fatal(err)
	}
	check(docs)
	papers := filepath.Join(home, "Papiere")
	if err := os.MkdirAll(papers, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(home, ".config"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, ".config", "user-dirs.dirs"), []byte("XDG_DOCUMENTS_DIR=\"$HOME/Papiere\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	check(papers)
	// A configured folder that does not exist: the fallbacks.
	os.Remove(papers)
	check(docs)
}
