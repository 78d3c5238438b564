package lockdown

import (
	"context"
	"fmt"
	"time"

	"github.com/shirou/gopsutil/v4/process"
)

// CloseResult is what became of one process CloseProcesses was asked to
// close.
type CloseResult struct {
	PID  int32  `json:"pid"`
	Name string `json:"name"`
	// Outcome is "exited" (it closed when asked), "killed" (it did not, and
	// was killed after the grace period), "gone" (it had already exited, or
	// its pid now names another process, which is left alone) or "failed".
	Outcome string `json:"outcome"`
	Error   string `json:"error,omitempty"`
}

// CloseProcesses closes the given processes: a polite request first (SIGTERM;
// on Windows taskkill without /F, which sends WM_CLOSE), then, for those
// still running after grace, a kill. A process is only touched while its pid
// still names the same process (same start time) as the finding. It returns
// one result per finding, in order, and waits at most about grace plus a
// second; ctx cancels the wait (the processes still get their kill).
func CloseProcesses(ctx context.Context, procs []ProcessFinding, grace time.Duration) []CloseResult {
	res := make([]CloseResult, len(procs))
	pending := map[int]bool{}
	for i, f := range procs {
		res[i] = CloseResult{PID: f.PID, Name: f.Name}
		if f.PID <= 0 {
			res[i].Outcome, res[i].Error = "failed", "the process is not visible to this user"
			continue
		}
		if !sameProcess(f) {
			res[i].Outcome = "gone"
			continue
		}
		if err := askToExit(f.PID); err != nil {
			if !sameProcess(f) {
				res[i].Outcome = "gone"
				continue
			}
			res[i].Error = "polite close: " + err.Error()
		}
		pending[i] = true
	}
	deadline := time.Now().Add(grace)
	for len(pending) > 0 && time.Now().Before(deadline) && ctx.Err() == nil {
		t := time.NewTimer(50 * time.Millisecond)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
		for i := range pending {
			if !sameProcess(procs[i]) {
				res[i].Outcome, res[i].Error = "exited", ""
				delete(pending, i)
			}
		}
	}
	for i := range pending {
		f := procs[i]
		p, err := process.NewProcess(f.PID)
		if err == nil && sameProcess(f) {
			err = p.Kill()
		}
		if err != nil && sameProcess(f) {
			res[i].Outcome, res[i].Error = "failed", "kill: "+err.Error()
			continue
		}
		// Wait briefly for the kill to take effect.
		for j := 0; j < 20 && sameProcess(f); j++ {
			time.Sleep(25 * time.Millisecond)
		}
		if sameProcess(f) {
			res[i].Outcome, res[i].Error = "failed", "still running after kill"
			continue
		}
		res[i].Outcome, res[i].Error = "killed", ""
	}
	return res
}

// sameProcess reports whether the finding's process is still running.
func sameProcess(f ProcessFinding) bool {
	_, create, err := readIdentity(f.PID)
	if err != nil {
		return false
	}
	return f.CreateTime == 0 || create == f.CreateTime
}

func closeErr(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("close process: %w", err)
}
