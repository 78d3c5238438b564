//go:build linux

package exambrowser

import (
	"os/exec"
	"syscall"
)

// setProcAttr makes the kernel kill the browser when the client dies
// (chromedp starts it from a goroutine locked to its OS thread, which is
// what Pdeathsig follows).
func setProcAttr(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = new(syscall.SysProcAttr)
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
}
