//go:build !windows

package lockdown

import "syscall"

// askToExit sends SIGTERM, which applications treat as "quit".
func askToExit(pid int32) error { return closeErr(syscall.Kill(int(pid), syscall.SIGTERM)) }
