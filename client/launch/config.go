package launch

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/invigil/invigil/lockdown/policy"
)

// Config is the desktop client's configuration, resolved once at start from
// (lowest to highest precedence) defaults, a configuration file the user
// names, environment variables and command-line flags, under the managed
// configuration file IT staff install, which locks every key it sets
// (LoadSources). docs/client.md lists every key in one table.
type Config struct {
	// Server is the backend base URL; empty means the student (or a link)
	// names it.
	Server string
	// ServerKey is the pinned backend public key ("ed25519:..."); empty
	// means unpinned (the client says so on the check screen).
	ServerKey string
	// OnlyServer, set by the managed configuration's "only_server", refuses
	// links and typed addresses that name another backend than Server.
	OnlyServer bool
	// SpoolDir holds the encrypted spool of the running session. When
	// the machine file sets spool_dir, that is a base folder shared by
	// every user of the computer and SpoolDir is this user's own folder in
	// it (SpoolBase).
	SpoolDir string
	// JournalPath is lockdown's change journal ("" is lockdown's default).
	// When the machine file sets journal_path, JournalPath is
	// <its folder>/<user>/<its name> (JournalBase is <its folder>).
	JournalPath string
	// SpoolBase and JournalBase are the machine-wide folders the per-user
	// SpoolDir and JournalPath's folder are in; "" when the value is the
	// user's own. PrepareDirs creates them.
	SpoolBase, JournalBase string
	// Camera and Screen select the capture sources (client.Sources).
	Camera, Screen string
	// Source is the configuration file that was read ("" if none): the
	// one --config or INVIGIL_CONFIG names, else the machine's.
	Source string
	// Machine is this computer's managed configuration file, if it was
	// read ("" if there is none).
	Machine string
}

// ManagedConfig is the JSON document of the managed configuration file:
// Linux /etc/invigil/config.json, Windows %ProgramData%\Invigil\config.json,
// macOS /Library/Application Support/Invigil/config.json.
// packaging/config.example.json is a template. Unknown keys are an error, so
// that a typo does not silently leave a machine unpinned.
type ManagedConfig struct {
	Server      string `json:"server,omitempty"`
	ServerKey   string `json:"server_key,omitempty"`
	OnlyServer  bool   `json:"only_server,omitempty"`
	SpoolDir    string `json:"spool_dir,omitempty"`
	JournalPath string `json:"journal_path,omitempty"`
}

// Inputs are the sources Load merges.
type Inputs struct {
	// Path is the managed configuration file (--config). Empty means the
	// environment's INVIGIL_CONFIG, then the OS default; a missing default
	// file is fine, a missing named one is an error.
	Path string
	// Flags are the command-line values; non-empty fields win.
	Flags Config
	// Getenv reads the environment (default os.Getenv).
	Getenv func(string) string
	// MachinePath is the machine-wide managed configuration; empty means
	// the OS default (DefaultConfigPath).
	MachinePath string
}

// Environment variables Load reads (docs/client.md).
const (
	EnvConfig    = "INVIGIL_CONFIG"
	EnvServer    = "INVIGIL_SERVER"
	EnvServerKey = "INVIGIL_SERVER_KEY"
	EnvSpoolDir  = "INVIGIL_SPOOL_DIR"
)

// maxConfigSize bounds the managed configuration file.
const maxConfigSize = 64 << 10

// DefaultConfigPath is the OS's machine-wide managed configuration path.
func DefaultConfigPath() (string, error) { return managedConfigPath() }

// Origin says where a configuration value came from.
type Origin struct {
	// Kind is OriginMachine, OriginFile, OriginEnv, OriginFlag,
	// OriginDefault, or "" for a key nothing sets.
	Kind string `json:"kind"`
	// Name is the file's path, the variable's or the flag's name.
	Name string `json:"name,omitempty"`
	// Locked: the machine file sets the key, and nothing else may change it.
	Locked bool `json:"locked,omitempty"`
	// Base is the machine file's own value for spool_dir and journal_path:
	// the shared folder the user's own folder is in.
	Base string `json:"base,omitempty"`
}

// Origin kinds.
const (
	OriginMachine = "machine" // this computer's managed configuration
	OriginFile    = "file"    // a configuration file named by --config or INVIGIL_CONFIG
	OriginEnv     = "env"
	OriginFlag    = "flag"
	OriginDefault = "default"
)

// Keys are the configuration's keys, in the order `invigil config
// show` lists them.
var Keys = []string{"server", "server_key", "only_server", "spool_dir", "journal_path", "camera", "screen"}

// Origins maps each key of Keys to where its value came from.
type Origins map[string]Origin

// Load reads the managed configuration, applies the environment and
// the flags, fills in defaults and validates the result.
func Load(in Inputs) (Config, error) {
	cfg, _, err := LoadSources(in)
	return cfg, err
}

// LoadSources is Load, and says where each value came from.
//
// The layers, lowest first: defaults, a file named by --config or
// INVIGIL_CONFIG, the environment, the flags. This computer's managed
// configuration (MachinePath) is authoritative for every key it sets: a
// layer that gives such a key another value is an error naming the key and
// the machine file (the same value is fine).
func LoadSources(in Inputs) (Config, Origins, error) {
	getenv := in.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	machine := in.MachinePath
	if machine == "" {
		machine, _ = DefaultConfigPath() // no default path: no machine configuration
	}
	path, named, from := in.Path, in.Path != "", "--config"
	if path == "" {
		if path = getenv(EnvConfig); path != "" {
			named, from = true, EnvConfig
		}
	}
	var cfg Config
	src := Origins{}
	set := func(key, kind, name string) { src[key] = Origin{Kind: kind, Name: name} }
	// The machine file.
	var mc ManagedConfig
	haveMachine := false
	if machine != "" {
		m, err := readConfig(machine, true)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if named && samePath(path, machine) {
				return Config{}, nil, err
			}
		case err != nil:
			return Config{}, nil, err
		case m.OnlyServer && m.Server == "":
			return Config{}, nil, fmt.Errorf("managed configuration %s: only_server is set but no server is configured", machine)
		default:
			mc, haveMachine = m, true
			cfg = Config{Server: m.Server, ServerKey: m.ServerKey, OnlyServer: m.OnlyServer, Source: machine, Machine: machine}
			for key, v := range map[string]bool{"server": m.Server != "", "server_key": m.ServerKey != "", "only_server": m.OnlyServer,
				"spool_dir": m.SpoolDir != "", "journal_path": m.JournalPath != ""} {
				if v {
					src[key] = Origin{Kind: OriginMachine, Name: machine, Locked: true}
				}
			}
			// The machine's spool and journal are base folders: each
			// user gets a folder of their own in them, so that the next
			// student on a lab machine is not locked out of the first
			// one's (PrepareDirs creates them).
			if m.SpoolDir != "" || m.JournalPath != "" {
				sub, err := userFolder()
				if err != nil {
					return Config{}, nil, fmt.Errorf("managed configuration %s: spool_dir and journal_path need a folder per user: %w", machine, err)
				}
				if m.SpoolDir != "" {
					cfg.SpoolBase, cfg.SpoolDir = m.SpoolDir, filepath.Join(m.SpoolDir, sub)
					src["spool_dir"] = Origin{Kind: OriginMachine, Name: machine, Locked: true, Base: m.SpoolDir}
				}
				if m.JournalPath != "" {
					if m.SpoolDir != "" && within(filepath.Dir(m.JournalPath), m.SpoolDir) {
						// A new session moves everything in a user's spool
						// folder aside, a journal too.
						return Config{}, nil, &ConfigFileError{Path: machine, Err: fmt.Errorf("journal_path %s must not be in spool_dir %s", m.JournalPath, m.SpoolDir)}
					}
					cfg.JournalBase = filepath.Dir(m.JournalPath)
					cfg.JournalPath = filepath.Join(cfg.JournalBase, sub, filepath.Base(m.JournalPath))
					src["journal_path"] = Origin{Kind: OriginMachine, Name: machine, Locked: true, Base: m.JournalPath}
				}
			}
		}
	}
	// locked refuses a value for a key the machine file sets, unless it is
	// the machine file's own value.
	locked := func(key, from, v, machineV string, same func(a, b string) bool) error {
		if v == "" || !src[key].Locked || same(v, machineV) {
			return nil
		}
		return fmt.Errorf("%s: this computer's managed configuration %s sets %s; it cannot be replaced (%s gives %q, the machine file %q)", from, machine, key, from, v, machineV)
	}
	sameServer := func(a, b string) bool { return mustServer(a) == mustServer(b) }
	samePathV := func(a, b string) bool { return filepath.Clean(absPath(a)) == filepath.Clean(absPath(b)) }
	// A locked spool or journal may be named by the machine's value or by
	// this user's folder in it (what `invigil config show` prints).
	sameSpool := func(a, b string) bool { return samePathV(a, b) || (cfg.SpoolBase != "" && samePathV(a, cfg.SpoolDir)) }
	sameJournal := func(a, b string) bool {
		return samePathV(a, b) || (cfg.JournalBase != "" && samePathV(a, cfg.JournalPath))
	}
	equal := func(a, b string) bool { return a == b }
	// A file the student names is one more layer; it cannot replace the
	// machine file's keys.
	var fileServer, fileKey string
	if named && !(haveMachine && samePath(path, machine)) {
		m, err := readConfig(path, false)
		if err != nil {
			return Config{}, nil, err
		}
		if m.OnlyServer && m.Server == "" && cfg.Server == "" {
			return Config{}, nil, fmt.Errorf("managed configuration %s: only_server is set but no server is configured", path)
		}
		name := from + " " + path
		for _, c := range []struct {
			key, v, machineV string
			same             func(a, b string) bool
		}{{"server", m.Server, mc.Server, sameServer}, {"server_key", m.ServerKey, mc.ServerKey, equal},
			{"spool_dir", m.SpoolDir, mc.SpoolDir, sameSpool}, {"journal_path", m.JournalPath, mc.JournalPath, sameJournal}} {
			if err := locked(c.key, name, c.v, c.machineV, c.same); err != nil {
				return Config{}, nil, err
			}
		}
		cfg.Source = path
		// The named file's value of a key the machine does not lock.
		take := func(key, v string, dst *string) {
			if !src[key].Locked && v != "" {
				*dst = v
				set(key, OriginFile, path)
			}
		}
		take("server", m.Server, &cfg.Server)
		take("server_key", m.ServerKey, &cfg.ServerKey)
		if m.OnlyServer && !cfg.OnlyServer {
			cfg.OnlyServer = true
			set("only_server", OriginFile, path)
		}
		take("spool_dir", m.SpoolDir, &cfg.SpoolDir)
		take("journal_path", m.JournalPath, &cfg.JournalPath)
	}
	fileServer, fileKey = cfg.Server, cfg.ServerKey
	// only_server (from either file) holds against the environment as
	// much as against the flags: both are in the student's hands.
	serverFrom := ""
	overrideServer := func(v, kind, name string) error {
		if v == "" {
			return nil
		}
		if err := locked("server", name, v, mc.Server, sameServer); err != nil {
			return err
		}
		if src["server"].Locked {
			return nil
		}
		cfg.Server, serverFrom = v, name
		set("server", kind, name)
		return nil
	}
	// A pinned key from a configuration file cannot be replaced either: a
	// student's key would make a look-alike backend's policy verify.
	overrideKey := func(v, kind, name string) error {
		if v == "" {
			return nil
		}
		if err := locked("server_key", name, v, mc.ServerKey, equal); err != nil {
			return err
		}
		if fileKey != "" && v != fileKey {
			return fmt.Errorf("%s: this computer pins the backend key in its managed configuration %s; it cannot be replaced", name, cfg.Source)
		}
		if !src["server_key"].Locked && v != fileKey {
			cfg.ServerKey = v
			set("server_key", kind, name)
		}
		return nil
	}
	overridePath := func(key string, dst *string, v, machineV, kind, name string) error {
		if v == "" {
			return nil
		}
		same := sameSpool
		if key == "journal_path" {
			same = sameJournal
		}
		if err := locked(key, name, v, machineV, same); err != nil {
			return err
		}
		if !src[key].Locked {
			*dst = v
			set(key, kind, name)
		}
		return nil
	}
	f := in.Flags
	// Paths from the command line and the environment are relative to
	// the working directory; the managed configuration's must be absolute.
	f.SpoolDir, f.JournalPath = absPath(f.SpoolDir), absPath(f.JournalPath)
	for _, err := range []func() error{
		func() error { return overrideServer(getenv(EnvServer), OriginEnv, EnvServer) },
		func() error { return overrideKey(getenv(EnvServerKey), OriginEnv, EnvServerKey) },
		func() error {
			return overridePath("spool_dir", &cfg.SpoolDir, absPath(getenv(EnvSpoolDir)), mc.SpoolDir, OriginEnv, EnvSpoolDir)
		},
		func() error { return overrideServer(f.Server, OriginFlag, "--server") },
		func() error { return overrideKey(f.ServerKey, OriginFlag, "--server-key") },
		func() error {
			return overridePath("spool_dir", &cfg.SpoolDir, f.SpoolDir, mc.SpoolDir, OriginFlag, "--spool")
		},
		func() error {
			return overridePath("journal_path", &cfg.JournalPath, f.JournalPath, mc.JournalPath, OriginFlag, "--journal")
		},
	} {
		if e := err(); e != nil {
			return Config{}, nil, e
		}
	}
	cfg.Camera, cfg.Screen = f.Camera, f.Screen
	for key, v := range map[string]string{"camera": f.Camera, "screen": f.Screen} {
		if v != "" {
			set(key, OriginFlag, "--"+key)
		} else {
			set(key, OriginDefault, "")
		}
	}
	if cfg.SpoolDir == "" {
		dir, err := os.UserCacheDir()
		if err != nil {
			return Config{}, nil, fmt.Errorf("no spool directory configured and no user cache directory: %w", err)
		}
		cfg.SpoolDir = filepath.Join(dir, "invigil", "spool")
		set("spool_dir", OriginDefault, "")
	}
	if cfg.JournalPath == "" {
		set("journal_path", OriginDefault, "")
	}
	if err := cfg.validate(); err != nil {
		return Config{}, nil, err
	}
	if cfg.OnlyServer && serverFrom != "" && cfg.Server != mustServer(fileServer) {
		return Config{}, nil, fmt.Errorf("%s %s: this computer is set up for exams on %s only (%s)", serverFrom, cfg.Server, mustServer(fileServer), cfg.Source)
	}
	if cfg.OnlyServer && cfg.Server == "" {
		return Config{}, nil, fmt.Errorf("managed configuration %s: only_server is set but no server is configured", cfg.Source)
	}
	return cfg, src, nil
}

// within reports whether path is dir or inside it.
func within(path, dir string) bool {
	rel, err := filepath.Rel(filepath.Clean(dir), filepath.Clean(path))
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

func absPath(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

func mustServer(s string) string {
	n, err := ParseServerURL(s)
	if err != nil {
		return s
	}
	return n
}

// validate checks every field and normalises the server URL.
func (c *Config) validate() error {
	if c.Server != "" {
		s, err := ParseServerURL(c.Server)
		if err != nil {
			return fmt.Errorf("server: %w", err)
		}
		c.Server = s
	}
	if c.ServerKey != "" {
		if _, err := policy.ParsePublicKey(c.ServerKey); err != nil {
			return fmt.Errorf("server_key: %w", err)
		}
	}
	if !filepath.IsAbs(c.SpoolDir) {
		return fmt.Errorf("spool_dir %q is not an absolute path", c.SpoolDir)
	}
	if c.JournalPath != "" && !filepath.IsAbs(c.JournalPath) {
		return fmt.Errorf("journal_path %q is not an absolute path", c.JournalPath)
	}
	return nil
}

// configFileCheck is checkConfigFile; tests of the merge rules replace it
// to use files in a temporary directory as the machine configuration.
var configFileCheck = checkConfigFile

// samePath reports whether a and b name the same file (or, when either is
// missing, the same cleaned absolute path).
func samePath(a, b string) bool {
	if sa, err := os.Stat(a); err == nil {
		if sb, err := os.Stat(b); err == nil {
			return os.SameFile(sa, sb)
		}
	}
	return absPath(filepath.Clean(a)) == absPath(filepath.Clean(b))
}

// readConfig reads and strictly decodes a managed configuration file. A
// missing file gives an error wrapping fs.ErrNotExist. A file every user
// may write is refused: it configures nothing anyone can trust. machine
// adds the checks of the machine-wide file: owned by an administrator
// (root; on Windows Administrators, SYSTEM or TrustedInstaller), in a
// directory only administrators can change (checkConfigFile).
func readConfig(path string, machine bool) (ManagedConfig, error) {
	fail := func(err error) (ManagedConfig, error) { return ManagedConfig{}, &ConfigFileError{Path: path, Err: err} }
	f, err := os.Open(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is in the ConfigFileError
		}
		return fail(err)
	}
	defer f.Close()
	if err := configFileCheck(f, path, machine); err != nil {
		return fail(err)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxConfigSize+1))
	if err != nil {
		return fail(err)
	}
	if len(b) > maxConfigSize {
		return fail(fmt.Errorf("it is over %d bytes", maxConfigSize))
	}
	m, err := ParseManagedConfig(b)
	if err != nil {
		return fail(err)
	}
	return m, nil
}

// ConfigFileError is a configuration file that cannot be used: missing,
// unreadable, writable by others, or not a valid configuration. The
// desktop app shows it in a window naming the file (`invigil run` exits
// 11).
type ConfigFileError struct {
	Path string
	Err  error
}

func (e *ConfigFileError) Error() string {
	return fmt.Sprintf("managed configuration %s: %v", e.Path, e.Err)
}

func (e *ConfigFileError) Unwrap() error { return e.Err }

// ParseManagedConfig decodes a managed configuration document: one JSON
// object, known keys only.
func ParseManagedConfig(b []byte) (ManagedConfig, error) {
	var m ManagedConfig
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return ManagedConfig{}, fmt.Errorf("not a valid configuration: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return ManagedConfig{}, errors.New("not a valid configuration: data after the JSON object")
	}
	m.Server = strings.TrimSpace(m.Server)
	return m, nil
}

// KeyFor is the pinned key for server: ServerKey pins the configured
// server (or, with no configured server, whatever server the flags or the
// link name). Another server is joined unpinned, which the check screen
// says loudly; OnlyServer forbids that.
func (c Config) KeyFor(server string) string {
	if c.Server == "" || server == c.Server {
		return c.ServerKey
	}
	return ""
}

// Target is what to join: a server and a code.
type Target struct {
	Server string
	Code   string
}

// TargetForLink checks a join link against the configuration: with
// OnlyServer, the link must name the configured server.
func (c Config) TargetForLink(l JoinLink) (Target, error) {
	if c.OnlyServer && l.Server != c.Server {
		return Target{}, fmt.Errorf("%w: it points to %s, but this computer is set up for exams on %s only", ErrBadLink, l.Server, c.Server)
	}
	return Target{Server: l.Server, Code: l.Code}, nil
}
