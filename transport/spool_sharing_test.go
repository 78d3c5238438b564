//go:build linux

package transport

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// openByThisProcess reports whether this process holds path open, read from
// /proc/self/fd.
func openByThisProcess(t *testing.T, path string) bool {
	t.Helper()
	abs, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("read /proc/self/fd (Linux always has it): %v", err)
	}
	for _, fd := range fds {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		if err == nil && target == abs {
			return true
		}
	}
	return false
}

// windowsFileRules makes the spool's renames and removes fail the way
// Windows (and Wine) fail them: "Sharing violation" when the file is still
// open, since Go opens files without FILE_SHARE_DELETE.
func windowsFileRules(t *testing.T) {
	t.Helper()
	oldRename, oldRemove := renameFile, removeFile
	t.Cleanup(func() { renameFile, removeFile = oldRename, oldRemove })
	renameFile = func(from, to string) error {
		for _, p := range []string{from, to} {
			if openByThisProcess(t, p) {
				t.Errorf("rename %s -> %s while %s is open: Windows refuses this", from, to, p)
				return fmt.Errorf("rename %s %s: Sharing violation", from, to)
			}
		}
		return os.Rename(from, to)
	}
	removeFile = func(p string) error {
		if openByThisProcess(t, p) {
			t.Errorf("remove %s while it is open: Windows refuses this", p)
			return fmt.Errorf("remove %s: Sharing violation", p)
		}
		return os.Remove(p)
	}
}

// TestSpoolWindowsFileRules walks every path that renames or removes a spool
// file (new segments, segment rollover, acks, rebase, leftovers of a crash,
// wipe) under Windows' rule that an open file cannot be renamed or deleted.
func TestSpoolWindowsFileRules(t *testing.T) {
	windowsFileRules(t)
	dir := t.TempDir()
	s := mustOpen(t, dir, SpoolOptions{SegmentBytes: 300})
	appendN(t, s, 1, 20)
	if n := s.Status().Segments; n < 3 {
		t.Fatalf("got %d segments, want several", n)
	}
	if err := s.Ack(12); err != nil {
		t.Fatalf("Ack: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// A crash during segment creation leaves a .tmp behind.
	if err := os.WriteFile(filepath.Join(dir, segName(99)+".tmp"), []byte("partial"), 0o600); err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, dir, SpoolOptions{SegmentBytes: 300})
	checkFrames(t, s, 13, 20)
	appendN(t, s, 21, 30)
	checkFrames(t, s, 13, 30)
	if got, want := s.Status().Digest, wantDigest(t, 30); got != want {
		t.Fatalf("digest %s, want %s", got, want)
	}
	if err := s.Ack(30); err != nil {
		t.Fatal(err)
	}
	if err := s.Rebase(40); err != nil {
		t.Fatalf("Rebase: %v", err)
	}
	if err := s.Wipe(); err != nil {
		t.Fatalf("Wipe: %v", err)
	}
	left, _ := os.ReadDir(dir)
	if len(left) != 0 {
		t.Fatalf("wipe left %d files", len(left))
	}
}

// TestSpoolRepairWindowsFileRules: cutting a damaged spool (files moved
// aside, copied, truncated, removed) follows the same rule.
func TestSpoolRepairWindowsFileRules(t *testing.T) {
	windowsFileRules(t)
	dir := filepath.Join(t.TempDir(), "spool")
	s := mustOpen(t, dir, SpoolOptions{SegmentBytes: 300})
	appendN(t, s, 1, 30)
	s.Close()
	segs := segFiles(t, dir)
	older := segs[1]
	flipByte(t, older, segRecords(t, older)[1].end-2)
	head := segs[len(segs)-1]
	st, _ := os.Stat(head)
	os.Truncate(head, st.Size()-3)
	os.Remove(segs[0])

	s = mustOpen(t, dir, SpoolOptions{SegmentBytes: 300})
	defer s.Close()
	d, err := s.Repair(0)
	if err != nil || d == nil || d.Lost == 0 {
		t.Fatalf("Repair = %+v, %v", d, err)
	}
	if _, err := s.Repair(0); err != nil {
		t.Fatal(err)
	}
	appendN2 := func() {
		for i := 0; i < 10; i++ {
			if _, err := s.Append(testMsg(i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	appendN2()
	if err := s.Ack(s.Status().NextSeq - 1); err != nil {
		t.Fatal(err)
	}
	if err := s.Wipe(); err != nil {
		t.Fatal(err)
	}
}
