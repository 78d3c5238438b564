package lockdown

import (
	"errors"
	"fmt"
	"time"
)

// ErrUnsupported is returned by detectors and actions that have no
// implementation on this operating system. A check that gets it reports
// StatusUnknown. It wraps the standard library's errors.ErrUnsupported, as
// capture.ErrUnsupported does: one sentinel for "this system cannot do it"
// in every layer.
var ErrUnsupported = fmt.Errorf("not supported on this system: %w", errors.ErrUnsupported)

// Status is the outcome of one check.
type Status string

// The statuses, from best to worst. Unknown means the detector could not
// tell; it is never reported as a pass.
const (
	StatusPass    Status = "pass"
	StatusUnknown Status = "unknown"
	StatusWarn    Status = "warn"
	StatusFail    Status = "fail"
)

func (s Status) rank() int {
	switch s {
	case StatusPass:
		return 0
	case StatusUnknown:
		return 1
	case StatusWarn:
		return 2
	case StatusFail:
		return 3
	}
	return 1
}

// worse returns the worse of two statuses.
func worse(a, b Status) Status {
	if b.rank() > a.rank() {
		return b
	}
	return a
}

// Stable check IDs: the client's check screen and scripts reading
// `invigil check --json` key on them.
const (
	CheckProcesses     = "processes.prohibited"
	CheckRemotePorts   = "processes.remote_ports"
	CheckDisplays      = "displays"
	CheckVM            = "virtual_machine"
	CheckRemoteSession = "remote_session"
	CheckCamera        = "camera.virtual"
	CheckClipboard     = "clipboard"
)

// CheckResult is one named check of the system check.
type CheckResult struct {
	// ID is one of the Check* constants.
	ID string `json:"id"`
	// Title names the check for a person ("Prohibited programs").
	Title  string `json:"title"`
	Status Status `json:"status"`
	// Summary is one line saying what was found.
	Summary string `json:"summary"`
	// Fixes tell the student what to do, one action each ("Close AnyDesk
	// (pid 4242)"). Empty on a pass.
	Fixes []string `json:"fixes,omitempty"`
	// Evidence is what the detector saw, as key/value pairs.
	Evidence map[string]string `json:"evidence,omitempty"`
	// Processes are the offending processes of the process checks: what
	// the check screen's "Close these apps" button passes to
	// CloseProcesses.
	Processes []ProcessFinding `json:"processes,omitempty"`
	// Error is why the detector could not tell, for StatusUnknown.
	Error string `json:"error,omitempty"`
}

// Report is the result of the system check.
type Report struct {
	Time time.Time `json:"time"`
	// Status is the worst status of the checks.
	Status Status        `json:"status"`
	Checks []CheckResult `json:"checks"`
}

// Failed reports whether a check failed: the exam must not start.
func (r Report) Failed() bool { return r.Status == StatusFail }

// Check returns the check with the given ID.
func (r Report) Check(id string) (CheckResult, bool) {
	for _, c := range r.Checks {
		if c.ID == id {
			return c, true
		}
	}
	return CheckResult{}, false
}

// Closable returns the offending processes the policy lets the client close
// (block rules and remote-port listeners with a known pid), for the check
// screen's "Close these apps" button.
func (r Report) Closable() []ProcessFinding {
	var out []ProcessFinding
	seen := map[int32]bool{}
	for _, c := range r.Checks {
		for _, p := range c.Processes {
			if p.PID > 0 && p.Action == "block" && !seen[p.PID] {
				seen[p.PID] = true
				out = append(out, p)
			}
		}
	}
	return out
}

// ProcessFinding is one offending process.
type ProcessFinding struct {
	PID int32 `json:"pid"`
	// CreateTime (Unix milliseconds) tells the process apart from a later
	// one that reuses its pid; CloseProcesses checks it.
	CreateTime int64  `json:"create_time,omitempty"`
	Name       string `json:"name"`
	Exe        string `json:"exe,omitempty"`
	// RuleID and Program name the matching policy rule ("anydesk",
	// "AnyDesk"), or the port rule ("VNC") for a listener.
	RuleID  string `json:"rule_id,omitempty"`
	Program string `json:"program"`
	// Reason says how it matched: "name", "sha256" or "port".
	Reason string `json:"reason"`
	// Port and Address are set for a remote-access listener.
	Port    int    `json:"port,omitempty"`
	Address string `json:"address,omitempty"`
	// Action is the rule's action, "flag" or "block".
	Action string `json:"action"`
}
