package exam

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestCleanAside: folders of earlier sessions next to the spool that hold
// no recording are removed (kept sessions only once they are too old to
// resume); folders with spool segments are kept and listed, whatever
// their age.
func TestCleanAside(t *testing.T) {
	dir := t.TempDir()
	spool := filepath.Join(dir, "spool")
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	mk := func(name string, age time.Duration, files ...string) string {
		t.Helper()
		d := filepath.Join(dir, name)
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if err := os.WriteFile(filepath.Join(d, f), []byte("x"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Chtimes(d, now.Add(-age), now.Add(-age)); err != nil {
			t.Fatal(err)
		}
		return d
	}
	mk("spool", 0, "00000001.seg", "session.json")
	session := `{"server":"https://p.example","session_id":"s_old","token":"t","exam":"Old exam"}`
	keptOldEmpty := mk("spool.kept-s_old", 8*24*time.Hour, "spool.state", "lock")
	os.WriteFile(filepath.Join(keptOldEmpty, "session.json"), []byte(session), 0o600)
	os.Chtimes(keptOldEmpty, now.Add(-8*24*time.Hour), now.Add(-8*24*time.Hour))
	keptYoungEmpty := mk("spool.kept-s_young", time.Hour, "session.json")
	keptOldFull := mk("spool.kept-s_full", 90*24*time.Hour, "session.json", "00000007.seg")
	retiredEmpty := mk("spool.retired-20261201T100000", time.Hour, "session.json", "spool.state", "lock")
	retiredFull := mk("spool.retired-20261201T100000-2", 400*24*time.Hour, "00000003.seg", "00000004.seg")
	damaged := mk("spool.damaged-20261201T100000.000000000", 400*24*time.Hour, "00000002.seg")
	other := mk("spool2.retired-20261201T100000", 400*24*time.Hour)       // another spool's
	unrelated := mk("spool.backup", 400*24*time.Hour)                     // not a name the client makes
	emptyDamaged := mk("spool.damaged-20261101T100000.000000000", 0, "x") // no segment left in it

	if got := len(ListAside(spool)); got != 7 {
		t.Errorf("ListAside found %d folders, want 7: %+v", got, ListAside(spool))
	}
	removed, kept := CleanAside(spool, now, nil)
	dirs := func(as []AsideFolder) []string {
		var out []string
		for _, a := range as {
			out = append(out, a.Dir)
		}
		slices.Sort(out)
		return out
	}
	wantRemoved := []string{keptOldEmpty, retiredEmpty, emptyDamaged}
	slices.Sort(wantRemoved)
	if got := dirs(removed); !slices.Equal(got, wantRemoved) {
		t.Errorf("removed %q, want %q", got, wantRemoved)
	}
	wantKept := []string{keptYoungEmpty, keptOldFull, retiredFull, damaged}
	slices.Sort(wantKept)
	if got := dirs(kept); !slices.Equal(got, wantKept) {
		t.Errorf("kept %q, want %q", got, wantKept)
	}
	for _, d := range wantRemoved {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("%s still there (%v)", d, err)
		}
	}
	for _, d := range append(wantKept, spool, other, unrelated) {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("%s: %v", d, err)
		}
	}
	for _, a := range kept {
		if a.Dir == keptOldFull && (a.Segments != 1 || a.Kind != AsideKept) {
			t.Errorf("%+v", a)
		}
	}
}

// TestJoinCleansAside: a join removes the folders of earlier sessions that
// hold no recording and keeps the ones with recording.
func TestJoinCleansAside(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "spool")
	empty := filepath.Join(root, "spool.retired-20261201T100000")
	full := filepath.Join(root, "spool.retired-20261201T100000-2")
	for d, f := range map[string]string{empty: "spool.state", full: "00000000000000000041.seg"} {
		os.MkdirAll(d, 0o700)
		os.WriteFile(filepath.Join(d, f), []byte("x"), 0o600)
	}
	srv := joinServer(t, "tok")
	if _, err := Join(context.Background(), JoinOptions{Server: srv.URL, Code: "X", SpoolDir: dir}); err != nil {
		t.Fatal(err)
	}
	defer ForgetSession(dir)
	if _, err := os.Stat(empty); !os.IsNotExist(err) {
		t.Errorf("the folder without recording is still there (%v)", err)
	}
	if _, err := os.Stat(filepath.Join(full, "00000000000000000041.seg")); err != nil {
		t.Errorf("the folder with recording: %v", err)
	}
}
