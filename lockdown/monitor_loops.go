package lockdown

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/invigil/invigil/lockdown/policy"
)

// This file is the Monitor's polling loops, one per detector family
// (processes and listening ports, displays, VM and remote sessions, hidden
// windows): each turns what its detector sees into conditions and
// reconciles them with the open violations (monitor.go).

// loopErr logs a detector error once, not on every poll.
func (m *Monitor) loopErr(loop string, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	if m.lastErr[loop] == msg {
		return
	}
	m.lastErr[loop] = msg
	if err != nil {
		m.log.Warn("detector cannot tell", "detector", loop, "err", err)
	} else {
		m.log.Info("detector works again", "detector", loop)
	}
}

func (m *Monitor) every(d time.Duration, poll func(now time.Time)) {
	t := m.opts.Clock.NewTicker(d)
	defer t.Stop()
	poll(m.opts.Clock.Now())
	for {
		select {
		case <-m.ctx.Done():
			return
		case now := <-t.C():
			poll(now)
		}
	}
}

func (m *Monitor) processLoop() {
	var portsAt, snapAt time.Time
	var portConds []cond
	m.every(m.opts.ProcessInterval, func(now time.Time) {
		s, err := m.procs.scan(m.ctx, now)
		m.loopErr("processes", err)
		if err != nil {
			return // keep the violations as they are: we cannot tell
		}
		if s.listed && now.Sub(snapAt) >= m.opts.SessionInterval/2 {
			snapAt = now
			snap := m.procs.snapshot()
			m.snap.Store(&snap)
		}
		var conds []cond
		for _, f := range s.findings {
			conds = append(conds, processCond(f))
		}
		if now.Sub(portsAt) >= m.opts.PortInterval {
			portsAt = now
			fs, err := m.ports.scan(m.ctx, now, func(pid int32) *procEntry { return m.procs.known[pid] })
			m.loopErr("ports", err)
			if err == nil {
				portConds = portConds[:0]
				for _, f := range fs {
					portConds = append(portConds, processCond(f))
				}
			}
		}
		m.mu.Lock()
		defer m.mu.Unlock()
		m.reconcileLocked("process", conds, now)
		m.reconcileLocked("port", portConds, now)
		m.focusTickLocked(now)
	})
}

func processCond(f ProcessFinding) cond {
	ev := map[string]string{
		"pid": strconv.Itoa(int(f.PID)), "name": f.Name, "program": f.Program, "reason": f.Reason, "action": f.Action,
	}
	if f.Exe != "" {
		ev["exe"] = f.Exe
	}
	if f.RuleID != "" {
		ev["rule_id"] = f.RuleID
	}
	c := cond{finding: &f, sev: severityFor(policy.Action(f.Action)), evidence: ev}
	if f.Reason == "port" {
		ev["port"], ev["address"] = strconv.Itoa(f.Port), f.Address
		c.key = fmt.Sprintf("port:%d:%d:%d", f.PID, f.CreateTime, f.Port)
		c.code = CodeProcessRemotePort
		who := "A process of another user"
		if f.PID > 0 {
			who = fmt.Sprintf("%s (pid %d)", f.Name, f.PID)
		}
		c.summary = fmt.Sprintf("%s listens on %s port %d", who, f.Program, f.Port)
		return c
	}
	c.key = fmt.Sprintf("proc:%d:%d:%s", f.PID, f.CreateTime, f.RuleID)
	c.code = CodeProcessProhibited
	c.summary = f.describe() + " is running"
	return c
}

func (m *Monitor) displayLoop() {
	r := newDisplayReader()
	defer r.close()
	m.every(m.opts.DisplayInterval, func(now time.Time) {
		ds, err := r.read()
		m.loopErr("displays", err)
		if err != nil {
			return
		}
		var conds []cond
		if len(ds) > m.p.Displays.Max && m.p.Displays.Action != policy.Allow {
			geo := make([]string, len(ds))
			for i, d := range ds {
				geo[i] = d.String()
			}
			conds = append(conds, cond{
				key: "display.count:" + strconv.Itoa(len(ds)), code: CodeDisplayCount, sev: severityFor(m.p.Displays.Action),
				summary:  fmt.Sprintf("%s connected, the exam allows %d", plural(len(ds), "display", "displays"), m.p.Displays.Max),
				evidence: map[string]string{"count": strconv.Itoa(len(ds)), "max": strconv.Itoa(m.p.Displays.Max), "geometry": strings.Join(geo, " ")},
			})
		}
		m.mu.Lock()
		defer m.mu.Unlock()
		if !slices.Equal(ds, m.displays) {
			m.displays = ds
			if !m.stopped {
				m.notify.displaysChanged(now, slices.Clone(ds))
			}
		}
		m.reconcileLocked("display", conds, now)
	})
}

func (m *Monitor) sessionLoop() {
	m.every(m.opts.SessionInterval, func(now time.Time) {
		var vmConds, remoteConds []cond
		vm, vmErr := detectVM(m.ctx)
		m.loopErr("virtual_machine", vmErr)
		if vmErr == nil && vm.detected && m.p.VirtualMachine != policy.Allow {
			vmConds = append(vmConds, cond{key: "vm", code: CodeVMDetected, sev: severityFor(m.p.VirtualMachine),
				summary: "Virtual machine or container: " + strings.Join(vm.reasons, "; "), evidence: vm.facts})
		}
		var procs []procInfo
		if p := m.snap.Load(); p != nil {
			procs = *p
		}
		rs, rErr := detectRemote(m.ctx, m.env, procs)
		m.loopErr("remote_session", rErr)
		if rErr == nil && m.p.RemoteSession != policy.Allow {
			if len(rs.current) > 0 {
				remoteConds = append(remoteConds, cond{key: "remote:current", code: CodeRemoteSession, sev: severityFor(m.p.RemoteSession),
					summary: "Remote session: " + strings.Join(rs.current, "; "), evidence: rs.facts})
			}
			for _, o := range rs.others {
				remoteConds = append(remoteConds, cond{key: "remote:other:" + o, code: CodeRemoteSession, sev: SeverityWarning,
					summary: "Other remote login: " + o, evidence: map[string]string{"login": o}})
			}
		}
		m.mu.Lock()
		defer m.mu.Unlock()
		if vmErr == nil {
			m.reconcileLocked("vm", vmConds, now)
		}
		if rErr == nil {
			m.reconcileLocked("remote", remoteConds, now)
		}
	})
}

func (m *Monitor) hiddenLoop() {
	if _, err := m.opts.listHidden(m.ctx, selfPID()); errors.Is(err, errNotApplicable) {
		return // nothing to watch on this system
	}
	m.every(m.opts.HiddenWindowInterval, func(now time.Time) {
		s, err := m.opts.listHidden(m.ctx, selfPID())
		if m.ctx.Err() != nil {
			return
		}
		m.loopErr("hidden_windows", err)
		if err != nil {
			return
		}
		m.mu.Lock()
		defer m.mu.Unlock()
		m.reconcileLocked("hidden", hiddenConds(m.p, s.Hidden), now)
	})
}
