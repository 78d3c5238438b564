package lockdown

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/invigil/invigil/lockdown/policy"
)

// prohibitedPrograms is the family of prohibited programs: processes that
// match a policy rule by name or executable hash (process.go), and
// processes listening on a remote-access port (ports.go), which is how a
// renamed remote-desktop tool gives itself away. The two share one process
// scanner and one goroutine, report two checks (CheckProcesses,
// CheckRemotePorts) and open process.prohibited and process.remote_port
// violations. For a blocked program the Monitor closes it or asks the
// student first, per the policy's enforcement.terminate.
type prohibitedPrograms struct{}

func (prohibitedPrograms) name() string { return "processes" }

func (prohibitedPrograms) check(ctx context.Context, in *checkInput) []CheckResult {
	ps := newProcScanner(in.p)
	procs, procErr := ps.scan(ctx, time.Now())
	pts := newPortScanner(in.p, ps.self)
	ports, portErr := pts.scan(ctx, time.Now(), func(pid int32) *procEntry { return ps.known[pid] })
	return []CheckResult{processResult(procs, procErr), portResult(ports, portErr)}
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

// programWatch is the family in a Monitor.
type programWatch struct {
	m     *Monitor
	procs *procScanner // owned by loop
	ports *portScanner // owned by loop
	askCh chan askItem
	// handled holds the process keys already closed or asked about;
	// guarded by m.mu.
	handled map[string]bool
}

type askItem struct {
	key string
	f   ProcessFinding
}

func (prohibitedPrograms) watch(m *Monitor) closeHooks {
	w := &programWatch{m: m, procs: newProcScanner(m.p), askCh: make(chan askItem, 64), handled: map[string]bool{}}
	w.ports = newPortScanner(m.p, w.procs.self)
	m.wg.Go(w.loop)
	if m.p.Enforcement.Terminate == policy.TerminateAsk && m.opts.Ask != nil {
		m.wg.Go(w.askLoop)
	}
	return closeHooks{}
}

// loop polls the processes every ProcessInterval and the listening ports
// every PortInterval, and publishes the process list for the
// remote-session detector every SessionInterval/2. Its poll is also the
// Monitor's heartbeat (Monitor.tickLocked).
func (w *programWatch) loop() {
	m := w.m
	var portsAt, snapAt time.Time
	var portConds []cond
	m.poll(m.opts.ProcessInterval, func(now time.Time) {
		s, err := w.procs.scan(m.ctx, now)
		m.detectorErr("processes", err)
		if err != nil {
			return // keep the violations as they are: we cannot tell
		}
		if s.listed && now.Sub(snapAt) >= m.opts.SessionInterval/2 {
			snapAt = now
			snap := w.procs.snapshot()
			m.snap.Store(&snap)
		}
		var conds []cond
		for _, f := range s.findings {
			conds = append(conds, w.cond(f))
		}
		if now.Sub(portsAt) >= m.opts.PortInterval {
			portsAt = now
			fs, err := w.ports.scan(m.ctx, now, func(pid int32) *procEntry { return w.procs.known[pid] })
			m.detectorErr("ports", err)
			if err == nil {
				portConds = portConds[:0]
				for _, f := range fs {
					portConds = append(portConds, w.cond(f))
				}
			}
		}
		m.mu.Lock()
		defer m.mu.Unlock()
		m.reconcileLocked("process", conds, now)
		m.reconcileLocked("port", portConds, now)
		m.tickLocked(now)
	})
}

// cond is the condition of a finding: a prohibited program running, or a
// program listening on a remote-access port. Opening its violation
// enforces the policy on the process.
func (w *programWatch) cond(f ProcessFinding) cond {
	ev := map[string]string{
		"pid": strconv.Itoa(int(f.PID)), "name": f.Name, "program": f.Program, "reason": f.Reason, "action": f.Action,
	}
	if f.Exe != "" {
		ev["exe"] = f.Exe
	}
	if f.RuleID != "" {
		ev["rule_id"] = f.RuleID
	}
	c := cond{sev: severityFor(policy.Action(f.Action)), evidence: ev,
		opened: func(key string) { w.enforceLocked(key, f) }}
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

// enforceLocked closes a blocked process, or asks first, per the policy.
// It is called with m.mu held, when the process's violation opens. Every
// close is journaled first; without a journal nothing is closed.
func (w *programWatch) enforceLocked(key string, f ProcessFinding) {
	m := w.m
	if f.PID <= 0 || f.Action != string(policy.Block) || w.handled[key] || m.opts.Journal == nil {
		return
	}
	switch m.p.Enforcement.Terminate {
	case policy.TerminateAuto:
		w.handled[key] = true
		m.wg.Go(func() { w.closeProcs([]askItem{{key, f}}, "closed automatically") })
	case policy.TerminateAsk:
		if m.opts.Ask == nil {
			return
		}
		select {
		case w.askCh <- askItem{key, f}:
			w.handled[key] = true
		default: // the student has a queue of questions already
		}
	}
}

// askLoop asks the student about the blocked processes, a batch at a time,
// and closes them if the student agrees.
func (w *programWatch) askLoop() {
	m := w.m
	for {
		var batch []askItem
		select {
		case <-m.ctx.Done():
			return
		case it := <-w.askCh:
			batch = append(batch, it)
		}
	drain:
		for {
			select {
			case it := <-w.askCh:
				batch = append(batch, it)
			default:
				break drain
			}
		}
		fs := make([]ProcessFinding, len(batch))
		for i, it := range batch {
			fs[i] = it.f
		}
		if m.opts.Ask(m.ctx, fs) {
			w.closeProcs(batch, "closed with the student's consent")
			continue
		}
		m.mu.Lock()
		for _, it := range batch {
			m.resolution[it.key] = "the student declined to close it"
		}
		m.mu.Unlock()
	}
}

// closeProcs journals and closes processes, and notes the outcome for the
// violations' end events.
func (w *programWatch) closeProcs(items []askItem, how string) {
	m := w.m
	fs := make([]ProcessFinding, 0, len(items))
	keys := make([]string, 0, len(items))
	for _, it := range items {
		if _, err := m.opts.Journal.Record("process.close", "close "+it.f.describe(), nil); err != nil {
			m.log.Error("journal process close", "err", err)
			continue // no record, no change
		}
		fs = append(fs, it.f)
		keys = append(keys, it.key)
	}
	// The poll may see a process gone before CloseProcesses returns: note
	// the resolution first, and the outcome after.
	m.mu.Lock()
	for _, key := range keys {
		m.resolution[key] = how
	}
	m.mu.Unlock()
	res := CloseProcesses(m.ctx, fs, time.Duration(m.p.Enforcement.GraceSeconds)*time.Second)
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, r := range res {
		m.log.Info("closed prohibited process", "pid", r.PID, "name", r.Name, "outcome", r.Outcome, "err", r.Error)
		key := keys[i]
		if m.open[key] == nil {
			continue // already ended, with the resolution noted above
		}
		if r.Outcome == "failed" {
			m.resolution[key] = "closing failed: " + r.Error
		} else {
			m.resolution[key] = how + " (" + r.Outcome + ")"
		}
	}
}
