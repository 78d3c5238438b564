package launch

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestUserFolderName(t *testing.T) {
	for _, c := range []struct {
		u       userIdentity
		goos    string
		want    string
		wantErr bool
	}{
		{userIdentity{Name: "alice", ID: "1001"}, "linux", "alice", false},
		{userIdentity{Name: "alice@lab.example.edu", ID: "1001"}, "linux", "alice@lab.example.edu", false},
		{userIdentity{Name: "", ID: "1001"}, "linux", "uid-1001", false},
		{userIdentity{Name: "../root", ID: "1001"}, "linux", "uid-1001", false},
		{userIdentity{Name: "LAB\\alice", ID: "1001"}, "darwin", "uid-1001", false},
		{userIdentity{Name: ".hidden", ID: "1001"}, "linux", "uid-1001", false},
		{userIdentity{Name: "", ID: "../1"}, "linux", "", true},
		{userIdentity{Name: "alice", ID: "S-1-5-21-1-2-3-1001"}, "windows", "S-1-5-21-1-2-3-1001", false},
		{userIdentity{Name: "alice", ID: "S-1-5\\..\\x"}, "windows", "", true},
	} {
		got, err := userFolderName(c.u, c.goos)
		if (err != nil) != c.wantErr || got != c.want {
			t.Errorf("userFolderName(%+v, %s) = %q, %v; want %q (error %v)", c.u, c.goos, got, err, c.want, c.wantErr)
		}
	}
}

// TestMachineSpoolPerUser: a machine file's spool_dir and journal_path are
// base folders; each user gets their own folder in them, private to them,
// so that the second student on a lab machine can start at all.
func TestMachineSpoolPerUser(t *testing.T) {
	dir := t.TempDir()
	configFileCheck = func(f *os.File, path string, machine bool) error { return checkConfigFile(f, path, false) }
	t.Cleanup(func() { configFileCheck = checkConfigFile })
	base := filepath.Join(dir, "lib", "spool")
	jbase := filepath.Join(dir, "lib")
	machine := filepath.Join(dir, "machine.json")
	body := `{"server": "https://proctor.example.edu", "spool_dir": "` + filepath.ToSlash(base) + `", "journal_path": "` + filepath.ToSlash(filepath.Join(jbase, "journal.json")) + `"}`
	if err := os.WriteFile(machine, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	load := func(u userIdentity) Config {
		t.Helper()
		fakeUser(t, u)
		cfg, src, err := LoadSources(Inputs{MachinePath: machine, Getenv: func(string) string { return "" }})
		if err != nil {
			t.Fatal(err)
		}
		if o := src["spool_dir"]; o.Kind != OriginMachine || !o.Locked || o.Base != base {
			t.Errorf("spool_dir origin %+v", o)
		}
		if err := cfg.PrepareDirs(); err != nil {
			t.Fatalf("%s: %v", u.Name, err)
		}
		return cfg
	}
	aliceID, bobID := userIdentity{Name: "alice", ID: "1001"}, userIdentity{Name: "", ID: "1002"}
	aliceDir, bobDir := "alice", "uid-1002"
	if isWindows() {
		aliceID.ID, bobID.ID = "S-1-5-21-1-2-3-1001", "S-1-5-21-1-2-3-1002"
		aliceDir, bobDir = aliceID.ID, bobID.ID
	}
	alice := load(aliceID)
	bob := load(bobID)
	if alice.Machine != machine {
		t.Errorf("Machine %q, want %q", alice.Machine, machine)
	}
	if got, want := alice.SpoolDir, filepath.Join(base, aliceDir); got != want {
		t.Errorf("alice's spool %s, want %s", got, want)
	}
	if got, want := bob.SpoolDir, filepath.Join(base, bobDir); got != want {
		t.Errorf("bob's spool %s, want %s", got, want)
	}
	if got, want := alice.JournalPath, filepath.Join(jbase, aliceDir, "journal.json"); got != want {
		t.Errorf("alice's journal %s, want %s", got, want)
	}
	if got, want := bob.JournalPath, filepath.Join(jbase, bobDir, "journal.json"); got != want {
		t.Errorf("bob's journal %s, want %s", got, want)
	}
	for _, d := range []string{alice.SpoolDir, bob.SpoolDir, filepath.Dir(alice.JournalPath), filepath.Dir(bob.JournalPath)} {
		st, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if !st.IsDir() || (!isWindows() && st.Mode().Perm() != 0o700) {
			t.Errorf("%s: mode %v, want a folder with mode 0700", d, st.Mode())
		}
	}
	if !isWindows() {
		st, _ := os.Stat(base)
		if st.Mode().Perm() != 0o777 || st.Mode()&os.ModeSticky == 0 {
			t.Errorf("the shared base %s has mode %v, want 1777 (sticky)", base, st.Mode())
		}
		// A folder of the user's name with a wider mode is narrowed.
		os.Chmod(alice.SpoolDir, 0o755)
		if err := alice.PrepareDirs(); err != nil {
			t.Fatal(err)
		}
		if st, _ := os.Stat(alice.SpoolDir); st.Mode().Perm() != 0o700 {
			t.Errorf("after PrepareDirs: mode %v", st.Mode())
		}
		// Something that is not a folder is refused.
		fakeUser(t, userIdentity{Name: "carol", ID: "1003"})
		os.WriteFile(filepath.Join(base, "carol"), nil, 0o600)
		carol, err := Load(Inputs{MachinePath: machine, Getenv: func(string) string { return "" }})
		if err != nil {
			t.Fatal(err)
		}
		if err := carol.PrepareDirs(); err == nil || !strings.Contains(err.Error(), "is not a folder") {
			t.Errorf("a file in place of the folder: %v", err)
		}
	}
}

func TestMachineJournalOutsideSpool(t *testing.T) {
	dir := t.TempDir()
	configFileCheck = func(f *os.File, path string, machine bool) error { return checkConfigFile(f, path, false) }
	t.Cleanup(func() { configFileCheck = checkConfigFile })
	fakeUser(t, userIdentity{Name: "alice", ID: "S-1-5-21-1-2-3-1001"}) // a SID and a uid-like name: any OS
	for _, j := range []string{"/var/lib/invigil/spool/journal.json", "/var/lib/invigil/spool/j/journal.json"} {
		machine := filepath.Join(dir, "m.json")
		os.WriteFile(machine, []byte(`{"spool_dir": "/var/lib/invigil/spool", "journal_path": "`+j+`"}`), 0o644)
		_, err := Load(Inputs{MachinePath: machine, Getenv: func(string) string { return "" }})
		if err == nil || !strings.Contains(err.Error(), "must not be in spool_dir") {
			t.Errorf("journal %s: %v", j, err)
		}
	}
}
