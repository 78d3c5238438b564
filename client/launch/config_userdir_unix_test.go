//go:build unix

package launch

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func isWindows() bool { return false }

// userdirHelperEnv makes the test binary act as TestMachineSpoolTwoRealUsers's
// second user (it names the machine file).
const userdirHelperEnv = "INVIGIL_TEST_USERDIR_MACHINE"

// TestMachineSpoolTwoRealUsers: two real accounts on one machine (root and
// nobody) start one after the other with a machine file that names a
// spool folder that does not exist yet; both get their own folder, owned
// by them, mode 0700, and the second does not fail with "permission
// denied" (which it did when the first user's run created the shared
// folder 0700 for itself). Needs root to start a process as nobody.
func TestMachineSpoolTwoRealUsers(t *testing.T) {
	if m := os.Getenv(userdirHelperEnv); m != "" {
		// The second user: what `invigil run` does before it joins.
		configFileCheck = func(f *os.File, path string, machine bool) error { return checkConfigFile(f, path, false) }
		cfg, err := Load(Inputs{MachinePath: m, Getenv: func(string) string { return "" }})
		if err == nil {
			err = cfg.PrepareDirs()
		}
		if err == nil {
			err = os.MkdirAll(cfg.SpoolDir, 0o700) // as Join does
		}
		if err == nil {
			err = os.WriteFile(filepath.Join(cfg.SpoolDir, "session.json"), []byte("{}"), 0o600)
		}
		if err != nil {
			t.Fatal(err)
		}
		return
	}
	if os.Getuid() != 0 {
		t.Skip("needs root to run a process as another user (CI runs as root)")
	}
	// A folder everyone can reach, with the test binary in it.
	top, err := os.MkdirTemp("", "invigil-userdir")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(top) })
	os.Chmod(top, 0o755)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(top, "client.test")
	b, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	base := filepath.Join(top, "var", "spool")
	machine := filepath.Join(top, "machine.json")
	os.WriteFile(machine, []byte(`{"server": "https://proctor.example.edu", "spool_dir": "`+base+`", "journal_path": "`+filepath.Join(top, "var", "journal", "journal.json")+`"}`), 0o644)
	configFileCheck = func(f *os.File, path string, machine bool) error { return checkConfigFile(f, path, false) }
	t.Cleanup(func() { configFileCheck = checkConfigFile })

	// The first user (root, this process).
	cfg, err := Load(Inputs{MachinePath: machine, Getenv: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.PrepareDirs(); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(cfg.SpoolDir, 0o700); err != nil {
		t.Fatal(err)
	}
	// The second user: nobody.
	const nobody = 65534
	cmd := exec.Command(bin, "-test.run", "^TestMachineSpoolTwoRealUsers$", "-test.v")
	cmd.Dir = top
	cmd.Env = append(os.Environ(), userdirHelperEnv+"="+machine, "HOME="+top)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "PASS") {
		t.Fatalf("the second user could not start: %v\n%s", err, out)
	}
	entries, _ := os.ReadDir(base)
	var mine, theirs int
	for _, e := range entries {
		st, err := os.Lstat(filepath.Join(base, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		uid := st.Sys().(*syscall.Stat_t).Uid
		if !st.IsDir() || st.Mode().Perm() != 0o700 {
			t.Errorf("%s: mode %v, want a folder 0700", e.Name(), st.Mode())
		}
		switch uid {
		case 0:
			mine++
		case nobody:
			theirs++
		}
	}
	if mine != 1 || theirs != 1 || len(entries) != 2 {
		t.Errorf("%s holds %d entries, %d root's and %d nobody's; want one folder each", base, len(entries), mine, theirs)
	}
	if _, err := os.Stat(filepath.Join(base, "nobody", "session.json")); err != nil {
		t.Errorf("nobody's spool: %v", err)
	}
}
