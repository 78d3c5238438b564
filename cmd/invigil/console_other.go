//go:build !windows

package main

// attachConsole: only the Windows build is a GUI-subsystem program without
// a console of its own.
func attachConsole([]string) {}
