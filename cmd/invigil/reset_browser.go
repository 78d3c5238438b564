package main

import (
	"context"
	"fmt"
	"io"

	"github.com/invigil/invigil/client/exambrowser"
)

// resetExamBrowsers ends the exam browsers that crashed exams left and
// removes their profiles (exambrowser.Cleanup), and says what it did: on
// stdout, or on stderr when stdout carries the JSON report. It returns
// whether something could not be cleaned up.
func resetExamBrowsers(ctx context.Context, force, asJSON bool, stdout, stderr io.Writer) (failed bool) {
	w := stdout
	if asJSON {
		w = stderr
	}
	res, err := exambrowser.Cleanup(ctx, exambrowser.CleanupOptions{Force: force})
	if err != nil {
		fmt.Fprintf(w, "Exam browser: %v\n", err)
		return true
	}
	for _, r := range res {
		switch r.Outcome {
		case "in_use":
			fmt.Fprintf(w, "Exam browser profile %s: left alone, its exam is still running (invigil pid %d); use --force\n", r.Dir, r.ClientPID)
		case "removed":
			fmt.Fprintf(w, "Exam browser profile %s: removed", r.Dir)
			if r.Killed > 0 {
				fmt.Fprintf(w, ", %d leftover browser processes ended", r.Killed)
			}
			fmt.Fprintln(w, ".")
		default:
			failed = true
			fmt.Fprintf(w, "Exam browser profile %s: could not be cleaned up (%s); run 'invigil reset' again\n", r.Dir, r.Error)
		}
	}
	return failed
}
