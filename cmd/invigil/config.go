package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"text/tabwriter"

	"github.com/invigil/invigil/client/exam"
	"github.com/invigil/invigil/client/launch"
)

func init() {
	commands["config"] = command{summary: "show the effective configuration and where each value comes from", run: runConfig}
}

// configMachinePath is the machine configuration `config show` reads; ""
// is the OS path (launch.DefaultConfigPath). Tests point it elsewhere.
var configMachinePath = ""

// configKeyShow is one key of `invigil config show --json`.
type configKeyShow struct {
	Key    string `json:"key"`
	Value  any    `json:"value"`
	Source string `json:"source"`         // machine, file, env, flag, default, or unset
	Name   string `json:"name,omitempty"` // the file, variable or flag
	Locked bool   `json:"locked"`         // set by the machine file: nothing else may change it
	// Base is the machine file's shared folder the value is this user's
	// own folder in (spool_dir, journal_path).
	Base string `json:"base,omitempty"`
}

// configShow is `invigil config show --json`.
type configShow struct {
	MachineFile        string          `json:"machine_file"`
	MachineFilePresent bool            `json:"machine_file_present"`
	Keys               []configKeyShow `json:"keys"`
	// Aside are earlier sessions' folders next to the spool that a run
	// keeps (exam.CleanAside): with spool segments, recording that may
	// not have been uploaded.
	Aside []exam.AsideFolder `json:"aside"`
}

// runConfig is `invigil config show`: the configuration a run with the same
// flags, environment and files would use, key by key, with where each value
// came from and whether the machine file locks it. A configuration that
// does not load is reported as the run would report it.
func runConfig(_ context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "show" {
		fmt.Fprintln(stderr, "usage: invigil config show [--json] [--config FILE] [--server URL] [--server-key KEY] [--spool DIR] [--journal FILE] [--camera C] [--screen S]")
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			return exitOK
		}
		return exitUsage
	}
	fs := flag.NewFlagSet("config show", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print JSON")
	var f launch.Config
	path := fs.String("config", "", "a configuration file, as for 'invigil run'")
	fs.StringVar(&f.Server, "server", "", "as for 'invigil run'")
	fs.StringVar(&f.ServerKey, "server-key", "", "as for 'invigil run'")
	fs.StringVar(&f.SpoolDir, "spool", "", "as for 'invigil run'")
	fs.StringVar(&f.JournalPath, "journal", "", "as for 'invigil run'")
	fs.StringVar(&f.Camera, "camera", "", "as for 'invigil run'")
	fs.StringVar(&f.Screen, "screen", "", "as for 'invigil run'")
	if code, ok := parseNoArgs(fs, args[1:], stderr); !ok {
		return code
	}
	machine := configMachinePath
	if machine == "" {
		var err error
		if machine, err = launch.DefaultConfigPath(); err != nil {
			fmt.Fprintf(stderr, "invigil config show: %v\n", err)
			return exitFailure
		}
	}
	_, statErr := os.Stat(machine)
	cfg, src, err := launch.LoadSources(launch.Inputs{Path: *path, Flags: f, MachinePath: machine})
	if err != nil {
		fmt.Fprintf(stderr, "invigil config show: configuration: %v\n", err)
		return exitConfig
	}
	out := configShow{MachineFile: machine, MachineFilePresent: statErr == nil || !errors.Is(statErr, os.ErrNotExist),
		Aside: exam.ListAside(cfg.SpoolDir)}
	if out.Aside == nil {
		out.Aside = []exam.AsideFolder{}
	}
	values := map[string]any{"server": cfg.Server, "server_key": cfg.ServerKey, "only_server": cfg.OnlyServer,
		"spool_dir": cfg.SpoolDir, "journal_path": cfg.JournalPath, "camera": cfg.Camera, "screen": cfg.Screen}
	for _, k := range launch.Keys {
		o := src[k]
		kind := o.Kind
		if kind == "" {
			kind = "unset"
		}
		out.Keys = append(out.Keys, configKeyShow{Key: k, Value: values[k], Source: kind, Name: o.Name, Locked: o.Locked, Base: o.Base})
	}
	if *asJSON {
		b, _ := json.MarshalIndent(out, "", "  ")
		fmt.Fprintf(stdout, "%s\n", b)
		return exitOK
	}
	present := "present"
	if !out.MachineFilePresent {
		present = "absent"
	}
	fmt.Fprintf(stdout, "machine file: %s (%s)\n\n", machine, present)
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tVALUE\tFROM")
	for _, k := range out.Keys {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", k.Key, showValue(k), showSource(k))
	}
	tw.Flush()
	if len(out.Aside) > 0 {
		fmt.Fprintf(stdout, "\nearlier sessions' folders next to the spool (docs/deploy.md, \"what stays on disk\"):\n")
		tw = tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		for _, a := range out.Aside {
			fmt.Fprintf(tw, "%s\t%s\n", a.Dir, describeAside(a))
		}
		tw.Flush()
	}
	return exitOK
}

func showValue(k configKeyShow) string {
	switch v := k.Value.(type) {
	case bool:
		return strconv.FormatBool(v)
	case string:
		if v != "" {
			return v
		}
	}
	switch k.Key {
	case "server":
		return "(none: the link or the student names it)"
	case "server_key":
		return "(none: unpinned)"
	case "journal_path":
		return "(lockdown's default)"
	case "camera", "screen":
		return "(as the policy says)"
	}
	return "(none)"
}

func showSource(k configKeyShow) string {
	var s string
	switch k.Source {
	case launch.OriginMachine:
		s = "machine file " + k.Name
	case launch.OriginFile:
		s = "file " + k.Name
	case launch.OriginEnv:
		s = "environment " + k.Name
	case launch.OriginFlag:
		s = "flag " + k.Name
	case launch.OriginDefault:
		s = "default"
	default:
		s = "not set"
	}
	if k.Locked {
		s += " (locked)"
	}
	if k.Base != "" {
		s += "; this user's own folder in " + k.Base
	}
	return s
}

// configError is a configuration `invigil run` cannot use (exit 11).
type configError struct{ err error }

func (e *configError) Error() string { return "configuration: " + e.err.Error() }
func (e *configError) Unwrap() error { return e.err }

// describeAside says what an earlier session's folder holds and what
// happens to it.
func describeAside(a exam.AsideFolder) string {
	var what string
	switch a.Kind {
	case exam.AsideKept:
		what = "an unfinished session of another exam"
		if a.Exam != "" {
			what += " (" + a.Exam + ")"
		}
		what += ", resumes with its link"
	case exam.AsideRetired:
		what = "a session that can no longer upload"
	case exam.AsideDamaged:
		what = "damaged recording cut out of a session"
	}
	if a.Segments == 0 && a.Kind == exam.AsideKept {
		return what + "; no recording: removed at a start once a week old"
	}
	if a.Segments == 0 {
		return what + "; no recording: removed at the next start"
	}
	return fmt.Sprintf("%s; %d segment files, %.1f MB since %s: may not have been uploaded, kept (never removed automatically)",
		what, a.Segments, float64(a.Bytes)/1e6, a.Since.Local().Format("2006-01-02"))
}

// configJournalPath is the lockdown journal `invigil run` uses when the
// configuration names one (the machine file's journal_path, per user; a
// file INVIGIL_CONFIG names), "" for lockdown's default. A configuration
// that does not load is reported and the default is used: a reset must
// still be possible.
func configJournalPath(stderr io.Writer) string {
	cfg, err := launch.Load(launch.Inputs{MachinePath: configMachinePath})
	if err != nil {
		fmt.Fprintf(stderr, "invigil reset: configuration: %v; using the default journal\n", err)
		return ""
	}
	return cfg.JournalPath
}
