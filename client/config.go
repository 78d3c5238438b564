package client

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
// (lowest to highest precedence) the managed configuration file IT staff
// install, environment variables and command-line flags. docs/client.md
// lists every key in one table.
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
	// SpoolDir holds the encrypted spool of the running session.
	SpoolDir string
	// JournalPath is lockdown's change journal ("" is lockdown's default).
	JournalPath string
	// Camera and Screen select the capture sources (client.Sources).
	Camera, Screen string
	// Source is the managed configuration file that was read, "" if none.
	Source string
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

// ConfigInputs are the sources LoadConfig merges.
type ConfigInputs struct {
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

// Environment variables LoadConfig reads (docs/client.md).
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

// LoadConfig reads the managed configuration, applies the environment and
// the flags, fills in defaults and validates the result.
func LoadConfig(in ConfigInputs) (Config, error) {
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
	if path == "" {
		path = machine
	}
	isMachine := machine != "" && samePath(path, machine)
	if named && !isMachine && machine != "" {
		// A machine configuration that pins the server or its key holds
		// against a configuration the student names as much as against
		// their flags.
		m, err := readConfig(machine, true)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return Config{}, err
		case m.OnlyServer || m.ServerKey != "":
			return Config{}, fmt.Errorf("%s %s: this computer's managed configuration %s pins the exam server; another configuration cannot replace it", from, path, machine)
		}
	}
	var cfg Config
	if path != "" {
		m, err := readConfig(path, isMachine)
		switch {
		case errors.Is(err, fs.ErrNotExist) && !named:
		case err != nil:
			return Config{}, err
		case m.OnlyServer && m.Server == "":
			return Config{}, fmt.Errorf("managed configuration %s: only_server is set but no server is configured", path)
		default:
			cfg = Config{Server: m.Server, ServerKey: m.ServerKey, OnlyServer: m.OnlyServer,
				SpoolDir: m.SpoolDir, JournalPath: m.JournalPath, Source: path}
		}
	}
	overlay := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	// only_server holds against the environment as much as against the
	// flags: both are in the student's hands.
	managedServer, serverFrom := cfg.Server, ""
	overrideServer := func(v, from string) {
		if v != "" {
			cfg.Server, serverFrom = v, from
		}
	}
	// A pinned key from the managed configuration cannot be replaced
	// either: a student's key would make a look-alike backend's policy
	// verify.
	managedKey := cfg.ServerKey
	overrideKey := func(v, from string) error {
		if v == "" {
			return nil
		}
		if managedKey != "" && v != managedKey {
			return fmt.Errorf("%s: this computer pins the backend key in its managed configuration %s; it cannot be replaced", from, cfg.Source)
		}
		cfg.ServerKey = v
		return nil
	}
	overrideServer(getenv(EnvServer), EnvServer)
	if err := overrideKey(getenv(EnvServerKey), EnvServerKey); err != nil {
		return Config{}, err
	}
	overlay(&cfg.SpoolDir, absPath(getenv(EnvSpoolDir)))
	f := in.Flags
	// Paths from the command line and the environment are relative to
	// the working directory; the managed configuration's must be absolute.
	f.SpoolDir, f.JournalPath = absPath(f.SpoolDir), absPath(f.JournalPath)
	overrideServer(f.Server, "--server")
	if err := overrideKey(f.ServerKey, "--server-key"); err != nil {
		return Config{}, err
	}
	overlay(&cfg.SpoolDir, f.SpoolDir)
	overlay(&cfg.JournalPath, f.JournalPath)
	cfg.Camera, cfg.Screen = f.Camera, f.Screen
	if cfg.SpoolDir == "" {
		dir, err := os.UserCacheDir()
		if err != nil {
			return Config{}, fmt.Errorf("no spool directory configured and no user cache directory: %w", err)
		}
		cfg.SpoolDir = filepath.Join(dir, "invigil", "spool")
	}
	if err := cfg.validate(); err != nil {
		return Config{}, err
	}
	if cfg.OnlyServer && serverFrom != "" && cfg.Server != mustServer(managedServer) {
		return Config{}, fmt.Errorf("%s %s: this computer is set up for exams on %s only (%s)", serverFrom, cfg.Server, mustServer(managedServer), cfg.Source)
	}
	return cfg, nil
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

// ReadManagedConfig reads and strictly decodes a managed configuration file.
// A missing file gives an error wrapping fs.ErrNotExist. A file every user
// may write is refused: it configures nothing anyone can trust.
func ReadManagedConfig(path string) (ManagedConfig, error) {
	return readConfig(path, false)
}

// readConfig is ReadManagedConfig; machine adds the checks of the
// machine-wide file: owned by an administrator (root; on Windows
// Administrators, SYSTEM or TrustedInstaller), in a directory only
// administrators can change (checkConfigFile).
func readConfig(path string, machine bool) (ManagedConfig, error) {
	f, err := os.Open(path)
	if err != nil {
		return ManagedConfig{}, fmt.Errorf("managed configuration: %w", err)
	}
	defer f.Close()
	if err := configFileCheck(f, path, machine); err != nil {
		return ManagedConfig{}, fmt.Errorf("managed configuration %s: %w", path, err)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxConfigSize+1))
	if err != nil {
		return ManagedConfig{}, fmt.Errorf("managed configuration %s: %w", path, err)
	}
	if len(b) > maxConfigSize {
		return ManagedConfig{}, fmt.Errorf("managed configuration %s is over %d bytes", path, maxConfigSize)
	}
	m, err := ParseManagedConfig(b)
	if err != nil {
		return ManagedConfig{}, fmt.Errorf("managed configuration %s: %w", path, err)
	}
	return m, nil
}

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
