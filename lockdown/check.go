package lockdown

import (
	"context"
	"os"
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
	// detectors replaces the package's list of families in tests.
	detectors []detector
}

// Check runs every detector once and returns the report the check screen and
// `invigil check` show. It never returns a pass for a detector that could not
// tell: that check is unknown, with the reason in its Error. The families
// run concurrently; their results come in the order of the detectors list.
func Check(ctx context.Context, p *policy.Policy, opts CheckOptions) Report {
	in := &checkInput{p: p, env: opts.Getenv, cameras: opts.Cameras, listHidden: opts.listHidden}
	if in.env == nil {
		in.env = os.Getenv
	}
	if in.listHidden == nil {
		in.listHidden = listHiddenWindows
	}
	ds := opts.detectors
	if ds == nil {
		ds = detectors
	}
	results := make([][]CheckResult, len(ds))
	var wg sync.WaitGroup
	for i, d := range ds {
		wg.Go(func() { results[i] = d.check(ctx, in) })
	}
	wg.Wait()
	r := Report{Time: time.Now().UTC(), Status: StatusPass}
	for _, rs := range results {
		r.Checks = append(r.Checks, rs...)
	}
	for _, c := range r.Checks {
		r.Status = worse(r.Status, c.Status)
	}
	return r
}
