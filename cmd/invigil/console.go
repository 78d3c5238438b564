package main

import "slices"

// wantsConsole reports whether a command line prints for a person at a
// console: everything but the desktop app (`run` without --headless, or
// no arguments at all). The
// Windows build is a GUI-subsystem program, which gets no console of its
// own; these commands attach to the one they were started from
// (console_windows.go). The desktop app never does: closing that console
// would end the exam with it.
func wantsConsole(args []string) bool {
	if len(args) == 0 {
		return false
	}
	if args[0] != "run" {
		return true
	}
	return slices.ContainsFunc(args[1:], func(a string) bool {
		return a == "--headless" || a == "-headless" || a == "--headless=true" || a == "-headless=true"
	})
}
