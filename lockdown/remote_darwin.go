package lockdown

import (
	"context"
	"fmt"

	"github.com/shirou/gopsutil/v4/process"
)

// detectRemote on macOS: SSH variables; screensharingd, which launchd starts
// for the duration of a Screen Sharing / Remote Management connection; and
// ARDAgent, running when Remote Management is switched on.
func detectRemote(ctx context.Context, env envFunc, _ []procInfo) (remoteEvidence, error) {
	ev := remoteEvidence{facts: map[string]string{}}
	sshEnv(env, &ev)
	procs, err := process.ProcessesWithContext(ctx)
	if err != nil {
		return ev, fmt.Errorf("list processes: %w", err)
	}
	for _, p := range procs {
		name, err := p.NameWithContext(ctx)
		if err != nil {
			continue
		}
		switch name {
		case "screensharingd":
			ev.facts["screensharingd"] = fmt.Sprint(p.Pid)
			ev.current = append(ev.current, "a Screen Sharing connection is active (screensharingd)")
		case "ARDAgent":
			ev.facts["ARDAgent"] = fmt.Sprint(p.Pid)
			ev.others = append(ev.others, "Remote Management is switched on (ARDAgent)")
		}
	}
	return ev, nil
}
