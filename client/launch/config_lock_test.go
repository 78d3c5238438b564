package launch

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMachineConfigLocksEveryKey: the machine file is authoritative for
// every key it sets. A named file (--config, INVIGIL_CONFIG), an environment
// variable or a flag that gives such a key another value is refused with an
// error naming the key and the machine file; the machine's own value is
// accepted.
func TestMachineConfigLocksEveryKey(t *testing.T) {
	write := configWriter(t, t.TempDir())
	configFileCheck = func(f *os.File, path string, machine bool) error { return checkConfigFile(f, path, false) }
	t.Cleanup(func() { configFileCheck = checkConfigFile })
	fakeUser(t, userIdentity{Name: "alice", ID: "1001"})
	otherKey := "ed25519:" + strings.Repeat("A", 43) + "="
	machines := map[string]string{
		// only_server pins the server anyway; "plain" sets the server
		// without it, which must lock it just the same.
		"only":  write("machine-only.json", `{"server": "https://proctor.example.edu", "only_server": true, "server_key": "`+testKey+`", "spool_dir": "/var/lib/invigil/spool", "journal_path": "/var/lib/invigil/journal.json"}`),
		"plain": write("machine-plain.json", `{"server": "https://proctor.example.edu", "server_key": "`+testKey+`", "spool_dir": "/var/lib/invigil/spool", "journal_path": "/var/lib/invigil/journal.json"}`),
	}
	type attempt struct {
		name  string
		file  string // a named configuration file's body
		env   map[string]string
		flags Config
	}
	attempts := map[string][]attempt{
		"server": {
			{name: "file", file: `{"server": "https://evil.example"}`},
			{name: "env", env: map[string]string{EnvServer: "https://evil.example"}},
			{name: "flag", flags: Config{Server: "https://evil.example"}},
		},
		"server_key": {
			{name: "file", file: `{"server_key": "` + otherKey + `"}`},
			{name: "env", env: map[string]string{EnvServerKey: otherKey}},
			{name: "flag", flags: Config{ServerKey: otherKey}},
		},
		"spool_dir": {
			{name: "file", file: `{"spool_dir": "/tmp/elsewhere"}`},
			{name: "env", env: map[string]string{EnvSpoolDir: "/tmp/elsewhere"}},
			{name: "flag", flags: Config{SpoolDir: "/tmp/elsewhere"}},
		},
		"journal_path": {
			{name: "file", file: `{"journal_path": "/tmp/journal.json"}`},
			{name: "flag", flags: Config{JournalPath: "/tmp/journal.json"}},
		},
	}
	for mname, machine := range machines {
		for key, as := range attempts {
			for _, a := range as {
				for _, via := range []string{"--config", EnvConfig} {
					if a.file == "" && via == EnvConfig {
						continue
					}
					t.Run(mname+"/"+key+"/"+a.name+"/"+via, func(t *testing.T) {
						env := map[string]string{}
						for k, v := range a.env {
							env[k] = v
						}
						in := Inputs{MachinePath: machine, Flags: a.flags, Getenv: func(k string) string { return env[k] }}
						if a.file != "" {
							p := write(mname+key+".json", a.file)
							if via == EnvConfig {
								env[EnvConfig] = p
							} else {
								in.Path = p
							}
						}
						_, err := Load(in)
						if err == nil {
							t.Fatalf("%s changed the machine file's %s", a.name, key)
						}
						if !strings.Contains(err.Error(), " sets "+key) || !strings.Contains(err.Error(), machine) {
							t.Fatalf("error %q does not name the key %s and the machine file %s", err, key, machine)
						}
					})
				}
			}
		}
	}
	// The machine's own values, given again, are fine.
	same := write("same.json", `{"server": "HTTPS://proctor.example.edu/", "server_key": "`+testKey+`", "spool_dir": "/var/lib/invigil/spool/"}`)
	env := map[string]string{EnvServer: "https://proctor.example.edu", EnvServerKey: testKey, EnvSpoolDir: "/var/lib/invigil/spool"}
	cfg, err := Load(Inputs{MachinePath: machines["only"], Path: same, Getenv: func(k string) string { return env[k] },
		Flags: Config{Server: "https://proctor.example.edu", ServerKey: testKey, SpoolDir: "/var/lib/invigil/spool", JournalPath: "/var/lib/invigil/journal.json"}})
	if err != nil {
		t.Fatalf("the machine's own values refused: %v", err)
	}
	if cfg.Server != "https://proctor.example.edu" || cfg.ServerKey != testKey || !cfg.OnlyServer || cfg.SpoolDir != "/var/lib/invigil/spool/alice" || cfg.JournalPath != "/var/lib/invigil/alice/journal.json" {
		t.Fatalf("config %+v", cfg)
	}
	// So is this user's folder in them, which `invigil config show` prints.
	cfg, err = Load(Inputs{MachinePath: machines["only"], Getenv: func(string) string { return "" },
		Flags: Config{SpoolDir: "/var/lib/invigil/spool/alice", JournalPath: "/var/lib/invigil/alice/journal.json"}})
	if err != nil || cfg.SpoolDir != "/var/lib/invigil/spool/alice" {
		t.Fatalf("this user's own folder refused: %v (%+v)", err, cfg)
	}
	// Another user's folder is not.
	if _, err := Load(Inputs{MachinePath: machines["only"], Getenv: func(string) string { return "" },
		Flags: Config{SpoolDir: "/var/lib/invigil/spool/bob"}}); err == nil || !strings.Contains(err.Error(), "sets spool_dir") {
		t.Fatalf("another user's folder: %v", err)
	}
}

// fakeUser makes Load see the user u for the rest of the test.
func fakeUser(t *testing.T, u userIdentity) {
	t.Helper()
	prev := currentUser
	currentUser = func() (userIdentity, error) { return u, nil }
	t.Cleanup(func() { currentUser = prev })
}

// TestConfigSources: each value says where it came from, and the machine
// file's keys are locked; keys the machine file leaves out come from the
// other layers.
func TestConfigSources(t *testing.T) {
	dir := t.TempDir()
	configFileCheck = func(f *os.File, path string, machine bool) error { return checkConfigFile(f, path, false) }
	t.Cleanup(func() { configFileCheck = checkConfigFile })
	machine := filepath.Join(dir, "machine.json")
	user := filepath.Join(dir, "user.json")
	os.WriteFile(machine, []byte(`{"server": "https://proctor.example.edu"}`), 0o644)
	os.WriteFile(user, []byte(`{"server_key": "`+testKey+`", "journal_path": "/j/journal.json"}`), 0o644)
	env := map[string]string{EnvSpoolDir: "/env/spool"}
	cfg, src, err := LoadSources(Inputs{MachinePath: machine, Path: user, Getenv: func(k string) string { return env[k] },
		Flags: Config{Camera: "test"}})
	if err != nil {
		t.Fatal(err)
	}
	want := Origins{
		"server":       {Kind: OriginMachine, Name: machine, Locked: true},
		"server_key":   {Kind: OriginFile, Name: user},
		"spool_dir":    {Kind: OriginEnv, Name: EnvSpoolDir},
		"journal_path": {Kind: OriginFile, Name: user},
		"camera":       {Kind: OriginFlag, Name: "--camera"},
		"screen":       {Kind: OriginDefault},
	}
	for k, w := range want {
		if src[k] != w {
			t.Errorf("%s: origin %+v, want %+v", k, src[k], w)
		}
	}
	if _, ok := src["only_server"]; ok {
		t.Errorf("only_server has an origin %+v, nothing set it", src["only_server"])
	}
	if cfg.ServerKey != testKey || cfg.SpoolDir != "/env/spool" || cfg.JournalPath != "/j/journal.json" {
		t.Errorf("config %+v", cfg)
	}
	// Without any file, defaults.
	_, src, err = LoadSources(Inputs{MachinePath: filepath.Join(dir, "none.json"), Getenv: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	if src["spool_dir"].Kind != OriginDefault || src["journal_path"].Kind != OriginDefault {
		t.Errorf("defaults: %+v", src)
	}
}
