package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/invigil/invigil/client/launch"
	"github.com/invigil/invigil/lockdown/policy"
)

// write-machine-config is what the Windows installer runs (as SYSTEM) with
// its SERVER, SERVER_KEY and ONLY_SERVER properties; IT staff may run it on
// any OS. It validates the values the way the client reads them and
// replaces the machine configuration file atomically.
func init() {
	commands["write-machine-config"] = command{
		summary: "write the machine-wide managed configuration (installers, IT staff)",
		run:     runWriteMachineConfig,
	}
	commands["remove-machine-config"] = command{
		summary: "delete the machine-wide managed configuration (uninstallers)",
		run:     runRemoveMachineConfig,
	}
}

// runRemoveMachineConfig deletes the machine configuration and its folder
// when that is then empty. A missing file is fine: uninstalling twice, or
// a machine that never had one.
func runRemoveMachineConfig(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("remove-machine-config", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("path", "", "the file to delete (default: this OS's machine configuration)")
	if code, ok := parseNoArgs(fs, args, stderr); !ok {
		return code
	}
	p := *path
	if p == "" {
		var err error
		if p, err = launch.DefaultConfigPath(); err != nil {
			fmt.Fprintf(stderr, "invigil remove-machine-config: %v\n", err)
			return exitFailure
		}
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(stderr, "invigil remove-machine-config: %v\n", err)
		return exitFailure
	}
	// Only an empty folder goes: anything else in it is someone's.
	if err := os.Remove(filepath.Dir(p)); err == nil {
		fmt.Fprintf(stdout, "removed %s and its folder\n", p)
	} else {
		fmt.Fprintf(stdout, "removed %s\n", p)
	}
	return exitOK
}

func runWriteMachineConfig(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("write-machine-config", flag.ContinueOnError)
	fs.SetOutput(stderr)
	server := fs.String("server", "", "backend URL, e.g. https://proctor.example.edu")
	key := fs.String("server-key", "", `pinned backend public key ("ed25519:...", see 'invigild key')`)
	only := fs.String("only-server", "", `"1" (or true, yes): refuse every other backend; "", "0": allow others`)
	path := fs.String("path", "", "the file to write (default: this OS's machine configuration)")
	if code, ok := parseNoArgs(fs, args, stderr); !ok {
		return code
	}
	m, err := machineConfig(*server, *key, *only)
	if err != nil {
		fmt.Fprintf(stderr, "invigil write-machine-config: %v\n", err)
		return exitUsage
	}
	p := *path
	if p == "" {
		if p, err = launch.DefaultConfigPath(); err != nil {
			fmt.Fprintf(stderr, "invigil write-machine-config: %v\n", err)
			return exitFailure
		}
	}
	if err := writeMachineConfig(p, m); err != nil {
		fmt.Fprintf(stderr, "invigil write-machine-config: %v\n", err)
		return exitFailure
	}
	fmt.Fprintf(stdout, "wrote %s\n", p)
	return exitOK
}

// machineConfig validates the installer's values. Empty values are unset
// (msiexec passes every property, set or not).
func machineConfig(server, key, only string) (launch.ManagedConfig, error) {
	var m launch.ManagedConfig
	if server = strings.TrimSpace(server); server != "" {
		s, err := launch.ParseServerURL(server)
		if err != nil {
			return m, fmt.Errorf("--server: %w", err)
		}
		m.Server = s
	}
	if key = strings.TrimSpace(key); key != "" {
		pub, err := policy.ParsePublicKey(key)
		if err != nil {
			return m, fmt.Errorf("--server-key: %w", err)
		}
		m.ServerKey = policy.FormatPublicKey(pub)
	}
	switch strings.ToLower(strings.TrimSpace(only)) {
	case "", "0", "false", "no":
	case "1", "true", "yes":
		m.OnlyServer = true
	default:
		return m, fmt.Errorf("--only-server %q: want 1 or 0", only)
	}
	switch {
	case m.OnlyServer && m.Server == "":
		return m, errors.New("--only-server needs --server: which backend would be the only one?")
	case m.Server == "" && m.ServerKey == "":
		return m, errors.New("nothing to write: give --server, --server-key or both")
	}
	return m, nil
}

// writeMachineConfig replaces path with m: a temporary file in the same
// folder, synced, then renamed over the old one, so a reader never sees half
// a file. The folder is created if missing.
func writeMachineConfig(path string, m launch.ManagedConfig) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(m); err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, ".config-*.tmp")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after a successful rename: a no-op
	if err := f.Chmod(0o644); err != nil && !errors.Is(err, errors.ErrUnsupported) {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(buf.Bytes()); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
