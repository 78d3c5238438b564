//go:build unix

package backend

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// Every file the backend creates is 0600 and every directory 0700, also
// under a umask of 0.
func TestDataAtRestModes(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	dir := filepath.Join(t.TempDir(), "data")
	b, err := Open(Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := b.EnsureDemoExam(ctx); err != nil {
		t.Fatal(err)
	}
	checkModes(t, dir)
	b.Close()

	// A data directory an older build (or an administrator) left readable
	// is narrowed at the next start.
	os.Chmod(dir, 0o755)
	for _, n := range []string{"invigil.db", "signing.key", "admin.token"} {
		os.Chmod(filepath.Join(dir, n), 0o644)
	}
	// Recordings too.
	rec := filepath.Join(dir, "sessions", "s_old", "camera.mp4")
	os.MkdirAll(filepath.Dir(rec), 0o755)
	os.Chmod(filepath.Join(dir, "sessions"), 0o755)
	os.Chmod(filepath.Dir(rec), 0o755)
	os.WriteFile(rec, []byte("old"), 0o644)
	os.Chmod(rec, 0o644)
	b, err = Open(Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	b.ListSessions(ctx)
	checkModes(t, dir)
}

func checkModes(t *testing.T, dir string) {
	t.Helper()
	seen := 0
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Error(err)
			return nil
		}
		st, _ := d.Info()
		want := fs.FileMode(0o600)
		if d.IsDir() {
			want = 0o700
		}
		if st.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", p, st.Mode().Perm(), want)
		}
		seen++
		return nil
	})
	for _, n := range []string{"invigil.db", "invigil.db-wal", "invigil.db-shm", "signing.key", "admin.token"} {
		if _, err := os.Stat(filepath.Join(dir, n)); err != nil {
			t.Errorf("%s: %v", n, err)
		}
	}
}
