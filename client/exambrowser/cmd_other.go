//go:build !linux

package exambrowser

import "os/exec"

// setProcAttr does nothing here: the browser outlives a crashed client
// until Cleanup (the next Launch, or invigil reset) ends it.
func setProcAttr(cmd *exec.Cmd) {}
