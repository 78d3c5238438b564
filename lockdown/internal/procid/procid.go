// Package procid tells a process apart from a later one with the same pid:
// its command name and start time. lockdown's process scanner and the
// lockdown journal (whose owner check must survive pid reuse) share it.
package procid

import "errors"

var (
	// ErrGone: the process has exited (a zombie counts as gone).
	ErrGone = errors.New("process is gone")
	// ErrThread: the id is a thread's, not a process's (Linux).
	ErrThread = errors.New("a thread, not a process")
)
