package lockdown

import (
	"os/exec"
	"strconv"
	"syscall"
)

// askToExit runs taskkill without /F, which posts WM_CLOSE to the process's
// windows: the application closes as if its window's close button was
// pressed. gopsutil's Terminate would be TerminateProcess, a hard kill.
func askToExit(pid int32) error {
	cmd := exec.Command("taskkill", "/PID", strconv.Itoa(int(pid)))
	cmd.SysProcAttr = &syscall.SysProcAttr{HideWindow: true}
	return closeErr(cmd.Run())
}
