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

// exitConfig: the configuration cannot be used (the machine file or a
// --config file is missing, unreadable, writable by others or invalid; a
// flag or variable tries to change a key the machine file locks; the
// per-user spool or journal folder cannot be made). The desktop app shows
// the problem in a window first.
const exitConfig = 11

// exitNoDisplay: the desktop app cannot open a window (no DISPLAY, or the
// X server it names does not answer); `invigil run --headless` needs none.
const exitNoDisplay = 12
