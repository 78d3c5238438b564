package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
)

// Exit codes of the invigil binary. Scripts and the packaging rely on them;
// docs/protocol.md lists them too.
const (
	exitOK          = 0
	exitFailure     = 1 // anything not listed below
	exitUsage       = 2 // wrong flags or arguments
	exitJoinRefused = 3 // the backend refused the join code (unknown, closed, not open yet)
	exitUnreachable = 4 // the backend could not be reached
	exitBadPolicy   = 5 // the policy signature or config key does not verify
	exitCheckFailed = 6 // the system check found a failure that blocks the exam
	exitSpoolFull   = 7 // the spool hit its size cap or the disk is full; capture stopped
	exitEnded       = 8 // a proctor ended the attempt
	exitCapture     = 9 // the camera or screen could not be captured (missing, busy, no display)
)

// parseNoArgs parses the flags of a subcommand that takes no positional
// arguments. When the command must stop there (-h, a wrong flag, a stray
// argument) it returns the exit code and false.
func parseNoArgs(fs *flag.FlagSet, args []string, stderr io.Writer) (int, bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK, false
		}
		return exitUsage, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "invigil %s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return exitUsage, false
	}
	return 0, true
}

// exitSpoolLost: the run finished, but part of the recording was lost from
// the local spool (damaged or deleted files) and could not be uploaded; the
// proctor has a spool.corrupt (or spool.set_aside) event naming it.
const exitSpoolLost = 10
