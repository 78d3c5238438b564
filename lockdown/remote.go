package lockdown

import (
	"context"
	"strings"
	"time"

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

// remoteSessionDetector is the remote-session family: an exam taken
// through RDP, VNC or SSH is a remote.session violation and a check that
// warns or fails per the policy's remote_session; another remote login on
// the machine is a warning whatever the policy, unless it allows remote
// sessions.
type remoteSessionDetector struct{}

func (remoteSessionDetector) name() string { return "remote_session" }

func (remoteSessionDetector) check(ctx context.Context, in *checkInput) []CheckResult {
	return []CheckResult{remoteResult(ctx, in.p, in.env)}
}

// watch polls every SessionInterval, over the process list the
// prohibited-programs family publishes (Monitor.snap).
func (remoteSessionDetector) watch(m *Monitor) closeHooks {
	m.wg.Go(func() {
		m.poll(m.opts.SessionInterval, func(now time.Time) {
			var procs []procInfo
			if p := m.snap.Load(); p != nil {
				procs = *p
			}
			rs, err := detectRemote(m.ctx, m.env, procs)
			m.detectorErr("remote_session", err)
			if err != nil {
				return
			}
			var conds []cond
			if m.p.RemoteSession != policy.Allow {
				if len(rs.current) > 0 {
					conds = append(conds, cond{key: "remote:current", code: CodeRemoteSession, sev: severityFor(m.p.RemoteSession),
						summary: "Remote session: " + strings.Join(rs.current, "; "), evidence: rs.facts})
				}
				for _, o := range rs.others {
					conds = append(conds, cond{key: "remote:other:" + o, code: CodeRemoteSession, sev: SeverityWarning,
						summary: "Other remote login: " + o, evidence: map[string]string{"login": o}})
				}
			}
			m.mu.Lock()
			defer m.mu.Unlock()
			m.reconcileLocked("remote", conds, now)
		})
	})
	return closeHooks{}
}
