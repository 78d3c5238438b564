package launch

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const testKey = "ed25519:11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="

// configWriter returns a function that writes a file named name with
// body into dir and returns its path.
func configWriter(t *testing.T, dir string) func(name, body string) string {
	return func(name, body string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
}

func TestLoadConfig(t *testing.T) {
	dir := t.TempDir()
	write := configWriter(t, dir)
	good := write("good.json", `{"server": "https://Proctor.example.edu/", "server_key": "`+testKey+`", "spool_dir": "/var/lib/invigil/spool"}`)
	only := write("only.json", `{"server": "https://proctor.example.edu", "only_server": true}`)
	otherKey := "ed25519:" + strings.Repeat("A", 43) + "="
	noKey := write("nokey.json", `{"server": "https://proctor.example.edu"}`)
	// The machine configuration's owner is checked in TestConfigFileChecks;
	// here, files in a temporary directory stand in for it.
	configFileCheck = func(f *os.File, path string, machine bool) error { return checkConfigFile(f, path, false) }
	t.Cleanup(func() { configFileCheck = checkConfigFile })
	fakeUser(t, userIdentity{Name: "alice", ID: "1001"})
	tests := []struct {
		name    string
		in      Inputs
		env     map[string]string
		want    Config
		wantErr string
	}{
		{name: "managed file", in: Inputs{Path: good},
			want: Config{Server: "https://proctor.example.edu", ServerKey: testKey, SpoolDir: "/var/lib/invigil/spool", Source: good}},
		{name: "env over file", in: Inputs{Path: good}, env: map[string]string{EnvServer: "http://127.0.0.1:9", EnvSpoolDir: "/tmp/s"},
			want: Config{Server: "http://127.0.0.1:9", ServerKey: testKey, SpoolDir: "/tmp/s", Source: good}},
		{name: "flags over env", in: Inputs{Path: good, Flags: Config{Server: "http://h:1", SpoolDir: "/x", Camera: "test"}}, env: map[string]string{EnvServer: "http://127.0.0.1:9"},
			want: Config{Server: "http://h:1", ServerKey: testKey, SpoolDir: "/x", Camera: "test", Source: good}},
		{name: "config from env", in: Inputs{Flags: Config{SpoolDir: "/s"}}, env: map[string]string{EnvConfig: only},
			want: Config{Server: "https://proctor.example.edu", OnlyServer: true, SpoolDir: "/s", Source: only}},
		{name: "named file missing", in: Inputs{Path: filepath.Join(dir, "nope.json")}, wantErr: "no such file"},
		{name: "unknown key", in: Inputs{Path: write("typo.json", `{"server_kee": "x"}`)}, wantErr: `unknown field "server_kee"`},
		{name: "trailing data", in: Inputs{Path: write("two.json", `{} {}`)}, wantErr: "data after"},
		{name: "not json", in: Inputs{Path: write("bad.json", `server=x`)}, wantErr: "not a valid configuration"},
		{name: "bad server", in: Inputs{Path: write("badserver.json", `{"server": "ftp://x"}`)}, wantErr: "server:"},
		{name: "bad key", in: Inputs{Path: write("badkey.json", `{"server_key": "ed25519:abc"}`)}, wantErr: "server_key:"},
		{name: "relative spool", in: Inputs{Path: write("rel.json", `{"spool_dir": "spool"}`)}, wantErr: "not an absolute path"},
		{name: "relative flag", in: Inputs{Path: good, Flags: Config{SpoolDir: "rel/spool"}},
			want: Config{Server: "https://proctor.example.edu", ServerKey: testKey, SpoolDir: mustAbs("rel/spool"), Source: good}},
		{name: "only without server", in: Inputs{Path: write("only2.json", `{"only_server": true}`)}, wantErr: "no server"},
		{name: "only server refuses flag", in: Inputs{Path: only, Flags: Config{Server: "https://other.example"}}, wantErr: "set up for exams on https://proctor.example.edu only"},
		{name: "only server refuses env", in: Inputs{Path: only}, env: map[string]string{EnvServer: "https://other.example"},
			wantErr: "INVIGIL_SERVER https://other.example: this computer is set up for exams on https://proctor.example.edu only"},
		{name: "only server refuses env under same flag", in: Inputs{Path: only, Flags: Config{Server: "https://other.example"}},
			env: map[string]string{EnvServer: "https://proctor.example.edu"}, wantErr: "--server https://other.example: this computer"},
		{name: "only without server, flag", in: Inputs{Path: write("only3.json", `{"only_server": true}`), Flags: Config{Server: "https://x.example"}}, wantErr: "no server"},
		{name: "only server, same env", in: Inputs{Path: only, Flags: Config{SpoolDir: "/s"}}, env: map[string]string{EnvServer: "HTTPS://proctor.example.edu"},
			want: Config{Server: "https://proctor.example.edu", OnlyServer: true, SpoolDir: "/s", Source: only}},
		{name: "managed key refuses flag", in: Inputs{Path: good, Flags: Config{ServerKey: otherKey}}, wantErr: "--server-key: this computer pins the backend key"},
		{name: "managed key refuses env", in: Inputs{Path: good}, env: map[string]string{EnvServerKey: otherKey}, wantErr: "INVIGIL_SERVER_KEY: this computer pins"},
		{name: "managed key, same flag", in: Inputs{Path: good, Flags: Config{ServerKey: testKey}},
			want: Config{Server: "https://proctor.example.edu", ServerKey: testKey, SpoolDir: "/var/lib/invigil/spool", Source: good}},
		{name: "no managed key, flag key", in: Inputs{Path: noKey, Flags: Config{ServerKey: otherKey, SpoolDir: "/s"}},
			want: Config{Server: "https://proctor.example.edu", ServerKey: otherKey, SpoolDir: "/s", Source: noKey}},
		// A named file is one more layer under the machine file: it may
		// repeat the machine's values, never change them (config_lock_test.go).
		{name: "machine pins, --config elsewhere", in: Inputs{MachinePath: good, Path: noKey},
			want: Config{Server: "https://proctor.example.edu", ServerKey: testKey, SpoolDir: "/var/lib/invigil/spool/alice", SpoolBase: "/var/lib/invigil/spool", Source: noKey}},
		{name: "machine pins, --config with another server", in: Inputs{MachinePath: good, Path: write("other.json", `{"server": "https://other.example"}`)},
			wantErr: "this computer's managed configuration " + good + " sets server"},
		{name: "machine only_server, INVIGIL_CONFIG elsewhere", in: Inputs{MachinePath: only, Flags: Config{SpoolDir: "/s"}}, env: map[string]string{EnvConfig: noKey},
			want: Config{Server: "https://proctor.example.edu", OnlyServer: true, SpoolDir: "/s", Source: noKey}},
		{name: "machine pins nothing, --config elsewhere", in: Inputs{MachinePath: noKey, Path: good},
			want: Config{Server: "https://proctor.example.edu", ServerKey: testKey, SpoolDir: "/var/lib/invigil/spool", Source: good}},
		{name: "--config names the machine file", in: Inputs{MachinePath: good, Path: good},
			want: Config{Server: "https://proctor.example.edu", ServerKey: testKey, SpoolDir: "/var/lib/invigil/spool/alice", SpoolBase: "/var/lib/invigil/spool", Source: good}},
		{name: "machine file by default", in: Inputs{MachinePath: good, Flags: Config{ServerKey: otherKey}}, wantErr: "cannot be replaced"},
		{name: "only server, same flag", in: Inputs{Path: only, Flags: Config{Server: "https://proctor.example.edu/", SpoolDir: "/s"}},
			want: Config{Server: "https://proctor.example.edu", OnlyServer: true, SpoolDir: "/s", Source: only}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			in.Getenv = func(k string) string { return tt.env[k] }
			if in.MachinePath == "" {
				in.MachinePath = filepath.Join(dir, "no-machine-config.json")
			}
			got, err := Load(in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Load error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got.Machine = "" // TestMachineSpoolPerUser checks it
			if got != tt.want {
				t.Fatalf("Load = %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func mustAbs(p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		panic(err)
	}
	return a
}

func TestConfigLinkAndKey(t *testing.T) {
	c := Config{Server: "https://a.example", ServerKey: testKey, OnlyServer: true}
	if _, err := c.TargetForLink(JoinLink{Server: "https://b.example", Code: "X"}); err == nil {
		t.Error("OnlyServer accepted a link to another server")
	}
	if tg, err := c.TargetForLink(JoinLink{Server: "https://a.example", Code: "X"}); err != nil || tg.Server != "https://a.example" {
		t.Errorf("TargetForLink = %+v, %v", tg, err)
	}
	c.OnlyServer = false
	if got := c.KeyFor("https://b.example"); got != "" {
		t.Errorf("KeyFor(other) = %q, want unpinned", got)
	}
	if got := c.KeyFor("https://a.example"); got != testKey {
		t.Errorf("KeyFor(configured) = %q", got)
	}
	if got := (Config{ServerKey: testKey}).KeyFor("https://any.example"); got != testKey {
		t.Errorf("KeyFor with no configured server = %q", got)
	}
}

// TestConfigExample keeps the template IT staff start from valid.
func TestConfigExample(t *testing.T) {
	b, err := os.ReadFile("../../packaging/config.example.json")
	if err != nil {
		t.Fatal(err)
	}
	m, err := ParseManagedConfig(b)
	if err != nil {
		t.Fatal(err)
	}
	// A server, and nothing that breaks a lab machine when copied as it
	// is: no spool shared by every student of the machine (the next one
	// could not open it), no placeholder server key (every link launch
	// would fail). IT adds the real key (docs/deploy.md).
	if m.Server == "" || m.SpoolDir != "" || m.JournalPath != "" || m.ServerKey != "" {
		t.Fatalf("example %+v: want a server and no spool_dir, journal or placeholder server_key", m)
	}
}

func TestDefaultConfigPath(t *testing.T) {
	p, err := DefaultConfigPath()
	if err != nil || !filepath.IsAbs(p) {
		t.Fatalf("DefaultConfigPath = %q, %v", p, err)
	}
}
