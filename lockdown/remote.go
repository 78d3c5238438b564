package lockdown

import (
	"context"
	"strings"

	"github.com/invigil/invigil/lockdown/policy"
)

// remoteEvidence is what the remote-session detector found.
type remoteEvidence struct {
	// current lists why this very session is remote (the exam would be
	// taken through RDP, SSH or VNC).
	current []string
	// others lists other remote sessions on the machine (someone logged in
	// over SSH): a warning, whatever the policy.
	others []string
	facts  map[string]string
}

// envFunc reads an environment variable; tests pass their own.
type envFunc func(string) string

// sshEnv is set by sshd (also Windows' OpenSSH) in a session it starts.
func sshEnv(env envFunc, ev *remoteEvidence) {
	for _, k := range []string{"SSH_CONNECTION", "SSH_CLIENT", "SSH_TTY"} {
		if v := env(k); v != "" {
			ev.facts["env."+k] = v
			if k == "SSH_CONNECTION" || k == "SSH_CLIENT" {
				from, _, _ := strings.Cut(v, " ")
				ev.current = append(ev.current, "this session is an SSH login from "+from)
				return
			}
			ev.current = append(ev.current, "this session is an SSH login")
			return
		}
	}
}

func remoteResult(ctx context.Context, p *policy.Policy, env envFunc) CheckResult {
	r := CheckResult{ID: CheckRemoteSession, Title: "Remote session"}
	ev, err := detectRemote(ctx, env, nil)
	if err != nil {
		r.Status, r.Error = StatusUnknown, err.Error()
		r.Summary = "Could not tell whether this is a remote session"
		return r
	}
	r.Evidence = ev.facts
	switch {
	case len(ev.current) > 0:
		r.Status = statusFor(p.RemoteSession)
		r.Summary = "The exam would run in a remote session: " + strings.Join(ev.current, "; ")
		if r.Status != StatusPass {
			r.Fixes = []string{"Sit at the computer itself: start the exam from its own screen, keyboard and mouse, not through remote desktop, VNC or SSH"}
		}
	case len(ev.others) > 0:
		r.Status = StatusPass
		if p.RemoteSession != policy.Allow {
			r.Status = StatusWarn
			r.Fixes = []string{"Ask whoever is logged in remotely to log out (" + strings.Join(ev.others, "; ") + ")"}
		}
		r.Summary = "Other remote sessions are open on this computer: " + strings.Join(ev.others, "; ")
	default:
		r.Status = StatusPass
		r.Summary = "Not a remote session"
	}
	return r
}
