package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/invigil/invigil/lockdown/journal"
)

func init() {
	commands["reset"] = command{summary: "undo every lockdown change left by a crashed or running exam", run: runReset}
}

func runReset(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("reset", flag.ContinueOnError)
	fs.SetOutput(stderr)
	journalFlag := fs.String("journal", "", "lockdown journal file (default: the user's, see 'invigil reset -h')")
	force := fs.Bool("force", false, "undo even if the invigil that wrote the journal is still running")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	fs.Usage = func() {
		def, _ := journal.DefaultPath()
		fmt.Fprintln(stderr, "usage: invigil reset [--journal FILE] [--force] [--json]")
		fmt.Fprintf(stderr, "Undoes every change lockdown recorded in its journal (default %s). Safe to run at any time.\n", def)
		fmt.Fprintln(stderr, "Run it as the user who took the exam: a journal of another user, one others may write, or one that")
		fmt.Fprintln(stderr, "names files outside that user's home, configuration and cache directories is refused and nothing is undone.")
		fmt.Fprintln(stderr, "It also ends an exam browser left by a crashed exam and removes its profile (reported on stderr with --json).")
		fs.PrintDefaults()
	}
	if code, ok := parseNoArgs(fs, args, stderr); !ok {
		return code
	}
	path := *journalFlag
	if path == "" {
		path = configJournalPath(stderr) // the journal `invigil run` writes: per user under a machine journal_path
	}
	if path == "" {
		var err error
		if path, err = journal.DefaultPath(); err != nil {
			fmt.Fprintf(stderr, "invigil reset: %v\n", err)
			return exitFailure
		}
	}
	browserFailed := resetExamBrowsers(ctx, *force, *asJSON, stdout, stderr)
	rep, err := journal.Reset(ctx, path, journal.Options{Force: *force})
	if errors.Is(err, journal.ErrInUse) {
		fmt.Fprintf(stderr, "invigil reset: an exam is running (invigil pid %d owns %s); finish it first, or use --force\n", rep.OwnerPID, path)
		return exitFailure
	}
	if errors.Is(err, journal.ErrRefused) {
		fmt.Fprintf(stderr, "invigil reset: %v\nNothing was undone: this journal was not written by your lockdown (or was changed since). Inspect it, and remove it if it is not yours.\n", err)
		return exitFailure
	}
	if err != nil {
		fmt.Fprintf(stderr, "invigil reset: %v\n", err)
		return exitFailure
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(rep)
	} else {
		printReset(stdout, rep)
	}
	if rep.Remaining > 0 || browserFailed {
		return exitFailure
	}
	return exitOK
}

func printReset(w io.Writer, rep journal.ResetReport) {
	if !rep.Found {
		fmt.Fprintf(w, "No lockdown journal at %s: nothing to undo.\n", rep.Path)
		return
	}
	fmt.Fprintf(w, "Lockdown journal %s", rep.Path)
	if rep.OwnerPID > 0 {
		state := "no longer running"
		if rep.OwnerRunning {
			state = "still running, reset forced"
		}
		fmt.Fprintf(w, " (written by invigil pid %d, %s)", rep.OwnerPID, state)
	}
	fmt.Fprintf(w, ": %d changes.\n", len(rep.Results))
	for _, r := range rep.Results {
		line := fmt.Sprintf("  %-16s %s: %s", r.Outcome, r.Change.Kind, r.Change.Summary)
		if r.Error != "" {
			line += " (" + r.Error + ")"
		}
		fmt.Fprintln(w, line)
	}
	if rep.Remaining > 0 {
		fmt.Fprintf(w, "%d changes could not be undone and stay in the journal; run 'invigil reset' again after fixing the cause.\n", rep.Remaining)
	} else {
		fmt.Fprintln(w, "Everything is undone; the journal is removed.")
	}
}
