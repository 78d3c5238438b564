package lockdown

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/invigil/invigil/lockdown/policy"
)

// CheckOptions are the inputs of the system check that do not come from the
// policy.
type CheckOptions struct {
	// Cameras are the camera devices the capture layer found; nil means
	// unknown (the camera check then reports unknown).
	Cameras []Camera
	// Getenv reads the environment (default os.Getenv); tests replace it.
	Getenv func(string) string

	// listHidden replaces the OS's hidden-window lister in tests.
	listHidden hiddenWindowLister
}

// Check runs every detector once and returns the report the check screen and
// `invigil check` show. It never returns a pass for a detector that could not
// tell: that check is unknown, with the reason in its Error.
func Check(ctx context.Context, p *policy.Policy, opts CheckOptions) Report {
	env := opts.Getenv
	if env == nil {
		env = os.Getenv
	}
	var (
		wg      sync.WaitGroup
		procs   procScan
		procErr error
		ports   []ProcessFinding
		portErr error
		ds      []Display
		dsErr   error
		vm      CheckResult
		remote  CheckResult
		hidden  windowScan
		hidErr  error
	)
	list := opts.listHidden
	if list == nil {
		list = listHiddenWindows
	}
	wg.Go(func() {
		ps := newProcScanner(p)
		procs, procErr = ps.scan(ctx, time.Now())
		pts := newPortScanner(p, ps.self)
		ports, portErr = pts.scan(ctx, time.Now(), func(pid int32) *procEntry { return ps.known[pid] })
	})
	wg.Go(func() { ds, dsErr = readDisplays() })
	wg.Go(func() { vm = vmResult(ctx, p) })
	wg.Go(func() { remote = remoteResult(ctx, p, env) })
	wg.Go(func() { hidden, hidErr = list(ctx, selfPID()) })
	clip := clipboardResult(ctx, p)
	wg.Wait()
	r := Report{Time: time.Now().UTC(), Checks: []CheckResult{
		processResult(procs, procErr),
		portResult(ports, portErr),
		displayResult(p, ds, dsErr),
		vm,
		remote,
		CheckCameras(p, opts.Cameras),
		clip,
		hiddenResult(p, hidden, hidErr),
	}}
	r.Status = StatusPass
	for _, c := range r.Checks {
		r.Status = worse(r.Status, c.Status)
	}
	return r
}

func processResult(s procScan, err error) CheckResult {
	r := CheckResult{ID: CheckProcesses, Title: "Prohibited programs"}
	if err == nil && s.total == 0 {
		err = fmt.Errorf("no processes could be read")
	}
	if err != nil {
		r.Status, r.Error, r.Summary = StatusUnknown, err.Error(), "Could not list the running programs"
		return r
	}
	r.Evidence = map[string]string{"processes_checked": strconv.Itoa(s.total)}
	if s.notHashed > 0 {
		// Other users' executables cannot be read without privileges:
		// those processes were matched by name only.
		r.Evidence["matched_by_name_only"] = strconv.Itoa(s.notHashed)
	}
	return findingsResult(r, s.findings, fmt.Sprintf("No prohibited program is running (%d processes checked)", s.total))
}

func portResult(fs []ProcessFinding, err error) CheckResult {
	r := CheckResult{ID: CheckRemotePorts, Title: "Remote-access servers"}
	if err != nil {
		r.Status, r.Error, r.Summary = StatusUnknown, err.Error(), "Could not list the listening network ports"
		return r
	}
	return findingsResult(r, fs, "No program is listening on a remote-access port")
}

func findingsResult(r CheckResult, fs []ProcessFinding, clean string) CheckResult {
	r.Status = StatusPass
	if len(fs) == 0 {
		r.Summary = clean
		return r
	}
	r.Processes = fs
	var names []string
	for _, f := range fs {
		r.Status = worse(r.Status, statusFor(policy.Action(f.Action)))
		names = append(names, f.describe())
		r.Fixes = append(r.Fixes, f.fix())
	}
	if r.ID == CheckRemotePorts {
		r.Summary = "Listening on a remote-access port: " + strings.Join(names, ", ")
	} else {
		r.Summary = "Running: " + strings.Join(names, ", ")
	}
	return r
}

// fix tells the student what to do about a finding.
func (f ProcessFinding) fix() string {
	if f.Reason == "port" {
		if f.PID <= 0 {
			return fmt.Sprintf("Stop the program listening on port %d (%s); it belongs to another user, so ask an administrator", f.Port, f.Program)
		}
		return fmt.Sprintf("Close %s (pid %d), which listens on port %d (%s)", f.Name, f.PID, f.Port, f.Program)
	}
	return "Close " + f.describe()
}
