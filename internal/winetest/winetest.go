// Package winetest holds what tests need to run as Windows binaries under
// Wine 8 (scripts/wine-gotest.sh). Test-only: no release code imports it.
package winetest

import "os"

// T is the part of testing.TB that TempDir uses.
type T interface {
	Helper()
	Fatal(args ...any)
	Logf(format string, args ...any)
	Cleanup(func())
}

// TempDir is t.TempDir, except that a failure to remove the directory at
// the end is logged, not a test failure: under Wine 8, Go 1.26's
// os.RemoveAll fails with "Invalid function" (Wine lacks the
// POSIX-semantics delete it uses; Windows 10 1709 and later have it), and
// t.TempDir's cleanup would fail every test that uses it.
func TempDir(t T, pattern string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", pattern)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			t.Logf("leaving %s: %v", dir, err)
		}
	})
	return dir
}
